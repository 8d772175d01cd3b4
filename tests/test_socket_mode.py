"""Socket Mode end to end: the stand-in Slack's socket endpoint, and the bot connected to it.

The fake Web API hands out socket URLs for the app-level token only, greets each connection
with `hello`, delivers envelopes and measures the acknowledgements. The bot, in-process and
as the real `backup-bot serve` process, connects with slack_sdk's Socket Mode client, needs
no signing secret, acknowledges within Slack's deadline and follows Slack's refresh requests.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import httpx
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.localslack import SlackDriver, SlackWebApi
from bot.localslack.driver import NOT_ACKNOWLEDGED
from bot.localslack.web_api import SOCKET_ACK_DEADLINE
from bot.localslack.web_api import Message as SlackMessage
from bot.messages import restore as restore_words
from bot.observability import metrics
from bot.simulator.seed import ACME_JIRA_POLICY, JIRA_COMPLETE_BACKUP
from bot.slack import restore_blocks as rb
from bot.slack import restore_handlers
from bot.slack.app import build_app
from bot.slack.serve import make_web_client, run_socket_mode
from tests.fixtures.bot_harness import ADMIN, APPROVER, CHANNEL, BotHarness, HarnessFactory
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.simulator import RunningSimulator
from tests.test_serve import (
    BACKUP_BOT,
    START_TIMEOUT,
    _line_containing,
    process,
    serve_env,
)

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-1-A0LOCAL-socket-test-6b2e9f"
#: "Well within" Slack's 3 s: what a healthy bot needs is milliseconds.
ACK_BUDGET = 1.5
RUNNING_CARD = "Backup of Jira on acme: IN PROGRESS"


@pytest.fixture
async def socket_api() -> AsyncIterator[SlackWebApi]:
    """A fake Slack whose app-level token is APP_TOKEN."""
    api = SlackWebApi(bot_token=BOT_TOKEN, app_token=APP_TOKEN)
    await api.start()
    yield api
    await api.stop()


async def socket_url(api: SlackWebApi) -> str:
    client = AsyncWebClient(base_url=api.url)
    response = await client.apps_connections_open(app_token=APP_TOKEN)
    return str(response["url"])


async def refusal(call: Awaitable[object]) -> str:
    """The `error` of a Web API call that Slack refused."""
    with pytest.raises(SlackApiError) as refused:
        await call
    return str(refused.value.response["error"])


# -- the stand-in's Socket Mode endpoint ------------------------------------------------------


async def test_apps_connections_open_gives_a_socket_url_for_the_app_token_only(
    socket_api: SlackWebApi,
) -> None:
    """Only the app-level token in the Authorization header gets a ws:// URL on the server."""
    url = await socket_url(socket_api)
    assert url.startswith(socket_api.base_url.replace("http://", "ws://") + "socket-mode/")

    client = AsyncWebClient(base_url=socket_api.url)
    assert await refusal(client.apps_connections_open(app_token=BOT_TOKEN)) == (
        "not_allowed_token_type"
    )
    assert await refusal(client.apps_connections_open(app_token="xapp-1-unknown")) == (
        "invalid_auth"
    )
    async with httpx.AsyncClient() as http:
        as_form_field = await http.post(
            f"{socket_api.url}apps.connections.open", data={"token": APP_TOKEN}
        )
    assert as_form_field.json() == {"ok": False, "error": "not_authed"}
    assert [call.ok for call in socket_api.calls_to("apps.connections.open")] == [
        True,
        False,
        False,
        False,
    ]


async def test_the_app_token_cannot_call_bot_methods(socket_api: SlackWebApi) -> None:
    """An app-level token on chat.postMessage is refused as the wrong kind of token."""
    client = AsyncWebClient(token=APP_TOKEN, base_url=socket_api.url)
    error = await refusal(client.chat_postMessage(channel=CHANNEL, text="hi"))
    assert error == "not_allowed_token_type"
    assert socket_api.messages() == []


async def test_a_socket_is_greeted_with_hello_and_its_url_works_once(
    socket_api: SlackWebApi,
) -> None:
    """The first frame is `hello` with the app id; the same URL cannot open a second socket."""
    url = await socket_url(socket_api)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url) as socket:
            hello = await socket.receive_json(timeout=5)
            assert hello["type"] == "hello"
            assert hello["num_connections"] == 1
            assert hello["connection_info"] == {"app_id": socket_api.app_id}
            assert "approximate_connection_time" in hello["debug_info"]
            await socket_api.wait_for_socket()
            assert socket_api.socket_connections == 1

            with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
                await http.ws_connect(url)
            assert reused.value.status == 401
            assert socket_api.socket_connections_refused == 1
        await socket_api.wait_for(lambda api: api.socket_connections == 0)
    assert socket_api.socket_connections_opened == 1


