"""Unit tests of the Atlassian client against in-process httpx.MockTransport handlers."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.atlassian import (
    UNSET,
    AtlassianClient,
    AtlassianError,
    AuthError,
    BackupRef,
    BackupStatus,
    ConflictError,
    ConsentCheck,
    ForbiddenError,
    NotFoundError,
    OutcomeUnknown,
    Product,
    RateLimited,
    RestoreStatus,
    RetryPolicy,
    RuleViolation,
    Unavailable,
    UnexpectedResponse,
)
from bot.atlassian.client import PAGE_SIZE
from bot.clock import ManualClock
from bot.config import Settings

TOKEN = "ATATTunit-secret-token-0123456789"
EMAIL = "admin@example.com"
BASE = "https://api.example.test/backup/v1"
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


def make_client(
    handler: Handler,
    *,
    retry: RetryPolicy | None = None,
    clock: ManualClock | None = None,
    timeout: float = 10.0,
) -> AtlassianClient:
    return AtlassianClient(
        base_url=BASE,
        org_id="org-1",
        email=EMAIL,
        api_token=SecretStr(TOKEN),
        transport=httpx.MockTransport(handler),
        retry=retry or RetryPolicy.for_tests(),
        clock=clock or ManualClock(START),
        timeout=timeout,
    )


def ok(payload: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def backup_json(backup_id: str, created: datetime, status: str = "IN_PROGRESS") -> dict[str, Any]:
    return {
        "backupId": backup_id,
        "policyId": "pol-1",
        "cloudId": "cloud-1",
        "product": "JIRA",
        "status": status,
        "createdAt": iso(created),
    }


def raw_path(request: httpx.Request) -> str:
    """The path as sent, with ids still percent-encoded."""
    return request.url.raw_path.decode().partition("?")[0]


class Recorder:
    """A scripted API: answers come from a queue per (method, path suffix), calls are kept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: dict[tuple[str, str], list[Callable[[httpx.Request], httpx.Response]]] = {}

    def on(
        self, method: str, suffix: str, *answers: Callable[[httpx.Request], httpx.Response]
    ) -> None:
        self.answers.setdefault((method, suffix), []).extend(answers)

    def calls(self, method: str, suffix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and raw_path(r).endswith(suffix)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for (method, suffix), queue in self.answers.items():
            if request.method == method and raw_path(request).endswith(suffix) and queue:
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                return answer(request)
        return httpx.Response(404, json={"code": "NOT_FOUND", "message": "no such route"})


def reply(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=payload, headers=headers)


def fail(
    status: int, headers: dict[str, str] | None = None, text: str = ""
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, text=text, headers=headers)


def raise_(kind: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise kind("simulated transport failure", request=request)

    return answer


# -- requests on the wire ------------------------------------------------------------------


async def test_requests_use_basic_auth_relative_paths_and_a_timeout() -> None:
    """Every request carries Basic credentials, the org path under the base URL and timeouts."""
    api = Recorder()
    api.on("GET", "/backups/bkp-1", reply(backup_json("bkp-1", START, "COMPLETE")))
    async with make_client(api, timeout=3.5) as client:
        backup = await client.get_backup("bkp-1")
    request = api.requests[0]
    assert str(request.url) == f"{BASE}/orgs/org-1/backups/bkp-1"
    expected = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.extensions["timeout"] == httpx.Timeout(3.5).as_dict()
    assert backup.status is BackupStatus.COMPLETE


async def test_ids_are_quoted_inside_their_path_segment() -> None:
    """An id containing a slash cannot escape into another path."""
    api = Recorder()
    api.on("GET", "/restores/a%2F..%2Fb", reply({"restoreId": "a/../b", "status": "COMPLETE"}))
    async with make_client(api) as client:
        restore = await client.get_restore("a/../b")
    assert api.requests[0].url.raw_path.endswith(b"/orgs/org-1/restores/a%2F..%2Fb")
    assert restore.restore_id == "a/../b"


async def test_create_bodies_are_camel_case_as_documented() -> None:
    """Creates send the documented camelCase bodies, products as JIRA/CONFLUENCE."""
    api = Recorder()
    api.on(
        "POST",
        "/cloud/c-1/policies",
        reply({"policyId": "p", "cloudId": "c-1", "product": "CONFLUENCE"}),
    )
    api.on("POST", "/cloud/c-2/restores", reply({"restoreId": "r", "status": "VALIDATING"}))
    api.on(
        "POST", "/cloud/c-2/restores/revalidate", reply({"restoreId": "r", "status": "IN_PROGRESS"})
    )
    api.on(
        "POST",
        "/exports",
        reply({"exports": [{"exportId": "e", "backupId": "b", "status": "IN_PROGRESS"}]}),
    )
    api.on("POST", "/storages", reply({"storageId": "s"}, 201))
    api.on("POST", "/backups", reply(backup_json("bkp-9", START), 201))
    async with make_client(api) as client:
        await client.create_policy(
            cloud_id="c-1",
            product=Product.CONFLUENCE,
            include_attachments=False,
            include_personal_spaces=True,
        )
        await client.create_restore(
            dest_cloud_id="c-2",
            backup_id="b",
            product=Product.JIRA,
            include_attachments=True,
            include_users_and_groups=False,
        )
        await client.revalidate_restore(
            dest_cloud_id="c-2",
            restore_id="r",
            consents=[ConsentCheck.CONFLICTING_SPACE, "Deny_Custom_Group_Check"],
        )
        exports = await client.export_backups(
            [BackupRef(product=Product.JIRA, cloud_id="c-1", backup_id="b")]
        )
        await client.create_storage(
            name="s3",
            region="us-east-1",
            prefix="bk/",
            role_identifier="arn:aws:iam::1:role/x",
            principal_tag="tag",
            cloud_id="c-1",
        )
        await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    bodies = [json.loads(r.content) for r in api.requests]
    assert bodies[0] == {
        "product": "CONFLUENCE",
        "includeAttachments": False,
        "includePersonalSpaces": True,
    }
    assert bodies[1] == {
        "backupId": "b",
        "includeAttachments": True,
        "includeUsersAndGroups": False,
        "product": "JIRA",
    }
    assert bodies[2] == {
        "restoreId": "r",
        "consent": ["Consent_Conflicting_Space_Check", "Deny_Custom_Group_Check"],
    }
    assert bodies[3] == [{"product": "JIRA", "cloudId": "c-1", "backupId": "b"}]
    assert bodies[4] == {
        "storageName": "s3",
        "storageRegion": "us-east-1",
        "storagePrefix": "bk/",
        "storageType": "aws",
        "roleIdentifier": "arn:aws:iam::1:role/x",
        "principalTag": "tag",
        "cloudId": "c-1",
    }
    assert bodies[5] == {"policyId": "pol-1", "cloudId": "cloud-1"}
    assert [e.export_id for e in exports] == ["e"]


async def test_update_policy_sends_only_given_settings_and_null_for_atlassian_storage() -> None:
    """storage_id=None sends null (Atlassian storage); settings left out are not sent."""
    api = Recorder()
    api.on(
        "PUT", "/policies/pol-1", reply({"policyId": "pol-1", "cloudId": "c", "product": "JIRA"})
    )
    async with make_client(api) as client:
        await client.update_policy("pol-1", storage_id=None)
        await client.update_policy("pol-1", include_attachments=True, storage_id=UNSET)
        with pytest.raises(ValueError, match="at least one"):
            await client.update_policy("pol-1")
    assert [json.loads(r.content) for r in api.requests] == [
        {"storageId": None},
        {"includeAttachments": True},
    ]


async def test_update_policy_answered_with_no_content_reads_the_policy_back() -> None:
    """A 204 to the PUT is followed by a GET so the caller still gets the policy."""
    api = Recorder()
    api.on("PUT", "/policies/pol-1", fail(204))
    api.on(
        "GET",
        "/policies/pol-1",
        reply(
            {"policyId": "pol-1", "cloudId": "c", "product": "JIRA", "includeAttachments": False}
        ),
    )
    async with make_client(api) as client:
        policy = await client.update_policy("pol-1", include_attachments=False)
    assert policy.include_attachments is False
    assert [r.method for r in api.requests] == ["PUT", "GET"]


async def test_list_filters_are_sent_as_query_parameters() -> None:
    """Optional filters become query parameters and are left out when not given."""
    api = Recorder()
    api.on("GET", "/storages", reply({"storages": []}))
    api.on("GET", "/exports", reply({"exports": []}))
    api.on("GET", "/restores", reply({"restores": []}))
    async with make_client(api) as client:
        await client.list_storages(cloud_id="c-1", product=Product.JIRA)
        await client.list_exports(product=Product.CONFLUENCE)
        await client.list_restores()
    queries = [dict(r.url.params) for r in api.requests]
    assert queries[0] == {
        "cloudId": "c-1",
        "product": "JIRA",
        "start": "0",
        "pageSize": str(PAGE_SIZE),
    }
    assert queries[1]["productType"] == "CONFLUENCE"
    assert set(queries[2]) == {"start", "pageSize"}


async def test_regions_and_post_op_report_are_read_from_their_tolerated_shapes() -> None:
    """Regions come as strings or objects; the report URL is under reportUrl or url."""
    api = Recorder()
    api.on("POST", "/storages/regions", reply({"regions": ["us-east-1", {"region": "eu-west-1"}]}))
    api.on("GET", "/migration/m-1/postOpReport", reply({"reportUrl": "https://r.example/1"}))
    api.on("GET", "/migration/m-2/postOpReport", reply({"url": "https://r.example/2"}))
    api.on("GET", "/migration/m-3/postOpReport", reply({"status": "PENDING"}))
    async with make_client(api) as client:
        assert await client.list_regions() == ["us-east-1", "eu-west-1"]
        assert (
            await client.get_post_op_report(cloud_id="c", migration_id="m-1")
            == "https://r.example/1"
        )
        assert (
            await client.get_post_op_report(cloud_id="c", migration_id="m-2")
            == "https://r.example/2"
        )
        with pytest.raises(UnexpectedResponse, match="no URL"):
            await client.get_post_op_report(cloud_id="c", migration_id="m-3")


async def test_single_objects_wrapped_in_an_envelope_are_unwrapped() -> None:
    """{"restore": {...}} is read as the restore it wraps."""
    api = Recorder()
    api.on(
        "GET",
        "/restores/r-1",
        reply({"restore": {"restoreId": "r-1", "status": "Validation Failed"}}),
    )
    async with make_client(api) as client:
        restore = await client.get_restore("r-1")
    assert restore.status is RestoreStatus.VALIDATION_FAILED


# -- error mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error_class", "message_part", "code"),
    [
        (401, {"message": "Unauthorized"}, AuthError, "not accepted", None),
        (
            403,
            {"code": "FORBIDDEN", "message": "User is not an org admin"},
            ForbiddenError,
            "admin of this organisation",
            "FORBIDDEN",
        ),
        (
            403,
            {"code": "NOT_ENTITLED", "message": "Org is not entitled to backup"},
            ForbiddenError,
            "not entitled to backup and restore",
            "NOT_ENTITLED",
        ),
        (
            404,
            {"code": "NOT_FOUND", "message": "Backup bkp-x not found"},
            NotFoundError,
            "Backup bkp-x not found",
            "NOT_FOUND",
        ),
        (
            400,
            {"code": "BACKUP_TOO_SOON", "message": "A backup may run 7 days after the last"},
            RuleViolation,
            "7 days after",
            "BACKUP_TOO_SOON",
        ),
        (
            422,
            {"errors": [{"code": "RESTORE_EXPIRED", "message": "The backup has expired"}]},
            RuleViolation,
            "has expired",
            "RESTORE_EXPIRED",
        ),
        (400, "plain words from a proxy", RuleViolation, "plain words from a proxy", None),
        (
            409,
            {"code": "IN_PROGRESS", "message": "A backup is already running"},
            ConflictError,
            "already running",
            "IN_PROGRESS",
        ),
        (500, {"message": "boom"}, Unavailable, "HTTP 500", None),
        (418, {"message": "teapot"}, UnexpectedResponse, "HTTP 418", None),
    ],
)
async def test_error_responses_map_to_the_error_tree(
    status: int, body: object, error_class: type[Exception], message_part: str, code: str | None
) -> None:
    """Each status becomes its error class with the service's code, message, method and path."""
    content = body if isinstance(body, str) else json.dumps(body)
    api = Recorder()
    api.on("GET", "/backups/bkp-x", lambda request: httpx.Response(status, text=content))
    async with make_client(api, retry=RetryPolicy.for_tests(max_attempts=1)) as client:
        with pytest.raises(error_class) as caught:
            await client.get_backup("bkp-x")
    error = caught.value
    assert type(error) is error_class
    assert message_part in error.message  # type: ignore[attr-defined]
    assert error.code == code  # type: ignore[attr-defined]
    assert (error.method, error.path, error.status) == ("GET", "orgs/org-1/backups/bkp-x", status)  # type: ignore[attr-defined]
    assert "GET orgs/org-1/backups/bkp-x" in str(error)


async def test_html_error_pages_are_not_shown_as_messages() -> None:
    """An HTML page from a gateway gives the generic message, not markup."""
    api = Recorder()
    api.on("GET", "/policies", fail(404, text="<html><body>Not here</body></html>"))
    async with make_client(api) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.list_policies()
    assert caught.value.message == "Not found"


async def test_rate_limit_carries_retry_after_in_seconds_or_as_http_date() -> None:
    """Retry-After is read as delta-seconds and as an HTTP date relative to the clock."""
    clock = ManualClock(START)
    later = format_datetime(START + timedelta(seconds=90), usegmt=True)
    api = Recorder()
    api.on("GET", "/backups/a", fail(429, {"Retry-After": "12"}))
    api.on("GET", "/backups/b", fail(429, {"Retry-After": later}))
    api.on("GET", "/backups/c", fail(429, {"Retry-After": "soon"}))
    async with make_client(api, retry=RetryPolicy.for_tests(max_attempts=1), clock=clock) as client:
        for backup_id, expected in (("a", 12.0), ("b", 90.0), ("c", None)):
            with pytest.raises(RateLimited) as caught:
                await client.get_backup(backup_id)
            assert caught.value.retry_after == expected


async def test_unreadable_success_answers_are_unexpected_responses() -> None:
    """A 2xx that is not JSON, or JSON that is not the model, raises UnexpectedResponse."""
    api = Recorder()
    api.on("GET", "/backups/a", lambda request: httpx.Response(200, text="<html>ok</html>"))
    api.on("GET", "/backups/b", reply({"status": "COMPLETE"}))
    api.on("GET", "/backups/c", reply(["not", "an", "object"]))
    async with make_client(api) as client:
        for backup_id, message in (
            ("a", "not JSON"),
            ("b", "backupId"),
            ("c", "Expected a Backup"),
        ):
            with pytest.raises(UnexpectedResponse, match=message) as caught:
                await client.get_backup(backup_id)
            assert caught.value.status == 200
    assert len(api.requests) == 3


async def test_transport_failures_become_unavailable_without_a_status() -> None:
    """Timeouts and refused connections are Unavailable with status None."""
    api = Recorder()
    api.on("GET", "/backups/a", raise_(httpx.ReadTimeout))
    api.on("GET", "/backups/b", raise_(httpx.ConnectError))
    async with make_client(api, retry=RetryPolicy.for_tests(max_attempts=1), timeout=2) as client:
        with pytest.raises(Unavailable, match="within 2 s") as timed_out:
            await client.get_backup("a")
        with pytest.raises(Unavailable, match="Could not connect") as refused:
            await client.get_backup("b")
    assert timed_out.value.status is None
    assert refused.value.status is None


# -- retry policy --------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    """Without jitter the waits double up to max_delay; with jitter they scale by the rng."""
    plain = RetryPolicy(base_delay=0.5, max_delay=3, jitter=False)
    assert [plain.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3, 3]
    jittered = RetryPolicy(base_delay=0.5, max_delay=30, rng=lambda: 0.25)
    assert jittered.backoff(3) == pytest.approx(0.5)
    assert plain.delay(1, retry_after=120) == 3
    assert plain.delay(1, retry_after=2) == 2
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


async def test_reads_retry_on_5xx_with_backoff_until_success() -> None:
    """Two 503s then a 200 take three attempts and wait 0.5 s then 1 s."""
    retry = RetryPolicy.for_tests()
    api = Recorder()
    api.on(
        "GET",
        "/policies/pol-1",
        fail(503),
        fail(503),
        reply({"policyId": "pol-1", "cloudId": "c", "product": "JIRA"}),
    )
    async with make_client(api, retry=retry) as client:
        policy = await client.get_policy("pol-1")
    assert policy.policy_id == "pol-1"
    assert len(api.requests) == 3
    assert retry.recorded_delays == [0.5, 1.0]


async def test_reads_honour_retry_after_capped_at_max_delay() -> None:
    """A 429's Retry-After is the wait, but never more than max_delay."""
    retry = RetryPolicy.for_tests(max_delay=30)
    api = Recorder()
    api.on(
        "GET",
        "/restores/r",
        fail(429, {"Retry-After": "7"}),
        fail(429, {"Retry-After": "600"}),
        reply({"restoreId": "r", "status": "COMPLETE"}),
    )
    async with make_client(api, retry=retry) as client:
        await client.get_restore("r")
    assert retry.recorded_delays == [7.0, 30]


async def test_reads_give_up_after_max_attempts_with_the_last_error() -> None:
    """A read that keeps failing is tried max_attempts times, then raises."""
    retry = RetryPolicy.for_tests(max_attempts=3)
    api = Recorder()
    api.on("GET", "/backups/b", raise_(httpx.ReadTimeout))
    async with make_client(api, retry=retry) as client:
        with pytest.raises(Unavailable):
            await client.get_backup("b")
    assert len(api.requests) == 3
    assert len(retry.recorded_delays) == 2


async def test_listing_regions_is_a_read_and_is_retried() -> None:
    """The regions POST is retried on 5xx like any read."""
    api = Recorder()
    api.on("POST", "/storages/regions", fail(502), reply({"regions": ["us-east-1"]}))
    async with make_client(api) as client:
        assert await client.list_regions() == ["us-east-1"]
    assert len(api.requests) == 2


async def test_update_policy_is_idempotent_and_retried_after_a_timeout() -> None:
    """The PUT is repeated after a timeout because repeating it changes nothing more."""
    api = Recorder()
    api.on(
        "PUT",
        "/policies/p",
        raise_(httpx.ReadTimeout),
        reply({"policyId": "p", "cloudId": "c", "product": "JIRA"}),
    )
    async with make_client(api) as client:
        await client.update_policy("p", include_attachments=True)
    assert len(api.calls("PUT", "/policies/p")) == 2


async def test_client_errors_are_never_retried() -> None:
    """400, 401, 403, 404 and 409 are raised at once."""
    for status in (400, 401, 403, 404, 409):
        api = Recorder()
        api.on("GET", "/backups/b", fail(status))
        async with make_client(api) as client:
            with pytest.raises(AtlassianError):
                await client.get_backup("b")
        assert len(api.requests) == 1, status


async def test_creates_are_retried_after_429_because_it_took_no_effect() -> None:
    """A 429 on run-backup is retried after Retry-After."""
    retry = RetryPolicy.for_tests()
    api = Recorder()
    api.on(
        "POST",
        "/backups",
        fail(429, {"Retry-After": "3"}),
        reply(backup_json("bkp-new", START), 201),
    )
    async with make_client(api, retry=retry) as client:
        backup = await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert backup.backup_id == "bkp-new"
    assert len(api.calls("POST", "/backups")) == 2
    assert retry.recorded_delays == [3.0]


async def test_creates_are_retried_after_a_connection_that_sent_nothing() -> None:
    """A refused connection proves the create was not sent, so it is retried."""
    api = Recorder()
    api.on(
        "POST", "/backups", raise_(httpx.ConnectError), reply(backup_json("bkp-new", START), 201)
    )
    async with make_client(api) as client:
        backup = await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert backup.backup_id == "bkp-new"
    assert len(api.calls("POST", "/backups")) == 2


async def test_create_with_5xx_is_reconciled_not_retried() -> None:
    """A 503 on run-backup is not repeated: the backup it created is found in the list."""
    clock = ManualClock(START)
    api = Recorder()
    api.on("POST", "/backups", fail(503))
    api.on(
        "GET",
        "/policies/pol-1/backups",
        reply(
            {
                "backups": [
                    backup_json("bkp-old", START - timedelta(days=8), "COMPLETE"),
                    backup_json("bkp-new", START + timedelta(seconds=1)),
                ],
                "totalItems": 2,
            }
        ),
    )
    async with make_client(api, clock=clock) as client:
        backup = await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert backup.backup_id == "bkp-new"
    assert len(api.calls("POST", "/backups")) == 1


async def test_create_that_times_out_is_reconciled_allowing_clock_skew() -> None:
    """After a read timeout a backup stamped slightly before the call (skew) is accepted."""
    api = Recorder()
    api.on("POST", "/backups", raise_(httpx.ReadTimeout))
    api.on(
        "GET",
        "/policies/pol-1/backups",
        reply(
            {
                "backups": [
                    backup_json("bkp-new", START - timedelta(seconds=30)),
                ]
            }
        ),
    )
    async with make_client(api) as client:
        backup = await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert backup.backup_id == "bkp-new"
    assert len(api.calls("POST", "/backups")) == 1


async def test_create_with_no_trace_raises_outcome_unknown_without_retrying() -> None:
    """When only older backups exist the outcome is unknown and the POST is sent once."""
    api = Recorder()
    api.on("POST", "/backups", fail(500, text='{"message": "internal"}'))
    api.on(
        "GET",
        "/policies/pol-1/backups",
        reply(
            {
                "backups": [
                    backup_json("bkp-old", START - timedelta(hours=1), "COMPLETE"),
                ]
            }
        ),
    )
    async with make_client(api) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert len(api.calls("POST", "/backups")) == 1
    assert caught.value.status == 500
    assert caught.value.path == "orgs/org-1/backups"
    assert "not repeated" in caught.value.message


async def test_reconciliation_that_itself_fails_is_outcome_unknown() -> None:
    """If the lookup after a failed create fails too, the outcome is still unknown."""
    api = Recorder()
    api.on("POST", "/backups", fail(503))
    api.on("GET", "/policies/pol-1/backups", fail(503))
    async with make_client(api, retry=RetryPolicy.for_tests(max_attempts=2)) as client:
        with pytest.raises(OutcomeUnknown, match="looking for the result also failed"):
            await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert len(api.calls("POST", "/backups")) == 1


async def test_create_restore_is_reconciled_by_backup_and_destination() -> None:
    """A timed-out restore is found among the destination's restores of that backup."""
    api = Recorder()
    api.on("POST", "/cloud/dest/restores", raise_(httpx.ReadTimeout))
    api.on(
        "GET",
        "/restores",
        reply(
            {
                "restores": [
                    {
                        "restoreId": "r-other",
                        "backupId": "b-other",
                        "cloudId": "dest",
                        "status": "VALIDATING",
                        "createdAt": iso(START + timedelta(seconds=1)),
                    },
                    {
                        "restoreId": "r-old",
                        "backupId": "b-1",
                        "cloudId": "dest",
                        "status": "COMPLETE",
                        "createdAt": iso(START - timedelta(days=9)),
                    },
                    {
                        "restoreId": "r-new",
                        "backupId": "b-1",
                        "cloudId": "dest",
                        "status": "VALIDATING",
                        "createdAt": iso(START + timedelta(seconds=2)),
                    },
                ]
            }
        ),
    )
    async with make_client(api) as client:
        restore = await client.create_restore(
            dest_cloud_id="dest",
            backup_id="b-1",
            product=Product.JIRA,
            include_attachments=True,
            include_users_and_groups=True,
        )
    assert restore.restore_id == "r-new"
    assert api.calls("GET", "/restores")[0].url.params["cloudId"] == "dest"


async def test_create_policy_and_storage_are_reconciled_by_their_natural_keys() -> None:
    """A policy is found by cloudId+product, a storage by name+cloudId."""
    api = Recorder()
    api.on("POST", "/cloud/c-1/policies", fail(504))
    api.on(
        "GET",
        "/policies",
        reply(
            {
                "policies": [
                    {"policyId": "p-j", "cloudId": "c-1", "product": "JIRA"},
                    {
                        "policyId": "p-c",
                        "cloudId": "c-1",
                        "product": "CONFLUENCE",
                        "createdAt": iso(START),
                    },
                ]
            }
        ),
    )
    api.on("POST", "/storages", raise_(httpx.ReadTimeout))
    api.on(
        "GET",
        "/storages",
        reply(
            {
                "storages": [
                    {"storageId": "s-1", "storageName": "other", "cloudId": "c-1"},
                    {"storageId": "s-2", "storageName": "mine", "cloudId": "c-1"},
                ]
            }
        ),
    )
    async with make_client(api) as client:
        policy = await client.create_policy(
            cloud_id="c-1", product=Product.CONFLUENCE, include_attachments=True
        )
        storage = await client.create_storage(
            name="mine",
            region="r",
            prefix="p",
            role_identifier="arn",
            principal_tag="t",
            cloud_id="c-1",
        )
    assert policy.policy_id == "p-c"
    assert storage.storage_id == "s-2"


async def test_create_policy_does_not_claim_a_policy_older_than_the_call() -> None:
    """A pre-existing policy for the site and product is not mistaken for the new one."""
    api = Recorder()
    api.on("POST", "/cloud/c-1/policies", fail(503))
    api.on(
        "GET",
        "/policies",
        reply(
            {
                "policies": [
                    {
                        "policyId": "p-j",
                        "cloudId": "c-1",
                        "product": "JIRA",
                        "createdAt": iso(START - timedelta(days=30)),
                    },
                ]
            }
        ),
    )
    async with make_client(api) as client:
        with pytest.raises(OutcomeUnknown):
            await client.create_policy(
                cloud_id="c-1", product=Product.JIRA, include_attachments=True
            )


async def test_export_is_reconciled_only_when_every_backup_has_a_new_export() -> None:
    """Exports are matched per backupId; one missing export leaves the outcome unknown."""
    exports = [
        {"exportId": "e-1", "backupId": "b-1", "status": "IN_PROGRESS", "createdAt": iso(START)},
        {
            "exportId": "e-old",
            "backupId": "b-2",
            "status": "COMPLETE",
            "createdAt": iso(START - timedelta(days=3)),
        },
    ]
    refs = [
        BackupRef(product=Product.JIRA, cloud_id="c", backup_id="b-1"),
        BackupRef(product=Product.JIRA, cloud_id="c", backup_id="b-2"),
    ]
    api = Recorder()
    api.on("POST", "/exports", fail(503))
    api.on("GET", "/exports", reply({"exports": exports}))
    async with make_client(api) as client:
        found = await client.export_backups(refs[:1])
        assert [e.export_id for e in found] == ["e-1"]
        with pytest.raises(OutcomeUnknown):
            await client.export_backups(refs)
    assert len(api.calls("POST", "/exports")) == 2


async def test_import_that_times_out_is_outcome_unknown() -> None:
    """Imports cannot be listed, so an unconfirmed import is never repeated nor guessed."""
    api = Recorder()
    api.on("POST", "/imports", raise_(httpx.ReadTimeout))
    async with make_client(api) as client:
        with pytest.raises(OutcomeUnknown):
            await client.import_backups([BackupRef(product="JIRA", cloud_id="c", backup_id="b")])
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("restore", "took_effect"),
    [
        ({"status": "IN_PROGRESS"}, True),
        (
            {
                "status": "VALIDATION_FAILED",
                "failedChecks": [{"check": "Consent_TDP_Shard_Check", "code": "SHARD"}],
            },
            True,
        ),
        (
            {
                "status": "VALIDATION_FAILED",
                "failedChecks": [
                    {"check": "Consent_Conflicting_Space_Check"},
                    {"check": "Accept_Custom_Group_Check"},
                ],
            },
            False,
        ),
    ],
)
async def test_revalidate_is_reconciled_by_reading_the_restore(
    restore: dict[str, Any], took_effect: bool
) -> None:
    """A revalidation took effect if the restore moved on or fails other checks than consented."""
    api = Recorder()
    api.on("POST", "/restores/revalidate", raise_(httpx.ReadTimeout))
    api.on("GET", "/restores/r-1", reply({"restoreId": "r-1", **restore}))
    async with make_client(api) as client:
        call = client.revalidate_restore(
            dest_cloud_id="d",
            restore_id="r-1",
            consents=[ConsentCheck.CONFLICTING_SPACE, ConsentCheck.DENY_CUSTOM_GROUP],
        )
        if took_effect:
            assert (await call).restore_id == "r-1"
        else:
            with pytest.raises(OutcomeUnknown):
                await call
    assert len(api.calls("POST", "/restores/revalidate")) == 1


