"""The simulated backup and restore API over HTTP (aiohttp), plus unauthenticated controls.

API routes live under ``/orgs/{orgId}/`` exactly as the spec's 21 operations; a v2 world
serves them under ``/v2/orgs/{orgId}/`` (so its URL names the version, and a v1 client
pointed at the root gets 404), plus activation, which checks ``X-Atl-Account-Id``. Control routes
under ``/_sim/`` let the console and tests read the state, move the clock, set faults and
read the recorded calls. Injected latency, rate limits and queued faults apply to API routes
only, and every API request is recorded in ``world.calls`` (never its credentials).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any, Protocol, TypeVar, runtime_checkable

from aiohttp import web

from bot.atlassian.models import Product, Schedule
from bot.atlassian.versions import ACCOUNT_ID_HEADER, V1
from bot.simulator.seed import DEMO_ORG_ID, DEMO_SCHEDULE_SLOT, DEMO_TOKEN
from bot.simulator.world import (
    BackupReference,
    QueuedFault,
    Record,
    RecordedCall,
    SimulatedApiError,
    World,
    rule_violation,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_CONTROL_PREFIX = "/_sim"
_BODY_KEY = web.RequestKey("simulator_body", object)


R = TypeVar("R", bound=Record)


@runtime_checkable
class _Advanceable(Protocol):
    def advance(self, seconds: float = 0) -> Any: ...


def error_response(error: SimulatedApiError) -> web.Response:
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        seconds = error.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return web.json_response(error.to_json(), status=error.status, headers=headers)


def fault_error(status: int, retry_after: float | None) -> SimulatedApiError:
    """The error a queued or random fault answers with, shaped like the real service's."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = "RATE_LIMITED" if status == 429 else phrase.upper().replace(" ", "_").replace("-", "_")
    if status == 429:
        wait = retry_after if retry_after is not None else 1
        return SimulatedApiError(
            429, code, f"Too many requests; retry after {wait:g} seconds.", retry_after=wait
        )
    return SimulatedApiError(status, code, f"The service answered {status} {phrase}; try again.")


# ---- reading requests --------------------------------------------------------------------


def _invalid(message: str) -> SimulatedApiError:
    return rule_violation("INVALID_REQUEST", message)


def _body(request: web.Request) -> Any:
    return request[_BODY_KEY]


def _object(request: web.Request) -> dict[str, Any]:
    body = _body(request)
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    return body


def _required_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{name} is required and must be a non-empty string.")
    return value


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{name} must be a string.")
    return value


def _bool(body: dict[str, Any], name: str, default: bool | None) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _invalid(f"{name} must be true or false.")
    return value


def _product(value: object, name: str = "product") -> Product:
    if isinstance(value, str):
        try:
            return Product(value.strip().upper())
        except ValueError:
            pass
    raise rule_violation("INVALID_PRODUCT", f"{name} must be JIRA or CONFLUENCE.")


def _query_product(request: web.Request, name: str) -> Product | None:
    value = request.query.get(name)
    return None if value is None else _product(value, name)


def _backup_references(request: web.Request, container: str) -> list[BackupReference]:
    """A raw list of {product, cloudId, backupId}, or an object holding that list."""
    body = _body(request)
    items: object = body
    if isinstance(body, dict):
        lists = [body[key] for key in ("backups", container) if isinstance(body.get(key), list)]
        if len(lists) != 1:
            raise _invalid(f"Send a list of backups, or an object with a {container!r} list.")
        items = lists[0]
    if not isinstance(items, list):
        raise _invalid("Send a list of {product, cloudId, backupId}.")
    references = []
    for item in items:
        if not isinstance(item, dict):
            raise _invalid("Each backup must be an object with product, cloudId and backupId.")
        references.append(
            BackupReference(
                product=_product(item.get("product")),
                cloud_id=_required_str(item, "cloudId"),
                backup_id=_required_str(item, "backupId"),
            )
        )
    return references


