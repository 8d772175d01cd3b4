"""How a restore ends, told as it ended: COMPLETE, INCOMPLETE and FAILED each in their words.

The tracker polls the simulated restore to its end; the card people watched and its thread
must each lead with that ending, and an incomplete restore says what is missing.
"""

from __future__ import annotations

import json

import pytest

from bot.atlassian.models import RestoreStatus
from bot.restore.session import SessionState
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from tests.fixtures.bot_harness import CHANNEL, BotHarness
from tests.fixtures.tracking import wired_tracker
from tests.test_restore_flow import card_text, click, requested, session, the_card

MISSING = "Attachments of 3 issues could not be restored."
WHY_FAILED = "The destination ran out of storage."


@pytest.mark.parametrize(
    ("ending", "message", "state"),
    [
        (RestoreStatus.COMPLETE, None, SessionState.DONE),
        (RestoreStatus.INCOMPLETE, MISSING, SessionState.DONE),
        (RestoreStatus.FAILED, WHY_FAILED, SessionState.FAILED),
    ],
)
async def test_each_ending_heads_the_card_and_the_thread_in_its_own_words(
    bot_harness: BotHarness, ending: RestoreStatus, message: str | None, state: SessionState
) -> None:
    """The card's headline and the thread's final line name the ending Atlassian reported."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await click(harness, rb.ACTION_START)
    restore_id = (await session(harness, session_id)).restore_id
    assert restore_id
    record = harness.simulator.world.restores[restore_id]
    record.outcome, record.outcome_message = ending, message
    tracker = wired_tracker(harness, "outcomes")
    for _ in range(3):
        await tracker.poll_once()
        harness.simulator.clock.advance(harness.services.settings.bot_poll_seconds + 1)

    ended = await session(harness, session_id)
    assert (ended.state, ended.final_status) == (state, ending.value)
    card = the_card(harness)
    shown = card_text(card)
    headlines = [
        block["text"]["text"]
        for block in card.blocks
        if block.get("type") == "section" and "text" in block
    ]
    assert rb.ENDING_LINES[ending.value] in headlines
    others = set(rb.ENDING_LINES.values()) - {rb.ENDING_LINES[ending.value]}
    assert not any(line in shown for line in others)
    if message:
        assert message in shown
    [final] = [
        reply
        for reply in harness.slack.thread(CHANNEL, card.ts)[1:]
        if restore_id in reply.text and "running" not in reply.text
    ]
    said = json.dumps(final.blocks, ensure_ascii=False)
    verb = {"COMPLETE": "finished.", "INCOMPLETE": "finished incomplete", "FAILED": "failed"}
    assert verb[ending.value] in said
    if ending is not RestoreStatus.COMPLETE:
        assert ":white_check_mark:" not in said
        assert message is not None
        assert message in said
