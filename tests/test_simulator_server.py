"""The simulated API over real loopback HTTP: routes, auth, errors, paging, faults, controls."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.atlassian.models import (
    Backup,
    BackupStatus,
    Export,
    Import,
    OperationStatus,
    Policy,
    PostOpReport,
    Restore,
    RestoreStatus,
    Storage,
)
from bot.clock import ManualClock
from bot.simulator import cli
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_STORAGE,
    CONFLUENCE_COMPLETE_BACKUP,
    DEMO_ORG_ID,
    DEMO_TOKEN,
    JIRA_COMPLETE_BACKUP,
    SANDBOX_CLOUD_ID,
    STAGING_CLOUD_ID,
)
from bot.simulator.server import SimulatorServer
from bot.simulator.world import World
from tests.fixtures.redis_server import free_port
from tests.fixtures.simulator import SIMULATOR_START, RunningSimulator

EMAIL = "admin@acme.example"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
OP = 5.0


@pytest.fixture
async def api(simulator: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client whose relative paths start at the demo org."""
    async with httpx.AsyncClient(
        base_url=simulator.org_url, auth=(EMAIL, simulator.token), timeout=5
    ) as client:
        yield client


@pytest.fixture
async def control(simulator: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client for the /_sim control endpoints."""
    async with httpx.AsyncClient(base_url=simulator.url, timeout=5) as client:
        yield client


def restore_body(backup_id: str = JIRA_COMPLETE_BACKUP, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backupId": backup_id,
        "product": "CONFLUENCE" if "confluence" in backup_id else "JIRA",
        "includeAttachments": True,
        "includeUsersAndGroups": True,
    }
    body.update(overrides)
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"].endswith(".")


# ---- auth and routing --------------------------------------------------------------------------


async def test_missing_or_wrong_credentials_are_401(simulator: RunningSimulator) -> None:
    """No credentials, or a wrong token, answer 401 UNAUTHORIZED without echoing the token."""
    async with httpx.AsyncClient(base_url=simulator.org_url) as client:
        assert_error(await client.get("policies"), 401, "UNAUTHORIZED")
        wrong = await client.get("policies", auth=(EMAIL, "not-the-token"))
        assert_error(wrong, 401, "UNAUTHORIZED")
        assert "not-the-token" not in wrong.text
        garbled = await client.get("policies", headers={"Authorization": "Basic !!!"})
        assert_error(garbled, 401, "UNAUTHORIZED")
        assert (await client.get("policies", auth=("anyone@x.io", DEMO_TOKEN))).status_code == 200


async def test_email_is_checked_when_the_server_names_one() -> None:
    """A server started with an e-mail accepts only that user name (any case)."""
    world = World.demo(clock=ManualClock(SIMULATOR_START))
    async with SimulatorServer(world, email=EMAIL, token="s3cret-token") as server:
        org_url = f"{server.url}orgs/{DEMO_ORG_ID}/"
        async with httpx.AsyncClient(base_url=org_url) as client:
            other = await client.get("policies", auth=("intruder@x.io", "s3cret-token"))
            same = await client.get("policies", auth=(EMAIL.upper(), "s3cret-token"))
    assert_error(other, 401, "UNAUTHORIZED")
    assert same.status_code == 200


async def test_another_org_is_403(simulator: RunningSimulator) -> None:
    """A path naming an org other than the simulated one is refused with 403."""
    async with httpx.AsyncClient(base_url=simulator.url, auth=(EMAIL, DEMO_TOKEN)) as client:
        assert_error(await client.get("orgs/other-org/policies"), 403, "ORG_ACCESS_DENIED")


async def test_unknown_routes_and_methods_answer_json(api: httpx.AsyncClient) -> None:
    """An unknown path is 404 NOT_FOUND and a wrong method 405, both as JSON."""
    assert_error(await api.get("backups"), 405, "METHOD_NOT_ALLOWED")
    assert_error(await api.get("nothing/here"), 404, "NOT_FOUND")


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    """A body that is not JSON is refused with INVALID_JSON."""
    response = await api.post(
        "backups", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "INVALID_JSON")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "storages/regions"),
        ("POST", "storages"),
        ("GET", "storages"),
        ("GET", "storages/sto-x"),
        ("POST", "cloud/c-x/policies"),
        ("GET", "policies"),
        ("GET", "policies/pol-x"),
        ("PUT", "policies/pol-x"),
        ("POST", "backups"),
        ("GET", "policies/pol-x/backups"),
        ("GET", "backups/bkp-x"),
        ("POST", "exports"),
        ("GET", "exports"),
        ("GET", "cloud/c-x/exports/exp-x"),
        ("POST", "imports"),
        ("GET", "cloud/c-x/imports/imp-x"),
        ("POST", "cloud/c-x/restores"),
        ("POST", "cloud/c-x/restores/revalidate"),
        ("GET", "restores"),
        ("GET", "restores/rst-x"),
        ("GET", "cloud/c-x/migration/m-x/postOpReport"),
    ],
)
async def test_each_documented_route_exists(api: httpx.AsyncClient, method: str, path: str) -> None:
    """Each of the 21 documented operations is routed (its answer is never route-not-found)."""
    response = await api.request(method, path, json={})
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json().get("code") not in ("NOT_FOUND", "METHOD_NOT_ALLOWED")


# ---- happy paths -------------------------------------------------------------------------------


async def test_storage_routes(api: httpx.AsyncClient) -> None:
    """Regions are listed, a storage is created, then listed by site and fetched by id."""
    regions = (await api.post("storages/regions")).json()["regions"]
    assert "us-east-1" in regions
    created = await api.post(
        "storages",
        json={
            "storageName": "sandbox-backups",
            "storageRegion": regions[1],
            "storagePrefix": "sandbox/",
            "storageType": "aws",
            "roleIdentifier": "arn:aws:iam::111122223333:role/backup",
            "principalTag": "sandbox",
            "cloudId": SANDBOX_CLOUD_ID,
        },
    )
    assert created.status_code == 201
    storage = Storage.model_validate(created.json())
    assert storage.status == "ACTIVE"
    assert storage.storage_prefix == "sandbox/"
    listed = (await api.get("storages", params={"cloudId": SANDBOX_CLOUD_ID})).json()
    assert [s["storageId"] for s in listed["storages"]] == [storage.storage_id]
    everything = (await api.get("storages", params={"product": "JIRA"})).json()
    assert everything["totalItems"] == 2
    fetched = await api.get(f"storages/{ACME_STORAGE}")
    assert fetched.json()["cloudId"] == ACME_CLOUD_ID
    assert_error(await api.get("storages/sto-nope"), 404, "STORAGE_NOT_FOUND")


async def test_policy_routes(api: httpx.AsyncClient) -> None:
    """A policy is created, listed, fetched and updated, in the documented shape."""
    created = await api.post(
        f"cloud/{SANDBOX_CLOUD_ID}/policies",
        json={"product": "CONFLUENCE", "includeAttachments": False, "includePersonalSpaces": True},
    )
    assert created.status_code == 201
    policy = Policy.model_validate(created.json())
    assert (policy.include_attachments, policy.include_personal_spaces) == (False, True)
    assert created.json()["storageId"] is None
    listed = (await api.get("policies")).json()
    assert listed["totalItems"] == 3
    assert (await api.get(f"policies/{policy.policy_id}")).json()["product"] == "CONFLUENCE"
    updated = await api.put(f"policies/{policy.policy_id}", json={"includeAttachments": True})
    assert updated.json()["includeAttachments"] is True
    assert_error(await api.put(f"policies/{policy.policy_id}", json={}), 400, "INVALID_REQUEST")


async def test_backup_routes_follow_the_clock(
    api: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """A backup run over HTTP reads IN_PROGRESS, then COMPLETE once the clock has moved."""
    created = await api.post(
        "backups", json={"policyId": "pol-acme-confluence", "cloudId": ACME_CLOUD_ID}
    )
    assert created.status_code == 201
    backup = Backup.model_validate(created.json())
    assert backup.status is BackupStatus.IN_PROGRESS
    simulator.clock.advance(OP)
    fetched = Backup.model_validate((await api.get(f"backups/{backup.backup_id}")).json())
    assert fetched.status is BackupStatus.COMPLETE
    assert fetched.completed_at is not None
    listed = (await api.get("policies/pol-acme-confluence/backups")).json()
    assert listed["backups"][0]["backupId"] == backup.backup_id
    assert listed["totalItems"] == 4


async def test_export_and_import_routes(
    api: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """A backup is exported, listed and fetched, then imported back and fetched."""
    refs = [{"product": "JIRA", "cloudId": ACME_CLOUD_ID, "backupId": JIRA_COMPLETE_BACKUP}]
    created = await api.post("exports", json=refs)
    assert created.status_code == 201
    export = Export.model_validate(created.json()["exports"][0])
    assert export.status is OperationStatus.IN_PROGRESS
    simulator.clock.advance(OP)
    fetched = await api.get(f"cloud/{ACME_CLOUD_ID}/exports/{export.export_id}")
    assert Export.model_validate(fetched.json()).status is OperationStatus.COMPLETE
    assert (await api.get("exports", params={"productType": "JIRA"})).json()["totalItems"] == 1
    assert (await api.get("exports", params={"productType": "CONFLUENCE"})).json()[
        "totalItems"
    ] == 0
    imported = await api.post("imports", json={"imports": refs})
    assert imported.status_code == 201
    import_id = Import.model_validate(imported.json()["imports"][0]).import_id
    simulator.clock.advance(OP)
    got = Import.model_validate(
        (await api.get(f"cloud/{ACME_CLOUD_ID}/imports/{import_id}")).json()
    )
    assert got.status is OperationStatus.COMPLETE


async def test_restore_with_consent_and_report(
    api: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """A restore to staging fails three checks, runs once consented, and then has a report."""
    created = await api.post(f"cloud/{STAGING_CLOUD_ID}/restores", json=restore_body())
    assert created.status_code == 201
    restore = Restore.model_validate(created.json())
    assert restore.status is RestoreStatus.VALIDATION_FAILED
    checks = [str(check.check) for check in restore.failed_checks]
    assert len(checks) == 3
    partial = await api.post(
        f"cloud/{STAGING_CLOUD_ID}/restores/revalidate",
        json={"restoreId": restore.restore_id, "consent": checks[:1]},
    )
    assert partial.status_code == 200
    assert len(partial.json()["failedChecks"]) == 2
    started = await api.post(
        f"cloud/{STAGING_CLOUD_ID}/restores/revalidate",
        json={"restoreId": restore.restore_id, "consent": checks[1:]},
    )
    running = Restore.model_validate(started.json())
    assert running.status is RestoreStatus.IN_PROGRESS
    assert running.migration_id
    assert started.json()["consents"] == checks
    report_path = f"cloud/{STAGING_CLOUD_ID}/migration/{running.migration_id}/postOpReport"
    assert_error(await api.get(report_path), 409, "REPORT_NOT_READY")
    simulator.clock.advance(OP)
    done = (await api.get(f"restores/{restore.restore_id}")).json()
    assert done["status"] == "COMPLETE"
    report = PostOpReport.model_validate((await api.get(report_path)).json())
    assert report.link is not None
    assert report.link.startswith("https://")
    assert report.link.endswith(f"/report/{running.migration_id}")
    assert_error(
        await api.get(f"cloud/{STAGING_CLOUD_ID}/migration/nope/postOpReport"),
        404,
        "MIGRATION_NOT_FOUND",
    )


async def test_list_restores_filters(api: httpx.AsyncClient) -> None:
    """Restores are listed with totalItems and filtered by destination and product."""
    await api.post(f"cloud/{STAGING_CLOUD_ID}/restores", json=restore_body())
    await api.post(
        f"cloud/{SANDBOX_CLOUD_ID}/restores", json=restore_body(CONFLUENCE_COMPLETE_BACKUP)
    )
    assert (await api.get("restores")).json()["totalItems"] == 2
    by_site = (await api.get("restores", params={"cloudId": SANDBOX_CLOUD_ID})).json()
    assert [r["product"] for r in by_site["restores"]] == ["CONFLUENCE"]
    by_product = (await api.get("restores", params={"product": "JIRA"})).json()
    assert [r["cloudId"] for r in by_product["restores"]] == [STAGING_CLOUD_ID]
    assert_error(await api.get("restores", params={"product": "BAMBOO"}), 400, "INVALID_PRODUCT")


# ---- error bodies ------------------------------------------------------------------------------


async def test_rule_violations_conflicts_and_unknown_ids(api: httpx.AsyncClient) -> None:
    """Rules answer 400 with their code, running operations 409, unknown ids 404."""
    assert_error(
        await api.post(f"cloud/{ACME_CLOUD_ID}/policies", json={"product": "JIRA"}),
        400,
        "POLICY_ALREADY_EXISTS",
    )
    assert_error(
        await api.post(f"cloud/{ACME_CLOUD_ID}/restores", json=restore_body()),
        400,
        "SAME_SITE_RESTORE",
    )
    await api.post(f"cloud/{STAGING_CLOUD_ID}/restores", json=restore_body())
    assert_error(
        await api.post(
            f"cloud/{STAGING_CLOUD_ID}/restores", json=restore_body(CONFLUENCE_COMPLETE_BACKUP)
        ),
        409,
        "RESTORE_IN_PROGRESS",
    )
    assert_error(await api.get("backups/bkp-nope"), 404, "BACKUP_NOT_FOUND")
    assert_error(
        await api.post(f"cloud/{SANDBOX_CLOUD_ID}/restores", json=restore_body("bkp-nope")),
        404,
        "BACKUP_NOT_FOUND",
    )


async def test_malformed_fields_are_invalid_requests(api: httpx.AsyncClient) -> None:
    """Missing or mistyped fields are refused with a message naming the field."""
    missing = await api.post("backups", json={"policyId": "pol-acme-jira"})
    assert_error(missing, 400, "INVALID_REQUEST")
    assert "cloudId" in missing.json()["message"]
    mistyped = await api.post(
        f"cloud/{SANDBOX_CLOUD_ID}/restores", json=restore_body(includeAttachments="yes")
    )
    assert_error(mistyped, 400, "INVALID_REQUEST")
    not_a_list = await api.post(
        f"cloud/{SANDBOX_CLOUD_ID}/restores/revalidate",
        json={"restoreId": "rst-x", "consent": "Consent_TDP_Shard_Check"},
    )
    assert_error(not_a_list, 400, "INVALID_REQUEST")
    assert_error(await api.post("exports", json={"unexpected": True}), 400, "INVALID_REQUEST")


# ---- pagination --------------------------------------------------------------------------------


async def test_pagination_pages_and_sorts_by_creation(api: httpx.AsyncClient) -> None:
    """start and pageSize cut pages, DESC lists newest first, ASC oldest first."""
    path = "policies/pol-acme-confluence/backups"
    first = (await api.get(path, params={"pageSize": 2})).json()
    assert first["totalItems"] == 3
    assert [b["backupId"] for b in first["backups"]] == [
        "bkp-acme-confluence-incomplete",
        "bkp-acme-confluence-complete",
    ]
    second = (await api.get(path, params={"pageSize": 2, "start": 2})).json()
    assert [b["backupId"] for b in second["backups"]] == ["bkp-acme-confluence-expired"]
    ascending = (await api.get(path, params={"sortOrder": "ASC", "sortBy": "createdAt"})).json()
    assert ascending["backups"][0]["backupId"] == "bkp-acme-confluence-expired"
    past_end = (await api.get(path, params={"start": 10})).json()
    assert past_end == {"backups": [], "totalItems": 3}


async def test_pagination_limits(api: httpx.AsyncClient, simulator: RunningSimulator) -> None:
    """pageSize defaults to 50 and is capped at 100; bad values are refused."""
    for index in range(120):
        simulator.world.add_backup("pol-acme-jira", backup_id=f"bkp-many-{index:03d}")
        simulator.clock.advance(1)
    default = (await api.get("policies/pol-acme-jira/backups")).json()
    assert (len(default["backups"]), default["totalItems"]) == (50, 122)
    capped = (await api.get("policies/pol-acme-jira/backups", params={"pageSize": 500})).json()
    assert len(capped["backups"]) == 100
    for params, code in (
        ({"pageSize": 0}, "INVALID_PAGINATION"),
        ({"start": "x"}, "INVALID_PAGINATION"),
        ({"sortOrder": "SIDEWAYS"}, "INVALID_SORT"),
        ({"sortBy": "size"}, "INVALID_SORT"),
    ):
        assert_error(await api.get("policies", params=params), 400, code)


# ---- faults ------------------------------------------------------------------------------------


async def test_queued_fault_answers_then_clears(
    api: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """A queued 503 answers the next matching request only; the call log shows both."""
    simulator.world.faults.queue(status=503, count=1, method="GET", path_contains="/policies")
    assert (await api.get("backups/" + JIRA_COMPLETE_BACKUP)).status_code == 200
    assert_error(await api.get("policies"), 503, "SERVICE_UNAVAILABLE")
    assert (await api.get("policies")).status_code == 200
    assert [call.status for call in simulator.world.calls] == [200, 503, 200]


async def test_queued_rate_limit_carries_retry_after(
    api: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """A queued 429 carries Retry-After: the given seconds, or 1 by default."""
    simulator.world.faults.queue(status=429, retry_after=7)
    simulator.world.faults.queue(status=429)
    first = await api.get("policies")
    assert_error(first, 429, "RATE_LIMITED")
    assert first.headers["Retry-After"] == "7"
    assert (await api.get("policies")).headers["Retry-After"] == "1"


async def test_queued_fault_does_not_perform_the_request(
    api: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """A request answered by an injected error does not happen."""
    simulator.world.faults.queue(status=500, method="POST", path_contains="/backups")
    response = await api.post(
        "backups", json={"policyId": "pol-acme-jira", "cloudId": ACME_CLOUD_ID}
    )
    assert_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert len(simulator.world.list_backups("pol-acme-jira")) == 2


async def test_delayed_answer_after_commit_times_the_client_out(
    simulator: RunningSimulator,
) -> None:
    """With delay_after_commit_s the create happens but its answer comes too late."""
    simulator.world.faults.queue(method="POST", path_contains="/backups", delay_after_commit_s=30)
    async with httpx.AsyncClient(
        base_url=simulator.org_url, auth=(EMAIL, DEMO_TOKEN), timeout=0.3
    ) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                "backups", json={"policyId": "pol-acme-jira", "cloudId": ACME_CLOUD_ID}
            )
        listed = (await client.get("policies/pol-acme-jira/backups")).json()
    assert listed["totalItems"] == 3
    assert listed["backups"][0]["status"] == "IN_PROGRESS"
    assert simulator.world.calls[0].status == 201


async def test_random_rate_limits_follow_the_seed() -> None:
    """With a rate-limit rate and a fixed seed, the same requests are refused each run."""

    async def statuses() -> list[int]:
        world = World.demo(clock=ManualClock(SIMULATOR_START), rng_seed="fixed")
        world.faults.rate_limit_rate = 0.5
        async with (
            SimulatorServer(world) as server,
            httpx.AsyncClient(
                base_url=f"{server.url}orgs/{DEMO_ORG_ID}/", auth=(EMAIL, DEMO_TOKEN)
            ) as client,
        ):
            replies = [await client.get("policies") for _ in range(16)]
        assert all(r.headers["Retry-After"] == "1" for r in replies if r.status_code == 429)
        return [reply.status_code for reply in replies]

    first = await statuses()
    assert first == await statuses()
    assert set(first) == {200, 429}


async def test_fail_rate_makes_operations_fail(
    api: httpx.AsyncClient, control: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """fail_rate 1 set through the control endpoint makes a new backup end FAILED."""
    await control.post("/_sim/faults", json={"fail_rate": 1})
    created = await api.post(
        "backups", json={"policyId": "pol-acme-jira", "cloudId": ACME_CLOUD_ID}
    )
    simulator.clock.advance(OP)
    backup = (await api.get(f"backups/{created.json()['backupId']}")).json()
    assert backup["status"] == "FAILED"
    assert backup["statusMessage"]


async def test_latency_delays_api_routes_only(
    api: httpx.AsyncClient, control: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """Added latency slows API requests but not the control endpoints."""
    simulator.world.faults.latency_ms = 150
    began = time.monotonic()
    await api.get("policies")
    assert time.monotonic() - began >= 0.15
    began = time.monotonic()
    await control.get("/_sim/state")
    assert time.monotonic() - began < 0.15


# ---- control endpoints ---------------------------------------------------------------------


async def test_control_state_and_clock(api: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    """/_sim/state summarises the world and /_sim/clock moves its time forward."""
    state = (await control.get("/_sim/state")).json()
    assert state["now"] == "2026-11-01T09:00:00.000Z"
    assert len(state["sites"]) == 3
    restore = (await api.post(f"cloud/{SANDBOX_CLOUD_ID}/restores", json=restore_body())).json()
    moved = await control.post("/_sim/clock", json={"advance": OP})
    assert moved.json() == {"now": "2026-11-01T09:00:05.000Z"}
    assert (await api.get(f"restores/{restore['restoreId']}")).json()["status"] == "COMPLETE"
    assert_error(await control.post("/_sim/clock", json={"advance": -1}), 400, "INVALID_REQUEST")


async def test_control_clock_with_a_fixed_clock_is_refused() -> None:
    """A world on a clock that cannot move refuses /_sim/clock with 409."""

    class FixedClock:
        def now(self) -> Any:
            return SIMULATOR_START

    server = SimulatorServer(World.demo(clock=FixedClock()))
    async with server, httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/_sim/clock", json={"advance": 1})
    assert_error(response, 409, "CLOCK_FIXED")


async def test_control_faults_and_queue(
    api: httpx.AsyncClient, control: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """/_sim/faults sets rates (validated) and /_sim/faults/queue injects a fault."""
    faults = (await control.post("/_sim/faults", json={"latency_ms": 0, "fail_rate": 0.25})).json()
    assert (faults["fail_rate"], faults["rate_limit_rate"]) == (0.25, 0.0)
    assert simulator.world.faults.fail_rate == 0.25
    assert_error(await control.post("/_sim/faults", json={"fail_rate": 2}), 400, "INVALID_REQUEST")
    queued = await control.post(
        "/_sim/faults/queue", json={"status": 502, "count": 2, "path_contains": "/restores"}
    )
    assert queued.json()["queued"]["count"] == 2
    assert_error(await api.get("restores"), 502, "BAD_GATEWAY")
    assert_error(await api.get("restores"), 502, "BAD_GATEWAY")
    assert (await api.get("restores")).status_code == 200
    assert_error(
        await control.post("/_sim/faults/queue", json={"status": 200}), 400, "INVALID_REQUEST"
    )
    assert_error(
        await control.post("/_sim/faults/queue", json={"colour": "red"}), 400, "INVALID_REQUEST"
    )


async def test_control_calls_record_requests_without_credentials(
    api: httpx.AsyncClient, control: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    """/_sim/calls lists each API request's method, path, query, status and body, no secrets."""
    await api.get("restores", params={"cloudId": SANDBOX_CLOUD_ID})
    await api.post("backups", json={"policyId": "pol-acme-jira", "cloudId": ACME_CLOUD_ID})
    await control.get("/_sim/state")
    calls = (await control.get("/_sim/calls")).json()["calls"]
    assert [(c["method"], c["status"]) for c in calls] == [("GET", 200), ("POST", 201)]
    assert calls[0]["path"] == f"/orgs/{DEMO_ORG_ID}/restores"
    assert calls[0]["query"] == {"cloudId": SANDBOX_CLOUD_ID}
    assert calls[1]["body"] == {"policyId": "pol-acme-jira", "cloudId": ACME_CLOUD_ID}
    recorded = simulator.world.calls[1]
    assert (recorded.method, recorded.body["policyId"]) == ("POST", "pol-acme-jira")
    assert DEMO_TOKEN not in str(calls)
    assert "Basic" not in str(calls)


# ---- the backup-bot simulator command ----------------------------------------------------------


def test_cli_defaults() -> None:
    """The subcommand listens on 127.0.0.1:8900 with the demo seed and no faults by default."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.seed, args.op_seconds) == ("127.0.0.1", 8900, "demo", 5.0)
    assert (args.fail_rate, args.rate_limit_rate, args.latency_ms) == (0.0, 0.0, 0.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--fail-rate", "1.5"])


def test_cli_refuses_unknown_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    """Any seed but demo is refused with one line and a non-zero exit."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args(["--seed", "big-corp"])) != 0
    assert capsys.readouterr().err.strip().count("\n") == 0


async def test_cli_serves_the_demo_org() -> None:
    """`backup-bot simulator` prints its URL and credentials, then serves the demo policies."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "simulator", "--port", str(port), "--op-seconds", "1"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("ATLASSIAN_SITES="):
            raw = await asyncio.wait_for(process.stdout.readline(), timeout=20)
            assert raw, lines
            lines.append(raw.decode().rstrip("\n"))
        assert f"http://127.0.0.1:{port}/" in lines[0]
        # The settings come one per line, ready to paste into .env.
        assert f"ATLASSIAN_API_URL=http://127.0.0.1:{port}/" in lines
        assert f"ATLASSIAN_ORG_ID={DEMO_ORG_ID}" in lines
        assert f"ATLASSIAN_API_TOKEN={DEMO_TOKEN}" in lines
        assert "ATLASSIAN_API_VERSION=v1" in lines
        async with httpx.AsyncClient(auth=("me@example.com", DEMO_TOKEN)) as client:
            reply = await client.get(f"http://127.0.0.1:{port}/orgs/{DEMO_ORG_ID}/policies")
        assert {p["policyId"] for p in reply.json()["policies"]} == {
            "pol-acme-jira",
            "pol-acme-confluence",
        }
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
