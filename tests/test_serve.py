"""`backup-bot serve --http` as an operator runs it: a real process with a controlled environment.

A bad setting stops start-up with exit code 2 and one line on stderr naming the variable,
never a secret. With good settings the process serves `/healthz` and signed slash commands
against the simulator (run as its own process), a fake Slack and a private Redis.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvloop
from aiohttp.test_utils import TestClient, TestServer

from bot.localslack import SlackWebApi
from bot.localslack.driver import SlackDriver
from bot.simulator.seed import DEMO_ORG_ID, DEMO_TOKEN
from bot.slack.serve import http_application, loop_factory
from tests.fixtures.bot_harness import ADMIN, CHANNEL, DEMO_SITES, BotHarness
from tests.fixtures.bot_harness import SIGNING_SECRET as HARNESS_SIGNING_SECRET
from tests.fixtures.redis_server import RedisServer, free_port

BACKUP_BOT = str(Path(sys.executable).with_name("backup-bot"))
SIGNING_SECRET = "serve-signing-secret-5f0c2a"
BOT_TOKEN = "xoxb-serve-test-token-77"
API_TOKEN = "atlassian-api-token-9d41"
REDIS_PASSWORD = "redis-password-31c7"
SECRETS = (SIGNING_SECRET, BOT_TOKEN, API_TOKEN, REDIS_PASSWORD)
# Generous for a cold interpreter on a busy machine; a healthy start takes about a second.
START_TIMEOUT = 30.0


def serve_env(**overrides: str | None) -> dict[str, str]:
    """A complete environment for `serve --http`; None removes a variable."""
    env = {
        "PATH": "/usr/bin:/bin",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "ATLASSIAN_API_URL": "http://127.0.0.1:9/",
        "ATLASSIAN_ORG_ID": DEMO_ORG_ID,
        "ATLASSIAN_EMAIL": "admin@acme.example",
        "ATLASSIAN_API_TOKEN": API_TOKEN,
        "ATLASSIAN_SITES": DEMO_SITES,
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "BOT_ADMINS": ADMIN,
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


async def run_serve(env: Mapping[str, str], cwd: Path) -> tuple[int, list[str]]:
    """Run `backup-bot serve --http --port 0` to its end; its exit code and stderr lines."""
    process = await asyncio.create_subprocess_exec(
        BACKUP_BOT,
        "serve",
        "--http",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert stdout == b""
    return int(process.returncode or 0), stderr.decode().splitlines()


def assert_no_secret(lines: list[str]) -> None:
    for secret in SECRETS:
        assert all(secret not in line for line in lines), secret


# -- start-up refusals --------------------------------------------------------------------


async def test_a_missing_signing_secret_stops_http_mode_with_one_line(tmp_path: Path) -> None:
    """Without SLACK_SIGNING_SECRET, HTTP mode stops with exit 2 and one line naming it."""
    code, lines = await run_serve(serve_env(SLACK_SIGNING_SECRET=None), tmp_path)
    assert code == 2
    assert lines == [
        "backup-bot: SLACK_SIGNING_SECRET is not set; set it in the environment or .env."
    ]


async def test_malformed_site_aliases_stop_start_up_with_one_line(tmp_path: Path) -> None:
    """An ATLASSIAN_SITES entry without `=` stops start-up with one line naming the variable."""
    code, lines = await run_serve(serve_env(ATLASSIAN_SITES="acme,sandbox=x"), tmp_path)
    assert code == 2
    assert lines == ["backup-bot: ATLASSIAN_SITES is invalid: entry 'acme' is not alias=cloudId."]
    assert_no_secret(lines)


async def test_a_site_alias_that_is_not_a_cloud_id_stops_start_up(tmp_path: Path) -> None:
    """An alias pointing at something that is not a cloud id is named in the one line."""
    code, lines = await run_serve(serve_env(ATLASSIAN_SITES="acme=not-a-uuid"), tmp_path)
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith("backup-bot: ATLASSIAN_SITES is invalid: acme='not-a-uuid'")


async def test_an_unreachable_redis_stops_start_up_without_showing_its_password(
    tmp_path: Path, slack_api: SlackWebApi
) -> None:
    """A REDIS_URL nobody answers on stops start-up with one line; its password is hidden."""
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    env = serve_env(
        SLACK_API_URL=slack_api.url,
        SLACK_BOT_TOKEN="xoxb-test",
        REDIS_URL=url,
    )
    code, lines = await run_serve(env, tmp_path)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("backup-bot: REDIS_URL: cannot reach Redis at redis://")
    assert_no_secret(lines)
    assert [call.method for call in slack_api.calls] == ["auth.test"]


async def test_a_refused_bot_token_stops_start_up_with_one_line(
    tmp_path: Path, slack_api: SlackWebApi
) -> None:
    """A bot token Slack refuses stops start-up naming SLACK_BOT_TOKEN, never printing it."""
    code, lines = await run_serve(serve_env(SLACK_API_URL=slack_api.url), tmp_path)
    assert code == 2
    assert lines == ["backup-bot: SLACK_BOT_TOKEN was refused by Slack (invalid_auth)."]
    assert_no_secret(lines)


# -- a healthy bot ------------------------------------------------------------------------


async def _line_containing(stream: asyncio.StreamReader, marker: str) -> str:
    seen: list[str] = []
    while True:
        raw = await stream.readline()
        if not raw:
            raise AssertionError(f"the process ended before printing {marker!r}: {seen}")
        line = raw.decode()
        seen.append(line)
        if marker in line:
            return line


@asynccontextmanager
async def process(
    *args: str, env: Mapping[str, str], cwd: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process stopped with SIGTERM (as a service manager would) when the block ends."""
    child = await asyncio.create_subprocess_exec(
        *args,
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()


@asynccontextmanager
async def simulator_process(cwd: Path, *options: str) -> AsyncIterator[str]:
    """`backup-bot simulator` on a free port; yields its banner line and the settings it
    prints below it, one per line."""
    async with process(
        BACKUP_BOT, "simulator", "--port", "0", *options, env={"PATH": "/usr/bin:/bin"}, cwd=cwd
    ) as simulator:
        assert simulator.stdout is not None
        banner = await asyncio.wait_for(
            _line_containing(simulator.stdout, "Simulated Atlassian"), START_TIMEOUT
        )
        settings = []
        while not settings or "ATLASSIAN_SITES=" not in settings[-1]:
            raw = await asyncio.wait_for(simulator.stdout.readline(), START_TIMEOUT)
            assert raw, settings
            settings.append(raw.decode())
        yield banner + "".join(settings)


@asynccontextmanager
async def serving(
    env: Mapping[str, str], cwd: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`backup-bot serve --http` until it serves; yields the process and its events URL."""
    async with process(
        BACKUP_BOT, "serve", "--http", "--host", "127.0.0.1", "--port", "0", env=env, cwd=cwd
    ) as bot:
        assert bot.stderr is not None
        line = await asyncio.wait_for(
            _line_containing(bot.stderr, "serving Slack requests at"), START_TIMEOUT
        )
        yield bot, line.split(" at ", 1)[1].split(" ", 1)[0]


def against_simulator(
    banner: str, slack_api: SlackWebApi, redis_server: RedisServer, **overrides: str
) -> dict[str, str]:
    """serve's environment against the simulator that printed ``banner``."""
    return serve_env(
        **{
            "SLACK_API_URL": slack_api.url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "ATLASSIAN_API_URL": banner.split(" at ", 1)[1].split(" ", 1)[0],
            "ATLASSIAN_API_TOKEN": DEMO_TOKEN,
            "REDIS_URL": redis_server.url,
            **overrides,
        }
    )


async def test_serve_answers_healthz_and_a_signed_command_then_stops_on_sigterm(
    tmp_path: Path, slack_api: SlackWebApi, redis_server: RedisServer
) -> None:
    """The real `serve --http` process reports healthy, answers a slash command, exits on TERM."""
    async with simulator_process(tmp_path) as banner:
        env = against_simulator(banner, slack_api, redis_server)
        async with serving(env, tmp_path) as (bot, events_url):
            assert bot.stderr is not None
            async with httpx.AsyncClient() as http:
                health = await http.get(events_url.replace("/slack/events", "/healthz"))
            assert health.status_code == 200
            assert health.json() == {"ok": True}

            async with SlackDriver(events_url, SIGNING_SECRET, slack_api) as driver:
                response = await driver.slash(
                    command="/backup", text="policy list", user=ADMIN, channel=CHANNEL
                )
                assert response.status == 200
                await slack_api.wait_for(
                    lambda api: bool(api.responses(response.response_url)), START_TIMEOUT
                )
            (reply,) = slack_api.responses(response.response_url)
            assert "pol-acme-jira" in str(reply.blocks)

            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), START_TIMEOUT) == 0
            remaining = (await bot.stderr.read()).decode()
            assert_no_secret(remaining.splitlines())


