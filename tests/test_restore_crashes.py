"""A bot process that dies in the middle of a restore: the next one finishes the story.

Each test leaves a process holding what a live restore call holds (the session's intent
in Redis, its call lease) and never lets it clean up, then checks that another process
settles the restore on the card people already saw, within the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from bot.background import housekeeping_once
from bot.localslack import SlackWebApi
from bot.localslack.driver import SlackDriver
from bot.localslack.web_api import Message as SlackMessage
from bot.restore.recovery import IN_FLIGHT_GRACE
from bot.restore.session import SessionState
from bot.simulator.seed import (
    CONFLUENCE_COMPLETE_BACKUP,
    JIRA_COMPLETE_BACKUP,
)
from bot.slack import restore_blocks as rb
from bot.slack.tracker_slack import TrackerSlack
from bot.store.operations import OperationKind
from bot.tracking import Tracker
from tests.fixtures.bot_harness import (
    ADMIN,
    APPROVER,
    BOT_TOKEN,
    CHANNEL,
    DEMO_SITES,
    NOTIFY_CHANNEL,
    SIGNING_SECRET,
    BotHarness,
    HarnessFactory,
)
from tests.fixtures.redis_server import RedisServer, free_port
from tests.fixtures.simulator import RunningSimulator, serve_demo
from tests.fixtures.tracking import wired_tracker
from tests.test_failure_paths import intent_then_crash
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


# -- a real SIGKILL after Atlassian accepted the create ------------------------------------------


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    """The demo simulator on a manual clock that starts at the real time.

    A bot killed here runs in its own process on the system clock, and the process that
    takes over shares this manual clock: both must agree on when things happened.
    """
    async with serve_demo(datetime.now(UTC).replace(microsecond=0)) as running:
        yield running


@dataclass
class BotProcess:
    """``backup-bot serve --http`` in its own process, and a driver playing Slack toward it."""

    process: asyncio.subprocess.Process
    driver: SlackDriver

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, nothing more written anywhere."""
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)


