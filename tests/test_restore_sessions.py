"""Restore sessions against a real Redis: the transition table, exactly-once decisions under
concurrency, expiry by a manual clock, restarts and the audit trail."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.atlassian.models import ConsentCheck, FailedCheck, Product
from bot.clock import ManualClock
from bot.messages.restore import refusal_message
from bot.restore.session import (
    ALLOWED,
    FINAL_STATES,
    OPEN_STATES,
    SYSTEM_ACTOR,
    RestoreSession,
    SessionState,
    valid_consents,
)
from bot.restore.store import RestoreSessionStore
from tests.fixtures.redis_server import RedisServer

S = SessionState
SPACE = ConsentCheck.CONFLICTING_SPACE.value
LICENSE = ConsentCheck.PRODUCT_LICENSE.value
ACCEPT_GROUPS = ConsentCheck.ACCEPT_CUSTOM_GROUP.value
DENY_GROUPS = ConsentCheck.DENY_CUSTOM_GROUP.value
APPROVER = "U0APPROVER"
REQUESTER = "U0REQUESTER"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(redis_client: aioredis.Redis, clock: ManualClock) -> RestoreSessionStore:
    return RestoreSessionStore(redis_client, clock)


@pytest.fixture
async def extra_clients(redis_server: RedisServer) -> AsyncIterator[list[aioredis.Redis]]:
    """Separate connections, standing in for separate bot processes."""
    clients = [aioredis.Redis.from_url(redis_server.url, decode_responses=True) for _ in range(5)]
    yield clients
    for client in clients:
        await client.aclose()


async def new_session(store: RestoreSessionStore, requester: str = REQUESTER) -> RestoreSession:
    return await store.create(
        backup_id="backup-1",
        product=Product.CONFLUENCE,
        source_cloud_id=SOURCE_CLOUD,
        dest_cloud_id=STAGING_CLOUD,
        dest_label="acme-staging",
        include_attachments=True,
        include_users_and_groups=False,
        requester=requester,
        channel="C0RESTORES",
    )


async def session_in(
    store: RestoreSessionStore, state: SessionState, checks: list[str] | None = None
) -> RestoreSession:
    """A fresh session driven along allowed transitions into ``state``."""
    session = await new_session(store)
    failed = [failed_check(check) for check in (checks or [SPACE, LICENSE])]
    paths: dict[SessionState, list[tuple[SessionState, dict[str, Any]]]] = {
        S.AWAITING_START: [],
        S.VALIDATING: [(S.VALIDATING, {})],
        S.AWAITING_CONSENT: [
            (S.VALIDATING, {}),
            (
                S.AWAITING_CONSENT,
                {"restore_id": f"r-{session.session_id}", "failed_checks": failed},
            ),
        ],
        S.REVALIDATING: [
            (S.VALIDATING, {}),
            (S.AWAITING_CONSENT, {"failed_checks": failed}),
            (S.REVALIDATING, {}),
        ],
        S.RUNNING: [(S.VALIDATING, {}), (S.RUNNING, {"restore_id": f"r-{session.session_id}"})],
        S.DONE: [(S.VALIDATING, {}), (S.RUNNING, {}), (S.DONE, {})],
        S.FAILED: [(S.VALIDATING, {}), (S.FAILED, {})],
        S.CANCELLED: [(S.CANCELLED, {})],
        S.EXPIRED: [(S.EXPIRED, {})],
    }
    for target, updates in paths[state]:
        result = await store.transition(
            session.session_id, to=target, actor=APPROVER, action="drive", updates=updates
        )
        assert result.ok, (state, target, result.reason)
        assert result.session is not None
        session = result.session
    return session


def failed_check(check: str) -> dict[str, str]:
    return {"check": check, "code": f"{check}-code", "message": f"{check} failed"}


ALLOWED_PAIRS = [(src, dst) for src, targets in ALLOWED.items() for dst in sorted(targets)]
REFUSED_PAIRS = [(src, dst) for src, dst in itertools.product(S, S) if dst not in ALLOWED[src]]


@pytest.mark.parametrize(("source", "target"), ALLOWED_PAIRS)
async def test_every_allowed_transition_succeeds(
    store: RestoreSessionStore, source: SessionState, target: SessionState
) -> None:
    """Each move in the transition table is applied once, bumping the version and the state."""
    session = await session_in(store, source)
    result = await store.transition(session.session_id, to=target, actor=APPROVER, action="act")
    assert result.ok
    assert result.reason is None
    assert result.previous_state is source
    assert result.session is not None
    assert result.session.state is target
    assert result.session.version == session.version + 1
    stored = await store.get(session.session_id)
    assert stored == result.session


@pytest.mark.parametrize(("source", "target"), REFUSED_PAIRS)
async def test_every_transition_outside_the_table_is_refused(
    store: RestoreSessionStore, source: SessionState, target: SessionState
) -> None:
    """A move the table does not allow changes nothing and says why."""
    session = await session_in(store, source)
    result = await store.transition(
        session.session_id,
        to=target,
        actor=APPROVER,
        action="act",
        updates={"outcome": "should not be written"},
    )
    assert not result.ok
    expected_reason = {S.EXPIRED: "expired"}.get(
        source, "finished" if source in FINAL_STATES else "wrong_state"
    )
    assert result.reason == expected_reason
    assert refusal_message(result.reason) == refusal_message(expected_reason)
    assert await store.get(session.session_id) == session


async def test_expected_states_narrow_what_a_caller_accepts(store: RestoreSessionStore) -> None:
    """A caller that expects another state is refused even when the table would allow the move."""
    session = await new_session(store)
    result = await store.transition(
        session.session_id,
        to=S.CANCELLED,
        actor=APPROVER,
        action="cancel",
        expected={S.AWAITING_CONSENT},
    )
    assert (result.ok, result.reason) == (False, "wrong_state")
    assert (await store.get(session.session_id)).state is S.AWAITING_START  # type: ignore[union-attr]


async def test_unknown_session_is_refused_without_creating_keys(
    store: RestoreSessionStore, redis_client: aioredis.Redis
) -> None:
    """A guessed id is refused as unknown, audited globally, and leaves no per-session keys."""
    result = await store.transition("guessed-id", to=S.VALIDATING, actor="U0X", action="start")
    assert (result.ok, result.reason, result.session) == (False, "unknown", None)
    assert await redis_client.keys("*guessed-id*") == []
    entries = await redis_client.xrange(store.audit_stream_key)
    assert [(f["session"], f["outcome"], f["detail"]) for _, f in entries] == [
        ("guessed-id", "refused", "unknown")
    ]


async def test_create_starts_awaiting_start_with_a_fresh_deadline(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """A new session waits for Start, is due in 24 hours, and has an unguessable id."""
    first = await new_session(store)
    second = await new_session(store)
    assert first.state is S.AWAITING_START
    assert first.version == 1
    assert first.decision_deadline == clock.now() + timedelta(hours=24)
    assert first.session_id != second.session_id
    assert len(first.session_id) >= 20
    assert await store.get(first.session_id) == first


async def test_start_records_intent_and_updates_together(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """Entering VALIDATING stamps when the API call was decided, together with the updates."""
    session = await new_session(store)
    clock.advance(minutes=5)
    result = await store.transition(
        session.session_id,
        to=S.VALIDATING,
        actor=APPROVER,
        action="start",
        updates={"started_by": APPROVER},
    )
    assert result.session is not None
    assert result.session.intent_at == clock.now()
    assert result.session.updated_at == clock.now()
    assert result.session.started_by == APPROVER


async def test_updates_may_not_touch_what_was_requested(store: RestoreSessionStore) -> None:
    """The approved request and the state machine's own fields cannot be changed by updates."""
    session = await new_session(store)
    for field in ("dest_cloud_id", "state", "version", "decision_deadline"):
        with pytest.raises(ValueError, match=field):
            await store.transition(
                session.session_id,
                to=S.VALIDATING,
                actor=APPROVER,
                action="start",
                updates={field: "x"},
            )
    assert await store.get(session.session_id) == session


