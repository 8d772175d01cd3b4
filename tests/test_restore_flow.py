"""The restore flow end to end: signed Slack requests over HTTP, the simulator, a real Redis.

Every test drives the bot as Slack would (slash commands, button clicks, modal submissions)
and checks what people see (the card, its thread, private answers) and what reached
Atlassian (the simulator's recorded calls), so a restore is shown to happen exactly once,
only by someone allowed to decide, and on the record.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.atlassian.models import BackupStatus, ConsentCheck, Product
from bot.atlassian.versions import ApiVersion
from bot.localslack.driver import VERIFICATION_TOKEN, SlackResponse
from bot.localslack.web_api import Message as SlackMessage
from bot.restore.session import RestoreSession, SessionState
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_JIRA_POLICY,
    CONFLUENCE_COMPLETE_BACKUP,
    CONFLUENCE_INCOMPLETE_BACKUP,
    JIRA_COMPLETE_BACKUP,
    JIRA_EXPIRED_BACKUP,
    SANDBOX_CLOUD_ID,
    STAGING_CLOUD_ID,
)
from bot.slack import restore_blocks as rb
from bot.store.operations import OperationKind
from tests.fixtures.bot_harness import (
    ADMIN,
    APPROVER,
    CHANNEL,
    VIEWER,
    BotHarness,
    HarnessFactory,
)
from tests.fixtures.tracking import wired_tracker

SPACE = ConsentCheck.CONFLICTING_SPACE.value
GROUP = ConsentCheck.CONFLICTING_GROUP.value
LICENCE = ConsentCheck.PRODUCT_LICENSE.value
ACCEPT_GROUPS = ConsentCheck.ACCEPT_CUSTOM_GROUP.value
DENY_GROUPS = ConsentCheck.DENY_CUSTOM_GROUP.value
STAGING_CHECKS = (SPACE, GROUP, LICENCE)
JIRA_OPTION = rb.backup_option_value(JIRA_COMPLETE_BACKUP, ACME_CLOUD_ID)


# -- what reached Atlassian -------------------------------------------------------------


def create_calls(harness: BotHarness) -> list[Any]:
    """Create-restore requests the simulator received (answered or not)."""
    return [
        call
        for call in harness.simulator.world.calls
        if call.method == "POST" and call.path.endswith("/restores")
    ]


def revalidate_calls(harness: BotHarness) -> list[Any]:
    return [
        call
        for call in harness.simulator.world.calls
        if call.method == "POST" and call.path.endswith("/restores/revalidate")
    ]


def restore_writes(harness: BotHarness) -> list[Any]:
    return create_calls(harness) + revalidate_calls(harness)


# -- what people see ------------------------------------------------------------------------


def cards(harness: BotHarness) -> list[SlackMessage]:
    """Restore cards in the channel (thread replies excluded)."""
    return [
        message
        for message in harness.slack.messages(CHANNEL)
        if message.thread_ts is None and message.text.startswith("Restore of")
    ]


def the_card(harness: BotHarness) -> SlackMessage:
    found = cards(harness)
    assert len(found) == 1, harness.slack.summary()
    return found[0]


def card_text(message: SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def thread_lines(harness: BotHarness, card: SlackMessage) -> list[str]:
    return [reply.text for reply in harness.slack.thread(CHANNEL, card.ts)[1:]]


def action_ids(message: SlackMessage) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def private_text(harness: BotHarness, response: SlackResponse) -> str:
    """What the clicker alone was told about this click (response_url answers)."""
    posts = harness.slack.responses(response.response_url)
    assert all(post.response_type == "ephemeral" for post in posts)
    return "\n".join(post.text for post in posts)


async def click(
    harness: BotHarness, action_id: str, *, user: str = APPROVER, settle: bool = True
) -> SlackResponse:
    """Press a button of the restore card as it is on screen now."""
    card = the_card(harness)
    response = await harness.driver.click(card, action_id, user=user)
    assert response.status == 200, response.text
    if settle:
        await harness.settle()
    return response


async def forged_click(
    harness: BotHarness,
    action_id: str,
    session_id: str,
    *,
    user: str = APPROVER,
    team: str | None = None,
    channel: str = CHANNEL,
    message_ts: str | None = None,
) -> SlackResponse:
    """A signed block_actions request for a button that is not on the card (any more), or
    one made, as the request says, in another workspace, channel or message."""
    card = the_card(harness)
    slack = harness.slack
    team = team or slack.team_id
    message_ts = message_ts or card.ts
    response_url = slack.new_response_url(channel=channel, user=user, message_ts=message_ts)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user, "team_id": team},
        "api_app_id": slack.app_id,
        "token": VERIFICATION_TOKEN,
        "team": {"id": team, "domain": slack.team_domain},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "channel": {"id": channel, "name": "backups"},
        "message": slack.message_json(card),
        "state": {"values": {}},
        "response_url": response_url,
        "trigger_id": slack.issue_trigger_id(user),
        "actions": [
            {
                "action_id": action_id,
                "block_id": "forged",
                "type": "button",
                "value": session_id,
                "action_ts": "1.0",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = await harness.driver.post_signed(body, response_url=response_url)
    assert response.status == 200, response.text
    await harness.settle()
    return response


def answer(check: str, consent: str | None = None) -> str:
    return rb.answer_action_id(check, consent or check)


async def request_restore(
    harness: BotHarness, backup_id: str, dest: str, *extra: str, user: str = ADMIN
) -> SlackResponse:
    return await harness.slash(
        " ".join(["start", backup_id, f"to={dest}", *extra]), command="/restore", user=user
    )


def session_id_on(card: SlackMessage) -> str:
    """The session id the card's buttons carry (they carry nothing else)."""
    values = {
        element["value"]
        for block in card.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    }
    assert len(values) == 1, values
    return str(values.pop())


