"""A bot process that dies in the middle of a restore: the next one finishes the story.

Each test leaves a process holding what a live restore call holds (the session's intent
in Redis, its call lease) and never lets it clean up, then checks that another process
settles the restore on the card people already saw, within the grace period.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.restore.recovery import IN_FLIGHT_GRACE
from bot.restore.session import SessionState
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from tests.fixtures.bot_harness import APPROVER, BotHarness, HarnessFactory
from tests.test_restore_flow import create_calls, requested, session, the_card


async def until(condition: object, *, within: float = 5.0) -> None:
    """Wait (in real time, briefly) until ``condition()`` holds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "it did not happen in time"
        await asyncio.sleep(0.02)


async def start_and_stall(harness: BotHarness, dest: str) -> str:
    """Press Start on a new request; Atlassian commits the create and withholds its answer.

    The clicking process stays inside its create call, holding the live-call lease, and
    never renews or releases it while the test runs: to Redis it is a dead process.
    """
    harness.simulator.world.faults.queue(
        delay_after_commit_s=6, method="POST", path_contains="/restores"
    )
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, dest)
    response = await harness.driver.click(the_card(harness), rb.ACTION_START, user=APPROVER)
    assert response.status == 200
    await until(lambda: len(harness.simulator.world.restores) == 1)
    return session_id


async def test_a_dead_holder_of_the_live_call_lease_delays_recovery_only_to_the_grace(
    make_bot_harness: HarnessFactory,
) -> None:
    """Past the grace period, recovery settles a session whose live caller died mid-call."""
    dead = await make_bot_harness()
    session_id = await start_and_stall(dead, "acme-sandbox")
    assert (await session(dead, session_id)).state is SessionState.VALIDATING

    revived = await make_bot_harness(slack=dead.slack)
    assert await revived.bot.restore_workflow.recover_in_flight() == 0
    revived.simulator.clock.advance((IN_FLIGHT_GRACE + timedelta(seconds=1)).total_seconds())
    assert await revived.bot.restore_workflow.recover_in_flight() == 1

    settled = await session(revived, session_id)
    assert settled.state is SessionState.RUNNING
    assert settled.restore_id == next(iter(revived.simulator.world.restores))
    assert "The restore is running" in str(the_card(revived).blocks)
    assert len(create_calls(revived)) == 1