async def test_failed_checks_accept_api_models_and_reset_answers(
    store: RestoreSessionStore,
) -> None:
    """A new round of failed checks (from API models) replaces the previous round's answers."""
    session = await session_in(store, S.AWAITING_CONSENT, [SPACE])
    answer = await store.answer_check(
        session.session_id, check=SPACE, consent=SPACE, actor=APPROVER
    )
    assert answer.complete
    result = await store.transition(
        session.session_id,
        to=S.AWAITING_CONSENT,
        actor=SYSTEM_ACTOR,
        action="revalidated",
        updates={"failed_checks": [FailedCheck(check=LICENSE.lower(), code="C1", message="m")]},
    )
    assert result.session is not None
    assert result.session.failed_checks == [{"check": LICENSE, "code": "C1", "message": "m"}]
    assert result.session.answers == {}
    assert result.session.unanswered_checks == [LICENSE]


async def test_retry_after_a_call_that_provably_did_not_happen(store: RestoreSessionStore) -> None:
    """VALIDATING may fall back to AWAITING_START, after which Start can be pressed again."""
    session = await session_in(store, S.VALIDATING)
    back = await store.transition(
        session.session_id, to=S.AWAITING_START, actor=SYSTEM_ACTOR, action="not sent"
    )
    again = await store.transition(
        session.session_id, to=S.VALIDATING, actor=APPROVER, action="start"
    )
    assert back.ok
    assert again.ok


