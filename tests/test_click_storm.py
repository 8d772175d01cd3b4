"""A storm of clicks on one restore card: one winner, every loser refused cheaply and cleanly.

Across the real bot over loopback HTTP, the simulator, the fake Slack and a real Redis.
"""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import ManualClock
from bot.localslack import SlackWebApi
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import blocks
from bot.slack import restore_blocks as rb
from bot.slack.answer_window import REFUSAL_ANSWER_WINDOW, AnswerWindow
from bot.slack.handlers import make_reply, pooled_respond
from bot.slack.invocation import Invocation
from tests.fixtures.bot_harness import ADMIN, APPROVER, VIEWER, BotHarness
from tests.test_restore_flow import (
    audit_entries,
    forged_click,
    private_text,
    requested,
    storm_of_starts,
    the_card,
)


async def test_two_hundred_start_clicks_from_two_approvers_make_one_create_and_two_answers(
    bot_harness: BotHarness,
) -> None:
    """Two hundred Start clicks at once, worked through the bounded click slots: one create,
    no click fails, every refusal audited, each approver told once."""
    told = await storm_of_starts(bot_harness, [APPROVER, ADMIN], 200)
    assert not [text for text in told if "Something went wrong" in text]
    # Each of the two approvers hears once that the restore moved on (the one who won
    # hears it too, about their later presses).
    assert sum("moved on" in text for text in told) == 2


async def test_a_repeated_refusal_is_told_once_per_window_to_each_person(
    bot_harness: BotHarness,
) -> None:
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card = the_card(harness)
    first = await harness.driver.click(card, rb.ACTION_START, user=VIEWER)
    again = await harness.driver.click(card, rb.ACTION_START, user=VIEWER)
    await harness.settle()
    assert "Only restore approvers may start a restore" in private_text(harness, first)
    assert private_text(harness, again) == ""

    harness.simulator.clock.advance(seconds=REFUSAL_ANSWER_WINDOW.total_seconds() + 1)
    later = await harness.driver.click(card, rb.ACTION_START, user=VIEWER)
    await harness.settle()
    assert "Only restore approvers may start a restore" in private_text(harness, later)

    await harness.driver.click(card, rb.ACTION_START, user=APPROVER)
    await harness.settle()
    # The card has no Start button any more: presses made on the screen as it was.
    lost = [await forged_click(harness, rb.ACTION_START, session_id, user=ADMIN) for _ in "ab"]
    await harness.settle()
    assert "moved on" in private_text(harness, lost[0])
    assert private_text(harness, lost[1]) == ""
    refused = [e for e in await audit_entries(harness) if e["outcome"] == "refused"]
    assert len(refused) == 5  # every refused click is audited, told or not


async def test_private_answers_reuse_one_pooled_connection(slack_api: SlackWebApi) -> None:
    """Five answers through response_url over one shared session open one connection."""
    opened: list[object] = []

    async def on_connection(*_: object) -> None:
        opened.append(object())

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_end.append(on_connection)
    async with aiohttp.ClientSession(trace_configs=[tracing]) as http:
        client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url, session=http)
        url = slack_api.new_response_url(channel="C1", user=APPROVER)
        respond = _BoltLikeRespond(url)
        assert pooled_respond(respond, http) is not respond
        reply = make_reply(respond, client, Invocation(user_id=APPROVER, channel_id="C1"))
        for n in range(5):
            await reply(blocks.error_message(f"answer {n}", trusted=True))
    assert [post.text for post in slack_api.responses(url)] == [f"answer {n}" for n in range(5)]
    assert len(opened) == 1
    assert respond.calls == 0  # Bolt's own respond, a new connection per post, was not used


class _BoltLikeRespond:
    """Stands in for Bolt's respond: a ``response_url`` and a call nothing should make."""

    def __init__(self, response_url: str) -> None:
        self.response_url = response_url
        self.calls = 0

    async def __call__(self, **_: object) -> None:
        self.calls += 1


async def test_the_window_is_measured_on_the_clock() -> None:
    clock = ManualClock()
    window = AnswerWindow(clock, timedelta(seconds=10))
    assert window.first_in_window("U1", "s1", "start", "no")
    assert not window.first_in_window("U1", "s1", "start", "no")
    assert window.first_in_window("U2", "s1", "start", "no")
    assert window.first_in_window("U1", "s1", "cancel", "no")
    assert window.first_in_window("U1", "s1", "start", "other sentence")
    clock.advance(seconds=10)
    assert window.first_in_window("U1", "s1", "start", "no")