# -- pagination ----------------------------------------------------------------------------


def paged_backups(
    total: int, *, honour_start: bool = True
) -> Callable[[httpx.Request], httpx.Response]:
    everything = [backup_json(f"bkp-{n:03d}", START, "COMPLETE") for n in range(total)]

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"]) if honour_start else 0
        size = int(request.url.params["pageSize"])
        return ok({"backups": everything[start : start + size], "totalItems": total})

    return answer


async def test_lists_follow_pages_until_total_items() -> None:
    """250 backups arrive over three pages of 100, in order, each exactly once."""
    api = Recorder()
    api.on("GET", "/policies/pol-1/backups", paged_backups(250))
    async with make_client(api) as client:
        backups = await client.list_backups("pol-1")
    assert [b.backup_id for b in backups] == [f"bkp-{n:03d}" for n in range(250)]
    assert [r.url.params["start"] for r in api.requests] == ["0", "100", "200"]


async def test_lists_stop_when_the_server_ignores_start(caplog: pytest.LogCaptureFixture) -> None:
    """A server repeating the first page ends the listing after one repeat, with a warning."""
    api = Recorder()
    api.on("GET", "/policies/pol-1/backups", paged_backups(250, honour_start=False))
    with caplog.at_level(logging.WARNING, logger="bot.atlassian.client"):
        async with make_client(api) as client:
            backups = await client.list_backups("pol-1")
    assert len(backups) == 100
    assert len(api.requests) == 2
    assert "ignore paging" in caplog.text