async def test_fifty_concurrent_starts_make_exactly_one_winner(
    store: RestoreSessionStore,
) -> None:
    """Fifty simultaneous Start clicks let exactly one caller make the API call."""
    session = await new_session(store)
    results = await asyncio.gather(
        *(
            store.transition(session.session_id, to=S.VALIDATING, actor=f"U{i}", action="start")
            for i in range(50)
        )
    )
    winners = [r for r in results if r.ok]
    assert len(winners) == 1
    assert {r.reason for r in results if not r.ok} == {"wrong_state"}
    stored = await store.get(session.session_id)
    assert stored is not None
    assert stored.version == 2


async def test_concurrent_starts_from_several_processes_make_one_winner(
    store: RestoreSessionStore, extra_clients: list[aioredis.Redis], clock: ManualClock
) -> None:
    """Stores on separate connections (separate bot processes) still produce one winner."""
    session = await new_session(store)
    stores = [RestoreSessionStore(client, clock) for client in extra_clients]
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].transition(
                session.session_id, to=S.VALIDATING, actor=f"U{i}", action="start"
            )
            for i in range(50)
        )
    )
    assert sum(r.ok for r in results) == 1


async def test_fifty_concurrent_last_answers_complete_exactly_once(
    store: RestoreSessionStore, extra_clients: list[aioredis.Redis], clock: ManualClock
) -> None:
    """When many clicks race to answer the last check, exactly one is told to revalidate."""
    session = await session_in(store, S.AWAITING_CONSENT, [SPACE, LICENSE])
    first = await store.answer_check(session.session_id, check=SPACE, consent=SPACE, actor="U1")
    assert first.ok
    assert not first.complete
    stores = [store, *(RestoreSessionStore(client, clock) for client in extra_clients)]
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].answer_check(
                session.session_id, check=LICENSE, consent=LICENSE, actor=f"U{i}"
            )
            for i in range(50)
        )
    )
    completing = [r for r in results if r.complete]
    assert len(completing) == 1
    assert completing[0].consents == [SPACE, LICENSE]
    assert not any(r.ok for r in results if not r.complete)
    stored = await store.get(session.session_id)
    assert stored is not None
    assert stored.state is S.REVALIDATING
    assert stored.intent_at == clock.now()


