"""The restore, tracking and digest tests, run unchanged against a three-primary Redis
Cluster.

``redis_backend`` is overridden here, so every client these tests build (the bot's, the
test's own) is redis-py's ``RedisCluster`` on the session's cluster. A script whose keys
spanned slots, a cross-slot MGET or a key outside the layout would fail them with
``CROSSSLOT`` or "non local key".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import pytest

from bot.localslack.driver import SlackResponse
from bot.restore.session import SessionState
from tests.fixtures.bot_harness import APPROVER, HarnessFactory
from tests.fixtures.redis_topologies import ClusterBackend, RedisBackend
from tests.test_assurance_watch import test_the_daily_digest_posts_once_a_day_with_three_bots
from tests.test_restore_flow import (
    GROUP,
    LICENCE,
    SPACE,
    answer,
    private_text,
    revalidate_calls,
    session,
    staged_for_consent,
    test_a_bot_that_died_after_the_intent_finds_the_restore_it_created,
    test_buttons_keep_working_through_a_restarted_bot,
    test_fifty_concurrent_last_consents_make_one_revalidate,
    test_fifty_concurrent_start_clicks_make_one_create_call,
    test_housekeeping_expires_due_sessions_and_edits_each_card_once,
    test_restore_show_lists_the_decisions_and_the_audit_stream_records_them,
    test_staging_restore_runs_after_three_consents,
    test_start_clicks_spread_over_two_bot_processes_make_one_create_call,
    test_the_tracker_ends_the_card_with_the_outcome_and_the_report,
    the_card,
)
from tests.test_tracker import (
    test_complete_backup_edits_card_and_announces_once_in_thread_and_notify,
    test_restart_mid_operation_gives_exactly_one_final_notification,
    test_three_processes_announce_each_of_200_operations_once_even_when_one_dies,
    test_two_processes_starting_together_adopt_each_running_operation_once,
)


@pytest.fixture
def redis_backend(redis_cluster: ClusterBackend) -> RedisBackend:
    """Every Redis client of these tests talks to the session's Redis Cluster."""
    return redis_cluster


__all__ = [
    "test_a_bot_that_died_after_the_intent_finds_the_restore_it_created",
    "test_buttons_keep_working_through_a_restarted_bot",
    "test_complete_backup_edits_card_and_announces_once_in_thread_and_notify",
    "test_fifty_concurrent_last_consents_make_one_revalidate",
    "test_fifty_concurrent_start_clicks_make_one_create_call",
    "test_housekeeping_expires_due_sessions_and_edits_each_card_once",
    "test_restart_mid_operation_gives_exactly_one_final_notification",
    "test_restore_show_lists_the_decisions_and_the_audit_stream_records_them",
    "test_staging_restore_runs_after_three_consents",
    "test_start_clicks_spread_over_two_bot_processes_make_one_create_call",
    "test_the_daily_digest_posts_once_a_day_with_three_bots",
    "test_the_tracker_ends_the_card_with_the_outcome_and_the_report",
    "test_three_processes_announce_each_of_200_operations_once_even_when_one_dies",
    "test_two_processes_starting_together_adopt_each_running_operation_once",
]


async def test_clicks_while_the_restore_slot_moves_are_acknowledged_and_applied_once(
    make_bot_harness: HarnessFactory, redis_cluster: ClusterBackend
) -> None:
    """The {restore} slot moves to another node (ASK, TRYAGAIN, MOVED) while the last consents
    and commands arrive: every ack under 3 s, one revalidate, nothing half-applied."""
    harness = await make_bot_harness()
    session_id = await staged_for_consent(harness)
    sessions = harness.services.sessions
    anchor = f"{sessions.key_prefix}open"
    before = redis_cluster.owner_of(anchor)
    acks: list[float] = []

    async def timed(action: Awaitable[SlackResponse]) -> SlackResponse:
        started = time.perf_counter()
        response = await action
        acks.append(time.perf_counter() - started)
        assert response.status == 200, response.text
        return response

    moving = asyncio.create_task(asyncio.to_thread(redis_cluster.move_slot_of, anchor, pause=0.1))
    pressed_again = 0
    for check in (SPACE, GROUP, LICENCE):
        for _ in range(3):
            await timed(harness.driver.slash(command="/restore", text=f"show {session_id}"))
            await asyncio.sleep(0.05)
        for _ in range(3):
            clicked = await timed(
                harness.driver.click(the_card(harness), answer(check), user=APPROVER)
            )
            await harness.settle(within=30)
            told = private_text(harness, clicked)
            # Told that nothing was recorded or changed, the approver presses again.
            if "press the button again" not in told and "Try again" not in told:
                break
            pressed_again += 1
    after = await moving
    await harness.settle(within=30)

    print(
        f"\nslot of {{restore}} moved from node :{before} to :{after} during {len(acks)} "
        f"requests: ack max {max(acks) * 1000:.0f} ms; {pressed_again} clicks pressed again"
    )
    assert after != before
    assert redis_cluster.owner_of(anchor) == after
    assert max(acks) < 3.0
    assert (await session(harness, session_id)).state is SessionState.RUNNING
    assert len(revalidate_calls(harness)) == 1
    answered = [
        e
        for e in await sessions.audit_trail(session_id)
        if e.action == "consent" and e.outcome == "ok"
    ]
    assert len(answered) == 3