async def test_lists_stop_on_an_empty_page_even_if_total_promises_more() -> None:
    """An empty page ends the listing although totalItems says more exist."""
    api = Recorder()
    api.on(
        "GET",
        "/policies",
        reply(
            {
                "policies": [
                    {"policyId": f"p{n}", "cloudId": "c", "product": "JIRA"}
                    for n in range(PAGE_SIZE)
                ],
                "totalItems": 500,
            }
        ),
        reply({"policies": [], "totalItems": 500}),
    )
    async with make_client(api) as client:
        policies = await client.list_policies()
    assert len(policies) == PAGE_SIZE
    assert len(api.requests) == 2


async def test_lists_accept_bare_lists_and_results_keys() -> None:
    """A bare list or a results/values key is read as the items, a short page ends it."""
    api = Recorder()
    api.on("GET", "/restores", reply([{"restoreId": "r-1", "status": "COMPLETE"}]))
    api.on(
        "GET", "/exports", reply({"results": [{"exportId": "e-1", "status": "done"}], "total": 1})
    )
    api.on("GET", "/storages", reply({"values": [{"storageId": 7}]}))
    async with make_client(api) as client:
        restores = await client.list_restores()
        exports = await client.list_exports()
        storages = await client.list_storages()
    assert [r.restore_id for r in restores] == ["r-1"]
    assert [e.status for e in exports] == ["COMPLETE"]
    assert [s.storage_id for s in storages] == ["7"]
    assert len(api.requests) == 3