async def requested(harness: BotHarness, backup_id: str, dest: str, *extra: str) -> str:
    """Request a restore as the admin; the id of the session behind its new card."""
    await request_restore(harness, backup_id, dest, *extra)
    return session_id_on(the_card(harness))


async def session(harness: BotHarness, session_id: str) -> RestoreSession:
    found = await harness.services.sessions.get(session_id)
    assert found is not None
    return found


async def staged_for_consent(harness: BotHarness) -> str:
    """A restore of the Jira backup onto acme-staging, started and waiting for three answers."""
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-staging")
    await click(harness, rb.ACTION_START)
    assert (await session(harness, session_id)).state is SessionState.AWAITING_CONSENT
    return session_id


async def finish_restore(harness: BotHarness, restore_id: str) -> str:
    """Let the simulated restore end, then play the tracker's part through the restore hooks."""
    harness.simulator.clock.advance(harness.simulator.world.op_seconds + 1)
    services = harness.services
    operation = await services.operations.get(OperationKind.RESTORE, restore_id)
    assert operation is not None
    restore = await services.atlassian.get_restore(restore_id)
    assert restore.migration_id
    assert restore.cloud_id
    report_url = await services.atlassian.get_post_op_report(
        cloud_id=restore.cloud_id, migration_id=restore.migration_id
    )
    drawn = await harness.bot.restore_cards.card_for(operation, restore, report_url)
    assert drawn is not None
    await harness.bot.restore_workflow.finished(operation, restore, report_url)
    return json.dumps(drawn.blocks) + drawn.text


async def audit_entries(harness: BotHarness) -> list[dict[str, str]]:
    """The global audit stream, oldest first."""
    raw = await harness.services.redis.xrange(harness.services.sessions.audit_stream_key)
    return [fields for _id, fields in raw]


# -- the whole flow ---------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", list(ApiVersion))
async def test_staging_restore_runs_after_three_consents(bot_harness: BotHarness) -> None:
    """A restore onto acme-staging goes card → Start → three consents → one revalidate → run,
    in both API versions."""
    harness = bot_harness
    await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-staging")
    card = the_card(harness)
    shown = card_text(card)
    for expected in (
        JIRA_COMPLETE_BACKUP,
        "Jira",
        "8 days",
        "expires",
        "acme → *acme-staging*",
        "attachments yes",
        "users and groups yes",
        f"<@{ADMIN}>",
    ):
        assert expected in shown, expected
    assert action_ids(card) == [rb.ACTION_START, rb.ACTION_CANCEL]
    assert restore_writes(harness) == []
    session_id = session_id_on(card)

    await click(harness, rb.ACTION_START, user=APPROVER)
    assert len(create_calls(harness)) == 1
    assert create_calls(harness)[0].body == {
        "backupId": JIRA_COMPLETE_BACKUP,
        "includeAttachments": True,
        "includeUsersAndGroups": True,
        "product": "JIRA",
    }
    card = the_card(harness)
    shown = card_text(card)
    answers = [a for a in action_ids(card) if a.startswith(rb.ACTION_ANSWER_PREFIX)]
    assert answers == [answer(check) for check in STAGING_CHECKS]
    assert action_ids(card) == [*answers, rb.ACTION_CANCEL]
    for meaning in (
        "Atlassian found: The destination already has projects with the keys OPS.",
        "If you consent, those projects are skipped and *acme-staging* keeps its own version",
        "Atlassian found: The destination already has groups named acme-engineering.",
        "If you consent, the groups are merged",
        "Jira is on the Free plan",
    ):
        assert meaning in shown, meaning
    assert f"Started by <@{APPROVER}>" in shown

    await click(harness, answer(SPACE), user=APPROVER)
    await click(harness, answer(GROUP), user=ADMIN)
    assert revalidate_calls(harness) == []
    shown = card_text(the_card(harness))
    assert f"<@{APPROVER}> gave consent." in shown
    assert f"<@{ADMIN}> gave consent." in shown
    await click(harness, answer(LICENCE), user=APPROVER)

    assert len(create_calls(harness)) == 1
    [revalidate] = revalidate_calls(harness)
    assert sorted(revalidate.body["consent"]) == sorted(STAGING_CHECKS)
    running = await session(harness, session_id)
    assert running.state is SessionState.RUNNING
    assert running.restore_id == revalidate.body["restoreId"]
    card = the_card(harness)
    shown = card_text(card)
    assert "The restore is running" in shown
    assert shown.count("gave consent.") == 3
    assert action_ids(card) == []
    operation = await harness.services.operations.get(OperationKind.RESTORE, running.restore_id)
    assert operation is not None
    assert (operation.session_id, operation.card_ts) == (session_id, card.ts)

    final = await finish_restore(harness, running.restore_id)
    assert "The restore has finished" in final
    assert "Post-restore report" in final
    done = await session(harness, session_id)
    assert done.state is SessionState.DONE
    assert done.report_url
    assert done.report_url in final