async def test_an_envelope_is_delivered_and_its_ack_returned_with_the_time_taken(
    socket_api: SlackWebApi,
) -> None:
    """socket_send sends Slack's envelope and returns the ack's payload and elapsed time."""
    url = await socket_url(socket_api)
    seen: list[dict[str, object]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as socket:
        await socket.receive_json(timeout=5)
        await socket_api.wait_for_socket()

        async def acknowledge() -> None:
            envelope = await socket.receive_json(timeout=5)
            seen.append(envelope)
            await socket.send_json(
                {"envelope_id": envelope["envelope_id"], "payload": {"text": "got it"}}
            )

        answering = asyncio.create_task(acknowledge())
        delivery = await socket_api.socket_send("slash_commands", {"command": "/backup"})
        await answering

    (envelope,) = seen
    assert envelope == {
        "envelope_id": delivery.envelope_id,
        "type": "slash_commands",
        "payload": {"command": "/backup"},
        "accepts_response_payload": True,
        "retry_attempt": 0,
        "retry_reason": "",
    }
    assert delivery.acked
    assert delivery.ack_payload == {"text": "got it"}
    assert 0 < delivery.elapsed < SOCKET_ACK_DEADLINE
    assert socket_api.socket_deliveries == [delivery]


async def test_an_envelope_not_acknowledged_in_time_counts_as_failed(
    socket_api: SlackWebApi,
) -> None:
    """Without an ack before the deadline the delivery is not acked; a late ack is stray."""
    url = await socket_url(socket_api)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as socket:
        await socket.receive_json(timeout=5)
        await socket_api.wait_for_socket()
        delivery = await socket_api.socket_send("interactive", {"type": "x"}, timeout=0.05)
        assert not delivery.acked
        assert delivery.ack_payload is None

        envelope = await socket.receive_json(timeout=5)
        await socket.send_json({"envelope_id": envelope["envelope_id"]})
        await socket_api.wait_for(lambda api: bool(api.stray_acks))
    assert socket_api.stray_acks == [{"envelope_id": delivery.envelope_id}]


async def test_pings_are_answered_and_refresh_requests_reach_the_app(
    socket_api: SlackWebApi,
) -> None:
    """A ping gets its pong; socket_disconnect sends Slack's `disconnect` frame."""
    url = await socket_url(socket_api)
    async with aiohttp.ClientSession() as http, http.ws_connect(url, autoping=False) as socket:
        await socket.receive_json(timeout=5)
        await socket.ping(b"probe")
        pong = await socket.receive(timeout=5)
        assert pong.type is aiohttp.WSMsgType.PONG
        assert pong.data == b"probe"

        await socket_api.socket_disconnect()
        frame = await socket.receive_json(timeout=5)
    assert frame["type"] == "disconnect"
    assert frame["reason"] == "refresh_requested"


async def test_sending_without_a_connection_or_of_an_unknown_type_is_an_error(
    socket_api: SlackWebApi,
) -> None:
    """socket_send refuses when no app is connected and for envelope types Slack lacks."""
    with pytest.raises(RuntimeError, match="no app is connected"):
        await socket_api.socket_send("slash_commands", {})
    with pytest.raises(ValueError, match="no 'hello' envelopes"):
        await socket_api.socket_send("hello", {})


async def test_stopping_the_server_closes_its_sockets_and_refuses_new_ones() -> None:
    """stop() closes every open socket at once, and the app cannot reconnect meanwhile."""
    api = SlackWebApi(app_token=APP_TOKEN)
    await api.start()
    url = await socket_url(api)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as socket:
        await socket.receive_json(timeout=5)
        await api.wait_for_socket()
        await asyncio.wait_for(api.stop(), 5)
        closing = await socket.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert api.socket_connections == 0


# -- the bot in-process over the socket -------------------------------------------------------


@asynccontextmanager
async def socket_mode_bot(harness: BotHarness) -> AsyncIterator[SlackDriver]:
    """The bot's app in Socket Mode (no signing secret) on the harness's services and Slack."""
    web_client = make_web_client(harness.services.settings)
    identity = AuthorizeResult(
        enterprise_id=None,
        team_id=harness.slack.team_id,
        bot_user_id=harness.slack.bot_user_id,
        bot_id=harness.slack.bot_id,
        bot_token=BOT_TOKEN,
    )
    bot = build_app(
        harness.services,
        web_client=web_client,
        signing_secret=None,
        bot_identity=identity,
    )
    handler = AsyncSocketModeHandler(bot.app, "xapp-test", web_client=web_client)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    driver = SlackDriver.over_socket(harness.slack)
    try:
        await harness.slack.wait_for_socket()
        yield driver
    finally:
        await harness.settle()
        await handler.close_async()  # type: ignore[no-untyped-call]
        await driver.aclose()


async def test_commands_over_the_socket_are_acked_and_answered_without_a_signature(
    make_bot_harness: HarnessFactory,
) -> None:
    """Help comes back in the ack; policy list through response_url; no signature involved."""
    harness = await make_bot_harness()
    async with socket_mode_bot(harness) as driver:
        help_reply = await driver.slash("/backup", "help", user=ADMIN, channel=CHANNEL)
        assert help_reply.status == 200
        assert help_reply.elapsed < ACK_BUDGET
        assert "/backup policy list" in help_reply.text

        listed = await driver.slash("/backup", "policy list", user=ADMIN, channel=CHANNEL)
        assert listed.status == 200
        assert listed.elapsed < ACK_BUDGET
        await harness.settle()
    text = harness.reply_text(listed)
    assert "pol-acme-jira" in text
    assert "pol-acme-confluence" in text
    assert all(delivery.acked for delivery in harness.slack.socket_deliveries)


async def test_a_button_click_over_the_socket_starts_the_restore(
    make_bot_harness: HarnessFactory,
) -> None:
    """A restore requested and started entirely over Socket Mode creates one restore."""
    harness = await make_bot_harness()
    async with socket_mode_bot(harness) as driver:
        requested = await driver.slash(
            "/restore", f"start {JIRA_COMPLETE_BACKUP} to=acme-sandbox", user=ADMIN, channel=CHANNEL
        )
        assert requested.status == 200
        await harness.settle()
        (card,) = harness.slack.messages(CHANNEL)

        clicked = await driver.click(card, rb.ACTION_START, user=APPROVER)
        assert clicked.status == 200
        assert clicked.elapsed < ACK_BUDGET
        await harness.settle()
    creates = [
        call
        for call in harness.simulator.world.calls
        if call.method == "POST" and call.path.endswith("/restores")
    ]
    assert len(creates) == 1
    assert [d.type for d in harness.slack.socket_deliveries] == ["slash_commands", "interactive"]


async def card_requested_over_the_socket(harness: BotHarness, driver: SlackDriver) -> SlackMessage:
    """The card of a restore an admin requested over the socket."""
    requested = await driver.slash(
        "/restore", f"start {JIRA_COMPLETE_BACKUP} to=acme-sandbox", user=ADMIN, channel=CHANNEL
    )
    assert requested.status == 200
    await harness.settle()
    (card,) = harness.slack.messages(CHANNEL)
    return card


def start_clicks_counted() -> float:
    """Start clicks the metrics have counted so far, whatever their outcome."""
    return sum(
        metrics.REGISTRY.get_sample_value(
            "backup_bot_slack_requests_total",
            {"kind": "action", "name": rb.ACTION_START, "outcome": outcome},
        )
        or 0.0
        for outcome in ("ok", "refused", "error")
    )


async def test_a_storm_of_clicks_over_the_socket_is_queued_worked_and_counted_once_each(
    make_bot_harness: HarnessFactory,
) -> None:
    """Over Socket Mode a card's clicks come through Bolt's listener, which acks and queues
    them for the same workers: one create, every press audited, each counted once."""
    harness = await make_bot_harness()
    async with socket_mode_bot(harness) as driver:
        card = await card_requested_over_the_socket(harness, driver)
        counted = start_clicks_counted()
        clicks = await asyncio.gather(
            *(driver.click(card, rb.ACTION_START, user=APPROVER) for _ in range(30))
        )
        assert all(click.status == 200 for click in clicks)
        await harness.settle()
    assert start_clicks_counted() - counted == 30
    creates = [
        call
        for call in harness.simulator.world.calls
        if call.method == "POST" and call.path.endswith("/restores")
    ]
    assert len(creates) == 1
    audit = await harness.services.redis.xrange(harness.services.sessions.audit_stream_key)
    assert sum(fields["action"] == "start" for _id, fields in audit) == 30


async def test_a_click_over_the_socket_with_no_room_is_acknowledged_and_told_to_press_again(
    make_bot_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not left unacknowledged (Bolt would answer it as a button it does not know): told,
    privately, that it was not taken; nothing decided, nothing audited, and counted."""
    monkeypatch.setattr(restore_handlers, "QUEUE_PLACES", 0)
    monkeypatch.setattr(restore_handlers, "PLACE_WAIT_SECONDS", 0.1)
    harness = await make_bot_harness()
    async with socket_mode_bot(harness) as driver:
        card = await card_requested_over_the_socket(harness, driver)
        turned_away = metrics.REGISTRY.get_sample_value("backup_bot_card_clicks_turned_away_total")
        counted = start_clicks_counted()
        clicks = [await driver.click(card, rb.ACTION_START, user=APPROVER) for _ in "ab"]
        assert [click.status for click in clicks] == [200, 200]
        await harness.settle()
    told = [post.text for click in clicks for post in harness.slack.responses(click.response_url)]
    assert told == [restore_words.click_turned_away()]  # once: the second within the window
    assert metrics.REGISTRY.get_sample_value("backup_bot_card_clicks_turned_away_total") == (
        (turned_away or 0.0) + 2
    )
    assert start_clicks_counted() == counted  # turned away, as over HTTP: no request worked
    audit = await harness.services.redis.xrange(harness.services.sessions.audit_stream_key)
    assert not [fields for _id, fields in audit if fields["action"] == "start"]


async def test_the_bot_moves_to_a_new_socket_when_slack_asks(
    make_bot_harness: HarnessFactory,
) -> None:
    """After Slack's refresh request the bot reconnects and keeps answering on the new socket."""
    harness = await make_bot_harness()
    async with socket_mode_bot(harness) as driver:
        await harness.slack.socket_disconnect()
        await harness.slack.wait_for(
            lambda api: api.socket_connections_opened == 2 and api.socket_connections == 1
        )
        response = await driver.slash("/backup", "help", user=ADMIN, channel=CHANNEL)
    assert response.status == 200
    assert len(harness.slack.calls_to("apps.connections.open")) == 2


async def test_an_unacknowledged_delivery_reports_the_timeout_status(
    socket_api: SlackWebApi,
) -> None:
    """A driver delivery nobody acknowledges in time reports NOT_ACKNOWLEDGED."""
    url = await socket_url(socket_api)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as socket:
        await socket.receive_json(timeout=5)
        await socket_api.wait_for_socket()
        async with SlackDriver.over_socket(socket_api, ack_timeout=0.05) as driver:
            response = await driver.slash("/backup", "help", user=ADMIN, channel=CHANNEL)
            with pytest.raises(RuntimeError, match="no signature"):
                await driver.post_signed(b"")
    assert response.status == NOT_ACKNOWLEDGED
    assert response.text == ""
    assert response.envelope_id == socket_api.socket_deliveries[0].envelope_id


async def test_a_stop_request_ends_socket_mode_while_it_cannot_connect(
    socket_api: SlackWebApi,
) -> None:
    """Stopping works while the client keeps retrying a socket Slack refuses (a spent URL)."""
    spent = await socket_url(socket_api)
    async with aiohttp.ClientSession() as http, http.ws_connect(spent) as socket:
        await socket.receive_json(timeout=5)
    web_client = AsyncWebClient(token=BOT_TOKEN, base_url=socket_api.url)
    app = AsyncApp(client=web_client, signing_secret="unused", request_verification_enabled=False)
    handler = AsyncSocketModeHandler(app, APP_TOKEN, web_client=web_client)
    handler.client.wss_uri = spent
    stop = asyncio.Event()
    running = asyncio.create_task(run_socket_mode(handler, stop))
    await socket_api.wait_for(lambda api: api.socket_connections_refused >= 1)

    stop.set()
    await asyncio.wait_for(running, 2)
    assert handler.client.closed
    assert socket_api.socket_connections == 0


# -- `backup-bot serve` in Socket Mode as a process ---------------------------------------------


async def run_socket_serve(env: Mapping[str, str], cwd: Path) -> tuple[int, list[str]]:
    """Run `backup-bot serve` (Socket Mode) to its end; its exit code and stderr lines."""
    child = await asyncio.create_subprocess_exec(
        BACKUP_BOT,
        "serve",
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(child.communicate(), START_TIMEOUT)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert stdout == b""
    return int(child.returncode or 0), stderr.decode().splitlines()


def socket_env(
    simulator: RunningSimulator, api: SlackWebApi, redis_url: str, **overrides: str | None
) -> dict[str, str]:
    """serve's environment for Socket Mode: an app token and no signing secret."""
    values: dict[str, str | None] = {
        "SLACK_SIGNING_SECRET": None,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": api.url,
        "ATLASSIAN_API_URL": simulator.url,
        "ATLASSIAN_ORG_ID": simulator.org_id,
        "ATLASSIAN_API_TOKEN": simulator.token,
        "REDIS_URL": redis_url,
    }
    values.update(overrides)
    return serve_env(**values)


# An emptied Redis: operations left by earlier tests would be adopted by the process's tracker.
@pytest.mark.usefixtures("redis_client")
async def test_serve_in_socket_mode_answers_over_the_socket_and_stops_on_sigterm(
    tmp_path: Path,
    socket_api: SlackWebApi,
    simulator: RunningSimulator,
    redis_server: RedisServer,
) -> None:
    """The real process connects, acks fast, answers and posts a card, then exits 0 on TERM."""
    env = socket_env(simulator, socket_api, redis_server.url)
    async with process(BACKUP_BOT, "serve", env=env, cwd=tmp_path) as bot:
        assert bot.stderr is not None
        await asyncio.wait_for(
            _line_containing(bot.stderr, "connected to Slack in Socket Mode"), START_TIMEOUT
        )
        await socket_api.wait_for_socket(START_TIMEOUT)
        async with SlackDriver.over_socket(socket_api) as driver:
            listed = await driver.slash("/backup", "policy list", user=ADMIN, channel=CHANNEL)
            assert listed.status == 200, "not acknowledged within Slack's 3 s"
            assert listed.elapsed < ACK_BUDGET
            await socket_api.wait_for(
                lambda api: bool(api.responses(listed.response_url)), START_TIMEOUT
            )
            text = json.dumps([post.blocks for post in socket_api.responses(listed.response_url)])
            assert "pol-acme-jira" in text
            assert "pol-acme-confluence" in text

            ran = await driver.slash(
                "/backup", f"run {ACME_JIRA_POLICY}", user=ADMIN, channel=CHANNEL
            )
            assert ran.status == 200
            assert ran.elapsed < ACK_BUDGET
            # The card is posted as STARTING and edited once Atlassian has started the backup.
            await socket_api.wait_for(
                lambda api: [m.text for m in api.messages(CHANNEL)] == [RUNNING_CARD],
                START_TIMEOUT,
            )

        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), START_TIMEOUT) == 0
        await socket_api.wait_for(lambda api: api.socket_connections == 0)
        remaining = (await bot.stderr.read()).decode()
        assert APP_TOKEN not in remaining
        assert simulator.token not in remaining
    assert [call.method for call in socket_api.calls if call.method.startswith("apps.")] == [
        "apps.connections.open"
    ]


WRONG_KIND = (
    "SLACK_APP_TOKEN must be a Slack app-level token starting with xapp-; it does not, so the "
    "bot did not call Slack with it."
)


@pytest.mark.parametrize(
    ("app_token", "said", "slack_asked"),
    [
        ("xapp-1-revoked-token-0000", "SLACK_APP_TOKEN was refused by Slack (invalid_auth).", True),
        # A bot token given as the app token is caught by its prefix, before Slack is asked.
        (BOT_TOKEN, WRONG_KIND, False),
    ],
)
async def test_a_refused_app_token_stops_socket_mode_start_up_with_one_line(
    tmp_path: Path,
    socket_api: SlackWebApi,
    simulator: RunningSimulator,
    redis_server: RedisServer,
    app_token: str,
    said: str,
    slack_asked: bool,
) -> None:
    """A SLACK_APP_TOKEN Slack refuses, or one of the wrong kind, ends start-up with exit 2
    and one line naming it."""
    env = socket_env(simulator, socket_api, redis_server.url, SLACK_APP_TOKEN=app_token)
    code, lines = await run_socket_serve(env, tmp_path)
    assert code == 2
    assert lines == [f"backup-bot: {said}"]
    assert all(app_token not in line for line in lines)
    assert bool(socket_api.calls) is slack_asked