async def test_lists_without_a_list_are_unexpected() -> None:
    """An object holding no list of items is an UnexpectedResponse."""
    api = Recorder()
    api.on("GET", "/restores", reply({"message": "all good"}))
    async with make_client(api) as client:
        with pytest.raises(UnexpectedResponse, match="no list of restores"):
            await client.list_restores()


# -- secrets and logging -------------------------------------------------------------------


async def test_the_token_never_appears_in_repr_errors_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither the token nor its Basic header shows in repr, exceptions or any log line."""
    basic = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()

    def echo_secrets(request: httpx.Request) -> httpx.Response:
        # A misbehaving proxy that echoes the credentials back in its error body.
        return httpx.Response(
            401 if request.method == "GET" else 503,
            json={"message": f"bad token {TOKEN}", "auth": request.headers["Authorization"]},
        )

    with caplog.at_level(logging.DEBUG):
        async with make_client(echo_secrets, retry=RetryPolicy.for_tests(max_attempts=2)) as client:
            assert TOKEN not in repr(client)
            with pytest.raises(AuthError) as auth:
                await client.get_backup("b")
            with pytest.raises(OutcomeUnknown) as unknown:
                await client.run_backup(policy_id="p", cloud_id="c")
    for error in (auth.value, unknown.value):
        for text in (str(error), repr(error), error.body, error.user_message, error.message):
            assert TOKEN not in text
            assert basic not in text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged, "the failing calls should have been logged"
    assert TOKEN not in logged
    assert basic not in logged
    assert TOKEN not in caplog.text


async def test_unfamiliar_shapes_are_logged_once_per_model_and_key_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same unknown field is logged once; a new key set is logged again."""
    api = Recorder()
    api.on(
        "GET", "/backups/a", reply({**backup_json("a", START), "region": "eu", "secretNote": TOKEN})
    )
    api.on(
        "GET", "/backups/b", reply({**backup_json("b", START), "region": "us", "secretNote": "x"})
    )
    api.on("GET", "/backups/c", reply({**backup_json("c", START), "tier": "gold"}))
    with caplog.at_level(logging.DEBUG, logger="bot.atlassian.client"):
        async with make_client(api) as client:
            for backup_id in ("a", "b", "c"):
                backup = await client.get_backup(backup_id)
    shapes = [r.getMessage() for r in caplog.records if "Unfamiliar shape" in r.getMessage()]
    assert len(shapes) == 2
    assert "region, secretNote" in shapes[0]
    assert "tier" in shapes[1]
    assert TOKEN not in caplog.text
    assert backup.unknown_fields == {"tier": "gold"}