async def test_sandbox_restore_runs_straight_after_start(bot_harness: BotHarness) -> None:
    """Onto acme-sandbox nothing fails validation: Start leads straight to a running restore."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await click(harness, rb.ACTION_START)

    assert len(create_calls(harness)) == 1
    assert revalidate_calls(harness) == []
    running = await session(harness, session_id)
    assert running.state is SessionState.RUNNING
    assert running.restore_id
    card = the_card(harness)
    assert "The restore is running" in card_text(card)
    assert any(running.restore_id in line for line in thread_lines(harness, card))
    assert await harness.services.operations.get(OperationKind.RESTORE, running.restore_id)


@pytest.mark.parametrize("chosen", [ACCEPT_GROUPS, DENY_GROUPS])
async def test_custom_groups_are_accepted_or_denied_never_both(
    bot_harness: BotHarness, chosen: str
) -> None:
    """The custom-group check takes Accept or Deny; the other is then gone and refused."""
    harness = bot_harness
    session_id = await requested(harness, CONFLUENCE_INCOMPLETE_BACKUP, "acme-sandbox", "users=yes")
    await click(harness, rb.ACTION_START)
    card = the_card(harness)
    offered = [a for a in action_ids(card) if a.startswith(rb.ACTION_ANSWER_PREFIX)]
    assert offered == [answer(ACCEPT_GROUPS), answer(ACCEPT_GROUPS, DENY_GROUPS)]
    assert "Accept custom groups" in card_text(card)
    assert "Deny custom groups" in card_text(card)

    await click(harness, answer(ACCEPT_GROUPS, chosen))
    [revalidate] = revalidate_calls(harness)
    assert revalidate.body["consent"] == [chosen]
    assert not any(a.startswith(rb.ACTION_ANSWER_PREFIX) for a in action_ids(the_card(harness)))
    verb = "accepted the custom groups" if chosen == ACCEPT_GROUPS else "denied the custom groups"
    shown = card_text(the_card(harness))
    assert f"<@{APPROVER}> {verb}" in shown
    assert "Custom_Group_Check" not in shown

    other = DENY_GROUPS if chosen == ACCEPT_GROUPS else ACCEPT_GROUPS
    response = await forged_click(harness, answer(ACCEPT_GROUPS, other), session_id)
    assert "nothing was changed" in private_text(harness, response)
    assert len(revalidate_calls(harness)) == 1
    assert (await session(harness, session_id)).state is SessionState.RUNNING


async def test_the_other_custom_group_answer_is_refused_while_others_are_pending(
    bot_harness: BotHarness,
) -> None:
    """Once Deny answers the custom-group check, a forged Accept is refused, naming who denied."""
    harness = bot_harness
    session_id = await requested(harness, CONFLUENCE_INCOMPLETE_BACKUP, "acme-staging", "users=yes")
    await click(harness, rb.ACTION_START)
    await click(harness, answer(ACCEPT_GROUPS, DENY_GROUPS), user=ADMIN)

    response = await forged_click(harness, answer(ACCEPT_GROUPS), session_id)
    assert f"<@{ADMIN}> already answered this check" in private_text(harness, response)
    for check in STAGING_CHECKS:
        await click(harness, answer(check))
    [revalidate] = revalidate_calls(harness)
    assert sorted(revalidate.body["consent"]) == sorted([*STAGING_CHECKS, DENY_GROUPS])


# -- exactly once ---------------------------------------------------------------------------------


async def test_fifty_concurrent_start_clicks_make_one_create_call(bot_harness: BotHarness) -> None:
    """Fifty simultaneous Start clicks create exactly one restore; the clicker hears why not.

    All fifty come from one approver: the losing clicks are each refused and audited, and
    the approver is told once that the restore moved on, not forty-nine times (a burst of
    one refusal to one person is answered once per ``REFUSAL_ANSWER_WINDOW``).
    """
    told = await storm_of_starts(bot_harness, [APPROVER], 50)
    assert sum("moved on" in text for text in told) == 1
    assert sum(text == "" for text in told) == 49


async def storm_of_starts(harness: BotHarness, clickers: list[str], presses: int) -> list[str]:
    """``presses`` Start clicks on a new card at once, the ``clickers`` taking turns: every
    click acknowledged, one create, the session running, one decision and the rest audited
    as refused. What each click's presser was told, click by click."""
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card = the_card(harness)
    responses = await asyncio.gather(
        *(
            harness.driver.click(card, rb.ACTION_START, user=clickers[n % len(clickers)])
            for n in range(presses)
        )
    )
    await harness.settle()

    assert all(response.status == 200 for response in responses)
    assert len(create_calls(harness)) == 1
    assert (await session(harness, session_id)).state is SessionState.RUNNING
    starts = [e for e in await audit_entries(harness) if e["action"] == "start"]
    assert sorted(e["outcome"] for e in starts) == ["ok"] + ["refused"] * (presses - 1)
    return [private_text(harness, response) for response in responses]


