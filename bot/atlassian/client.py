"""The typed async client for the Atlassian Cloud backup and restore API.

One method per documented operation (21 of them), each returning the models of
``bot.atlassian.models`` and raising only the errors of ``bot.errors``:

    401 AuthError · 403 ForbiddenError · 404 NotFoundError · 400/422 RuleViolation(code)
    409 ConflictError · 429 RateLimited(retry_after) · 5xx, timeout, connection Unavailable
    a create that may or may not have happened OutcomeUnknown · an unreadable 2xx
    UnexpectedResponse

Answers and transport failures become these errors in ``bot.atlassian.responses``; payloads
become models in ``bot.atlassian.parsing``.

Every call has a timeout. The API token is sent as HTTP Basic credentials and is registered
with ``bot.redaction`` so it never reaches a repr, an exception or a log line. Each HTTP
attempt is counted in ``backup_bot_atlassian_requests_total`` by operation (the client
method's name, e.g. ``get_restore``) and status, with its duration, and each retry in
``backup_bot_atlassian_retries_total`` (``bot.observability.metrics``).

Retries and reconciliation
--------------------------
Reads (every GET, and the POST that lists storage regions) are retried with exponential
backoff and full jitter (``bot.atlassian.retry.RetryPolicy``) on 429 (honouring
``Retry-After``, capped), on 5xx, and on timeouts and connection failures.

Updating a policy is a PUT of the wanted values, so repeating it is harmless: it is retried
like a read.

Every other POST creates something (storage, policy, backup, export, import, restore) or
moves a restore on (revalidate). Repeating one blindly could start a second backup or
restore, so these are retried only when the request provably did not take effect: a 429,
or a connection that failed before anything was sent. When a create times out after
sending, or the service answers 5xx, the client does not retry; it *reconciles*: it looks
for the object the call would have created and returns it when found:

- run_backup: a backup of that policy created at or after the call started;
- create_restore: a restore of that backup onto that destination created since the call
  started;
- create_policy: the policy for that cloudId and product (not one older than the call);
- create_storage: the storage with that name on that cloudId;
- export_backups: for every requested backupId, an export created since the call started;
- import_backups: there is no documented way to list imports, so an unconfirmed import
  cannot be found and is always reported as unknown;
- revalidate_restore: the restore itself; if it has left VALIDATION_FAILED, or now fails
  checks that the consents did not answer, the revalidation took effect.

A create that Atlassian accepted (2xx) but answered in a form the client cannot read is
reconciled the same way: it did take effect, so it must be found, not reported as failed.

"Since the call started" allows ``RECONCILE_SKEW`` of clock difference between the bot and
the service. When nothing is found the client raises ``OutcomeUnknown`` and does not retry,
so the user is told to look before trying again.

Lists
-----
List endpoints are paged with ``start`` and ``pageSize`` and followed until ``totalItems``
items have arrived, a page comes back empty, or a page brings no item not already seen (a
server that ignores ``start``); after ``MAX_PAGES`` pages the list is cut with a warning.
Responses are read tolerantly (``bot.atlassian.parsing``): items under the documented key,
a bare list, ``results`` or ``values``; unknown fields are kept on the models. Each
unfamiliar shape is logged once at debug level, with secrets removed, so the assumed
shapes can be corrected from real traffic.

Versions
--------
The client speaks the API version of its ``ApiProfile`` (``bot.atlassian.versions``): it
sends ``X-Atl-Account-Id`` on every call of a version that uses it, asks a v2 policy read
for its storage and backup details, activates policies only where the version has
activation, and gives each backup it reads the retention of that version. Paths are the
same in both versions (v2's unpublished ones are assumed to keep v1's); the models read
either version's shapes.
"""

from __future__ import annotations

