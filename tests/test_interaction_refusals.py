"""Every interaction gets the right answer: a decision counts only on its own card, and an
action, form or shortcut the bot does not know is acknowledged, answered and audited.

Signed requests over loopback HTTP against the Bolt app, the simulator and a real Redis.
"""

from __future__ import annotations

import pytest

from bot.restore.session import SessionState
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from tests.fixtures.bot_harness import CHANNEL, BotHarness
from tests.test_restore_flow import (
    audit_entries,
    create_calls,
    forged_click,
    private_text,
    requested,
    session,
    the_card,
)

# -- a decision is made on the session's own card ----------------------------------------


@pytest.mark.parametrize(
    "elsewhere",
    [{"team": "T0OTHER"}, {"channel": "COTHER"}, {"message_ts": "1700000000.000100"}],
    ids=["another-workspace", "another-channel", "another-message"],
)
async def test_a_start_click_from_anywhere_but_its_card_is_refused_privately_and_audited(
    bot_harness: BotHarness, elsewhere: dict[str, str]
) -> None:
    """A validly signed Start with the session's id but another team, channel or message ts
    creates nothing, is told why alone, and leaves a refusal in the audit trail."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card_before = the_card(harness)

    response = await forged_click(harness, rb.ACTION_START, session_id, **elsewhere)

    assert create_calls(harness) == []
    assert (await session(harness, session_id)).state is SessionState.AWAITING_START
    assert "not on this restore's own card" in private_text(harness, response)
    assert the_card(harness) == card_before
    refused = [
        e
        for e in await audit_entries(harness)
        if e["session"] == session_id and e["outcome"] == "refused"
    ]
    assert [(e["action"], e["detail"]) for e in refused] == [("start", "wrong_card")]


async def test_a_start_click_on_its_own_card_still_starts(bot_harness: BotHarness) -> None:
    """The same forged request, made on the card's own message, is an ordinary Start."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await forged_click(harness, rb.ACTION_START, session_id, channel=CHANNEL)
    assert len(create_calls(harness)) == 1
