"""What the restore record keeps, and for how long: bounded entries, capped trails, retention.

A finished session, its audit trail, its backup facts and its restore index entry are
forgotten once ``BOT_RETENTION_DAYS`` have passed on the injected clock; the global audit
stream is capped; no click can make an entry or a trail grow without limit.
"""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio as aioredis

from bot.background import housekeeping_once
from bot.clock import ManualClock
from bot.restore.facts import BackupFacts
from bot.restore.records import DETAIL_LIMIT, NAME_LIMIT, UNREADABLE_ID
from bot.restore.session import SYSTEM_ACTOR, SessionState
from bot.restore.store import SESSION_TRAIL_MAXLEN, RestoreSessionStore
from bot.simulator.seed import JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from tests.fixtures.bot_harness import ADMIN, BotHarness
from tests.test_restore_flow import click, requested
from tests.test_restore_sessions import SPACE, session_in

RETENTION = timedelta(days=30)


async def keys_of(redis: aioredis.Redis, session_id: str, restore_id: str) -> list[str]:
    """The keys naming the session or its restore (the index entry names both)."""
    return sorted(
        set(await redis.keys(f"*{session_id}*")) | set(await redis.keys(f"*{restore_id}*"))
    )


async def test_a_finished_session_is_forgotten_after_retention_on_the_clock(
    redis_client: aioredis.Redis,
) -> None:
    """Session, trail, facts and index go at retention, by the clock; live sessions stay."""
    clock = ManualClock()
    store = RestoreSessionStore(redis_client, clock, final_retention=RETENTION)
    finished = await session_in(store, SessionState.RUNNING)
    running = await session_in(store, SessionState.RUNNING)
    waiting = await session_in(store, SessionState.AWAITING_CONSENT)
    ended = await store.transition(
        finished.session_id, to=SessionState.DONE, actor=SYSTEM_ACTOR, action="finished"
    )
    assert ended.session is not None
    done = ended.session
    restore_id = done.restore_id
    assert restore_id
    await store.save_facts(done.session_id, BackupFacts.unknown())
    kept = await keys_of(redis_client, done.session_id, restore_id)
    assert len(kept) == 4

    clock.advance((RETENTION - timedelta(minutes=1)).total_seconds())
    assert await store.forget_finished() == 0
    assert await keys_of(redis_client, done.session_id, restore_id) == kept

    clock.advance(120)
    assert await store.forget_finished() == 1
    assert await keys_of(redis_client, done.session_id, restore_id) == []
    assert await store.get(done.session_id) is None
    assert await store.audit_trail(done.session_id) == []
    for live in (running, waiting):
        assert await store.get(live.session_id) is not None
    assert await store.forget_finished() == 0
    assert any(
        fields["session"] == done.session_id
        for _id, fields in await redis_client.xrange(store.audit_stream_key)
    )


async def test_audit_fields_are_bounded_by_format_and_length(
    redis_client: aioredis.Redis,
) -> None:
    """Ids that are not ids, actors that are not users and long text never reach a stream."""
    store = RestoreSessionStore(redis_client, ManualClock())
    staged = await session_in(store, SessionState.AWAITING_CONSENT, checks=[SPACE])
    await store.record_refusal(
        "<!channel>" * 500, actor="U" * 500, action="start", reason="y" * 5000
    )
    long_check = "C" * 255
    await store.answer_check(
        staged.session_id, check=long_check, consent=long_check, actor="U0APPROVER"
    )

    entries = [fields for _id, fields in await redis_client.xrange(store.audit_stream_key)]
    forged = entries[-2]
    assert (forged["session"], forged["actor"]) == (UNREADABLE_ID, UNREADABLE_ID)
    assert len(forged["detail"]) == DETAIL_LIMIT
    answered = entries[-1]
    assert answered["session"] == staged.session_id
    assert len(answered["detail"]) <= 2 * NAME_LIMIT + len(" =  (unknown_check)")
    assert await redis_client.keys("*<!channel>*") == []
    for fields in entries:
        assert all(len(value) <= DETAIL_LIMIT for value in fields.values())


async def test_refusals_cannot_push_a_sessions_decisions_out_of_its_capped_trail(
    redis_client: aioredis.Redis,
) -> None:
    """A thousand refused clicks leave the trail short and every decision in it."""
    store = RestoreSessionStore(redis_client, ManualClock())
    staged = await session_in(store, SessionState.AWAITING_START)
    for _ in range(1000):
        await store.record_refusal(
            staged.session_id, actor="U0VIEWER", action="start", reason="not an approver"
        )
    moved = await store.transition(
        staged.session_id, to=SessionState.CANCELLED, actor="U0REQUESTER", action="cancel"
    )
    assert moved.ok

    trail = await store.audit_trail(staged.session_id)
    assert len(trail) <= SESSION_TRAIL_MAXLEN
    assert trail[0].action == "requested"
    assert (trail[-1].action, trail[-1].outcome) == ("cancel", "ok")
    assert sum(t.outcome == "refused" for t in trail) <= SESSION_TRAIL_MAXLEN // 2
    assert await redis_client.xlen(store.audit_stream_key) >= 1000


async def test_housekeeping_forgets_a_cancelled_request_after_retention(
    bot_harness: BotHarness,
) -> None:
    """The bot's own housekeeping applies BOT_RETENTION_DAYS to the sessions it finished."""
    harness = bot_harness
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    await click(harness, rb.ACTION_CANCEL, user=ADMIN)
    retention = timedelta(days=harness.services.settings.bot_retention_days)

    harness.simulator.clock.advance((retention - timedelta(hours=1)).total_seconds())
    await housekeeping_once(harness.bot)
    assert await harness.services.sessions.get(session_id) is not None
    harness.simulator.clock.advance(timedelta(hours=2).total_seconds())
    await housekeeping_once(harness.bot)
    assert await harness.services.sessions.get(session_id) is None
    assert await harness.services.redis.keys(f"*{session_id}*") == []