def _page(records: Sequence[R], request: web.Request) -> tuple[list[R], int]:
    """Sort by createdAt (DESC unless asked otherwise) and cut one page."""
    query = request.query
    try:
        start = int(query.get("start", "0"))
        page_size = int(query.get("pageSize", str(DEFAULT_PAGE_SIZE)))
    except ValueError:
        raise rule_violation(
            "INVALID_PAGINATION", "start and pageSize must be whole numbers."
        ) from None
    if start < 0 or page_size < 1:
        raise rule_violation(
            "INVALID_PAGINATION", "start must be 0 or more and pageSize at least 1."
        )
    page_size = min(page_size, MAX_PAGE_SIZE)
    order = query.get("sortOrder", "DESC").upper()
    if order not in ("ASC", "DESC"):
        raise rule_violation("INVALID_SORT", "sortOrder must be ASC or DESC.")
    sort_by = query.get("sortBy", "createdAt")
    if sort_by != "createdAt":
        raise rule_violation("INVALID_SORT", "Lists can only be sorted by createdAt.")
    ordered = sorted(records, key=lambda record: record.created_at, reverse=order == "DESC")
    return ordered[start : start + page_size], len(ordered)


class SimulatorServer:
    """Serves a ``World`` as the Atlassian backup and restore API on a local port."""

    def __init__(
        self,
        world: World,
        org_id: str = DEMO_ORG_ID,
        email: str | None = None,
        token: str = DEMO_TOKEN,
    ) -> None:
        self.world = world
        self.org_id = org_id
        self._email = email
        self._token = token
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        # Set on stop, so responses held back by a fault are released instead of awaited.
        self._stopping = asyncio.Event()
        self.app = self._build_app()

    def __repr__(self) -> str:
        return f"SimulatorServer(org_id={self.org_id!r}, url={self._url!r})"

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port) and return the base URL."""
        self._stopping.clear()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        bound_port = runner.addresses[0][1]
        self._runner = runner
        self._url = f"http://{host}:{bound_port}{self.base_path}/"
        return self._url

    @property
    def base_path(self) -> str:
        """Where the API routes start: the root for v1, ``/v2`` for v2."""
        profile = self.world.profile
        return "" if profile is V1 else f"/{profile.version.value}"

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    async def __aenter__(self) -> SimulatorServer:
        if self._url is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- application ----------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        org = f"{self.base_path}/orgs/{{orgId}}"
        if self.world.profile.has_activation:
            app.router.add_put(f"{org}/policies/{{policyId}}/activate", self._activate_policy)
        app.router.add_routes(
            [
                web.post(f"{org}/storages/regions", self._list_regions),
                web.post(f"{org}/storages", self._create_storage),
                web.get(f"{org}/storages", self._list_storages),
                web.get(f"{org}/storages/{{storageId}}", self._get_storage),
                web.post(f"{org}/cloud/{{cloudId}}/policies", self._create_policy),
                web.get(f"{org}/policies", self._list_policies),
                web.get(f"{org}/policies/{{policyId}}", self._get_policy),
                web.put(f"{org}/policies/{{policyId}}", self._update_policy),
                web.post(f"{org}/backups", self._run_backup),
                web.get(f"{org}/policies/{{policyId}}/backups", self._list_backups),
                web.get(f"{org}/backups/{{backupId}}", self._get_backup),
                web.post(f"{org}/exports", self._create_exports),
                web.get(f"{org}/exports", self._list_exports),
                web.get(f"{org}/cloud/{{cloudId}}/exports/{{exportId}}", self._get_export),
                web.post(f"{org}/imports", self._create_imports),
                web.get(f"{org}/cloud/{{cloudId}}/imports/{{importId}}", self._get_import),
                web.post(f"{org}/cloud/{{cloudId}}/restores", self._create_restore),
                web.post(f"{org}/cloud/{{cloudId}}/restores/revalidate", self._revalidate),
                web.get(f"{org}/restores", self._list_restores),
                web.get(f"{org}/restores/{{restoreId}}", self._get_restore),
                web.get(
                    f"{org}/cloud/{{cloudId}}/migration/{{migrationId}}/postOpReport",
                    self._post_op_report,
                ),
                web.get(f"{_CONTROL_PREFIX}/state", self._control_state),
                web.post(f"{_CONTROL_PREFIX}/clock", self._control_clock),
                web.post(f"{_CONTROL_PREFIX}/faults", self._control_faults),
                web.post(f"{_CONTROL_PREFIX}/faults/queue", self._control_queue),
                web.get(f"{_CONTROL_PREFIX}/calls", self._control_calls),
            ]
        )
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        malformed = False
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                malformed = True
        request[_BODY_KEY] = body
        if request.path == _CONTROL_PREFIX or request.path.startswith(f"{_CONTROL_PREFIX}/"):
            if malformed:
                return error_response(rule_violation("INVALID_JSON", "The body is not JSON."))
            return await self._dispatch(request, handler)
        return await self._serve_api(request, handler, body, malformed)

    async def _serve_api(
        self, request: web.Request, handler: Handler, body: Any, malformed: bool
    ) -> web.StreamResponse:
        faults = self.world.faults
        fault = faults.take(request.method, request.path)
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        response: web.StreamResponse
        if fault is not None and fault.delay_after_commit_s is None:
            response = error_response(fault_error(fault.status, fault.retry_after))
        elif faults.roll_rate_limit():
            response = error_response(fault_error(429, None))
        else:
            response = await self._answer_api(request, handler, malformed)
        self.world.calls.append(
            RecordedCall(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                status=response.status,
                body=body,
                at=self.world.now(),
            )
        )
        if fault is not None and fault.delay_after_commit_s is not None:
            await self._hold_back(fault.delay_after_commit_s)
        return response

    async def _hold_back(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _answer_api(
        self, request: web.Request, handler: Handler, malformed: bool
    ) -> web.StreamResponse:
        if not self._authorised(request.headers.get("Authorization", "")):
            return web.json_response(
                {
                    "code": "UNAUTHORIZED",
                    "message": "Authentication failed: use an org admin's e-mail and API token.",
                },
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="Atlassian"'},
            )
        org_id = request.match_info.get("orgId")
        if org_id is not None and org_id != self.org_id:
            return error_response(
                SimulatedApiError(
                    403,
                    "ORG_ACCESS_DENIED",
                    f"You are not an admin of organisation {org_id}, or it is not entitled "
                    "to backup and restore.",
                )
            )
        if malformed:
            return error_response(rule_violation("INVALID_JSON", "The body is not valid JSON."))
        return await self._dispatch(request, handler)

    async def _dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except SimulatedApiError as error:
            return error_response(error)
        except web.HTTPException as exc:
            if exc.status == 405:
                return error_response(
                    SimulatedApiError(
                        405,
                        "METHOD_NOT_ALLOWED",
                        f"{request.method} is not allowed on {request.path}.",
                    )
                )
            if exc.status == 404:
                return error_response(
                    SimulatedApiError(404, "NOT_FOUND", f"No such endpoint: {request.path}.")
                )
            raise

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep or not user:
            return False
        if self._email is not None and user.lower() != self._email.lower():
            return False
        return hmac.compare_digest(password.encode(), self._token.encode())

    def _json(self, record: Any, status: int = 200) -> web.Response:
        return web.json_response(self.world.view(record), status=status)

    def _list(self, name: str, records: Sequence[R], request: web.Request) -> web.Response:
        page, total = _page(records, request)
        return web.json_response(
            {name: [self.world.view(record) for record in page], "totalItems": total}
        )

    # ---- storages ----------------------------------------------------------------------------

    async def _list_regions(self, request: web.Request) -> web.Response:
        return web.json_response({"regions": self.world.list_regions()})

    async def _create_storage(self, request: web.Request) -> web.Response:
        body = _object(request)
        storage = self.world.create_storage(
            storage_name=_required_str(body, "storageName"),
            storage_region=_required_str(body, "storageRegion"),
            storage_type=_required_str(body, "storageType"),
            role_identifier=_required_str(body, "roleIdentifier"),
            cloud_id=_required_str(body, "cloudId"),
            storage_prefix=_optional_str(body, "storagePrefix"),
            principal_tag=_optional_str(body, "principalTag"),
        )
        return self._json(storage, status=201)

    async def _list_storages(self, request: web.Request) -> web.Response:
        storages = self.world.list_storages(
            cloud_id=request.query.get("cloudId"), product=_query_product(request, "product")
        )
        return self._list("storages", storages, request)

    async def _get_storage(self, request: web.Request) -> web.Response:
        return self._json(self.world.get_storage(request.match_info["storageId"]))

    # ---- policies ----------------------------------------------------------------------------

    async def _create_policy(self, request: web.Request) -> web.Response:
        body = _object(request)
        personal = body.get("includePersonalSpaces")
        if personal is not None and not isinstance(personal, bool):
            raise _invalid("includePersonalSpaces must be true or false.")
        policy = self.world.create_policy(
            request.match_info["cloudId"],
            product=_product(body.get("product", body.get("productType"))),
            storage_id=_optional_str(body, "storageId"),
            include_attachments=_bool(body, "includeAttachments", True),
            include_personal_spaces=personal,
            name=_optional_str(body, "policyName"),
            schedule=self._schedule_of(body),
        )
        return self._json(policy, status=201)

    def _schedule_of(self, body: dict[str, Any]) -> Schedule | None:
        """v2: the date and interval the admin chose; the simulator assigns the slot."""
        if not self.world.schedules_run:
            return None
        details = body.get("scheduleDetails")
        if details is None:
            today = self.world.now().date()
            return Schedule(interval="WEEKLY", start_date=today, schedule_slot=DEMO_SCHEDULE_SLOT)
        if not isinstance(details, dict):
            raise _invalid("scheduleDetails must be an object with interval and startDate.")
        schedule = Schedule.model_validate({**details, "scheduleSlot": DEMO_SCHEDULE_SLOT})
        if str(schedule.interval) not in ("ONCE", "DAILY", "WEEKLY"):
            raise _invalid("scheduleDetails.interval must be ONCE, DAILY or WEEKLY.")
        if isinstance(schedule.start_date, str) or schedule.start_date is None:
            raise _invalid("scheduleDetails.startDate must be a date like 2026-12-07.")
        return schedule

    async def _activate_policy(self, request: web.Request) -> web.Response:
        account_id = request.headers.get(ACCOUNT_ID_HEADER, "").strip()
        if not account_id:
            raise _invalid(f"The {ACCOUNT_ID_HEADER} header is required to activate a policy.")
        backups = self.world.activate_policy(request.match_info["policyId"], account_id)
        return web.json_response(
            {"backups": [self.world.view(backup) for backup in backups], "totalItems": len(backups)}
        )

    async def _list_policies(self, request: web.Request) -> web.Response:
        return self._list("policies", self.world.list_policies(), request)

    async def _get_policy(self, request: web.Request) -> web.Response:
        return self._json(self.world.get_policy(request.match_info["policyId"]))

    async def _update_policy(self, request: web.Request) -> web.Response:
        body = _object(request)
        changes: dict[str, Any] = {}
        if "storageId" in body:
            changes["storageId"] = _optional_str(body, "storageId")
        for flag in ("includeAttachments", "includePersonalSpaces"):
            if flag in body:
                changes[flag] = _bool(body, flag, None)
        if not changes:
            raise _invalid(
                "Change at least one of storageId, includeAttachments, includePersonalSpaces."
            )
        return self._json(self.world.update_policy(request.match_info["policyId"], changes))

    # ---- backups -----------------------------------------------------------------------------

    async def _run_backup(self, request: web.Request) -> web.Response:
        body = _object(request)
        backup = self.world.run_backup(
            _required_str(body, "policyId"), _required_str(body, "cloudId")
        )
        return self._json(backup, status=201)

    async def _list_backups(self, request: web.Request) -> web.Response:
        backups = self.world.list_backups(request.match_info["policyId"])
        return self._list("backups", backups, request)

    async def _get_backup(self, request: web.Request) -> web.Response:
        return self._json(self.world.get_backup(request.match_info["backupId"]))

    # ---- exports and imports -----------------------------------------------------------------

    async def _create_exports(self, request: web.Request) -> web.Response:
        exports = self.world.create_exports(_backup_references(request, "exports"))
        return web.json_response(
            {"exports": [self.world.view(export) for export in exports]}, status=201
        )

    async def _list_exports(self, request: web.Request) -> web.Response:
        exports = self.world.list_exports(_query_product(request, "productType"))
        return self._list("exports", exports, request)

    async def _get_export(self, request: web.Request) -> web.Response:
        info = request.match_info
        return self._json(self.world.get_export(info["cloudId"], info["exportId"]))

    async def _create_imports(self, request: web.Request) -> web.Response:
        imports = self.world.create_imports(_backup_references(request, "imports"))
        return web.json_response(
            {"imports": [self.world.view(imported) for imported in imports]}, status=201
        )

    async def _get_import(self, request: web.Request) -> web.Response:
        info = request.match_info
        return self._json(self.world.get_import(info["cloudId"], info["importId"]))

    # ---- restores ----------------------------------------------------------------------------

    async def _create_restore(self, request: web.Request) -> web.Response:
        body = _object(request)
        restore = self.world.create_restore(
            request.match_info["cloudId"],
            backup_id=_required_str(body, "backupId"),
            product=_product(body.get("product")),
            include_attachments=_bool(body, "includeAttachments", None),
            include_users_and_groups=_bool(body, "includeUsersAndGroups", None),
        )
        return self._json(restore, status=201)

    async def _revalidate(self, request: web.Request) -> web.Response:
        body = _object(request)
        consent = body.get("consent")
        if not isinstance(consent, list) or not all(isinstance(v, str) for v in consent):
            raise _invalid("consent must be a list of consent values.")
        restore = self.world.revalidate_restore(
            request.match_info["cloudId"], _required_str(body, "restoreId"), consent
        )
        return self._json(restore)

    async def _list_restores(self, request: web.Request) -> web.Response:
        restores = self.world.list_restores(
            cloud_id=request.query.get("cloudId"), product=_query_product(request, "product")
        )
        return self._list("restores", restores, request)

    async def _get_restore(self, request: web.Request) -> web.Response:
        return self._json(self.world.get_restore(request.match_info["restoreId"]))

    async def _post_op_report(self, request: web.Request) -> web.Response:
        info = request.match_info
        restore = self.world.post_op_report(info["cloudId"], info["migrationId"])
        url = (
            f"https://admin.atlassian.com/o/{self.org_id}/data-management/backup-and-restore/"
            f"report/{restore.migration_id}"
        )
        return web.json_response({"reportUrl": url})

    # ---- controls ----------------------------------------------------------------------------

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.world.state())

    async def _control_clock(self, request: web.Request) -> web.Response:
        body = _object(request)
        seconds = body.get("advance")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise _invalid("advance must be a number of seconds, 0 or more.")
        clock = self.world.clock
        if not isinstance(clock, _Advanceable):
            raise SimulatedApiError(409, "CLOCK_FIXED", "This simulator's clock cannot be moved.")
        clock.advance(float(seconds))
        return web.json_response({"now": self.world.state()["now"]})

    async def _control_faults(self, request: web.Request) -> web.Response:
        body = _object(request)
        faults = self.world.faults
        updates: dict[str, float] = {}
        for name in ("fail_rate", "rate_limit_rate", "latency_ms"):
            if name not in body:
                continue
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise _invalid(f"{name} must be a number, 0 or more.")
            if name != "latency_ms" and value > 1:
                raise _invalid(f"{name} is a fraction between 0 and 1.")
            updates[name] = float(value)
        for name, value in updates.items():
            setattr(faults, name, value)
        return web.json_response(faults.to_json())

    async def _control_queue(self, request: web.Request) -> web.Response:
        body = _object(request)
        allowed = {
            "status",
            "count",
            "method",
            "path_contains",
            "retry_after",
            "delay_after_commit_s",
        }
        unknown = set(body) - allowed
        if unknown:
            raise _invalid(f"Unknown fields: {', '.join(sorted(unknown))}.")
        status = body.get("status", 503)
        count = body.get("count", 1)
        if not isinstance(status, int) or not isinstance(count, int):
            raise _invalid("status and count must be whole numbers.")
        for name in ("method", "path_contains"):
            _optional_str(body, name)
        for name in ("retry_after", "delay_after_commit_s"):
            value = body.get(name)
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not is_number:
                raise _invalid(f"{name} must be a number of seconds.")
        try:
            fault: QueuedFault = self.world.faults.queue(
                status=status,
                count=count,
                method=body.get("method"),
                path_contains=body.get("path_contains"),
                retry_after=body.get("retry_after"),
                delay_after_commit_s=body.get("delay_after_commit_s"),
            )
        except ValueError as exc:
            raise _invalid(f"{exc}.") from None
        return web.json_response({"queued": fault.to_json(), "faults": self.world.faults.to_json()})

    async def _control_calls(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": [call.to_json() for call in self.world.calls]})


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "SimulatorServer",
    "error_response",
    "fault_error",
]
