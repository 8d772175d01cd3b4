"""Restore card clicks over HTTP: read from the payload after the signature check,
acknowledged and queued without Bolt's dispatch, worked in order by a few workers.

The reader is tried on hand-built payloads; the lane on the real bot over loopback HTTP,
with the simulator, the fake Slack and a real Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.restore.clicks import ClickOrigin
from bot.restore.session import SessionState
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from bot.slack import restore_handlers
from bot.slack.card_clicks import CardClick, card_click
from tests.fixtures.bot_harness import ADMIN, APPROVER, BotHarness, HarnessFactory
from tests.fixtures.redis_server import RedisServer
from tests.test_restore_flow import audit_entries, private_text, requested, session, the_card

CARD_TS = "1733000000.000100"


def payload(**overrides: Any) -> dict[str, Any]:
    """A block_actions payload as Slack sends it for a press of a card's Start button."""
    body: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U0APPROVER", "username": "ada", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": CARD_TS, "channel_id": "C1"},
        "trigger_id": "1.2.3",
        "team": {"id": "T1", "domain": "acme"},
        "channel": {"id": "C1", "name": "restores"},
        "message": {"ts": CARD_TS, "blocks": [{"type": "section", "text": {"text": "…"}}]},
        "response_url": "https://hooks.slack.com/actions/T1/1/abc",
        "actions": [
            {
                "action_id": rb.ACTION_START,
                "block_id": "b",
                "value": "s-123",
                "type": "button",
                "action_ts": "1733000001.0",
            }
        ],
    }
    body.update(overrides)
    return body


def test_a_card_press_is_read_into_the_six_things_the_flow_needs() -> None:
    assert card_click(payload()) == CardClick(
        action_id=rb.ACTION_START,
        session_id="s-123",
        user="U0APPROVER",
        origin=ClickOrigin(team_id="T1", channel="C1", message_ts=CARD_TS),
        channel="C1",
        response_url="https://hooks.slack.com/actions/T1/1/abc",
    )
    answer = card_click(payload(actions=[{"action_id": "restore_answer:x:y", "value": "s-1"}]))
    assert answer is not None
    assert answer.action_id == "restore_answer:x:y"


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "view_submission"},
        {"actions": []},
        {"actions": "restore_start"},
        {"actions": [{"action_id": rb.ACTION_START, "value": "s"}] * 2},
        {"actions": [{"action_id": rb.ACTION_START, "value": 7}]},
        {"actions": [{"action_id": rb.ACTION_START}]},
        {"actions": [{"action_id": "restore_modal_product", "value": "s"}]},
        {"actions": [{"action_id": ["restore_start"], "value": "s"}]},
        {"user": "U0APPROVER"},
        {"user": {"id": 12}},
    ],
)
def test_anything_but_exactly_a_card_press_is_left_to_bolt(overrides: dict[str, Any]) -> None:
    assert card_click(payload(**overrides)) is None
    assert card_click([payload()]) is None
    assert card_click("payload") is None


Dispatch = Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]


def count_bolt_dispatches(harness: BotHarness) -> list[str]:
    """Every request Bolt dispatches from now on, by its type (the real dispatch still runs)."""
    app = harness.bot.app
    dispatched: list[str] = []
    real: Dispatch = app.async_dispatch

    async def dispatch(request: AsyncBoltRequest) -> BoltResponse:
        dispatched.append(str(request.body.get("type") or request.body.get("command")))
        return await real(request)

    app.async_dispatch = dispatch  # type: ignore[method-assign]
    return dispatched


async def test_a_card_click_over_http_is_worked_without_bolt_and_anything_else_with_it(
    bot_harness: BotHarness,
) -> None:
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    dispatched = count_bolt_dispatches(harness)

    response = await harness.driver.click(the_card(harness), rb.ACTION_START, user=APPROVER)
    await harness.settle()
    assert response.status == 200
    assert response.text == ""
    assert (await session(harness, session_id)).state is SessionState.RUNNING
    assert dispatched == []

    await harness.slash("help")
    assert dispatched == ["/backup"]


