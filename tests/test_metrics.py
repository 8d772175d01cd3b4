"""Metrics as an operator scrapes them: `/metrics` of the running bot after a scripted flow.

The flow goes through the whole bot (signed HTTP, the simulator, a real Redis, the fake
Slack); each test compares a scrape before with one after, so what other tests left in
the process's registry does not matter. The gateway, the leases and the request scope are
driven directly where the flow through Slack does not reach them.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import ManualClock
from bot.errors import SlackRateLimited, SlackRefused
from bot.localslack import SlackWebApi
from bot.observability import metrics
from bot.observability.context import (
    Outcome,
    RequestKind,
    current_request_id,
    failure_reference,
    log_fields,
    note_outcome,
    open_request,
)
from bot.restore.store import RestoreSessionStore
from bot.simulator.seed import ACME_JIRA_POLICY, JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from bot.slack.blocks import info_message
from bot.slack.gateway import gateway_for
from bot.slack.instrumentation import InstrumentedApp, classify
from bot.slack.serve import state_sampler
from bot.store.leases import Leases
from bot.store.operations import OperationStore
from bot.store.outbox import Destination, ExpiryReminder
from tests.fixtures.bot_harness import ADMIN, APPROVER, CHANNEL, VIEWER, BotHarness
from tests.fixtures.metrics_scrape import Scrape, scrape
from tests.fixtures.redis_server import free_port

REQUESTS = "backup_bot_slack_requests_total"
ATLASSIAN = "backup_bot_atlassian_requests_total"


def metrics_url(harness: BotHarness) -> str:
    return harness.running.url.replace("/slack/events", "/metrics")


async def test_a_scripted_flow_moves_each_counter_by_what_happened(bot_harness: BotHarness) -> None:
    """Commands, refusals, a click, Atlassian calls and a retry each move their counter once."""
    harness = bot_harness
    before = await scrape(metrics_url(harness))
    harness.simulator.world.faults.queue(503, method="GET", path_contains="/policies")

    await harness.slash("policy list")
    await harness.slash("frobnicate")
    await harness.slash(f"run {ACME_JIRA_POLICY}", user=VIEWER)
    await harness.slash(f"start {JIRA_COMPLETE_BACKUP} to=acme-staging", command="/restore")
    (card,) = [m for m in harness.slack.messages(CHANNEL) if m.text.startswith("Restore of")]
    clicked = await harness.driver.click(card, rb.ACTION_CANCEL, user=APPROVER)
    assert clicked.status == 200
    await harness.settle()

    after = await scrape(metrics_url(harness))
    command = {"kind": "command"}
    assert after.moved(before, REQUESTS, **command, name="policy_list", outcome="ok") == 1
    assert after.moved(before, REQUESTS, **command, name="/backup", outcome="refused") == 1
    assert after.moved(before, REQUESTS, **command, name="backup_run", outcome="refused") == 1
    assert after.moved(before, REQUESTS, **command, name="restore_start", outcome="ok") == 1
    assert after.moved(before, REQUESTS, kind="action", name="restore_cancel", outcome="ok") == 1
    assert after.moved(before, "backup_bot_slack_ack_seconds_count", kind="command") == 4
    assert after.moved(before, "backup_bot_slack_ack_seconds_count", kind="action") == 1

    listed = {"operation": "list_policies"}
    assert after.moved(before, ATLASSIAN, **listed, status="503") == 1
    assert after.moved(before, ATLASSIAN, **listed, status="200") == 1
    assert after.moved(before, "backup_bot_atlassian_retries_total", **listed) == 1
    assert after.moved(before, "backup_bot_atlassian_request_seconds_count", **listed) == 2
    # The viewer's refused backup never reached Atlassian.
    assert after.moved(before, ATLASSIAN, operation="run_backup", status="202") == 0
    assert after.total(ATLASSIAN, operation="run_backup") == before.total(
        ATLASSIAN, operation="run_backup"
    )


async def test_every_series_label_is_bounded_and_no_id_or_user_appears(
    bot_harness: BotHarness,
) -> None:
    """After real traffic no label value is a user, a channel, a policy, a backup or a session."""
    harness = bot_harness
    await harness.slash(f"run {ACME_JIRA_POLICY}")
    await harness.slash(f"start {JIRA_COMPLETE_BACKUP} to=acme-staging", command="/restore")
    session = (await harness.services.sessions.unfinished())[0]
    after = await scrape(metrics_url(harness))
    forbidden = {ADMIN, APPROVER, VIEWER, CHANNEL, ACME_JIRA_POLICY, JIRA_COMPLETE_BACKUP}
    forbidden.add(session.session_id)
    values = {value for _, labels in after.samples for _, value in labels}
    assert not any(word in value for value in values for word in forbidden), values


async def test_the_sampler_reads_sessions_and_operations_from_redis(
    bot_harness: BotHarness,
) -> None:
    """Gauges of restore sessions, tracked operations and the outbox follow what Redis holds."""
    harness = bot_harness
    sampler = state_sampler(harness.services)
    assert await sampler.sample_once()
    before = await scrape(metrics_url(harness))
    assert before.value("backup_bot_restore_sessions", state="AWAITING_START") == 0

    await harness.slash(f"run {ACME_JIRA_POLICY}")
    await harness.slash(f"start {JIRA_COMPLETE_BACKUP} to=acme-staging", command="/restore")
    (operation,) = await harness.services.operations.active()
    expiry = harness.simulator.clock.now() + timedelta(days=2)
    await harness.services.operations.enqueue_once(
        operation.key,
        [
            ExpiryReminder(to=Destination.THREAD, expiry=expiry),
            ExpiryReminder(to=Destination.NOTIFY, expiry=expiry),
        ],
        marker="metrics-test",
    )
    assert await sampler.sample_once()
    harness.simulator.clock.advance(90 * 60)
    assert await sampler.sample_once()
    waiting = await scrape(metrics_url(harness))
    assert waiting.value("backup_bot_restore_sessions", state="AWAITING_START") == 1
    assert waiting.value("backup_bot_restore_sessions", state="AWAITING_CONSENT") == 0
    oldest = waiting.value("backup_bot_restore_oldest_waiting_seconds", state="AWAITING_START")
    assert oldest == pytest.approx(90 * 60, abs=5)
    assert waiting.total("backup_bot_operations_tracked", kind="backup") == 1
    assert waiting.value("backup_bot_outbox_depth") == 2
    assert waiting.value("backup_bot_outbox_oldest_age_seconds") == pytest.approx(90 * 60, abs=5)
    assert waiting.moved(before, "backup_bot_state_samples_total", outcome="ok") == 2


async def test_a_failed_sample_leaves_the_gauges_and_counts_the_failure(
    bot_harness: BotHarness,
) -> None:
    """When Redis cannot be read the sampler says so in a counter and keeps the last values."""
    harness = bot_harness
    await harness.slash(f"start {JIRA_COMPLETE_BACKUP} to=acme-staging", command="/restore")
    sampler = state_sampler(harness.services)
    assert await sampler.sample_once()
    before = await scrape(metrics_url(harness))
    nobody = aioredis.Redis(port=free_port(), decode_responses=True)
    unreachable = replace(
        harness.services,
        operations=OperationStore(nobody, harness.services.clock),
        sessions=RestoreSessionStore(nobody, harness.services.clock),
    )
    assert not await state_sampler(unreachable).sample_once()
    await nobody.aclose()
    after = await scrape(metrics_url(harness))
    assert after.moved(before, "backup_bot_state_samples_total", outcome="failed") == 1
    assert after.value("backup_bot_restore_sessions", state="AWAITING_START") == 1


async def test_gateway_calls_are_counted_by_method_and_outcome(
    bot_harness: BotHarness, slack_api: SlackWebApi
) -> None:
    """A post, a 429, a send held back by it and a refused edit each land in their series."""
    # The gateway's client carries no retry handler: a 429 must reach the gateway.
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)
    gateway = gateway_for(bot_harness.services, client)
    calls = "backup_bot_slack_api_calls_total"
    before = await scrape(metrics_url(bot_harness))

    await gateway.post(CHANNEL, info_message("one"))
    slack_api.rate_limit("chat.postMessage", retry_after=30)
    with pytest.raises(SlackRateLimited):
        await gateway.post(CHANNEL, info_message("two"))
    with pytest.raises(SlackRateLimited):
        await gateway.post(CHANNEL, info_message("three"))
    with pytest.raises(SlackRefused):
        await gateway.update(CHANNEL, "1.000000", info_message("edit"))

    after = await scrape(metrics_url(bot_harness))
    post, update = "chat.postMessage", "chat.update"
    assert after.moved(before, calls, method=post, outcome="ok") == 1
    assert after.moved(before, calls, method=post, outcome="rate_limited") == 1
    assert after.moved(before, "backup_bot_slack_sends_deferred_total", method=post) == 1
    assert after.moved(before, calls, method=update, outcome="refused") == 1


async def test_leases_held_counts_taken_leases_until_released_or_lapsed(
    redis_client: aioredis.Redis,
) -> None:
    """The leases gauge counts this process's leases: up on acquire, down on release or lapse."""
    clock = ManualClock()
    leases = Leases(redis_client, clock, fence_key="test:fence")
    held = metrics.REGISTRY.get_sample_value("backup_bot_leases_held") or 0.0

    first = await leases.acquire("test:lease:a", "me", timedelta(seconds=30))
    second = await leases.acquire("test:lease:b", "me", timedelta(seconds=10))
    assert first is not None
    assert second is not None
    assert await leases.acquire("test:lease:a", "someone-else", timedelta(seconds=30)) is None
    assert metrics.REGISTRY.get_sample_value("backup_bot_leases_held") == held + 2

    clock.advance(11)
    assert metrics.REGISTRY.get_sample_value("backup_bot_leases_held") == held + 1
    await leases.release(first)
    assert metrics.REGISTRY.get_sample_value("backup_bot_leases_held") == held
    async with leases.hold("test:lease:c", timedelta(seconds=30)):
        assert metrics.REGISTRY.get_sample_value("backup_bot_leases_held") == held + 1
    assert metrics.REGISTRY.get_sample_value("backup_bot_leases_held") == held


