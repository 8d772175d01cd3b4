"""Roles from Slack user groups, read through the fake Slack Web API and shared in Redis.

``BOT_ADMINS`` names the group ``SADMINS`` beside one admin listed by id, ``BOT_APPROVERS``
the group ``SAPPROVERS``. Each test reads the groups once as start-up does
(``GroupRoster.refresh``) and then plays the background loop's part by calling it again;
time moves on the simulator's clock, which the roster measures every age on.
"""

from __future__ import annotations

import asyncio
import json

from bot.access.groups import GroupRoster
from bot.restore.session import SessionState
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from tests.fixtures.bot_harness import ADMIN, BotHarness, HarnessFactory
from tests.test_restore_flow import (
    GROUP,
    LICENCE,
    SPACE,
    answer,
    click,
    create_calls,
    private_text,
    requested,
    session,
)

ALICE, BOB, CAROL, DAN = "UALICE", "UBOB", "UCAROL", "UDAN"
TTL = 60
STALE = 600
GROUP_SETTINGS = {
    "bot_admins": f"{ADMIN},SADMINS",
    "bot_approvers": "SAPPROVERS",
    "bot_group_cache_seconds": TTL,
    "bot_group_stale_seconds": STALE,
}
ADMIN_REFUSAL = "Only bot admins may run commands that change things"


def roster_of(harness: BotHarness) -> GroupRoster:
    roster = harness.services.access.groups
    assert roster is not None
    return roster


async def started(make_bot_harness: HarnessFactory, **overrides: object) -> BotHarness:
    """A bot whose roles come from the two groups, read once as at start-up."""
    harness = await make_bot_harness(**{**GROUP_SETTINGS, **overrides})
    harness.slack.set_usergroup("SADMINS", [ALICE])
    harness.slack.set_usergroup("SAPPROVERS", [BOB, CAROL])
    await roster_of(harness).refresh()
    return harness


async def text_of(harness: BotHarness, command: str, user: str) -> str:
    return harness.reply_text(await harness.slash(command, user=user))


def later(harness: BotHarness, seconds: float) -> None:
    harness.simulator.clock.advance(seconds)


async def test_whoami_says_through_which_group_a_role_comes(
    make_bot_harness: HarnessFactory,
) -> None:
    """A member of the admin group is an admin "as a member of" it; the listed admin by id."""
    harness = await started(make_bot_harness)
    alice = await text_of(harness, "whoami", ALICE)
    assert f"<@{ALICE}>, your role with the backup bot: *admin*." in alice
    assert "as a member of the Slack user group <!subteam^SADMINS>" in alice
    bob = await text_of(harness, "whoami", BOB)
    assert "*approver*" in bob
    assert "<!subteam^SAPPROVERS>" in bob
    assert "your role with the backup bot: *viewer*." in await text_of(harness, "whoami", DAN)
    assert "user group" not in await text_of(harness, "whoami", ADMIN)


async def test_a_membership_change_takes_effect_within_the_ttl(
    make_bot_harness: HarnessFactory,
) -> None:
    """Slack is asked again once the reading is a TTL old, not before; then the change counts."""
    harness = await started(make_bot_harness)
    roster = roster_of(harness)
    asked = len(harness.slack.calls_to("usergroups.users.list"))
    harness.slack.set_usergroup("SADMINS", [DAN])

    later(harness, TTL - 5)
    await roster.refresh()
    assert len(harness.slack.calls_to("usergroups.users.list")) == asked
    assert ADMIN_REFUSAL in await text_of(harness, "run pol-acme-jira", DAN)

    later(harness, 10)
    await roster.refresh()
    assert ADMIN_REFUSAL not in await text_of(harness, "run pol-acme-jira", DAN)
    assert ADMIN_REFUSAL in await text_of(harness, "run pol-acme-jira", ALICE)


async def test_the_members_changed_event_takes_effect_at_once(
    make_bot_harness: HarnessFactory,
) -> None:
    """`subteam_members_changed` makes the bot read that group again, with no time passing."""
    harness = await started(make_bot_harness)
    harness.slack.set_usergroup("SADMINS", [DAN])
    response = await harness.driver.post_signed(json.dumps(members_changed(harness)).encode())
    assert response.status == 200
    roster = roster_of(harness)
    for _ in range(100):
        reading = roster.reading("SADMINS")
        if reading is not None and reading.members == {DAN}:
            break
        await asyncio.sleep(0.02)
    assert reading is not None
    assert reading.members == {DAN}
    assert len(harness.slack.calls_to("usergroups.users.list")) == 3
    assert ADMIN_REFUSAL not in await text_of(harness, "run pol-acme-jira", DAN)


