"""Decisions on one session made while another is on its way to Redis go in one script run:
against a real Redis, a storm of Starts and of consents costs a round trip per batch, still
makes exactly one winner, audits every press and answers each caller its own outcome."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.clock import ManualClock
from bot.restore import scripts
from bot.restore.session import Refusal, SessionState
from bot.restore.store import RestoreSessionStore
from bot.store.coalescing import BATCH_LIMIT, Coalescer
from tests.test_restore_sessions import APPROVER, LICENSE, SPACE, new_session, session_in

S = SessionState


async def script_runs(redis: aioredis.Redis) -> int:
    stats: dict[str, Any] = await redis.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


@pytest.fixture
def store(redis_client: aioredis.Redis) -> RestoreSessionStore:
    return RestoreSessionStore(redis_client, ManualClock())


async def test_a_storm_of_starts_is_decided_in_a_few_batches_with_one_winner(
    store: RestoreSessionStore, redis_client: aioredis.Redis
) -> None:
    session = await new_session(store)
    before = await script_runs(redis_client)

    results = await asyncio.gather(
        *(
            store.transition(
                session.session_id,
                to=S.VALIDATING,
                actor=f"U{i:03}",
                action="start",
                expected={S.AWAITING_START},
                updates={"started_by": f"U{i:03}"},
            )
            for i in range(200)
        )
    )

    runs = await script_runs(redis_client) - before
    # One alone, then the rest in batches of at most BATCH_LIMIT: never one run per click.
    assert runs <= 1 + -(-199 // BATCH_LIMIT) + 1
    winners = [i for i, result in enumerate(results) if result.ok]
    assert winners == [0]  # the first call goes at once, alone: it is the one that won
    assert {result.reason for result in results[1:]} == {Refusal.WRONG_STATE}
    won = results[0].session
    assert won is not None
    assert won.state is S.VALIDATING
    assert won.started_by == "U000"
    trail = await store.audit_trail(session.session_id)
    starts = [(entry.actor, entry.outcome) for entry in trail if entry.action == "start"]
    assert starts[0] == ("U000", "ok")
    # Every press is audited, in the session's trail (it holds 250 refusals) and the stream.
    assert sorted(actor for actor, outcome in starts if outcome == "refused") == [
        f"U{i:03}" for i in range(1, 200)
    ]
    audit = await redis_client.xrange(store.audit_stream_key)
    assert sum(fields["action"] == "start" for _id, fields in audit) == 200


async def test_a_refused_callers_session_is_read_only_when_asked_for(
    store: RestoreSessionStore,
) -> None:
    session = await new_session(store)
    first, second = await asyncio.gather(
        *(
            store.transition(session.session_id, to=S.CANCELLED, actor=APPROVER, action="cancel")
            for _ in range(2)
        )
    )
    assert first.ok
    assert not second.ok
    assert second.reason is Refusal.FINISHED
    assert "session" not in vars(second)  # not parsed while nobody asked
    assert second.session is not None
    assert second.session.state is S.CANCELLED


async def test_answers_in_one_batch_each_see_the_ones_before_them(
    store: RestoreSessionStore, redis_client: aioredis.Redis
) -> None:
    """Two checks, each answered four times at once: each later answer in the batch sees
    what the ones before it did, as if they had been made one after another."""
    staged = await session_in(store, S.AWAITING_CONSENT, checks=[SPACE, LICENSE])
    await redis_client.script_load(scripts.PRELUDE + scripts.ANSWER)  # no NOSCRIPT round
    before = await script_runs(redis_client)
    answers = await asyncio.gather(
        *(
            store.answer_check(staged.session_id, check=check, consent=check, actor=actor)
            for actor in ("U1", "U2")
            for check in (SPACE, LICENSE, SPACE, LICENSE)
        )
    )
    assert await script_runs(redis_client) - before == 2  # one alone, the other seven together
    # In the order they were made: the first alone, then the second completes the set
    # inside the batch, and every answer after it finds the session revalidating.
    assert [(answer.ok, answer.complete) for answer in answers[:2]] == [(True, False), (True, True)]
    assert {answer.reason for answer in answers[2:]} == {Refusal.WRONG_STATE}
    assert sorted(answers[1].consents) == sorted([SPACE, LICENSE])
    final = await store.get(staged.session_id)
    assert final is not None
    assert final.state is S.REVALIDATING


async def test_a_replayed_request_in_a_batch_answers_what_it_decided(
    store: RestoreSessionStore,
) -> None:
    session = await new_session(store)
    first = await store.transition(
        session.session_id, to=S.VALIDATING, actor=APPROVER, action="start", request_id="r-1"
    )
    again = await asyncio.gather(
        *(
            store.transition(
                session.session_id,
                to=S.VALIDATING,
                actor=APPROVER,
                action="start",
                request_id="r-1",
            )
            for _ in range(3)
        )
    )
    assert first.ok
    assert all(result.ok for result in again)
    assert {result.session_json for result in again} == {first.session_json}


# -- the coalescer alone ------------------------------------------------------------------


async def test_calls_made_while_one_is_in_flight_go_together_and_the_first_does_not_wait() -> None:
    batches: list[list[int]] = []
    back = {0: asyncio.Event(), 1: asyncio.Event()}  # when the batches led by 0 and 1 return

    async def run(items: Any) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0)  # a round trip
        if items[0] in back:
            await back[items[0]].wait()
        return [item * 10 for item in items]

    coalescer: Coalescer[int, int] = Coalescer(run, limit=3)
    first = asyncio.ensure_future(coalescer.submit("k", 0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(coalescer.submit("k", item)) for item in range(1, 6)]
    other = asyncio.ensure_future(coalescer.submit("other key", 7))
    await asyncio.sleep(0.01)
    back[0].set()
    # Back before the slow batch that followed it ends: it does not carry the others.
    assert await first == 0
    assert await other == 70
    back[1].set()
    assert await asyncio.gather(*rest) == [10, 20, 30, 40, 50]
    assert batches == [[0], [7], [1, 2, 3], [4, 5]]


async def test_a_batch_that_fails_fails_each_of_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def run(items: Any) -> list[str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)  # a round trip
        if calls == 2:
            raise ConnectionError("Redis went away")
        return [f"ok {item}" for item in items]

    coalescer: Coalescer[int, str] = Coalescer(run, limit=2)
    first = asyncio.ensure_future(coalescer.submit("k", 0))
    rest = [asyncio.ensure_future(coalescer.submit("k", item)) for item in range(1, 5)]
    assert await first == "ok 0"
    outcomes = await asyncio.gather(*rest, return_exceptions=True)
    assert [type(outcome) for outcome in outcomes[:2]] == [ConnectionError, ConnectionError]
    assert outcomes[2:] == ["ok 3", "ok 4"]


async def test_a_decision_that_fails_in_a_batch_fails_alone(
    store: RestoreSessionStore, redis_client: aioredis.Redis
) -> None:
    """A broken decision (here one with no ``expected`` states, which no caller sends) is
    answered as an error in its place; the decisions around it are made and audited."""
    session = await new_session(store)
    script = redis_client.register_script(scripts.PRELUDE + scripts.TRANSITION)
    shared = store._params(store._now())

    def own(actor: str, **fields: Any) -> str:
        return json.dumps(
            {
                "request": f"r-{actor}",
                "session_id": session.session_id,
                "to": S.CANCELLED.value,
                "actor": actor,
                "action": "cancel",
                "expected": [S.AWAITING_START.value],
                "updates": {},
                "detail": "",
                **fields,
            }
        )

    answers = await script(
        keys=[f"{store.key_prefix}open"],
        args=[shared, own("U1", to=S.VALIDATING.value), own("U2", expected=None), own("U3")],
    )
    first, broken, third = answers
    assert first[0] == 1  # started
    assert broken[0] == "error"
    assert third[:2] == [0, "wrong_state"]  # saw the first one's move
    trail = await store.audit_trail(session.session_id)
    assert [(entry.actor, entry.outcome) for entry in trail[1:]] == [
        ("U1", "ok"),
        ("U3", "refused"),
    ]