# -- the request scope ---------------------------------------------------------------------


async def test_a_listener_that_raises_is_counted_as_an_error() -> None:
    """A listener failing after its ack counts as `error`, with the ack still timed."""
    app = InstrumentedApp(
        signing_secret="unused",
        request_verification_enabled=False,
        authorize=_authorize,
        process_before_response=False,
    )
    finished: list[str] = []
    both_done = asyncio.Event()

    def done() -> None:
        finished.append(current_request_id())
        if len(finished) == 2:
            both_done.set()

    @app.action("explode")
    async def explode(ack: Any) -> None:
        await ack()
        # Bolt forgets an ack whose listener raises before the ack was seen; real work
        # after an ack takes at least this long.
        await asyncio.sleep(0.05)
        done()
        raise RuntimeError("boom")

    @app.action("refuse")
    async def refuse(ack: Any) -> None:
        await ack()
        note_outcome(Outcome.REFUSED)
        done()

    before = _registry_scrape()
    for action_id in ("explode", "refuse"):
        request = AsyncBoltRequest(body=_block_actions(action_id), mode="socket_mode")
        response = await app.async_dispatch(request)
        assert response.status == 200
    async with asyncio.timeout(5):
        await both_done.wait()
    # Each listener's task counts its request right after the listener returns or raises.
    await asyncio.sleep(0.05)
    after = _registry_scrape()
    error = {"kind": "action", "name": "explode", "outcome": "error"}
    refused = {"kind": "action", "name": "refuse", "outcome": "refused"}
    assert after.moved(before, REQUESTS, **error) == 1
    assert after.moved(before, REQUESTS, **refused) == 1
    assert finished[0] != finished[1]


