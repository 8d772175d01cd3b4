"""Redis stalling in the middle of a decision: the clicker is told the truth, the bot settles it.

These tests stall their own redis-server around a decision. ``CLIENT PAUSE WRITE`` holds
every write while reads go on (the bot's calls time out, Redis drops what they sent);
SIGSTOP freezes the server (a long fork, a frozen VM), which runs what it received once it
resumes, also for clients that gave up. Either way the bot saw an error and cannot know
whether the decision was made: it must say so, then find out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.clock import ManualClock
from bot.errors import StoreUncertain
from bot.messages import restore as rt
from bot.restore import scripts
from bot.restore.clicks import ClickOrigin
from bot.restore.session import SessionState
from bot.restore.store import RestoreSessionStore
from tests.fixtures.bot_harness import CHANNEL, HarnessFactory
from tests.fixtures.redis_server import RedisServer
from tests.test_restore_flow import (
    GROUP,
    LICENCE,
    SPACE,
    STAGING_CHECKS,
    answer,
    audit_entries,
    card_text,
    click,
    private_text,
    revalidate_calls,
    session,
    staged_for_consent,
    the_card,
)
from tests.test_restore_sessions import session_in

STALL_SECONDS = 2.0


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module's own, so stopping it stalls no other test."""
    server = RedisServer(tmp_path_factory.mktemp("stalling-redis"))
    yield server
    server.stop()


async def pause_writes(redis: aioredis.Redis, seconds: float) -> None:
    """Hold every write on the server for ``seconds`` (reads are still answered)."""
    await redis.execute_command("CLIENT", "PAUSE", str(int(seconds * 1000)), "WRITE")


async def test_a_stall_during_the_final_consent_ends_in_one_revalidate_and_a_true_answer(
    make_bot_harness: HarnessFactory, redis_client: aioredis.Redis
) -> None:
    """Redis holds writes while the last consent is decided: "being checked", one revalidate."""
    harness = await make_bot_harness(redis_timeout=0.3, redis_retries=1)
    session_id = await staged_for_consent(harness)
    await click(harness, answer(SPACE))
    await click(harness, answer(GROUP))

    await pause_writes(redis_client, STALL_SECONDS)
    response = await harness.driver.click(the_card(harness), answer(LICENCE), user="UAPPROVER")
    assert response.status == 200
    await harness.settle(within=30)

    told = private_text(harness, response)
    assert rt.CHECKING_REPLY in told
    assert rt.SETTLED_REPLY in told
    # Each answer shows its own sign alone, never behind a warning sign.
    shown = json.dumps([post.blocks for post in harness.slack.responses(response.response_url)])
    assert ":warning: :" not in shown
    assert "nothing was changed" not in told
    assert "nothing more was changed" not in told
    [revalidate] = revalidate_calls(harness)
    assert sorted(revalidate.body["consent"]) == sorted(STAGING_CHECKS)
    assert (await session(harness, session_id)).state is SessionState.RUNNING
    assert "The restore is running" in card_text(the_card(harness))
    decided = [
        (e["action"], e["outcome"])
        for e in await audit_entries(harness)
        if e["session"] == session_id and e["detail"].startswith(LICENCE)
    ]
    assert decided == [("consent", "ok")]


async def test_a_click_redis_never_confirms_is_settled_by_the_next_housekeeping(
    make_bot_harness: HarnessFactory, redis_client: aioredis.Redis
) -> None:
    """A click left unconfirmed (nobody asked again) is settled by the next housekeeping cycle,
    not five minutes later by recovery: its revalidate goes out once, at that cycle."""
    harness = await make_bot_harness(redis_timeout=0.3, redis_retries=1)
    session_id = await staged_for_consent(harness)
    await click(harness, answer(SPACE))
    await click(harness, answer(GROUP))
    workflow = harness.bot.restore_workflow

    await pause_writes(redis_client, STALL_SECONDS)
    origin = ClickOrigin(harness.slack.team_id, CHANNEL, the_card(harness).ts)
    result = await workflow.answer_clicked(
        session_id, "UAPPROVER", origin=origin, check=LICENCE, consent=LICENCE
    )
    assert rt.click_reply(result) == rt.CHECKING_REPLY
    await asyncio.sleep(STALL_SECONDS)
    assert revalidate_calls(harness) == []

    assert await workflow.recover_in_flight() == 0
    [revalidate] = revalidate_calls(harness)
    assert sorted(revalidate.body["consent"]) == sorted(STAGING_CHECKS)
    assert (await session(harness, session_id)).state is SessionState.RUNNING


async def test_a_decision_redis_ran_after_the_caller_gave_up_is_answered_again_not_redone(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Frozen mid-decision, Redis runs it on resuming; asked again, it answers the first run."""
    clock = ManualClock()
    store = RestoreSessionStore(redis_client, clock)
    staged = await session_in(store, SessionState.AWAITING_CONSENT, checks=[SPACE])
    stalling = aioredis.Redis.from_url(
        redis_server.url, decode_responses=True, socket_timeout=0.3, retry=Retry(NoBackoff(), 1)
    )
    try:
        impatient = RestoreSessionStore(stalling, clock)
        # Connected and the script known before the freeze, so the decision itself reaches
        # the frozen server (not a handshake, nor an EVALSHA it would refuse as unknown).
        await redis_client.script_load(scripts.PRELUDE + scripts.ANSWER)
        assert await stalling.ping()
        redis_server.pause()
        try:
            with pytest.raises(StoreUncertain):
                await impatient.answer_check(
                    staged.session_id, check=SPACE, consent=SPACE, actor="U0A", request_id="r-1"
                )
        finally:
            redis_server.resume()
        # Asked again a moment later, as the workflow does: Redis has run the frozen call.
        await asyncio.sleep(0.5)
        again = await impatient.answer_check(
            staged.session_id, check=SPACE, consent=SPACE, actor="U0A", request_id="r-1"
        )
    finally:
        await stalling.aclose()

    assert (again.ok, again.complete, again.consents) == (True, True, [SPACE])
    assert again.session is not None
    assert again.session.state is SessionState.REVALIDATING
    trail = await store.audit_trail(staged.session_id)
    assert [(t.action, t.outcome) for t in trail][-2:] == [("consent", "ok"), ("revalidate", "ok")]
    assert sum(t.action == "consent" for t in trail) == 1


async def test_a_click_redis_does_not_answer_before_deciding_is_not_recorded_and_can_be_repeated(
    make_bot_harness: HarnessFactory, redis_server: RedisServer
) -> None:
    """Redis frozen before the click could be decided (on a bot process that must first read
    the session): "not recorded, press again", and the second press, once Redis answers,
    takes effect."""
    first = await make_bot_harness()
    session_id = await staged_for_consent(first)
    harness = await make_bot_harness(slack=first.slack, redis_timeout=0.3, redis_retries=1)

    redis_server.pause()
    try:
        response = await harness.driver.click(the_card(harness), answer(SPACE), user="UAPPROVER")
        assert response.status == 200
        await harness.settle(within=10)
    finally:
        redis_server.resume()

    told = private_text(harness, response)
    assert "Your click was not recorded" in told
    assert "Something went wrong" not in told
    assert SPACE not in (await session(harness, session_id)).answers
    await click(harness, answer(SPACE))
    assert SPACE in (await session(harness, session_id)).answers