import base64
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from bot.atlassian.listing import ListMemo
from bot.atlassian.models import (
    ApiModel,
    Backup,
    BackupRef,
    ConsentCheck,
    Export,
    FailedCheck,
    Import,
    Policy,
    PostOpReport,
    Product,
    Restore,
    RestoreStatus,
    Storage,
)
from bot.atlassian.parsing import ModelReader, ShapeLog
from bot.atlassian.responses import (
    Reply,
    accepted,
    decode_reply,
    error_from_response,
    retry_after_seconds,
    transport_error,
    transport_status,
)
from bot.atlassian.retry import RetryPolicy
from bot.atlassian.versions import ACCOUNT_ID_HEADER, V1, ApiProfile
from bot.clock import Clock, SystemClock, ensure_utc
from bot.errors import (
    AtlassianError,
    ConfigError,
    NotFoundError,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
    UnexpectedResponse,
)
from bot.messages import settings as settings_words
from bot.observability import metrics
from bot.redaction import redact

if TYPE_CHECKING:
    # Settings name the version through bot.atlassian.versions: a runtime import would loop.
    from bot.config import Settings

logger = logging.getLogger(__name__)

PAGE_SIZE: Final = 100
# A runaway server could page forever; no organisation has this many objects of one kind.
MAX_PAGES: Final = 1000
RECONCILE_SKEW: Final = timedelta(minutes=2)

_ModelT = TypeVar("_ModelT", bound=ApiModel)
_T = TypeVar("_T")

# Failures where the request provably never reached the service.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


_CUSTOM_GROUP_CHECKS = frozenset(
    {ConsentCheck.ACCEPT_CUSTOM_GROUP.value, ConsentCheck.DENY_CUSTOM_GROUP.value}
)


_DOT_SEGMENTS: Final = frozenset({"", ".", ".."})