async def test_answers_to_different_checks_racing_complete_once(
    store: RestoreSessionStore,
) -> None:
    """Answers to all checks arriving together still complete the set exactly once."""
    checks = [SPACE, LICENSE, ConsentCheck.TDP_SHARD.value, ACCEPT_GROUPS]
    session = await session_in(store, S.AWAITING_CONSENT, checks)
    consents = [SPACE, LICENSE, ConsentCheck.TDP_SHARD.value, DENY_GROUPS]
    results = await asyncio.gather(
        *(
            store.answer_check(session.session_id, check=check, consent=consent, actor=f"U{n}")
            for n in range(10)
            for check, consent in zip(checks, consents, strict=True)
        )
    )
    assert sum(r.complete for r in results) == 1
    assert next(r for r in results if r.complete).consents == consents


async def test_custom_group_check_takes_accept_or_deny_but_not_both(
    store: RestoreSessionStore,
) -> None:
    """The custom-group check is answered by one value; a second answer names who answered."""
    session = await session_in(store, S.AWAITING_CONSENT, [ACCEPT_GROUPS, SPACE])
    sid = session.session_id
    wrong = await store.answer_check(sid, check=ACCEPT_GROUPS, consent=SPACE, actor=APPROVER)
    assert (wrong.ok, wrong.reason) == (False, "invalid_consent")
    deny = await store.answer_check(sid, check=ACCEPT_GROUPS, consent=DENY_GROUPS, actor="U0ANN")
    assert deny.ok
    assert not deny.complete
    accept = await store.answer_check(sid, check=ACCEPT_GROUPS, consent=ACCEPT_GROUPS, actor="U0B")
    assert (accept.ok, accept.reason, accept.answered_by) == (False, "already_answered", "U0ANN")
    told = refusal_message(accept.reason, answered_by=accept.answered_by)
    assert "<@U0ANN>" in told
    last = await store.answer_check(sid, check=SPACE, consent=SPACE, actor=APPROVER)
    assert last.complete
    assert last.consents == [DENY_GROUPS, SPACE]
    assert last.session is not None
    assert last.session.answers[ACCEPT_GROUPS]["by"] == "U0ANN"


async def test_plain_check_needs_its_own_name_as_consent(store: RestoreSessionStore) -> None:
    """A non-group check is answered only by its own consent value."""
    assert valid_consents(SPACE) == (SPACE,)
    assert set(valid_consents(DENY_GROUPS)) == {ACCEPT_GROUPS, DENY_GROUPS}
    session = await session_in(store, S.AWAITING_CONSENT, [SPACE])
    result = await store.answer_check(
        session.session_id, check=SPACE, consent=ACCEPT_GROUPS, actor=APPROVER
    )
    assert (result.ok, result.reason) == (False, "invalid_consent")
    assert (await store.get(session.session_id)).answers == {}  # type: ignore[union-attr]


async def test_answering_a_check_that_did_not_fail_is_refused(store: RestoreSessionStore) -> None:
    """Only the session's failed checks can be answered."""
    session = await session_in(store, S.AWAITING_CONSENT, [SPACE])
    result = await store.answer_check(
        session.session_id, check=LICENSE, consent=LICENSE, actor=APPROVER
    )
    assert (result.ok, result.reason) == (False, "unknown_check")


async def test_answers_outside_awaiting_consent_are_refused(store: RestoreSessionStore) -> None:
    """A consent click before validation or after the restore finished changes nothing."""
    waiting = await new_session(store)
    early = await store.answer_check(waiting.session_id, check=SPACE, consent=SPACE, actor="U1")
    finished = await session_in(store, S.DONE)
    late = await store.answer_check(finished.session_id, check=SPACE, consent=SPACE, actor="U1")
    unknown = await store.answer_check("nope", check=SPACE, consent=SPACE, actor="U1")
    assert [early.reason, late.reason, unknown.reason] == ["wrong_state", "finished", "unknown"]