async def test_start_clicks_spread_over_two_bot_processes_make_one_create_call(
    make_bot_harness: HarnessFactory,
) -> None:
    """Two bots sharing Redis, fifty Start clicks between them: exactly one create-restore."""
    first = await make_bot_harness()
    second = await make_bot_harness()
    session_id = await requested(first, JIRA_COMPLETE_BACKUP, "acme-staging")
    card = the_card(first)
    responses = await asyncio.gather(
        *(
            (first if n % 2 else second).driver.click(card, rb.ACTION_START, user=APPROVER)
            for n in range(50)
        )
    )
    await asyncio.gather(first.settle(), second.settle())

    assert all(response.status == 200 for response in responses)
    assert len(create_calls(first)) == 1
    assert (await session(first, session_id)).state is SessionState.AWAITING_CONSENT


async def test_fifty_concurrent_last_consents_make_one_revalidate(
    make_bot_harness: HarnessFactory,
) -> None:
    """Fifty clicks on the last consent, over two bots, send exactly one revalidate."""
    first = await make_bot_harness()
    second = await make_bot_harness()
    session_id = await staged_for_consent(first)
    await click(first, answer(SPACE))
    await click(second, answer(GROUP))
    card = the_card(first)
    responses = await asyncio.gather(
        *(
            (first if n % 2 else second).driver.click(card, answer(LICENCE), user=APPROVER)
            for n in range(50)
        )
    )
    await asyncio.gather(first.settle(), second.settle())

    assert all(response.status == 200 for response in responses)
    assert len(create_calls(first)) == 1
    [revalidate] = revalidate_calls(first)
    assert sorted(revalidate.body["consent"]) == sorted(STAGING_CHECKS)
    assert (await session(first, session_id)).state is SessionState.RUNNING
    consents = [
        e
        for e in await audit_entries(first)
        if e["action"] == "consent" and e["detail"].startswith(LICENCE)
    ]
    assert sorted(e["outcome"] for e in consents) == ["ok"] + ["refused"] * 49


# -- who may decide -----------------------------------------------------------------------------


async def test_a_viewer_can_neither_start_nor_consent(bot_harness: BotHarness) -> None:
    """A viewer's Start or consent click calls nothing and is explained to the viewer alone."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-staging")

    response = await click(harness, rb.ACTION_START, user=VIEWER)
    assert "Only restore approvers may start a restore" in private_text(harness, response)
    assert restore_writes(harness) == []
    assert (await session(harness, session_id)).state is SessionState.AWAITING_START
    assert thread_lines(harness, the_card(harness)) == []

    await click(harness, rb.ACTION_START, user=APPROVER)
    for check in STAGING_CHECKS:
        response = await click(harness, answer(check), user=VIEWER)
        assert "Only restore approvers may answer consent checks" in private_text(harness, response)
    assert revalidate_calls(harness) == []
    assert (await session(harness, session_id)).answers == {}
    refused = [e for e in await audit_entries(harness) if e["actor"] == VIEWER]
    assert [(e["action"], e["outcome"]) for e in refused] == [("start", "refused")] + [
        ("consent", "refused")
    ] * 3


async def test_four_eyes_keeps_the_requester_from_starting_and_consenting(
    make_bot_harness: HarnessFactory,
) -> None:
    """With four-eyes the requester's Start and consent call nothing; another approver's work."""
    harness = await make_bot_harness(bot_four_eyes=True)
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-staging")

    response = await click(harness, rb.ACTION_START, user=ADMIN)
    assert f"an approver other than <@{ADMIN}> (<@{APPROVER}>) must start" in private_text(
        harness, response
    )
    assert create_calls(harness) == []

    await click(harness, rb.ACTION_START, user=APPROVER)
    assert len(create_calls(harness)) == 1
    assert (await session(harness, session_id)).started_by == APPROVER

    response = await click(harness, answer(SPACE), user=ADMIN)
    assert "Four-eyes rule" in private_text(harness, response)
    assert (await session(harness, session_id)).answers == {}
    for check in STAGING_CHECKS:
        await click(harness, answer(check), user=APPROVER)
    assert len(revalidate_calls(harness)) == 1


async def test_the_requester_or_an_approver_may_cancel_but_not_a_viewer(
    make_bot_harness: HarnessFactory,
) -> None:
    """Cancel works for the requester (even a non-approver) and approvers; never for viewers."""
    requester = "UREQUESTER"
    harness = await make_bot_harness(bot_admins=f"{ADMIN},{requester}")

    await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-staging", user=requester)
    first = session_id_on(the_card(harness))
    response = await click(harness, rb.ACTION_CANCEL, user=VIEWER)
    assert (
        f"Only <@{requester}>, who requested this restore, or a restore approver may cancel it."
        in private_text(harness, response)
    )
    assert (await session(harness, first)).state is SessionState.AWAITING_START
    await click(harness, rb.ACTION_CANCEL, user=requester)
    cancelled = await session(harness, first)
    assert cancelled.state is SessionState.CANCELLED
    card = the_card(harness)
    assert "cancelled" in card_text(card)
    assert action_ids(card) == []
    assert any(f"Cancelled by <@{requester}>" in line for line in thread_lines(harness, card))

    await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-staging", user=requester)
    [second_card] = [c for c in cards(harness) if c.ts != card.ts]
    second = session_id_on(second_card)
    await harness.driver.click(second_card, rb.ACTION_START, user=APPROVER)
    await harness.settle()
    second_card = harness.slack.message(CHANNEL, second_card.ts) or second_card
    await harness.driver.click(second_card, rb.ACTION_CANCEL, user=APPROVER)
    await harness.settle()
    assert (await session(harness, second)).state is SessionState.CANCELLED
    assert revalidate_calls(harness) == []


# -- time ---------------------------------------------------------------------------------------


async def test_start_after_the_decision_window_is_refused_and_the_card_says_expired(
    bot_harness: BotHarness,
) -> None:
    """A Start 24 h and 1 s after the request calls nothing, is explained, and expires the card."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    harness.simulator.clock.advance(24 * 3600 + 1)

    response = await click(harness, rb.ACTION_START)
    assert "expired" in private_text(harness, response)
    assert create_calls(harness) == []
    assert (await session(harness, session_id)).state is SessionState.EXPIRED
    card = the_card(harness)
    assert "expired" in card_text(card)
    assert action_ids(card) == []
    assert await harness.bot.restore_workflow.expire_due() == 0