# -- the HTTP application in-process ------------------------------------------------------


async def test_the_http_application_serves_healthz_and_refuses_unsigned_events(
    bot_harness: BotHarness,
) -> None:
    """`http_application` answers /healthz with 200 and unsigned /slack/events with 401."""
    server = TestServer(http_application(bot_harness.bot.app, HARNESS_SIGNING_SECRET))
    async with TestClient(server) as client:
        health = await client.get("/healthz")
        assert health.status == 200
        assert await health.json() == {"ok": True}
        unsigned = await client.post("/slack/events", data={"command": "/backup"})
        assert unsigned.status == 401
        missing = await client.get("/nothing-here")
        assert missing.status == 404
    assert bot_harness.simulator.world.calls == []


@pytest.mark.parametrize("path", ["/slack/events"])
async def test_events_accept_only_post(bot_harness: BotHarness, path: str) -> None:
    """A GET on the events URL is not treated as a Slack request."""
    async with httpx.AsyncClient() as http:
        response = await http.get(bot_harness.running.url.replace("/slack/events", path))
    assert response.status_code == 405


async def test_serve_on_the_wrong_api_version_says_so_in_one_line_and_keeps_serving(
    tmp_path: Path, slack_api: SlackWebApi, redis_server: RedisServer
) -> None:
    """Against a v2 org, a bot set to v1 logs one line naming v1 and the setting to change,
    and still answers `/backup help`; set to v2 it says the org answers and lists policies."""
    async with simulator_process(tmp_path, "--api", "v2") as banner:
        v2_url = banner.split(" at ", 1)[1].split(" ", 1)[0]
        account = banner.split("ATLASSIAN_ACCOUNT_ID=", 1)[1].split()[0]
        base = {
            "SLACK_API_URL": slack_api.url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "ATLASSIAN_API_TOKEN": DEMO_TOKEN,
            "REDIS_URL": redis_server.url,
        }
        wrong = serve_env(
            **base, ATLASSIAN_API_URL=v2_url.removesuffix("v2/"), ATLASSIAN_API_VERSION="v1"
        )
        right = serve_env(**base, ATLASSIAN_API_URL=v2_url, ATLASSIAN_ACCOUNT_ID=account)
        for env, expected, command, answer in (
            (wrong, "to the EAP backup API (v1) at", "help", "/backup policy list"),
            (right, "Atlassian answers the current backup API (v2)", "policy list", "Acme Jira"),
        ):
            async with serving(env, tmp_path) as (bot, events_url):
                assert bot.stderr is not None
                line = await asyncio.wait_for(_line_containing(bot.stderr, expected), START_TIMEOUT)
                if env is wrong:
                    assert "set ATLASSIAN_API_VERSION=v2" in line
                async with SlackDriver(events_url, SIGNING_SECRET, slack_api) as driver:
                    response = await driver.slash(
                        command="/backup", text=command, user=ADMIN, channel=CHANNEL
                    )
                    assert response.status == 200
                    url = response.response_url
                    if command != "help":
                        await slack_api.wait_for(
                            lambda api, url=url: bool(api.responses(url)), START_TIMEOUT
                        )
                shown = response.text + "".join(
                    str(reply.blocks) for reply in slack_api.responses(response.response_url)
                )
                assert answer in shown


async def test_a_refused_atlassian_token_at_start_up_is_one_clear_error_line(
    tmp_path: Path, slack_api: SlackWebApi, redis_server: RedisServer
) -> None:
    """An API token Atlassian refuses is said once, as an error naming the two settings."""
    async with simulator_process(tmp_path) as banner:
        env = against_simulator(
            banner, slack_api, redis_server, ATLASSIAN_API_TOKEN="not-the-demo-token-5511"
        )
        async with serving(env, tmp_path) as (bot, _events_url):
            assert bot.stderr is not None
            line = await asyncio.wait_for(
                _line_containing(bot.stderr, "Atlassian refused the bot's credentials"),
                START_TIMEOUT,
            )
            assert "ERROR" in line
            assert (
                "Atlassian refused the bot's credentials at start-up. Check ATLASSIAN_EMAIL and "
                "ATLASSIAN_API_TOKEN" in line
            )
            assert "not-the-demo-token" not in line
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), START_TIMEOUT)


def test_the_bot_serves_on_uvloop_where_it_is_installed() -> None:
    """The speed extra's loop, when present; the project's dev install brings it."""
    factory = loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