async def test_unknown_list_envelope_keys_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """Extra top-level keys of a list answer are logged, once."""
    api = Recorder()
    api.on("GET", "/restores", reply({"restores": [], "totalItems": 0, "cursor": "abc"}))
    with caplog.at_level(logging.DEBUG, logger="bot.atlassian.client"):
        async with make_client(api) as client:
            await client.list_restores()
            await client.list_restores()
    shapes = [r.getMessage() for r in caplog.records if "Unfamiliar shape" in r.getMessage()]
    assert shapes == [shapes[0]]
    assert "restores list: cursor" in shapes[0]


async def test_from_settings_uses_the_atlassian_settings() -> None:
    """from_settings reads the URL, org, e-mail and token, and hides the token."""
    settings = Settings(
        atlassian_api_url="https://api.example.test/v9",
        atlassian_org_id="org-9",
        atlassian_email="ops@example.com",
        atlassian_api_token=SecretStr("settings-secret-token"),
    )
    client = AtlassianClient.from_settings(settings, timeout=4)
    assert (client.base_url, client.org_id, client.email, client.timeout) == (
        "https://api.example.test/v9/",
        "org-9",
        "ops@example.com",
        4,
    )
    assert "settings-secret-token" not in repr(client)
    assert "settings-secret-token" not in repr(vars(client))
    await client.aclose()


async def test_an_accepted_create_with_an_unreadable_answer_is_reconciled() -> None:
    """An unreadable 2xx run-backup answer is not a failure: the backup it made is found."""
    api = Recorder()
    api.on("POST", "/backups", reply({"taskId": "t-1"}, status=202))
    api.on(
        "GET",
        "/policies/pol-1/backups",
        reply({"backups": [backup_json("bkp-new", START + timedelta(seconds=1))], "totalItems": 1}),
    )
    async with make_client(api) as client:
        backup = await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert backup.backup_id == "bkp-new"
    assert len(api.calls("POST", "/backups")) == 1


async def test_an_accepted_create_that_cannot_be_found_is_outcome_unknown() -> None:
    """An unreadable 2xx create answer with nothing to find raises OutcomeUnknown, not a refusal."""
    api = Recorder()
    api.on("POST", "/backups", fail(200, text="<html>accepted</html>"))
    api.on("GET", "/policies/pol-1/backups", reply({"backups": [], "totalItems": 0}))
    async with make_client(api) as client:
        with pytest.raises(OutcomeUnknown):
            await client.run_backup(policy_id="pol-1", cloud_id="cloud-1")
    assert len(api.calls("POST", "/backups")) == 1