async def test_housekeeping_expires_due_sessions_and_edits_each_card_once(
    bot_harness: BotHarness,
) -> None:
    """expire_due expires every undecided session once and edits its card once."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    card = the_card(harness)
    harness.simulator.clock.advance(24 * 3600 - 1)
    assert await harness.bot.restore_workflow.expire_due() == 0
    harness.simulator.clock.advance(2)

    def card_edits() -> int:
        return sum(1 for c in harness.slack.calls_to("chat.update") if c.args.get("ts") == card.ts)

    before = card_edits()
    assert await harness.bot.restore_workflow.expire_due() == 1
    assert await harness.bot.restore_workflow.expire_due() == 0
    assert card_edits() == before + 1
    assert (await session(harness, session_id)).state is SessionState.EXPIRED
    assert "expired" in card_text(the_card(harness))
    assert any("Expired" in line for line in thread_lines(harness, card))
    assert create_calls(harness) == []


# -- restarts and crashes -----------------------------------------------------------------------


async def test_buttons_keep_working_through_a_restarted_bot(
    make_bot_harness: HarnessFactory,
) -> None:
    """A new bot process on the same Redis carries on with a card the old one posted."""
    before = await make_bot_harness()
    session_id = await staged_for_consent(before)
    await click(before, answer(SPACE))

    after = await make_bot_harness(slack=before.slack)
    await click(after, answer(GROUP))
    await click(after, answer(LICENCE))

    assert len(create_calls(after)) == 1
    assert len(revalidate_calls(after)) == 1
    assert (await session(after, session_id)).state is SessionState.RUNNING
    assert "The restore is running" in card_text(the_card(after))


async def test_start_pressed_on_a_card_a_previous_bot_posted(
    make_bot_harness: HarnessFactory,
) -> None:
    """The card posted before a restart still starts the restore through the new bot."""
    before = await make_bot_harness()
    session_id = await requested(before, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    after = await make_bot_harness(slack=before.slack)
    await click(after, rb.ACTION_START)
    assert len(create_calls(after)) == 1
    assert (await session(after, session_id)).state is SessionState.RUNNING


async def test_a_create_that_times_out_after_taking_effect_is_found_and_continued(
    make_bot_harness: HarnessFactory,
) -> None:
    """Create-restore times out although Atlassian made it: the bot finds it and goes on."""
    harness = await make_bot_harness(atlassian_timeout=0.2)
    harness.simulator.world.faults.queue(
        delay_after_commit_s=5, method="POST", path_contains="/restores"
    )
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-staging")
    await click(harness, rb.ACTION_START)

    assert len(create_calls(harness)) == 1
    found = await session(harness, session_id)
    assert found.state is SessionState.AWAITING_CONSENT
    assert found.restore_id == next(iter(harness.simulator.world.restores))
    for check in STAGING_CHECKS:
        await click(harness, answer(check))
    assert len(create_calls(harness)) == 1
    assert (await session(harness, session_id)).state is SessionState.RUNNING


async def test_a_bot_that_died_after_the_intent_finds_the_restore_it_created(
    make_bot_harness: HarnessFactory,
) -> None:
    """Killed between the intent and the answer: recovery finds the restore, never re-creates."""
    dead = await make_bot_harness()
    session_id = await requested(dead, JIRA_COMPLETE_BACKUP, "acme-staging")
    intent = await dead.services.sessions.transition(
        session_id,
        to=SessionState.VALIDATING,
        actor=APPROVER,
        action="start",
        expected={SessionState.AWAITING_START},
        updates={"started_by": APPROVER},
    )
    assert intent.ok
    await dead.services.atlassian.create_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )

    revived = await make_bot_harness(slack=dead.slack)
    assert await revived.bot.restore_workflow.recover_in_flight(grace=timedelta(0)) == 1

    assert len(create_calls(revived)) == 1
    found = await session(revived, session_id)
    assert found.state is SessionState.AWAITING_CONSENT
    assert found.restore_id
    for check in STAGING_CHECKS:
        await click(revived, answer(check))
    assert len(create_calls(revived)) == 1
    assert (await session(revived, session_id)).state is SessionState.RUNNING


async def test_recovery_waits_for_the_grace_period_before_looking(bot_harness: BotHarness) -> None:
    """An intent younger than the grace period is left alone: its call may still be running."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await harness.services.sessions.transition(
        session_id, to=SessionState.VALIDATING, actor=APPROVER, action="start"
    )
    assert await harness.bot.restore_workflow.recover_in_flight() == 0
    assert (await session(harness, session_id)).state is SessionState.VALIDATING