class Unset(enum.Enum):
    """Marks an argument that was not given, where ``None`` is itself a meaningful value."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


class _Kind(enum.Enum):
    READ = "read"
    IDEMPOTENT = "idempotent"
    CREATE = "create"


class _MaybeApplied(Exception):
    """A create was sent and then failed in a way that leaves its effect unknown."""

    def __init__(self, error: AtlassianError) -> None:
        super().__init__(str(error))
        self.error = error


class AtlassianClient:
    """Calls the backup and restore API of one organisation."""

    def __init__(
        self,
        *,
        base_url: str,
        org_id: str,
        email: str,
        api_token: SecretStr | str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        profile: ApiProfile = V1,
        account_id: str | None = None,
    ) -> None:
        token = api_token.get_secret_value() if isinstance(api_token, SecretStr) else api_token
        self._api_token = SecretStr(token)
        # Both the token and the Basic header built from it must never be printed.
        redact.add(token)
        redact.add(base64.b64encode(f"{email}:{token}".encode()).decode())
        self.base_url = base_url.rstrip("/") + "/"
        self.org_id = org_id
        self.email = email
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.shapes = ShapeLog()
        self._reader = ModelReader(self.shapes, profile.rules.retention)
        self.profile = profile
        self.account_id = account_id or None
        self.max_pages = MAX_PAGES
        headers = {"Accept": "application/json", "User-Agent": "atlassian-backup-bot"}
        if profile.needs_account_id and self.account_id:
            headers[ACCOUNT_ID_HEADER] = self.account_id
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=httpx.BasicAuth(email, token),
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers=headers,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> AtlassianClient:
        return cls(
            base_url=settings.atlassian_api_url,
            org_id=settings.atlassian_org_id,
            email=settings.atlassian_email,
            api_token=settings.atlassian_api_token,
            profile=settings.api_profile,
            account_id=settings.atlassian_account_id,
            **kw,
        )

    def __repr__(self) -> str:
        return (
            f"AtlassianClient(base_url={self.base_url!r}, org_id={self.org_id!r}, "
            f"email={self.email!r}, version={self.profile.version.value!r})"
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AtlassianClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- 1-4: storage ----------------------------------------------------------------------

    async def list_regions(self) -> list[str]:
        reply = await self._call(
            "list_regions", "POST", self._path("storages", "regions"), kind=_Kind.READ
        )
        raw, _ = self._reader.items(reply, "regions")
        regions: list[str] = []
        for item in raw:
            if isinstance(item, str):
                regions.append(item)
            elif isinstance(item, Mapping):
                name = item.get("region") or item.get("name") or item.get("code")
                if not isinstance(name, str):
                    raise reply.unexpected("A storage region has no name")
                self.shapes.note("region", item.keys(), item)
                regions.append(name)
            else:
                raise reply.unexpected("A storage region is neither text nor an object")
        return regions

    async def create_storage(
        self,
        *,
        name: str,
        region: str,
        prefix: str,
        role_identifier: str,
        principal_tag: str,
        cloud_id: str,
        storage_type: str = "aws",
    ) -> Storage:
        body = {
            "storageName": name,
            "storageRegion": region,
            "storagePrefix": prefix,
            "storageType": storage_type,
            "roleIdentifier": role_identifier,
            "principalTag": principal_tag,
            "cloudId": cloud_id,
        }

        async def find(started: datetime) -> Storage | None:
            for storage in await self.list_storages(cloud_id=cloud_id):
                if storage.storage_name == name and storage.cloud_id in (cloud_id, None):
                    return storage
            return None

        return await self._create(
            "create_storage",
            self._path("storages"),
            body,
            find=find,
            parse=lambda reply: self._reader.one(Storage, reply, "storageId", "storage"),
        )

    async def list_storages(
        self, *, cloud_id: str | None = None, product: Product | None = None
    ) -> list[Storage]:
        return await self._list_all(
            "list_storages",
            self._path("storages"),
            "storages",
            Storage,
            lambda storage: storage.storage_id,
            params={"cloudId": cloud_id, "product": _product(product)},
        )

    async def get_storage(self, storage_id: str) -> Storage:
        reply = await self._call(
            "get_storage", "GET", self._path("storages", storage_id), kind=_Kind.READ
        )
        return self._reader.one(Storage, reply, "storageId", "storage")

    # -- 5-8: policies ---------------------------------------------------------------------

    async def create_policy(
        self,
        *,
        cloud_id: str,
        product: Product,
        include_attachments: bool,
        include_personal_spaces: bool | None = None,
        storage_id: str | None = None,
    ) -> Policy:
        body: dict[str, object] = {
            "product": _product(product),
            "includeAttachments": include_attachments,
        }
        if storage_id is not None:
            body["storageId"] = storage_id
        if include_personal_spaces is not None:
            body["includePersonalSpaces"] = include_personal_spaces

        async def find(started: datetime) -> Policy | None:
            for policy in await self.list_policies():
                if (
                    policy.cloud_id == cloud_id
                    and policy.product == _product(product)
                    and (policy.created_at is None or _created_since(policy.created_at, started))
                ):
                    return policy
            return None

        return await self._create(
            "create_policy",
            self._path("cloud", cloud_id, "policies"),
            body,
            find=find,
            parse=lambda reply: self._reader.one(Policy, reply, "policyId", "policy"),
        )

    async def list_policies(self) -> list[Policy]:
        return await self._list_all(
            "list_policies",
            self._path("policies"),
            "policies",
            Policy,
            lambda policy: policy.policy_id,
        )

    async def get_policy(self, policy_id: str) -> Policy:
        reply = await self._call(
            "get_policy",
            "GET",
            self._path("policies", policy_id),
            kind=_Kind.READ,
            params=self.profile.policy_details_query,
        )
        return self._reader.one(Policy, reply, "policyId", "policy")

    async def read_policy_page(self) -> list[Policy]:
        """One page of the policy list, read once: the start-up check of the API version."""
        reply = await self._call(
            "list_policies",
            "GET",
            self._path("policies"),
            kind=_Kind.READ,
            params={"start": "0", "pageSize": str(PAGE_SIZE)},
        )
        return self._reader.many(Policy, reply, "policies")

    async def activate_policy(self, policy_id: str) -> list[Backup]:
        """Activate a saved policy (v2); Atlassian answers with the backups it scheduled.

        Activating an active policy changes nothing, so it is retried like a read.
        """
        if not self.profile.has_activation:
            raise ValueError(f"{self.profile.name} has no policy activation")
        self._require_account_id("activate_policy")
        reply = await self._call(
            "activate_policy",
            "PUT",
            self._path("policies", policy_id, "activate"),
            kind=_Kind.IDEMPOTENT,
        )
        if reply.data is None:
            return []
        return self._reader.many(Backup, reply, "backups")

    async def update_policy(
        self,
        policy_id: str,
        *,
        storage_id: str | Unset | None = UNSET,
        include_attachments: bool | None = None,
        include_personal_spaces: bool | None = None,
    ) -> Policy:
        """Change the given settings; ``storage_id=None`` moves the policy to Atlassian storage."""
        body: dict[str, object] = {}
        if not isinstance(storage_id, Unset):
            body["storageId"] = storage_id
        if include_attachments is not None:
            body["includeAttachments"] = include_attachments
        if include_personal_spaces is not None:
            body["includePersonalSpaces"] = include_personal_spaces
        if not body:
            raise ValueError("update_policy needs at least one setting to change")
        reply = await self._call(
            "update_policy",
            "PUT",
            self._path("policies", policy_id),
            kind=_Kind.IDEMPOTENT,
            body=body,
        )
        if reply.data is None:
            # A bare 204 is a success that simply does not echo the policy.
            return await self.get_policy(policy_id)
        return self._reader.one(Policy, reply, "policyId", "policy")

    # -- 9-11: backups ---------------------------------------------------------------------

    async def run_backup(self, *, policy_id: str, cloud_id: str) -> Backup:
        async def find(started: datetime) -> Backup | None:
            candidates = [
                backup
                for backup in await self.list_backups(policy_id)
                if backup.policy_id in (policy_id, None)
                and backup.cloud_id in (cloud_id, None)
                and _created_since(backup.created_at, started)
            ]
            return _newest(candidates)

        return await self._create(
            "run_backup",
            self._path("backups"),
            {"policyId": policy_id, "cloudId": cloud_id},
            find=find,
            parse=lambda reply: self._reader.one(Backup, reply, "backupId", "backup"),
        )

    async def list_backups(
        self, policy_id: str, *, memo: ListMemo[Backup] | None = None
    ) -> list[Backup]:
        return await self._list_all(
            "list_backups",
            self._path("policies", policy_id, "backups"),
            "backups",
            Backup,
            lambda backup: backup.backup_id,
            memo=(memo, "backupId"),
        )

    async def get_backup(self, backup_id: str) -> Backup:
        reply = await self._call(
            "get_backup", "GET", self._path("backups", backup_id), kind=_Kind.READ
        )
        return self._reader.one(Backup, reply, "backupId", "backup")

    # -- 12-16: exports and imports --------------------------------------------------------

    async def export_backups(self, items: Sequence[BackupRef]) -> list[Export]:
        body = _refs_body(items)

        async def find(started: datetime) -> list[Export] | None:
            exports = await self.list_exports()
            found: list[Export] = []
            for ref in items:
                match = _newest(
                    [
                        export
                        for export in exports
                        if export.backup_id == ref.backup_id
                        and _created_since(export.created_at, started)
                    ]
                )
                if match is None:
                    return None
                found.append(match)
            return found

        return await self._create(
            "export_backups",
            self._path("exports"),
            body,
            find=find,
            parse=lambda reply: self._reader.many(Export, reply, "exports"),
        )

    async def list_exports(
        self, *, product: Product | None = None, memo: ListMemo[Export] | None = None
    ) -> list[Export]:
        return await self._list_all(
            "list_exports",
            self._path("exports"),
            "exports",
            Export,
            lambda export: export.export_id,
            params={"productType": _product(product)},
            memo=(memo, "exportId"),
        )

    async def get_export(self, *, cloud_id: str, export_id: str) -> Export:
        reply = await self._call(
            "get_export",
            "GET",
            self._path("cloud", cloud_id, "exports", export_id),
            kind=_Kind.READ,
        )
        return self._reader.one(Export, reply, "exportId", "export")

    async def import_backups(self, items: Sequence[BackupRef]) -> list[Import]:
        body = _refs_body(items)

        async def find(started: datetime) -> list[Import] | None:
            return None

        return await self._create(
            "import_backups",
            self._path("imports"),
            body,
            find=find,
            parse=lambda reply: self._reader.many(Import, reply, "imports"),
        )

    async def get_import(self, *, cloud_id: str, import_id: str) -> Import:
        reply = await self._call(
            "get_import",
            "GET",
            self._path("cloud", cloud_id, "imports", import_id),
            kind=_Kind.READ,
        )
        return self._reader.one(Import, reply, "importId", "import")

    # -- 17-21: restores -------------------------------------------------------------------

    async def create_restore(
        self,
        *,
        dest_cloud_id: str,
        backup_id: str,
        product: Product,
        include_attachments: bool,
        include_users_and_groups: bool,
    ) -> Restore:
        body = {
            "backupId": backup_id,
            "includeAttachments": include_attachments,
            "includeUsersAndGroups": include_users_and_groups,
            "product": _product(product),
        }

        async def find(started: datetime) -> Restore | None:
            candidates = [
                restore
                for restore in await self.list_restores(cloud_id=dest_cloud_id)
                if restore.backup_id == backup_id
                and restore.cloud_id in (dest_cloud_id, None)
                and _created_since(restore.created_at, started)
            ]
            return _newest(candidates)

        return await self._create(
            "create_restore",
            self._path("cloud", dest_cloud_id, "restores"),
            body,
            find=find,
            parse=lambda reply: self._reader.one(Restore, reply, "restoreId", "restore"),
        )

    async def revalidate_restore(
        self, *, dest_cloud_id: str, restore_id: str, consents: Sequence[ConsentCheck | str]
    ) -> Restore:
        given = [str(consent) for consent in consents]

        async def find(started: datetime) -> Restore | None:
            restore = await self.get_restore(restore_id)
            if restore.status != RestoreStatus.VALIDATION_FAILED:
                return restore
            if any(not _answered(check, given) for check in restore.failed_checks):
                return restore
            return None

        return await self._create(
            "revalidate_restore",
            self._path("cloud", dest_cloud_id, "restores", "revalidate"),
            {"restoreId": restore_id, "consent": given},
            find=find,
            parse=lambda reply: self._reader.one(Restore, reply, "restoreId", "restore"),
        )

    async def list_restores(
        self,
        *,
        cloud_id: str | None = None,
        product: Product | None = None,
        memo: ListMemo[Restore] | None = None,
    ) -> list[Restore]:
        return await self._list_all(
            "list_restores",
            self._path("restores"),
            "restores",
            Restore,
            lambda restore: restore.restore_id,
            params={"cloudId": cloud_id, "product": _product(product)},
            memo=(memo, "restoreId"),
        )

    async def get_restore(self, restore_id: str) -> Restore:
        reply = await self._call(
            "get_restore", "GET", self._path("restores", restore_id), kind=_Kind.READ
        )
        return self._reader.one(Restore, reply, "restoreId", "restore")

    async def get_post_op_report(self, *, cloud_id: str, migration_id: str) -> str:
        """The URL of the post-operation report of a restore's migration."""
        reply = await self._call(
            "get_post_op_report",
            "GET",
            self._path("cloud", cloud_id, "migration", migration_id, "postOpReport"),
            kind=_Kind.READ,
        )
        report = self._reader.parse(PostOpReport, reply.data, reply)
        if not report.link:
            raise reply.unexpected("The post-operation report has no URL")
        return report.link

    # -- the machinery ---------------------------------------------------------------------

    def _require_account_id(self, operation: str) -> None:
        if operation in self.profile.account_id_required_for and not self.account_id:
            raise ConfigError(
                settings_words.account_id_needed_to(self.profile.name, operation.replace("_", " "))
            )

    def _path(self, *segments: str) -> str:
        # Ids are opaque: quoting keeps one that contains "/" inside its segment. A segment
        # that is empty, "." or ".." would still be removed by URL normalisation (httpx
        # resolves dot segments whatever the quoting), turning GET backups/.. into a list of
        # every backup: no object has such an id, so it is refused before any request.
        for segment in (self.org_id, *segments):
            if str(segment).strip() in _DOT_SEGMENTS:
                raise NotFoundError(f"{str(segment).strip() or 'an empty id'} is not an id")
        parts = [quote(self.org_id, safe=""), *(quote(str(s), safe="") for s in segments)]
        return "orgs/" + "/".join(parts)

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        kind: _Kind,
        params: Mapping[str, str | None] | None = None,
        body: object = None,
    ) -> Reply:
        query = {key: value for key, value in (params or {}).items() if value is not None}
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = await self._http.request(method, path, params=query or None, json=body)
            except httpx.TransportError as exc:
                metrics.observe_atlassian(
                    operation, transport_status(exc), time.perf_counter() - started
                )
                failure = transport_error(exc, method, path, timeout=self.timeout)
                not_sent = isinstance(exc, _NOT_SENT)
                if kind is _Kind.CREATE and not not_sent:
                    raise _MaybeApplied(failure) from exc
                if attempt >= self.retry.max_attempts:
                    raise failure from exc
                await self._wait_before_retry(operation, failure, attempt, None)
                continue

            metrics.observe_atlassian(
                operation, str(response.status_code), time.perf_counter() - started
            )
            logger.debug("%s %s -> %s (attempt %d)", method, path, response.status_code, attempt)
            if response.is_success:
                return decode_reply(response, method, path)
            error = error_from_response(response, method, path, clock=self.clock)
            if isinstance(error, RateLimited):
                retry_after = error.retry_after
            elif type(error) is Unavailable:
                if kind is _Kind.CREATE:
                    raise _MaybeApplied(error)
                retry_after = retry_after_seconds(
                    response.headers.get("Retry-After"), self.clock.now()
                )
            else:
                raise error
            if attempt >= self.retry.max_attempts:
                raise error
            await self._wait_before_retry(operation, error, attempt, retry_after)

    async def _wait_before_retry(
        self, operation: str, error: AtlassianError, attempt: int, retry_after: float | None
    ) -> None:
        metrics.count_atlassian_retry(operation)
        delay = self.retry.delay(attempt, retry_after)
        logger.info(
            "%s; retrying in %.2f s (attempt %d of %d)",
            error,
            delay,
            attempt + 1,
            self.retry.max_attempts,
        )
        await self.retry.sleep(delay)

    async def _create(
        self,
        operation: str,
        path: str,
        body: object,
        *,
        find: Callable[[datetime], Awaitable[_T | None]],
        parse: Callable[[Reply], _T],
    ) -> _T:
        started = self.clock.now()
        try:
            reply = await self._call(operation, "POST", path, kind=_Kind.CREATE, body=body)
        except _MaybeApplied as uncertain:
            return await self._reconcile(uncertain.error, started, find)
        except UnexpectedResponse as unreadable:
            if not accepted(unreadable.status):
                raise
            # Accepted but unreadable: the create happened, so find what it made.
            return await self._reconcile(unreadable, started, find)
        try:
            return parse(reply)
        except UnexpectedResponse as unreadable:
            return await self._reconcile(unreadable, started, find)

    async def _reconcile(
        self,
        error: AtlassianError,
        started: datetime,
        find: Callable[[datetime], Awaitable[_T | None]],
    ) -> _T:
        logger.warning(
            "%s; it may have taken effect, so it is not retried: looking for its result", error
        )

        def unknown(message: str) -> OutcomeUnknown:
            return OutcomeUnknown(
                message,
                method=error.method,
                path=error.path,
                status=error.status,
                body=error.body,
                code=error.code,
            )

        try:
            found = await find(started)
        except AtlassianError as lookup_error:
            raise unknown(
                f"{error.message}; looking for the result also failed: {lookup_error.message}"
            ) from lookup_error
        if found is None:
            raise unknown(
                f"{error.message}; the request may or may not have taken effect and no "
                "result of it was found, so it was not repeated"
            ) from error
        logger.info("Found the result of %s %s after all", error.method, error.path)
        return found

    async def _list_all(
        self,
        operation: str,
        path: str,
        key: str,
        model: type[_ModelT],
        id_of: Callable[[_ModelT], str],
        *,
        params: Mapping[str, str | None] | None = None,
        memo: tuple[ListMemo[_ModelT] | None, str] = (None, ""),
    ) -> list[_ModelT]:
        collected: list[_ModelT] = []
        seen: set[str] = set()
        start = 0
        for _ in range(self.max_pages):
            page_params = {**(params or {}), "start": str(start), "pageSize": str(PAGE_SIZE)}
            reply = await self._call(operation, "GET", path, kind=_Kind.READ, params=page_params)
            raw, total = self._reader.items(reply, key)
            if not raw:
                break
            page = self._reader.parse_page(model, raw, reply, memo)
            fresh = [item for item in page if id_of(item) not in seen]
            if not fresh:
                logger.warning(
                    "GET %s answered start=%d with items already received; it seems to "
                    "ignore paging, so the list may be incomplete",
                    path,
                    start,
                )
                break
            for item in fresh:
                seen.add(id_of(item))
            collected.extend(fresh)
            start += len(raw)
            if total is not None:
                if start >= total:
                    break
            elif len(raw) < PAGE_SIZE:
                break
        else:
            logger.warning(
                "GET %s had not ended after %d pages (%d items); the list is cut there",
                path,
                self.max_pages,
                len(collected),
            )
        return collected