async def test_session_expires_after_the_decision_window(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """After 24 hours without a decision a click expires the session once and is refused."""
    session = await new_session(store)
    clock.advance(hours=24)
    first = await store.transition(
        session.session_id, to=S.VALIDATING, actor=APPROVER, action="start"
    )
    assert (first.ok, first.reason, first.expired_now) == (False, "expired", True)
    assert first.session is not None
    assert first.session.state is S.EXPIRED
    second = await store.transition(
        session.session_id, to=S.CANCELLED, actor=APPROVER, action="cancel"
    )
    assert (second.ok, second.reason, second.expired_now) == (False, "expired", False)
    assert refusal_message(second.reason) == refusal_message("expired")


async def test_session_is_still_open_just_before_the_deadline(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """A click a minute before the deadline still counts."""
    session = await new_session(store)
    clock.advance(hours=23, minutes=59)
    result = await store.transition(
        session.session_id, to=S.VALIDATING, actor=APPROVER, action="start"
    )
    assert result.ok


async def test_each_answer_restarts_the_decision_window(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """A consent is a decision, so the session stays open for 24 hours after the latest one."""
    session = await session_in(store, S.AWAITING_CONSENT, [SPACE, LICENSE])
    clock.advance(hours=23)
    await store.answer_check(session.session_id, check=SPACE, consent=SPACE, actor=APPROVER)
    clock.advance(hours=23)
    assert await store.expire_due() == []
    result = await store.answer_check(
        session.session_id, check=LICENSE, consent=LICENSE, actor=APPROVER
    )
    assert result.complete


async def test_expired_consent_click_is_refused(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """A consent click on a session past its deadline expires it instead of recording."""
    session = await session_in(store, S.AWAITING_CONSENT, [SPACE])
    clock.advance(days=2)
    result = await store.answer_check(
        session.session_id, check=SPACE, consent=SPACE, actor=APPROVER
    )
    assert (result.ok, result.reason, result.expired_now) == (False, "expired", True)
    assert result.session is not None
    assert result.session.answers == {}


async def test_expire_due_expires_each_session_exactly_once_across_processes(
    store: RestoreSessionStore, extra_clients: list[aioredis.Redis], clock: ManualClock
) -> None:
    """Two sweepers racing return disjoint sets that together cover every due session."""
    due = [await new_session(store) for _ in range(6)]
    running = await session_in(store, S.RUNNING)
    clock.advance(hours=12)
    fresh = await new_session(store)
    clock.advance(hours=12, seconds=1)
    other = RestoreSessionStore(extra_clients[0], clock)
    first, second = await asyncio.gather(store.expire_due(), other.expire_due())
    first_ids = {s.session_id for s in first}
    second_ids = {s.session_id for s in second}
    assert not first_ids & second_ids
    assert first_ids | second_ids == {s.session_id for s in due}
    assert all(s.state is S.EXPIRED for s in first + second)
    assert await store.expire_due() == []
    for untouched in (running, fresh):
        stored = await store.get(untouched.session_id)
        assert stored is not None
        assert stored.state is untouched.state


async def test_restarted_bot_continues_where_the_old_one_stopped(
    store: RestoreSessionStore, redis_server: RedisServer, clock: ManualClock
) -> None:
    """A new store on a new connection sees the same sessions and can move them on."""
    session = await session_in(store, S.AWAITING_CONSENT, [SPACE])
    restarted_client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        restarted = RestoreSessionStore(restarted_client, clock)
        assert await restarted.get(session.session_id) == session
        answer = await restarted.answer_check(
            session.session_id, check=SPACE, consent=SPACE, actor=APPROVER
        )
        assert answer.complete
        assert [s.session_id for s in await restarted.in_flight()] == [session.session_id]
    finally:
        await restarted_client.aclose()


async def test_store_works_with_a_bytes_client(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    """A client without decode_responses drives the whole flow just the same."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=False)
    try:
        store = RestoreSessionStore(client, clock, key_prefix="bytes:")
        session = await session_in(store, S.AWAITING_CONSENT, [SPACE])
        await store.attach_card(session.session_id, "C0RESTORES", "1700000000.000100")
        answer = await store.answer_check(
            session.session_id, check=SPACE, consent=SPACE, actor=APPROVER
        )
        assert answer.complete
        assert answer.consents == [SPACE]
        assert [s.session_id for s in await store.in_flight()] == [session.session_id]
        found = await store.find_by_restore_id(f"r-{session.session_id}")
        assert found is not None
        assert found.card_ts == "1700000000.000100"
        assert [e.action for e in await store.audit_trail(session.session_id)][-1] == "revalidate"
        assert await store.open_sessions_awaiting(APPROVER, {APPROVER}) == []
        clock.advance(days=3)
        await new_session(store)
        clock.advance(days=3)
        assert len(await store.expire_due()) == 1
    finally:
        await client.aclose()


async def test_audit_trail_records_who_did_what_and_refusals_in_order(
    store: RestoreSessionStore, clock: ManualClock, redis_client: aioredis.Redis
) -> None:
    """Every decision, refused or not, is in the session's trail and the global stream."""
    session = await new_session(store)
    created_at = clock.now()
    clock.advance(minutes=1)
    await store.record_refusal(
        session.session_id, actor="U0VIEWER", action="start", reason="not an approver"
    )
    clock.advance(minutes=1)
    await store.transition(session.session_id, to=S.VALIDATING, actor=APPROVER, action="start")
    await store.transition(session.session_id, to=S.VALIDATING, actor="U0LATE", action="start")
    await store.transition(
        session.session_id,
        to=S.AWAITING_CONSENT,
        actor=SYSTEM_ACTOR,
        action="validated",
        updates={"restore_id": "r-1", "failed_checks": [failed_check(SPACE)]},
    )
    await store.answer_check(session.session_id, check=SPACE, consent=SPACE, actor=APPROVER)

    trail = await store.audit_trail(session.session_id)
    summary = [(e.actor, e.action, e.outcome, e.from_state, e.to_state) for e in trail]
    assert summary == [
        (REQUESTER, "requested", "ok", None, S.AWAITING_START),
        ("U0VIEWER", "start", "refused", S.AWAITING_START, None),
        (APPROVER, "start", "ok", S.AWAITING_START, S.VALIDATING),
        ("U0LATE", "start", "refused", S.VALIDATING, S.VALIDATING),
        (SYSTEM_ACTOR, "validated", "ok", S.VALIDATING, S.AWAITING_CONSENT),
        (APPROVER, "consent", "ok", S.AWAITING_CONSENT, S.AWAITING_CONSENT),
        (APPROVER, "revalidate", "ok", S.AWAITING_CONSENT, S.REVALIDATING),
    ]
    assert trail[0].at == created_at
    assert trail[1].at == created_at + timedelta(minutes=1)
    assert trail[1].detail == "not an approver"
    assert trail[3].detail == "wrong_state"
    assert "restore_id=r-1" in trail[4].detail
    assert SPACE in trail[4].detail
    assert trail[6].detail == SPACE
    global_entries = await redis_client.xrange(store.audit_stream_key)
    assert len(global_entries) == len(trail)
    assert all(fields["session"] == session.session_id for _, fields in global_entries)


async def test_expiry_is_audited_as_the_system(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """The trail shows the system expiring the session, then the late click refused."""
    session = await new_session(store)
    clock.advance(days=1)
    await store.transition(session.session_id, to=S.CANCELLED, actor=REQUESTER, action="cancel")
    trail = await store.audit_trail(session.session_id)
    assert [(e.actor, e.action, e.outcome, e.to_state) for e in trail[1:]] == [
        (SYSTEM_ACTOR, "expired", "ok", S.EXPIRED),
        (REQUESTER, "cancel", "refused", S.CANCELLED),
    ]
    assert trail[2].detail == "expired"


async def test_find_by_restore_id(store: RestoreSessionStore) -> None:
    """The session behind an Atlassian restore id is found; unknown ids find nothing."""
    session = await session_in(store, S.RUNNING)
    found = await store.find_by_restore_id(f"r-{session.session_id}")
    assert found is not None
    assert found.session_id == session.session_id
    assert await store.find_by_restore_id("r-unknown") is None


async def test_in_flight_and_running_list_the_sessions_in_those_states(
    store: RestoreSessionStore,
) -> None:
    """Start-up recovery sees exactly the sessions whose API call may be under way or running."""
    validating = await session_in(store, S.VALIDATING)
    revalidating = await session_in(store, S.REVALIDATING)
    running = await session_in(store, S.RUNNING)
    await session_in(store, S.AWAITING_CONSENT)
    await session_in(store, S.DONE)
    in_flight = {s.session_id for s in await store.in_flight()}
    assert in_flight == {validating.session_id, revalidating.session_id}
    assert [s.session_id for s in await store.running()] == [running.session_id]
    await store.transition(running.session_id, to=S.DONE, actor=SYSTEM_ACTOR, action="tracked")
    assert await store.running() == []


async def test_final_sessions_carry_a_ttl_and_live_ones_do_not(
    store: RestoreSessionStore, redis_client: aioredis.Redis
) -> None:
    """Finished sessions are cleaned up after 30 days; open and running ones never by TTL."""
    done = await session_in(store, S.DONE)
    running = await session_in(store, S.RUNNING)
    waiting = await new_session(store)
    for final_key in (
        f"bbot:restore:session:{done.session_id}",
        f"bbot:restore:audit:{done.session_id}",
    ):
        assert 29 * 86400 < await redis_client.ttl(final_key) <= 30 * 86400
    for live in (running, waiting):
        assert await redis_client.ttl(f"bbot:restore:session:{live.session_id}") == -1
    index_ttl = await redis_client.ttl(f"bbot:restore:by-restore:r-{running.session_id}")
    assert index_ttl == -1


async def test_attach_card_remembers_where_the_card_is(store: RestoreSessionStore) -> None:
    """The card's channel and timestamp are stored without changing the state or version."""
    session = await new_session(store)
    await store.attach_card(session.session_id, "C0OTHER", "1700000000.000200")
    stored = await store.get(session.session_id)
    assert stored is not None
    assert (stored.channel, stored.card_ts) == ("C0OTHER", "1700000000.000200")
    assert (stored.state, stored.version) == (session.state, session.version)
    with pytest.raises(KeyError):
        await store.attach_card("missing", "C0OTHER", "1")


async def test_open_sessions_awaiting_shows_an_approver_what_needs_a_decision(
    store: RestoreSessionStore, clock: ManualClock
) -> None:
    """Approvers see open, unexpired sessions soonest-due first; four-eyes hides their own."""
    older = await new_session(store)
    clock.advance(hours=1)
    consenting = await session_in(store, S.AWAITING_CONSENT)
    clock.advance(minutes=1)
    own = await new_session(store, requester=APPROVER)
    await session_in(store, S.RUNNING)
    approvers = {APPROVER, "U0OTHER"}
    seen = [s.session_id for s in await store.open_sessions_awaiting(APPROVER, approvers)]
    assert seen == [older.session_id, consenting.session_id, own.session_id]
    four_eyes = await store.open_sessions_awaiting(APPROVER, approvers, four_eyes=True)
    assert own.session_id not in {s.session_id for s in four_eyes}
    assert await store.open_sessions_awaiting("U0VIEWER", approvers) == []
    clock.advance(hours=23, minutes=30)
    remaining = await store.open_sessions_awaiting(APPROVER, approvers)
    assert older.session_id not in {s.session_id for s in remaining}


def test_open_states_are_exactly_those_waiting_for_a_person() -> None:
    """Only the two states that wait for a click can expire."""
    assert {S.AWAITING_START, S.AWAITING_CONSENT} == OPEN_STATES
    assert all(ALLOWED[state] == frozenset() for state in FINAL_STATES)


SOURCE_CLOUD = "11111111-1111-4111-8111-111111111111"
STAGING_CLOUD = "33333333-3333-4333-8333-333333333333"