def test_a_failure_reference_is_the_request_id_and_marks_the_request_failed() -> None:
    """The reference shown to a user is the request's id; the request then counts as error."""
    scope, token = open_request(RequestKind.COMMAND, "policy_list")
    try:
        assert log_fields() == {"request_id": scope.request_id, "command": "policy_list"}
        note_outcome(Outcome.REFUSED)
        assert failure_reference() == scope.request_id
        note_outcome(Outcome.REFUSED)
        assert scope.outcome is Outcome.ERROR
    finally:
        token.var.reset(token)
    assert log_fields() == {}
    assert current_request_id() != current_request_id()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"command": "/backup", "text": "run x"}, (RequestKind.COMMAND, "/backup")),
        ({"type": "block_actions", "actions": [{"action_id": "restore_answer:X:Y"}]},
         (RequestKind.ACTION, "restore_answer")),
        ({"type": "view_submission", "view": {"callback_id": "restore_modal"}},
         (RequestKind.VIEW, "restore_modal")),
        ({"type": "event_callback", "event": {"type": "app_home_opened"}},
         (RequestKind.EVENT, "app_home_opened")),
        ({"type": "url_verification"}, (RequestKind.OTHER, "url_verification")),
        ("not a dict", (RequestKind.OTHER, "unknown")),
    ],
)  # fmt: skip
def test_requests_are_classified_by_kind_and_a_bounded_name(
    body: object, expected: tuple[RequestKind, str]
) -> None:
    """The consent buttons' check names are cut off, so a label never carries a choice."""
    assert classify(body) == expected


def test_a_bounded_label_lets_a_fixed_number_of_values_through() -> None:
    """Past its limit every new value is reported as `other`; known ones keep their name."""
    names = metrics.BoundedNames(2)
    assert [names(n) for n in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]


# -- helpers -------------------------------------------------------------------------------


async def _authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_user_id="UBOT", bot_id="B1")


def _registry_scrape() -> Scrape:
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
    }
    return Scrape(samples)


def _block_actions(action_id: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "api_app_id": "A1",
        "token": "unused",
        "container": {"type": "message"},
        "trigger_id": "1.2.3",
        "channel": {"id": "C1"},
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button"}],
    }
