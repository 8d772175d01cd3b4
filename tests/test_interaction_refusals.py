"""Every interaction gets the right answer: a decision counts only on its own card, and an
action, form or shortcut the bot does not know is acknowledged, answered and audited.

Signed requests over loopback HTTP against the Bolt app, the simulator and a real Redis.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.localslack.driver import VERIFICATION_TOKEN
from bot.restore.session import SessionState
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from tests.fixtures.bot_harness import ADMIN, APPROVER, CHANNEL, VIEWER, BotHarness
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


# -- requests no listener takes ---------------------------------------------------------


def signed_payload(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def unknown_button(harness: BotHarness, response_url: str, **changes: Any) -> dict[str, Any]:
    """A block_actions payload from a message in the channel, for a button no card draws."""
    slack = harness.slack
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": APPROVER, "username": APPROVER, "team_id": slack.team_id},
        "api_app_id": slack.app_id,
        "token": VERIFICATION_TOKEN,
        "team": {"id": slack.team_id, "domain": slack.team_domain},
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "backups"},
        "response_url": response_url,
        "trigger_id": slack.issue_trigger_id(APPROVER),
        "actions": [
            {"action_id": "restore_launch_missiles", "block_id": "b", "type": "button"},
        ],
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def interaction(harness: BotHarness, kind: str, user: str, **fields: Any) -> dict[str, Any]:
    """A payload of ``kind`` from ``user`` in the harness's workspace, with ``fields``."""
    slack = harness.slack
    return {
        "type": kind,
        "team": {"id": slack.team_id, "domain": slack.team_domain},
        "user": {"id": user, "username": user, "team_id": slack.team_id},
        "api_app_id": slack.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": slack.issue_trigger_id(user),
        **fields,
    }


async def refusals_since(harness: BotHarness, seen: int) -> list[dict[str, str]]:
    entries = await audit_entries(harness)
    return [e for e in entries[seen:] if e["outcome"] == "refused"]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({}, "restore_launch_missiles"),
        ({"actions": None}, "(no actions)"),
        ({"actions": []}, "(no actions)"),
        ({"type": None}, "restore_launch_missiles"),
    ],
    ids=["unknown-action-id", "no-actions", "empty-actions", "no-type"],
)
async def test_an_unknown_click_is_acknowledged_answered_privately_and_audited(
    bot_harness: BotHarness, changes: dict[str, Any], named: str
) -> None:
    """Not Bolt's 404: a 200 at once, one private sentence, one bounded audit entry."""
    harness = bot_harness
    response_url = harness.slack.new_response_url(channel=CHANNEL, user=APPROVER)
    seen = len(await audit_entries(harness))
    response = await harness.driver.post_signed(
        signed_payload(unknown_button(harness, response_url, **changes)),
        response_url=response_url,
    )
    assert response.status == 200, response.text
    await harness.settle()
    assert "does not know that button" in private_text(harness, response)
    [refused] = await refusals_since(harness, seen)
    assert refused["actor"] == APPROVER
    assert refused["detail"] == f"unknown_action: {named}"
    assert harness.simulator.world.calls == []


async def test_a_garbled_consent_button_is_answered_and_audited(bot_harness: BotHarness) -> None:
    """`restore_answer:garbage` on a real card: told privately, audited, the session untouched."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    seen = len(await audit_entries(harness))
    response = await forged_click(harness, "restore_answer:garbage", session_id)
    assert "does not know that button" in private_text(harness, response)
    [refused] = await refusals_since(harness, seen)
    assert refused["session"] == session_id
    assert refused["detail"] == "unknown_action: restore_answer:garbage"
    assert (await session(harness, session_id)).state is SessionState.AWAITING_START


async def test_a_form_the_bot_does_not_know_is_answered_inside_it_and_audited(
    bot_harness: BotHarness,
) -> None:
    """A view_submission with an unknown callback_id: 200, the form says so, audited."""
    harness = bot_harness
    seen = len(await audit_entries(harness))
    view = {"id": "V0UNKNOWN", "type": "modal", "callback_id": "wire_money", "state": {}}
    payload = interaction(harness, "view_submission", ADMIN, view=view)
    response = await harness.driver.post_signed(signed_payload(payload))
    assert response.status == 200, response.text
    await harness.settle()
    assert response.json["response_action"] == "update"
    assert "does not know this form" in json.dumps(response.json["view"])
    [refused] = await refusals_since(harness, seen)
    assert (refused["actor"], refused["detail"]) == (ADMIN, "unknown_action: wire_money")


async def test_a_shortcut_the_bot_does_not_define_is_acknowledged_and_audited(
    bot_harness: BotHarness,
) -> None:
    """A global shortcut with an unknown callback_id gets 200, not 404, and an audit line."""
    harness = bot_harness
    seen = len(await audit_entries(harness))
    payload = interaction(
        harness, "shortcut", VIEWER, callback_id="delete_everything", action_ts="1.0"
    )
    response = await harness.driver.post_signed(signed_payload(payload))
    assert response.status == 200, response.text
    await harness.settle()
    [refused] = await refusals_since(harness, seen)
    assert (refused["actor"], refused["detail"]) == (VIEWER, "unknown_action: delete_everything")


async def test_an_unknown_button_value_of_a_megabyte_stays_small_in_the_audit(
    bot_harness: BotHarness,
) -> None:
    """The action id and value of an unknown click are bounded before they reach Redis."""
    harness = bot_harness
    response_url = harness.slack.new_response_url(channel=CHANNEL, user=APPROVER)
    seen = len(await audit_entries(harness))
    huge = "A" * 200_000
    payload = unknown_button(
        harness,
        response_url,
        actions=[{"action_id": huge, "block_id": "b", "type": "button", "value": huge}],
    )
    response = await harness.driver.post_signed(signed_payload(payload), response_url=response_url)
    assert response.status == 200
    await harness.settle()
    [refused] = await refusals_since(harness, seen)
    assert sum(len(value) for value in refused.values()) < 400