async def test_replicas_share_one_reading_through_redis(make_bot_harness: HarnessFactory) -> None:
    """A second bot process takes the first one's reading from Redis instead of asking Slack."""
    first = await started(make_bot_harness)
    asked = len(first.slack.calls_to("usergroups.users.list"))
    second = await make_bot_harness(slack=first.slack, **GROUP_SETTINGS)
    await roster_of(second).refresh()
    assert len(first.slack.calls_to("usergroups.users.list")) == asked
    assert ADMIN_REFUSAL not in await text_of(second, "run pol-acme-jira", ALICE)


async def test_a_slack_outage_beyond_the_bound_refuses_changes_and_keeps_reads(
    make_bot_harness: HarnessFactory,
) -> None:
    """Slack down: the last reading serves until the bound, then group roles change nothing."""
    harness = await started(make_bot_harness)
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-staging")
    roster = roster_of(harness)
    harness.slack.unavailable.add("usergroups.users.list")

    later(harness, TTL + 1)
    await roster.refresh()
    assert "Only bot admins" not in await text_of(harness, "run pol-acme-jira", ALICE)

    later(harness, STALE)
    await roster.refresh()
    refused = await text_of(harness, "run pol-acme-jira", ALICE)
    assert "whose members the bot cannot check right now" in refused
    assert "Slack has not answered for 11 minutes" in refused
    assert "Read-only commands still work" in refused
    assert "pol-acme-jira" in await text_of(harness, "policy list", ALICE)
    assert "Only bot admins" not in await text_of(harness, "sites", ALICE)
    click_response = await click(harness, rb.ACTION_START, user=BOB)
    assert "cannot check right now" in private_text(harness, click_response)
    assert (await session(harness, session_id)).state is SessionState.AWAITING_START
    assert create_calls(harness) == []
    # An admin listed by id depends on no group.
    assert "cannot check" not in await text_of(harness, "run pol-acme-jira", ADMIN)

    harness.slack.unavailable.clear()
    await roster.refresh()
    await click(harness, rb.ACTION_START, user=BOB)
    assert len(create_calls(harness)) == 1


async def test_four_eyes_compares_people_not_groups(make_bot_harness: HarnessFactory) -> None:
    """Two members of one approver group: the requester may not decide, the other one may."""
    harness = await started(make_bot_harness, bot_four_eyes=True, bot_admins=f"{ADMIN},SAPPROVERS")
    session_id = await requested_by(harness, BOB)
    refused = await click(harness, rb.ACTION_START, user=BOB)
    assert "Four-eyes rule" in private_text(harness, refused)
    await click(harness, rb.ACTION_START, user=CAROL)
    assert (await session(harness, session_id)).state is SessionState.AWAITING_CONSENT
    for check in (SPACE, GROUP, LICENCE):
        await click(harness, answer(check), user=CAROL)
    assert (await session(harness, session_id)).state is SessionState.RUNNING


async def requested_by(harness: BotHarness, user: str) -> str:
    await harness.slash(
        f"start {JIRA_COMPLETE_BACKUP} to=acme-staging", command="/restore", user=user
    )
    found = [s for s in await harness.services.sessions.unfinished() if s.requester == user]
    assert len(found) == 1
    return found[0].session_id


def members_changed(harness: BotHarness) -> dict[str, object]:
    """What Slack sends when someone edits a user group's members."""
    return {
        "token": "verification",
        "team_id": harness.slack.team_id,
        "api_app_id": harness.slack.app_id,
        "type": "event_callback",
        "event_id": "Ev0SUBTEAM1",
        "event_time": 1_793_523_600,
        "event": {
            "type": "subteam_members_changed",
            "subteam_id": "SADMINS",
            "team_id": harness.slack.team_id,
            "date_previous_update": 1_793_523_000,
            "date_update": 1_793_523_600,
            "added_users": [DAN],
            "added_users_count": "1",
            "removed_users": [ALICE],
            "removed_users_count": "1",
            "event_ts": "1793523600.000200",
        },
    }
