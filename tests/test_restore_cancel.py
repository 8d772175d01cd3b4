"""Cancel after validation: Atlassian keeps the restore, and the bot says so at every turn.

Atlassian documents no cancel for a restore that failed validation and waits for consent.
Cancelling its card stops the bot, not Atlassian: the restore stays pending there and
holds its site until Atlassian lets it lapse. Driven through the Bolt app with signed
requests, the simulator and a real Redis.
"""

from __future__ import annotations

from datetime import timedelta

from bot.atlassian import rules
from bot.restore.blocking import PENDING_RESTORE_LAPSE
from bot.restore.session import SessionState
from bot.simulator.seed import CONFLUENCE_COMPLETE_BACKUP, JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from tests.fixtures.bot_harness import ADMIN, APPROVER, VIEWER, BotHarness
from tests.test_restore_flow import (
    action_ids,
    card_text,
    cards,
    click,
    create_calls,
    request_restore,
    session,
    staged_for_consent,
    the_card,
    thread_lines,
)


def cancel_button(harness: BotHarness) -> dict[str, object]:
    [button] = [
        element
        for block in the_card(harness).blocks
        if block.get("type") == "actions"
        for element in block["elements"]
        if element["action_id"] == rb.ACTION_CANCEL
    ]
    return button


async def test_cancel_after_validation_says_what_atlassian_keeps_and_tells_the_next_request(
    bot_harness: BotHarness,
) -> None:
    """Cancel asks first, the card and thread say what stays pending, the site says why not."""
    harness = bot_harness
    session_id = await staged_for_consent(harness)
    restore_id = (await session(harness, session_id)).restore_id
    assert restore_id
    created = harness.simulator.world.restores[restore_id].created_at
    until = rules.format_time(created + PENDING_RESTORE_LAPSE)

    confirm = cancel_button(harness).get("confirm")
    assert isinstance(confirm, dict)
    asked = confirm["text"]["text"]
    assert restore_id in asked
    assert "no way to cancel" in asked
    assert until in asked

    await click(harness, rb.ACTION_CANCEL, user=APPROVER)
    cancelled = await session(harness, session_id)
    assert (cancelled.state, cancelled.cancelled_by) == (SessionState.CANCELLED, APPROVER)
    card = the_card(harness)
    shown = card_text(card)
    assert f"cancelled by <@{APPROVER}>" in shown
    assert f"Restore `{restore_id}` is still waiting for consent at Atlassian" in shown
    assert action_ids(card) == []
    [line] = [line for line in thread_lines(harness, card) if "Cancelled" in line]
    assert "nothing was restored" in line
    assert restore_id in line
    assert "still waiting for consent at Atlassian" in line

    response = await request_restore(harness, CONFLUENCE_COMPLETE_BACKUP, "acme-staging")
    said = harness.reply_text(response)
    assert (
        f"Restore {restore_id} onto acme-staging is still waiting for consent at Atlassian" in said
    )
    assert "though it was cancelled here" in said
    assert f"until {until}" in said
    assert "restore onto another site meanwhile" in said
    assert "already running" not in said
    assert len(cards(harness)) == 1

    response = await harness.slash(f"show {restore_id}", command="/restore", user=VIEWER)
    shown = harness.reply_text(response)
    assert f"<@{APPROVER}> cancelled the request (" in shown
    assert f"<@{APPROVER}> cancelled the request (after validation; restore {restore_id}" in shown


async def test_a_backup_whose_restore_was_cancelled_after_validation_is_not_already_restored(
    bot_harness: BotHarness,
) -> None:
    """The restore never ran, so the backup may be restored elsewhere at once, and the site
    takes a new request once Atlassian let the pending restore lapse."""
    harness = bot_harness
    await staged_for_consent(harness)
    await click(harness, rb.ACTION_CANCEL, user=ADMIN)

    response = await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    assert "already restored" not in harness.reply_text(response)
    assert len(cards(harness)) == 2
    await click_cancel_on_newest(harness)

    harness.simulator.clock.advance((PENDING_RESTORE_LAPSE + timedelta(minutes=1)).total_seconds())
    await request_restore(harness, CONFLUENCE_COMPLETE_BACKUP, "acme-staging")
    assert len(cards(harness)) == 3
    assert len(create_calls(harness)) == 1


async def click_cancel_on_newest(harness: BotHarness) -> None:
    newest = cards(harness)[-1]
    await harness.driver.click(newest, rb.ACTION_CANCEL, user=ADMIN)
    await harness.settle()