async def test_clicks_still_queued_at_shutdown_are_worked_before_the_process_ends(
    bot_harness: BotHarness,
) -> None:
    """Acknowledged is promised: the drain at shutdown waits for every queued click."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card = the_card(harness)
    responses = await asyncio.gather(
        *(
            harness.driver.click(card, rb.ACTION_START, user=(APPROVER, ADMIN)[n % 2])
            for n in range(120)
        )
    )
    assert all(response.status == 200 for response in responses)
    assert await harness.services.pending.drain(within=20)

    starts = [entry for entry in await audit_entries(harness) if entry["action"] == "start"]
    assert len(starts) == 120
    assert [entry["outcome"] for entry in starts].count("ok") == 1
    assert (await session(harness, session_id)).state is SessionState.RUNNING
    told = [private_text(harness, response) for response in responses]
    assert sum("moved on" in text for text in told) == 2  # once per approver per window


async def test_a_click_whose_answer_cannot_reach_slack_does_not_stop_the_clicks_behind_it(
    bot_harness: BotHarness,
) -> None:
    """Slack unreachable after the acks: every answer fails, by response_url and by
    chat.postEphemeral alike, and still every queued click is worked and audited."""
    harness = bot_harness
    await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card = the_card(harness)
    await harness.slack.stop()
    viewers = [f"U0VIEWER{n:02}" for n in range(80)]  # each is told (and fails) once
    responses = await asyncio.gather(
        *(harness.driver.click(card, rb.ACTION_START, user=viewer) for viewer in viewers)
    )
    assert all(response.status == 200 for response in responses)
    assert await harness.services.pending.drain(within=20)
    refused = [e for e in await audit_entries(harness) if e["action"] == "start"]
    assert sorted(entry["actor"] for entry in refused) == viewers
    assert {entry["outcome"] for entry in refused} == {"refused"}


def few_places(monkeypatch: pytest.MonkeyPatch, places: int, wait: float) -> None:
    """One worker and ``places`` places for waiting clicks, in bots built from now on."""
    monkeypatch.setattr(restore_handlers, "MAX_CONCURRENT_CLICKS", 1)
    monkeypatch.setattr(restore_handlers, "QUEUE_PLACES", places)
    monkeypatch.setattr(restore_handlers, "PLACE_WAIT_SECONDS", wait)


async def test_clicks_beyond_the_places_are_turned_away_and_leave_no_trace(
    make_bot_harness: HarnessFactory, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve clicks at once while the one worker is held (Redis frozen) on the first: it and
    the two that found a place are taken; the nine others get a 503 (Slack tells their
    clickers the app did not answer) and nothing of them is kept."""
    few_places(monkeypatch, places=2, wait=0.3)
    harness = await make_bot_harness()
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card = the_card(harness)
    first = await harness.driver.click(card, rb.ACTION_START, user=APPROVER)
    redis_server.pause()
    try:
        storm = await asyncio.gather(
            *(harness.driver.click(card, rb.ACTION_START, user=ADMIN) for _ in range(11))
        )
    finally:
        redis_server.resume()
    await harness.settle()

    statuses = sorted(response.status for response in (first, *storm))
    assert statuses == [200] * 3 + [503] * 9
    starts = [e for e in await audit_entries(harness) if e["action"] == "start"]
    assert len(starts) == 3
    assert (await session(harness, session_id)).state is SessionState.RUNNING


async def test_a_click_waiting_for_a_place_is_taken_as_soon_as_a_worker_frees_one(
    make_bot_harness: HarnessFactory, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgement waits for the workers, not for the whole wait: a client that waits
    for its answers is slowed to the workers' pace, and its clicks are all taken."""
    few_places(monkeypatch, places=1, wait=5.0)
    harness = await make_bot_harness()
    await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card = the_card(harness)
    redis_server.pause()
    try:
        held = await harness.driver.click(card, rb.ACTION_START, user=APPROVER)  # worked
        queued = await harness.driver.click(card, rb.ACTION_START, user=ADMIN)  # the place
        waiting = asyncio.ensure_future(harness.driver.click(card, rb.ACTION_START, user=ADMIN))
        await asyncio.sleep(0.5)
        assert not waiting.done()
    finally:
        redis_server.resume()
    paced = await waiting
    await harness.settle()
    assert [r.status for r in (held, queued, paced)] == [200, 200, 200]
    assert 0.5 <= paced.elapsed < 5.0
    starts = [e for e in await audit_entries(harness) if e["action"] == "start"]
    assert len(starts) == 3