async def test_a_create_that_never_reached_atlassian_lets_start_be_pressed_again(
    make_bot_harness: HarnessFactory,
) -> None:
    """Recovery finds no restore for an intent: the session awaits Start again, and it works."""
    dead = await make_bot_harness()
    session_id = await requested(dead, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await dead.services.sessions.transition(
        session_id, to=SessionState.VALIDATING, actor=APPROVER, action="start"
    )

    revived = await make_bot_harness(slack=dead.slack)
    assert await revived.bot.restore_workflow.recover_in_flight(grace=timedelta(0)) == 1
    assert (await session(revived, session_id)).state is SessionState.AWAITING_START
    card = the_card(revived)
    assert rb.ACTION_START in action_ids(card)
    assert any("press Start again" in line for line in thread_lines(revived, card))
    assert create_calls(revived) == []

    await click(revived, rb.ACTION_START)
    assert len(create_calls(revived)) == 1
    assert (await session(revived, session_id)).state is SessionState.RUNNING


async def test_a_create_refused_for_rate_limits_lets_start_be_pressed_again(
    bot_harness: BotHarness,
) -> None:
    """Create-restore answered 429 until the client gives up: nothing started, Start is back."""
    harness = bot_harness
    harness.simulator.world.faults.queue(
        status=429, count=4, method="POST", path_contains="/restores"
    )
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await click(harness, rb.ACTION_START)

    assert harness.simulator.world.restores == {}
    assert (await session(harness, session_id)).state is SessionState.AWAITING_START
    card = the_card(harness)
    assert rb.ACTION_START in action_ids(card)
    assert any("press Start again" in line for line in thread_lines(harness, card))
    await click(harness, rb.ACTION_START)
    assert len(harness.simulator.world.restores) == 1


# -- refusals before any call -------------------------------------------------------------------


async def assert_refused(harness: BotHarness, response: SlackResponse, *phrases: str) -> None:
    text = harness.reply_text(response)
    for phrase in phrases:
        assert phrase in text, text
    assert create_calls(harness) == []
    assert cards(harness) == []
    assert await harness.services.sessions.unfinished() == []


@pytest.mark.parametrize("api_version", list(ApiVersion))
async def test_an_expired_backup_is_refused(bot_harness: BotHarness) -> None:
    """An expired backup gets a private refusal and no card, no session, no API write."""
    response = await request_restore(bot_harness, JIRA_EXPIRED_BACKUP, "acme-sandbox")
    await assert_refused(bot_harness, response, JIRA_EXPIRED_BACKUP, "expired")


async def test_a_failed_backup_is_refused(bot_harness: BotHarness) -> None:
    """A failed backup cannot be restored, and the requester alone is told so."""
    bot_harness.simulator.world.add_backup(
        ACME_JIRA_POLICY, backup_id="bkp-acme-jira-failed", status=BackupStatus.FAILED
    )
    response = await request_restore(bot_harness, "bkp-acme-jira-failed", "acme-sandbox")
    await assert_refused(bot_harness, response, "bkp-acme-jira-failed", "failed")


async def test_a_backup_still_in_progress_is_refused(bot_harness: BotHarness) -> None:
    """A backup that is still running cannot be restored yet."""
    harness = bot_harness
    await harness.slash(f"run {ACME_JIRA_POLICY}")
    [running] = [
        b
        for b in harness.simulator.world.backups.values()
        if b.status_at(harness.simulator.clock.now()) is BackupStatus.IN_PROGRESS
    ]
    response = await request_restore(harness, running.backup_id, "acme-sandbox")
    await assert_refused(harness, response, running.backup_id, "in progress")


async def restored_once(harness: BotHarness) -> str:
    """The Jira backup restored onto acme-sandbox, to its end; the restore's id."""
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await click(harness, rb.ACTION_START)
    restore_id = (await session(harness, session_id)).restore_id
    assert restore_id
    await finish_restore(harness, restore_id)
    return restore_id


async def test_a_recently_restored_backup_is_refused_until_a_date(bot_harness: BotHarness) -> None:
    """A backup restored within 7 days is refused, naming when it becomes possible."""
    harness = bot_harness
    restore_id = await restored_once(harness)
    creates_before = len(create_calls(harness))
    first_card = the_card(harness)

    response = await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    text = harness.reply_text(response)
    started = harness.simulator.world.restores[restore_id].created_at
    assert "can be restored again from" in text
    assert f"{started + timedelta(days=7):%Y-%m-%d %H:%M}" in text
    assert len(create_calls(harness)) == creates_before
    assert cards(harness) == [first_card]


async def test_the_source_site_is_named_before_the_seven_day_rule_in_one_answer(
    bot_harness: BotHarness,
) -> None:
    """`to=acme` for a backup of acme restored yesterday: the site first, the date too."""
    harness = bot_harness
    await restored_once(harness)

    response = await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme")
    text = harness.reply_text(response)
    assert "taken from acme itself" in text
    assert "can be restored again from" in text
    assert text.index("taken from acme itself") < text.index("can be restored again from")


async def test_the_source_site_is_refused_as_destination(bot_harness: BotHarness) -> None:
    """Restoring a backup onto the site it was taken from is refused before any call."""
    response = await request_restore(bot_harness, JIRA_COMPLETE_BACKUP, "acme")
    await assert_refused(bot_harness, response, "taken from acme itself")


async def test_an_unknown_destination_is_refused(bot_harness: BotHarness) -> None:
    """An unknown alias, and a cloud id the bot is not configured for, are both refused."""
    response = await request_restore(bot_harness, JIRA_COMPLETE_BACKUP, "nowhere")
    await assert_refused(bot_harness, response, "nowhere")
    response = await request_restore(
        bot_harness, JIRA_COMPLETE_BACKUP, "44444444-4444-4444-8444-444444444444"
    )
    await assert_refused(bot_harness, response, "not a site the bot knows")


async def test_attachments_are_refused_for_a_backup_without_them(bot_harness: BotHarness) -> None:
    """attachments=yes on a backup taken without attachments is refused before any call."""
    bot_harness.simulator.world.add_backup(
        ACME_JIRA_POLICY, backup_id="bkp-acme-jira-bare", has_attachments=False
    )
    response = await request_restore(
        bot_harness, "bkp-acme-jira-bare", "acme-sandbox", "attachments=yes"
    )
    await assert_refused(bot_harness, response, "contains no attachments")


async def test_a_destination_with_a_restore_under_way_is_refused(bot_harness: BotHarness) -> None:
    """Neither a restore running in Atlassian nor a pending request may share a destination."""
    harness = bot_harness
    world = harness.simulator.world
    running = world.create_restore(
        SANDBOX_CLOUD_ID,
        backup_id=CONFLUENCE_INCOMPLETE_BACKUP,
        product=Product.CONFLUENCE,
        include_attachments=False,
        include_users_and_groups=False,
    )
    response = await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await assert_refused(harness, response, running.restore_id, "already running")

    await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-staging")
    pending = the_card(harness)
    response = await request_restore(harness, CONFLUENCE_COMPLETE_BACKUP, "acme-staging")
    assert "already under way" in harness.reply_text(response)
    assert cards(harness) == [pending]
    assert create_calls(harness) == []


async def test_concurrent_requests_for_one_destination_post_one_card(
    bot_harness: BotHarness,
) -> None:
    """Two admins requesting restores onto one site at the same moment get one card between them."""
    harness = bot_harness
    responses = await asyncio.gather(
        *(
            harness.driver.slash(
                command="/restore",
                text=f"start {backup} to=acme-staging",
                user=ADMIN,
                channel=CHANNEL,
            )
            for backup in (JIRA_COMPLETE_BACKUP, CONFLUENCE_COMPLETE_BACKUP) * 4
        )
    )
    await harness.settle()
    assert all(response.status == 200 for response in responses)
    assert len(cards(harness)) == 1
    assert len(await harness.services.sessions.unfinished()) == 1
    refused = [r for r in responses if "onto acme-staging" in harness.reply_text(r)]
    assert len(refused) == len(responses) - 1
    assert create_calls(harness) == []


# -- the modal ----------------------------------------------------------------------------------


async def test_the_modal_requests_the_same_restore_as_the_command(bot_harness: BotHarness) -> None:
    """`/restore` opens a form; Jira lists the restorable backups; submitting posts the card."""
    harness = bot_harness
    slack = harness.slack
    await harness.slash("", command="/restore")
    assert len(slack.calls_to("views.open")) == 1
    [view] = slack.views.values()

    await harness.driver.select(view, rb.MODAL_PRODUCT_ACTION, Product.JIRA.value)
    await harness.settle()
    view = slack.views[view.id]
    offered = [
        option["value"]
        for block in view.blocks
        if block.get("block_id") == rb.BLOCK_BACKUP
        for option in block["element"]["options"]
    ]
    assert offered == [JIRA_OPTION]

    response = await harness.driver.submit_view(
        view,
        {
            rb.ACTION_BACKUP: JIRA_OPTION,
            rb.ACTION_DEST: STAGING_CLOUD_ID,
        },
        user=ADMIN,
    )
    assert response.status == 200
    await harness.settle()
    assert slack.views == {}
    card = the_card(harness)
    assert "acme → *acme-staging*" in card_text(card)
    assert action_ids(card) == [rb.ACTION_START, rb.ACTION_CANCEL]
    assert create_calls(harness) == []


async def test_the_modal_refuses_the_backups_own_site_as_a_field_error(
    bot_harness: BotHarness,
) -> None:
    """Submitting the backup's own site as destination keeps the form open with a field error."""
    harness = bot_harness
    await harness.slash("", command="/restore")
    [view] = harness.slack.views.values()
    await harness.driver.select(view, rb.MODAL_PRODUCT_ACTION, Product.JIRA.value)
    await harness.settle()

    response = await harness.driver.submit_view(
        view.id,
        {rb.ACTION_BACKUP: JIRA_OPTION, rb.ACTION_DEST: ACME_CLOUD_ID},
        user=ADMIN,
    )
    assert response.json["response_action"] == "errors"
    assert rb.BLOCK_DEST in response.json["errors"]
    assert view.id in harness.slack.views
    await harness.settle()
    assert cards(harness) == []


# -- the record ---------------------------------------------------------------------------------


async def test_restore_show_lists_the_decisions_and_the_audit_stream_records_them(
    bot_harness: BotHarness,
) -> None:
    """Every decision, refused ones included, is in the audit stream and in `/restore show`."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-staging")
    await click(harness, rb.ACTION_START, user=VIEWER)
    await click(harness, rb.ACTION_START, user=APPROVER)
    for check in STAGING_CHECKS:
        await click(harness, answer(check), user=APPROVER)
    restore_id = (await session(harness, session_id)).restore_id
    assert restore_id

    entries = [e for e in await audit_entries(harness) if e["session"] == session_id]
    assert [(e["actor"], e["action"], e["outcome"]) for e in entries] == [
        (ADMIN, "requested", "ok"),
        (VIEWER, "start", "refused"),
        (APPROVER, "start", "ok"),
        ("system", "validation_failed", "ok"),
        (APPROVER, "consent", "ok"),
        (APPROVER, "consent", "ok"),
        (APPROVER, "consent", "ok"),
        (APPROVER, "revalidate", "ok"),
        ("system", "running", "ok"),
    ]
    assert all(e["at"] for e in entries)
    assert [e["detail"] for e in entries if e["action"] == "consent"] == [
        f"{check} = {check}" for check in STAGING_CHECKS
    ]
    assert entries[1]["detail"].startswith("Only restore approvers")
    trail = await harness.services.sessions.audit_trail(session_id)
    assert [(t.actor, t.action, t.outcome) for t in trail] == [
        (e["actor"], e["action"], e["outcome"]) for e in entries
    ]

    response = await harness.slash(f"show {restore_id}", command="/restore", user=VIEWER)
    shown = harness.reply_text(response)
    assert f"<@{APPROVER}> pressed *Start restore*; Atlassian was asked to validate." in shown
    assert f"<@{VIEWER}> tried to start the restore; refused: their role does not allow it." in (
        shown
    )
    assert shown.count(f"<@{APPROVER}> gave consent on ") == 3


async def test_an_unconfirmed_revalidate_is_retried_once_by_two_recovering_bots(
    make_bot_harness: HarnessFactory,
) -> None:
    """A revalidate lost to a 503 is retried by exactly one of two bots recovering at once."""
    first = await make_bot_harness()
    second = await make_bot_harness()
    session_id = await staged_for_consent(first)
    await click(first, answer(SPACE))
    await click(first, answer(GROUP))
    first.simulator.world.faults.queue(status=503, method="POST", path_contains="/revalidate")
    await click(first, answer(LICENCE))
    assert (await session(first, session_id)).state is SessionState.REVALIDATING
    assert any("did not answer" in line for line in thread_lines(first, the_card(first)))

    settled = await asyncio.gather(
        first.bot.restore_workflow.recover_in_flight(grace=timedelta(0)),
        second.bot.restore_workflow.recover_in_flight(grace=timedelta(0)),
    )

    assert sorted(settled) == [0, 1]
    assert [call.status for call in revalidate_calls(first)] == [503, 200]
    assert (await session(first, session_id)).state is SessionState.RUNNING
    assert len(create_calls(first)) == 1


async def test_a_click_with_an_unknown_session_id_changes_nothing(bot_harness: BotHarness) -> None:
    """A Start carrying a made-up session id is explained privately and audited, nothing more."""
    harness = bot_harness
    await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    response = await forged_click(harness, rb.ACTION_START, "made-up-session-id")
    assert "unknown to the bot" in private_text(harness, response)
    assert create_calls(harness) == []
    [entry] = [e for e in await audit_entries(harness) if e["session"] == "made-up-session-id"]
    assert (entry["action"], entry["outcome"], entry["detail"]) == ("start", "refused", "unknown")
    assert await harness.services.redis.keys("*made-up-session-id*") == []


async def test_the_tracker_ends_the_card_with_the_outcome_and_the_report(
    bot_harness: BotHarness,
) -> None:
    """Polled to its end by the tracker, the restore's card says finished and links the report."""
    harness = bot_harness
    session_id = await staged_for_consent(harness)
    for check in STAGING_CHECKS:
        await click(harness, answer(check))
    tracker = wired_tracker(harness, "restore-flow-test")
    await tracker.poll_once()
    for _ in range(3):
        harness.simulator.clock.advance(harness.services.settings.bot_poll_seconds + 1)
        await tracker.poll_once()

    finished = await session(harness, session_id)
    assert finished.state is SessionState.DONE
    card = the_card(harness)
    shown = card_text(card)
    assert "The restore has finished" in shown
    assert f"<{finished.report_url}|Post-restore report>" in shown
    assert shown.count("gave consent.") == 3
    assert sum("finished" in line for line in thread_lines(harness, card)) == 1