def _product(product: Product | str | None) -> str | None:
    if product is None:
        return None
    return str(product.value if isinstance(product, Product) else product).upper()


def _refs_body(items: Sequence[BackupRef]) -> list[dict[str, object]]:
    if not items:
        raise ValueError("at least one backup is needed")
    return [
        {"product": _product(ref.product), "cloudId": ref.cloud_id, "backupId": ref.backup_id}
        for ref in items
    ]


def _created_since(created_at: datetime | None, started: datetime) -> bool:
    return created_at is not None and ensure_utc(created_at) >= ensure_utc(started) - RECONCILE_SKEW


_CreatedT = TypeVar("_CreatedT", Backup, Export, Restore)


def _newest(candidates: Sequence[_CreatedT]) -> _CreatedT | None:
    """The most recently created candidate; reconciliation only ever offers dated ones."""
    dated = [(item.created_at, item) for item in candidates if item.created_at is not None]
    if not dated:
        return None
    return max(dated, key=lambda pair: ensure_utc(pair[0]))[1]


def _answered(check: FailedCheck, consents: Sequence[str]) -> bool:
    """Whether a failed check is one the given consents answer."""
    value = str(check.check)
    if value in _CUSTOM_GROUP_CHECKS or "custom_group" in value.lower():
        return any(consent in _CUSTOM_GROUP_CHECKS for consent in consents)
    return value.lower() in {consent.lower() for consent in consents}


__all__ = [
    "MAX_PAGES",
    "PAGE_SIZE",
    "RECONCILE_SKEW",
    "UNSET",
    "AtlassianClient",
    "ShapeLog",
    "Unset",
]