@pytest.fixture
async def bot_process(
    simulator: RunningSimulator,
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    slack_api: SlackWebApi,
    tmp_path: Path,
) -> AsyncIterator[BotProcess]:
    """A bot serving HTTP from a subprocess, on the test's simulator, fake Slack and Redis."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api.url,
        "ATLASSIAN_API_URL": simulator.url,
        "ATLASSIAN_ORG_ID": simulator.org_id,
        "ATLASSIAN_EMAIL": "admin@acme.example",
        "ATLASSIAN_API_TOKEN": simulator.token,
        "ATLASSIAN_SITES": DEMO_SITES,
        "REDIS_URL": redis_server.url,
        "BOT_ADMINS": ADMIN,
        "BOT_APPROVERS": f"{ADMIN},{APPROVER}",
        "BOT_NOTIFY_CHANNEL": NOTIFY_CHANNEL,
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "serve", "--http", "--host", "127.0.0.1"),
        *("--port", str(port)),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as http:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            assert process.returncode is None, "the bot process exited at start-up"
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    break
            assert asyncio.get_running_loop().time() < deadline, "the bot process never served"
            await asyncio.sleep(0.1)
    driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack_api)
    yield BotProcess(process=process, driver=driver)
    if process.returncode is None:
        process.kill()
        await asyncio.wait_for(process.wait(), 10)
    await driver.aclose()


def restore_cards(slack: SlackWebApi) -> list[SlackMessage]:
    return [
        m
        for m in slack.messages(CHANNEL)
        if m.thread_ts is None and m.text.startswith("Restore of")
    ]


@pytest.mark.parametrize(
    ("op_seconds", "before_revival"),
    [
        pytest.param(3600.0, 0.0, id="still-running-when-recovered"),
        pytest.param(5.0, 0.0, id="ends-during-the-grace"),
        pytest.param(5.0, 10.0, id="ended-before-the-new-process-looked"),
    ],
)
async def test_a_bot_killed_after_atlassian_accepted_the_start_ends_the_original_card(
    bot_process: BotProcess,
    make_bot_harness: HarnessFactory,
    slack_api: SlackWebApi,
    op_seconds: float,
    before_revival: float,
) -> None:
    """SIGKILL right after create-restore was committed: the next process ends the same card.

    The restore gets no second owner at start-up adoption, recovery settles it at the grace
    period on the session's own card, and the destination takes a new request afterwards.
    """
    response = await bot_process.driver.slash(
        command="/restore",
        text=f"start {JIRA_COMPLETE_BACKUP} to=acme-sandbox",
        user=ADMIN,
        channel=CHANNEL,
    )
    assert response.status == 200
    await until(lambda: len(restore_cards(slack_api)) == 1, within=15)
    [card] = restore_cards(slack_api)

    revived = await make_bot_harness(slack=slack_api, bot_notify_channel=NOTIFY_CHANNEL)
    simulator = revived.simulator
    simulator.world.op_seconds = op_seconds
    simulator.world.faults.queue(delay_after_commit_s=30, method="POST", path_contains="/restores")
    assert (await bot_process.driver.click(card, rb.ACTION_START, user=APPROVER)).status == 200
    await until(lambda: len(simulator.world.restores) == 1, within=15)
    await bot_process.kill()
    [restore_id] = simulator.world.restores
    [waiting] = await revived.services.sessions.unfinished()
    assert (waiting.state, waiting.restore_id) == (SessionState.VALIDATING, None)

    simulator.clock.advance(before_revival)
    tracker = wired_tracker(revived, "revived")
    assert await tracker.adopt_running() == []
    await housekeeping_once(revived.bot)
    await tracker.poll_once()
    simulator.clock.advance(IN_FLIGHT_GRACE.total_seconds() + 60)
    await housekeeping_once(revived.bot)
    for _ in range(4):
        await tracker.poll_once()
        simulator.clock.advance(op_seconds + revived.services.settings.bot_poll_seconds)

    ended = await revived.services.sessions.get(waiting.session_id)
    assert ended is not None
    assert (ended.state, ended.restore_id) == (SessionState.DONE, restore_id)
    shown = slack_api.message(CHANNEL, card.ts)
    assert shown is not None
    assert "The restore has finished" in str(shown.blocks)
    lines = [reply.text for reply in slack_api.thread(CHANNEL, card.ts)[1:]]
    assert sum("finished" in line for line in lines) == 1
    adopted_cards = [
        m for m in slack_api.messages(NOTIFY_CHANNEL) if "Found running" in str(m.blocks)
    ]
    assert adopted_cards == []
    operation = await revived.services.operations.get(OperationKind.RESTORE, restore_id)
    assert operation is not None
    assert (operation.session_id, operation.card_ts) == (waiting.session_id, card.ts)
    assert len([c for c in simulator.world.calls if c.method == "POST"]) == 1

    await revived.slash(
        f"start {CONFLUENCE_COMPLETE_BACKUP} to=acme-sandbox", command="/restore", user=ADMIN
    )
    assert len(restore_cards(slack_api)) == 2


@pytest.mark.parametrize("ended_first", [False, True], ids=["still-running", "already-ended"])
async def test_a_restore_adopted_without_its_session_is_handed_back_to_the_session(
    make_bot_harness: HarnessFactory, ended_first: bool
) -> None:
    """A tracker that adopted the restore without asking loses it to the session that asked.

    Still running: the session's card follows it to the end. Already ended (and announced
    on the adopted operation): the session ends at once, on its card and in its thread.
    """
    harness = await make_bot_harness(bot_notify_channel=NOTIFY_CHANNEL)
    session_id = await requested(harness, JIRA_COMPLETE_BACKUP, "acme-sandbox")
    restore_id = await intent_then_crash(harness, session_id)
    unasking = Tracker(
        harness.services, TrackerSlack(harness.bot.gateway, harness.services), process_id="unasking"
    )
    [adopted] = await unasking.adopt_running()
    assert (adopted.operation_id, adopted.session_id) == (restore_id, None)
    if ended_first:
        harness.simulator.clock.advance(harness.simulator.world.op_seconds + 1)
        await unasking.poll_once()
        tracked = await harness.services.operations.get(OperationKind.RESTORE, restore_id)
        assert tracked is not None
        assert tracked.final

    harness.simulator.clock.advance(IN_FLIGHT_GRACE.total_seconds() + 1)
    await housekeeping_once(harness.bot)
    tracker = wired_tracker(harness, "revived")
    for _ in range(3):
        harness.simulator.clock.advance(harness.services.settings.bot_poll_seconds + 1)
        await tracker.poll_once()

    ended = await session(harness, session_id)
    assert ended.state is SessionState.DONE
    card = the_card(harness)
    assert "The restore has finished" in str(card.blocks)
    lines = [reply.text for reply in harness.slack.thread(CHANNEL, card.ts)[1:]]
    assert sum("finished" in line for line in lines) == 1
    tracked = await harness.services.operations.get(OperationKind.RESTORE, restore_id)
    assert tracked is not None
    assert tracked.session_id == (None if ended_first else session_id)
