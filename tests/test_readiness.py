"""Readiness, liveness and metrics of the real `backup-bot serve` process, as a kubelet sees them.

`/healthz` only says the process answers; `/readyz` says whether it can work: it turns 503
with a short reason when its own redis-server stops (or, in Socket Mode, when the Slack
connection drops) and back to 200 when Redis returns. In Socket Mode the probes and metrics
are served on `--metrics-port`. Each test runs its own redis-server so stopping it harms
no other test.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.localslack import SlackWebApi
from bot.localslack.driver import SlackDriver
from tests.fixtures.bot_harness import ADMIN, CHANNEL
from tests.fixtures.metrics_scrape import parse_scrape
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.simulator import RunningSimulator
from tests.test_serve import BACKUP_BOT, START_TIMEOUT, _line_containing, process, serve_env
from tests.test_socket_mode import APP_TOKEN, BOT_TOKEN, socket_env

# A probe answers within the Redis timeout (1 s) plus a little; a kubelet waits about as long.
PROBE_TIMEOUT = 5.0


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server for this test alone, which the test may stop and start again."""
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


async def probe(url: str) -> tuple[int, Any]:
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as http:
        response = await http.get(url)
    return response.status_code, response.json()


async def until_probe(url: str, status: int) -> Any:
    """Probe ``url`` until it answers ``status``; its body then."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            code, body = await probe(url)
            if code == status:
                return body
            await asyncio.sleep(0.2)


async def test_readyz_turns_503_while_redis_is_down_and_200_when_it_returns(
    tmp_path: Path,
    slack_api: SlackWebApi,
    simulator: RunningSimulator,
    own_redis: RedisServer,
) -> None:
    """The HTTP-mode process stays live throughout; only readiness follows its Redis."""
    env = serve_env(
        SLACK_API_URL=slack_api.url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        ATLASSIAN_API_URL=simulator.url,
        ATLASSIAN_API_TOKEN=simulator.token,
        REDIS_URL=own_redis.url,
    )
    args = (BACKUP_BOT, "serve", "--http", "--host", "127.0.0.1", "--port", "0")
    async with process(*args, env=env, cwd=tmp_path) as bot:
        assert bot.stderr is not None
        serving = await asyncio.wait_for(
            _line_containing(bot.stderr, "serving Slack requests at"), START_TIMEOUT
        )
        base = serving.split(" at ", 1)[1].split(" ", 1)[0].removesuffix("/slack/events")
        assert await probe(f"{base}/readyz") == (200, {"ready": True})

        own_redis.stop()
        assert await until_probe(f"{base}/readyz", 503) == {
            "ready": False,
            "reason": "Redis does not answer",
        }
        assert await probe(f"{base}/healthz") == (200, {"ok": True})

        (tmp_path / "redis-again").mkdir()
        again = RedisServer(tmp_path / "redis-again", port=own_redis.port)
        try:
            assert await until_probe(f"{base}/readyz", 200) == {"ready": True}
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), START_TIMEOUT) == 0
        finally:
            again.stop()


async def test_socket_mode_serves_probes_and_metrics_on_the_metrics_port(
    tmp_path: Path, simulator: RunningSimulator, own_redis: RedisServer
) -> None:
    """With --metrics-port, Socket Mode reports ready while connected and 503 once Slack is gone."""
    slack = SlackWebApi(bot_token=BOT_TOKEN, app_token=APP_TOKEN)
    await slack.start()
    stopped = False
    try:
        env = socket_env(simulator, slack, own_redis.url)
        args = (BACKUP_BOT, "serve", "--host", "127.0.0.1", "--metrics-port", "0")
        async with process(*args, env=env, cwd=tmp_path) as bot:
            assert bot.stderr is not None
            serving = await asyncio.wait_for(
                _line_containing(bot.stderr, "serving metrics at"), START_TIMEOUT
            )
            base = serving.split(" at ", 1)[1].split(" ", 1)[0].removesuffix("/metrics")
            await slack.wait_for_socket(START_TIMEOUT)
            assert await until_probe(f"{base}/readyz", 200) == {"ready": True}

            async with SlackDriver.over_socket(slack) as driver:
                listed = await driver.slash("/backup", "policy list", user=ADMIN, channel=CHANNEL)
                assert listed.status == 200
                await slack.wait_for(
                    lambda api: bool(api.responses(listed.response_url)), START_TIMEOUT
                )
            async with httpx.AsyncClient() as http:
                scraped = parse_scrape((await http.get(f"{base}/metrics")).text)
            labels = {"kind": "command", "name": "policy_list", "outcome": "ok"}
            assert scraped.value("backup_bot_slack_requests_total", **labels) == 1
            assert scraped.total("backup_bot_build_info") == 1

            await slack.stop()
            stopped = True
            assert await until_probe(f"{base}/readyz", 503) == {
                "ready": False,
                "reason": "the Slack connection is down",
            }
            assert await probe(f"{base}/healthz") == (200, {"ok": True})
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), START_TIMEOUT) == 0
    finally:
        if not stopped:
            await slack.stop()


async def test_socket_mode_listens_on_no_port_without_a_metrics_port(
    tmp_path: Path, simulator: RunningSimulator, own_redis: RedisServer
) -> None:
    """Metrics are off by default in Socket Mode: no line announces them."""
    slack = SlackWebApi(bot_token=BOT_TOKEN, app_token=APP_TOKEN)
    await slack.start()
    try:
        env = socket_env(simulator, slack, own_redis.url)
        async with process(BACKUP_BOT, "serve", env=env, cwd=tmp_path) as bot:
            assert bot.stderr is not None
            await slack.wait_for_socket(START_TIMEOUT)
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), START_TIMEOUT) == 0
            logged = (await bot.stderr.read()).decode()
            assert "connected to Slack in Socket Mode" in logged
            assert "metrics" not in logged
    finally:
        await slack.stop()
