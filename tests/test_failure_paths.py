"""When something fails half-way, nothing is left half-done and nothing runs unconsented.

Each test drives the whole bot (signed HTTP, simulator, fake Slack, real Redis) into a
failure between two steps and checks what people are told, what the card says, and what
reached Atlassian.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis

from bot.atlassian.models import Product, Restore
from bot.restore.context import CALL_LEASE
from bot.restore.session import SessionState
from bot.simulator.seed import JIRA_COMPLETE_BACKUP, SANDBOX_CLOUD_ID
from bot.store.operations import OperationKind
from tests.fixtures.bot_harness import APPROVER, CHANNEL, BotHarness, HarnessFactory
from tests.fixtures.tracking import wired_tracker
from tests.test_restore_flow import (
    create_calls,
    request_restore,
    requested,
    session,
    the_card,
    thread_lines,
)


async def intent_then_crash(harness: BotHarness, session_id: str) -> str:
    """Record Start's intent and make the create call, as a bot that then died would have."""
    moved = await harness.services.sessions.transition(
        session_id,
        to=SessionState.VALIDATING,
        actor=APPROVER,
        action="start",
        expected={SessionState.AWAITING_START},
        updates={"started_by": APPROVER},
    )
    assert moved.ok
    restore = await harness.services.atlassian.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )
    return restore.restore_id


async def test_a_restore_that_ended_before_recovery_found_it_is_announced_once(
    make_bot_harness: HarnessFactory,
) -> None:
    """Recovery that finds the restore already COMPLETE lets the tracker end it, exactly once."""
    dead = await make_bot_harness()
    session_id = await requested(dead, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    restore_id = await intent_then_crash(dead, session_id)
    dead.simulator.clock.advance(600)

    revived = await make_bot_harness(slack=dead.slack)
    assert await revived.bot.restore_workflow.recover_in_flight(grace=timedelta(0)) == 1
    tracker = wired_tracker(revived, "revived")
    for _ in range(3):
        await tracker.poll_once()
        revived.simulator.clock.advance(31)

    ended = await session(revived, session_id)
    assert ended.state is SessionState.DONE
    assert ended.restore_id == restore_id
    operation = await revived.services.operations.get(OperationKind.RESTORE, restore_id)
    assert operation is not None
    assert operation.final
    lines = thread_lines(revived, the_card(revived))
    assert sum("finished" in line for line in lines) == 1
    assert not any("is running" in line for line in lines)
    assert len(create_calls(revived)) == 1


async def test_consent_without_readable_checks_never_runs_the_restore(
    bot_harness: BotHarness,
) -> None:
    """VALIDATION_FAILED naming no readable check fails the session instead of running it."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await harness.services.sessions.transition(
        session_id,
        to=SessionState.VALIDATING,
        actor=APPROVER,
        action="start",
        expected={SessionState.AWAITING_START},
    )
    unreadable = Restore.model_validate(
        {"restoreId": "rst-x", "status": "VALIDATION_FAILED", "checksNeeded": ["?"]}
    )
    await harness.bot.restore_workflow.apply_result(session_id, unreadable, SessionState.VALIDATING)

    failed = await session(harness, session_id)
    assert failed.state is SessionState.FAILED
    assert "named no check" in (failed.outcome or "")
    assert await harness.services.operations.active() == []
    assert "The restore failed" in str(the_card(harness).blocks)


async def test_recovery_stays_away_from_a_session_whose_call_is_live(
    bot_harness: BotHarness,
) -> None:
    """While a live Start holds the session's lease, recovery neither looks nor moves it."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await harness.services.sessions.transition(
        session_id,
        to=SessionState.VALIDATING,
        actor=APPROVER,
        action="start",
        expected={SessionState.AWAITING_START},
    )
    workflow = harness.bot.restore_workflow
    live = await workflow.leases.acquire(
        workflow.call_lease_key(session_id), "live-start", CALL_LEASE
    )
    assert live is not None

    assert await harness.bot.restore_workflow.recover_in_flight(grace=timedelta(0)) == 0
    assert (await session(harness, session_id)).state is SessionState.VALIDATING


async def test_a_restore_card_that_slack_never_confirms_cancels_the_request(
    bot_harness: BotHarness,
) -> None:
    """A card post that times out leaves no session blocking the site; asking again works."""
    harness = bot_harness
    surface = harness.bot.restore_workflow.surface
    real_post = surface.post_card
    attempts: list[str] = []

    async def silent_slack(channel: str, view: Any) -> Any:
        attempts.append(channel)
        if len(attempts) == 1:
            raise TimeoutError("Slack did not answer")
        return await real_post(channel, view)

    surface.post_card = silent_slack  # type: ignore[method-assign]
    first = await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    assert "nothing more was changed" in harness.reply_text(first)
    assert await harness.services.sessions.unfinished() == []

    await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    assert len(await harness.services.sessions.unfinished()) == 1
    assert len(harness.slack.messages(CHANNEL)) == 1


async def test_a_backup_that_started_but_could_not_be_tracked_says_so(
    bot_harness: BotHarness,
) -> None:
    """Redis failing after a backup started: the user learns it started, and the card shows it."""
    harness = bot_harness

    async def redis_down(*args: Any, **kwargs: Any) -> Any:
        raise aioredis.ConnectionError("Redis went away")

    harness.services.operations.register = redis_down  # type: ignore[method-assign]
    response = await harness.slash("run pol-acme-jira")

    said = harness.reply_text(response)
    assert "started, but the bot could not save it for tracking" in said
    posts = [c for c in harness.simulator.world.calls if c.method == "POST"]
    assert len(posts) == 1
    card = harness.slack.messages(CHANNEL)[0]
    assert "STARTING" not in card.text
    assert "IN PROGRESS" in card.text
