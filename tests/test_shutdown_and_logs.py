"""`backup-bot serve` as a service manager runs it: JSON logs, and a clean stop on SIGTERM.

With `BOT_LOG_FORMAT=json` every line the process writes to stderr is one JSON object with
time, level, logger and message, the request's id and command where there is one, and no
secret in any field, even at DEBUG where the libraries log requests. On SIGTERM the
process finishes the work of a command it already acknowledged, gives back its leases and
exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.localslack import SlackWebApi
from bot.localslack.driver import Forgery, SlackDriver
from tests.fixtures.bot_harness import ADMIN, CHANNEL
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.simulator import RunningSimulator
from tests.test_serve import (
    BACKUP_BOT,
    SIGNING_SECRET,
    START_TIMEOUT,
    _line_containing,
    process,
    serve_env,
)

BOT_TOKEN = "xoxb-json-logs-5c1d7e0a9b"
REQUIRED_FIELDS = {"time", "level", "logger", "message"}


def bot_env(
    slack: SlackWebApi, simulator: RunningSimulator, redis_url: str, **extra: str
) -> dict[str, str]:
    return serve_env(
        SLACK_API_URL=slack.url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        ATLASSIAN_API_URL=simulator.url,
        ATLASSIAN_API_TOKEN=simulator.token,
        REDIS_URL=redis_url,
        **extra,
    )


def strings_in(value: Any) -> list[str]:
    """Every string anywhere in a decoded JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *strings_in(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


@pytest.fixture
async def token_slack() -> Any:
    api = SlackWebApi(bot_token=BOT_TOKEN)
    await api.start()
    yield api
    await api.stop()


@pytest.mark.usefixtures("redis_client")
async def test_json_logs_are_one_object_per_line_with_context_and_no_secret(
    tmp_path: Path,
    token_slack: SlackWebApi,
    simulator: RunningSimulator,
    redis_server: RedisServer,
) -> None:
    """At DEBUG, through commands, a refusal and a forged request, stderr is only JSON lines."""
    env = bot_env(
        token_slack, simulator, redis_server.url, BOT_LOG_FORMAT="json", BOT_LOG_LEVEL="debug"
    )
    args = (BACKUP_BOT, "serve", "--http", "--host", "127.0.0.1", "--port", "0")
    async with process(*args, env=env, cwd=tmp_path) as bot:
        assert bot.stderr is not None
        lines = await asyncio.wait_for(
            lines_until(bot.stderr, "serving Slack requests at"), START_TIMEOUT
        )
        serving = json.loads(lines[-1])
        events_url = serving["message"].split(" at ", 1)[1].split(" ", 1)[0]
        async with SlackDriver(events_url, SIGNING_SECRET, token_slack) as driver:
            for text in ("policy list", "show no-such-backup", f"show {BOT_TOKEN}"):
                response = await driver.slash("/backup", text, user=ADMIN, channel=CHANNEL)
                assert response.status == 200
                await token_slack.wait_for(
                    lambda api, url=response.response_url: bool(api.responses(url)),
                    START_TIMEOUT,
                )
            forged = await driver.forge(Forgery.WRONG_SECRET, text=f"show {BOT_TOKEN}")
            assert forged.status == 401
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), START_TIMEOUT) == 0
        lines.extend((await bot.stderr.read()).decode().splitlines())

    records = [json.loads(line) for line in lines]
    assert all(record.keys() >= REQUIRED_FIELDS for record in records)
    levels = {record["level"] for record in records}
    assert "DEBUG" in levels
    assert {"slack_bolt", "slack_sdk", "httpx"} & {r["logger"].split(".")[0] for r in records}
    refused = [r for r in records if "refused" in r["message"] and "no-such-backup" in r["message"]]
    assert refused, [r["message"] for r in records]
    assert refused[0]["command"] == "backup_show"
    assert len(refused[0]["request_id"]) == 8
    assert any(r["message"].startswith("refused a Slack request") for r in records)
    secrets = (BOT_TOKEN, SIGNING_SECRET, simulator.token)
    for record in records:
        for text in strings_in(record):
            assert not any(secret in text for secret in secrets), record
    assert not any(secret in line for line in lines for secret in secrets)
    # The token typed into a command did reach the logs, and was removed from them.
    assert any("[redacted]" in text for record in records for text in strings_in(record))


async def lines_until(stream: asyncio.StreamReader, marker: str) -> list[str]:
    """Every line up to and including the first that contains ``marker``."""
    lines: list[str] = []
    while not lines or marker not in lines[-1]:
        raw = await stream.readline()
        if not raw:
            raise AssertionError(f"the process ended before printing {marker!r}: {lines}")
        lines.append(raw.decode().rstrip("\n"))
    return lines


@pytest.mark.usefixtures("redis_client")
async def test_sigterm_lets_acknowledged_work_finish_releases_leases_and_exits_0(
    tmp_path: Path,
    token_slack: SlackWebApi,
    simulator: RunningSimulator,
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
) -> None:
    """A command acked just before TERM still gets its answer; nothing stays held in Redis."""
    env = bot_env(token_slack, simulator, redis_server.url)
    args = (BACKUP_BOT, "serve", "--http", "--host", "127.0.0.1", "--port", "0")
    async with process(*args, env=env, cwd=tmp_path) as bot:
        assert bot.stderr is not None
        serving = await asyncio.wait_for(
            _line_containing(bot.stderr, "serving Slack requests at"), START_TIMEOUT
        )
        events_url = serving.split(" at ", 1)[1].split(" ", 1)[0]
        simulator.world.faults.latency_ms = 1500
        async with SlackDriver(events_url, SIGNING_SECRET, token_slack) as driver:
            response = await driver.slash("/backup", "policy list", user=ADMIN, channel=CHANNEL)
            assert response.status == 200
            assert token_slack.responses(response.response_url) == []
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), START_TIMEOUT) == 0
        (reply,) = token_slack.responses(response.response_url)
        assert "pol-acme-jira" in str(reply.blocks)
        logged = (await bot.stderr.read()).decode()
        assert "still being handled" not in logged
        holder = f"{socket.gethostname()}-{bot.pid}"
    simulator.world.faults.latency_ms = 0
    assert holder not in json.dumps(await everything_in(redis_client))


async def everything_in(redis: aioredis.Redis) -> dict[str, Any]:
    """Every key's value, whatever its type, to search for what a process left behind."""
    found: dict[str, Any] = {}
    async for key in redis.scan_iter():
        kind = await redis.type(key)
        if kind == "string":
            found[key] = await redis.get(key)
        elif kind == "hash":
            found[key] = await redis.hgetall(key)
        elif kind == "set":
            found[key] = sorted(await redis.smembers(key))
        elif kind == "zset":
            found[key] = await redis.zrange(key, 0, -1)
        elif kind == "list":
            found[key] = await redis.lrange(key, 0, -1)
        elif kind == "stream":
            found[key] = [entry for _, entry in await redis.xrange(key)]
    return found
