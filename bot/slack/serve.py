"""``backup-bot serve``: run the bot in Socket Mode, or over HTTP with ``--http``.

HTTP mode serves ``POST /slack/events`` (slash commands, interactivity and events, all
signed), ``GET /healthz``, ``GET /readyz`` and ``GET /metrics`` (``bot.observability.probes``).
Socket Mode listens on no port unless ``--metrics-port`` (``BOT_METRICS_PORT``) asks for the
probes and metrics there. Start-up validates the settings, reaches Redis and asks Slack
who the bot is (and, in Socket Mode, for a socket URL with the app-level token), so a wrong
token or URL stops it with one line instead of failing later.

On SIGTERM or SIGINT the bot stops taking work (``/readyz`` answers 503, the HTTP listener
or the socket closes), lets the work of requests it already acknowledged finish within
``SHUTDOWN_DRAIN_SECONDS``, stops its background loops (the tracker gives back its leases)
and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian.probe import probe_api_version
from bot.config import Settings, load_log_settings, load_settings
from bot.errors import ConfigError
from bot.messages import settings as settings_words
from bot.observability import metrics
from bot.observability.context import RequestKind, RequestScope
from bot.observability.logs import configure_logging
from bot.observability.probes import (
    Readiness,
    add_probe_routes,
    bound_port,
    start_probe_server,
)
from bot.observability.sampler import StateSampler
from bot.restore.session import FINAL_STATES, OPEN_STATES, SessionState
from bot.runtime import Services, open_services
from bot.slack.app import build_app
from bot.slack.bolt_request import body_text, parse_body, to_bolt_request
from bot.slack.card_clicks import CardClick, card_click

log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_SECONDS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        action="store_true",
        help="serve HTTP (needs SLACK_SIGNING_SECRET) instead of Socket Mode (SLACK_APP_TOKEN)",
    )
    parser.add_argument(
        "--host",
        default="0.0.0.0",  # noqa: S104
        help="address to bind (HTTP mode, and the metrics port in Socket Mode; default 0.0.0.0)",
    )
    parser.add_argument("--port", type=int, default=3000, help="HTTP mode: port (default 3000)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="N",
        help="Socket Mode: serve /metrics, /healthz and /readyz on port N "
        "(default BOT_METRICS_PORT, else off)",
    )


def run(args: argparse.Namespace) -> int:
    log_settings = load_log_settings()
    configure_logging(log_settings.log_level, log_settings.bot_log_format)
    settings = load_settings()
    socket_mode = bool(settings.slack_app_token) and not args.http
    settings.require_for_serving(http=args.http)
    settings.require_account_id()
    if not settings.bot_admins:
        log.warning("BOT_ADMINS is empty: nobody can change anything until it is set")
    metrics_port = args.metrics_port if args.metrics_port is not None else settings.bot_metrics_port
    serving = _serve(
        settings, socket_mode=socket_mode, host=args.host, port=args.port, metrics_port=metrics_port
    )
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory()) as r:
        r.run(serving)
    return 0


#: Allocations between two young-generation collections (Python's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_collector() -> None:
    """Keep the cycle collector's pauses short under load; called once start-up is done.

    Everything built at start-up (modules, the app, its clients) lives as long as the
    process, so it is frozen out of the collector's scans; and young collections run
    every 10,000 allocations instead of 700. In a click storm thousands of acknowledged
    clicks wait for their turn, each holding its request, and the collector's repeated
    scans of them were pauses of up to a quarter of a second in front of acknowledgements.
    Memory is still freed as soon as nothing refers to it; only cycles wait a little longer.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (the ``speed`` extra), else asyncio's.

    The loop runs every request's socket reads and writes and every task switch; with
    uvloop the bot answered measurably more requests per second (README, Benchmarks).
    """
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def make_web_client(
    settings: Settings, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """The Web API client; pass a long-lived ``session`` so calls reuse connections.

    It retries nothing (the SDK would otherwise add its connection-error retry by default).
    A 429 is handled once, by ``SlackGateway`` on the injected clock: the SDK's rate-limit
    handler would sleep on the real clock while holding the caller's send slot, before the
    shared budget saw the 429. And a blind retry of ``chat.postMessage`` after a dropped
    connection could post the same message twice, since Slack may have taken the first;
    the tracker's outbox retries its sends itself, and a command's answer is reported as
    failed rather than repeated.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token, base_url=settings.slack_api_url, session=session, retry_handlers=[]
    )


async def identify_bot(client: AsyncWebClient) -> AuthorizeResult:
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "error") if exc.response else "error"
        raise ConfigError(settings_words.slack_refused_token("SLACK_BOT_TOKEN", error)) from None
    except OSError as exc:
        raise ConfigError(settings_words.slack_unreachable(exc)) from None
    return AuthorizeResult(
        enterprise_id=response.get("enterprise_id"),
        team_id=response.get("team_id"),
        bot_user_id=response.get("user_id"),
        bot_id=response.get("bot_id"),
        bot_token=client.token,
    )


async def open_socket_url(client: AsyncWebClient, app_token: str) -> str:
    """A Socket Mode URL from apps.connections.open; a refused app token is a ConfigError.

    The Socket Mode client would retry a refused token forever, logging a stack trace each
    time, so start-up asks once itself and stops with one line instead.
    """
    try:
        response = await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = exc.response.get("error", "error") if exc.response else "error"
        raise ConfigError(settings_words.slack_refused_token("SLACK_APP_TOKEN", error)) from None
    except OSError as exc:
        raise ConfigError(settings_words.slack_unreachable(exc)) from None
    return str(response["url"])


async def run_socket_mode(handler: AsyncSocketModeHandler, stop: asyncio.Event) -> None:
    """Stay connected until ``stop`` is set, then close the socket.

    A stop request is honoured even while the client is still (re)trying to connect,
    which it otherwise does forever.
    """
    connecting = asyncio.ensure_future(handler.connect_async())  # type: ignore[no-untyped-call]
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting in done:
            connecting.result()
            log.info("connected to Slack in Socket Mode")
            await stopping
    finally:
        for task in (connecting, stopping):
            task.cancel()
        await asyncio.gather(connecting, stopping, return_exceptions=True)
        await handler.close_async()  # type: ignore[no-untyped-call]


@dataclass
class RunningBot:
    """A bot serving HTTP, with its background loops; ``stop`` ends both."""

    app: AsyncApp
    services: Services
    url: str
    runner: web.AppRunner
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.runner.cleanup()


def signature_problem(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> str:
    """Why a request is not validly signed by Slack, or "" when it is.

    Checked on the raw bytes before anything parses them, so a forged or garbled request
    costs one HMAC and never reaches a parser.
    """
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        return "no signature"
    if not timestamp.isdigit() or len(timestamp) > 12:
        return "a malformed timestamp"
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return "a wrong or stale signature"
    return ""


class CardClicks(Protocol):
    """Where an acknowledged restore card click goes (``RestoreHandlers``)."""

    async def place(self) -> bool: ...

    def take(self, click: CardClick, scope: RequestScope | None = None) -> None: ...


def http_application(
    app: AsyncApp,
    signing_secret: str,
    *,
    readiness: Readiness | None = None,
    card_clicks: CardClicks | None = None,
) -> web.Application:
    """``/slack/events`` beside the probes and metrics (``/readyz`` only with ``readiness``).

    With ``card_clicks``, a restore card's button press (``bot.slack.card_clicks``) is
    acknowledged as soon as its signature is checked and its payload read, and handed over
    without Bolt's dispatch; every other request goes through Bolt.
    """
    verifier = SignatureVerifier(signing_secret)

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        problem = signature_problem(verifier, body, request.headers)
        if problem:
            # One line, never the body: it carries a response_url that works for 30 minutes.
            log.warning("refused a Slack request with %s from %s", problem, request.remote)
            return web.json_response({"error": "invalid request"}, status=401)
        started = time.perf_counter()
        try:
            # Parsing the body builds the request: broken JSON (or bytes that are no text)
            # raises ValueError, a payload that is a list or a string AttributeError.
            text = body_text(request, body)
            payload = parse_body(text, request.content_type)
            click = card_click(payload) if card_clicks is not None else None
            bolt_request = None if click is not None else to_bolt_request(request, text, payload)
        except (ValueError, AttributeError):
            # Signed, so from Slack or someone holding the secret; still never a traceback.
            log.warning("refused a signed body that is not a Slack payload from %s", request.remote)
            return web.json_response({"error": "invalid request"}, status=400)
        if bolt_request is not None:
            return await to_aiohttp_response(await app.async_dispatch(bolt_request))
        assert click is not None
        assert card_clicks is not None
        if not await card_clicks.place():  # turned away, and counted as such
            return web.json_response({"error": "busy"}, status=503)
        card_clicks.take(click)
        # Timed like Bolt's dispatch of any other request: from its parsing to its ack.
        metrics.observe_ack(RequestKind.ACTION, time.perf_counter() - started)
        return web.Response(text="")  # what Bolt sends for a bare ack()

    application = web.Application()
    application.router.add_post("/slack/events", events)
    add_probe_routes(application, readiness)
    return application


async def start_http(
    app: AsyncApp,
    services: Services,
    host: str,
    port: int,
    *,
    signing_secret: str,
    readiness: Readiness | None = None,
    card_clicks: CardClicks | None = None,
) -> RunningBot:
    readiness = readiness or Readiness(services.redis)
    runner = web.AppRunner(
        http_application(app, signing_secret, readiness=readiness, card_clicks=card_clicks),
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    return RunningBot(
        app=app, services=services, url=f"http://{host}:{bound}/slack/events", runner=runner
    )


@contextlib.asynccontextmanager
async def bot_services(
    settings: Settings,
) -> AsyncIterator[tuple[Services, AsyncWebClient, AuthorizeResult]]:
    async with aiohttp.ClientSession() as http_session:
        web_client = make_web_client(settings, http_session)
        identity = await identify_bot(web_client)
        async with open_services(settings) as services:
            yield services, web_client, identity


async def report_api_version(services: Services) -> None:
    """Read the policy list once and say in one line whether the org speaks our version."""
    result = await probe_api_version(services.atlassian)
    if result.problem is not None and result.refused:
        log.error("%s", result.problem)
    elif result.problem is not None:
        log.warning("%s", result.problem)
    else:
        log.info(
            "Atlassian answers %s (%d backup policies)",
            services.atlassian.profile.name,
            result.policies,
        )


def state_sampler(services: Services) -> StateSampler:
    """The sampler of what Redis holds: tracked operations, outboxes, restore sessions."""
    return StateSampler(
        services.operations,
        services.sessions,
        services.clock,
        session_states=[state.value for state in SessionState if state not in FINAL_STATES],
        waiting_states=sorted(state.value for state in OPEN_STATES),
    )


@contextlib.asynccontextmanager
async def sampling(services: Services) -> AsyncIterator[StateSampler]:
    """Sample the state in Redis in the background while inside."""
    sampler = state_sampler(services)
    stop = asyncio.Event()
    task = asyncio.create_task(sampler.run(stop))
    try:
        yield sampler
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)


async def _serve(
    settings: Settings, *, socket_mode: bool, host: str, port: int, metrics_port: int | None
) -> None:
    from bot.background import start_background

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with bot_services(settings) as (services, web_client, identity):
        socket_url: str | None = None
        if socket_mode:
            assert settings.slack_app_token is not None
            app_token = settings.slack_app_token.get_secret_value()
            socket_url = await open_socket_url(web_client, app_token)
        signing = (
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        )
        bot = build_app(
            services,
            web_client=web_client,
            signing_secret=signing,
            bot_identity=identity,
        )
        readiness = Readiness(services.redis, stopping=stop)
        tune_collector()
        background = await start_background(bot, services, web_client)
        version_check = asyncio.create_task(report_api_version(services))
        probes: web.AppRunner | None = None
        try:
            async with sampling(services):
                if socket_url is not None:
                    handler = AsyncSocketModeHandler(bot.app, app_token, web_client=web_client)
                    # The start-up check's URL is fresh: connecting with it spares a second call.
                    handler.client.wss_uri = socket_url
                    readiness.watch_slack(handler.client.is_connected)
                    if metrics_port is not None:
                        probes = await start_probe_server(host, metrics_port, readiness)
                        log.info(
                            "serving metrics at http://%s:%s/metrics (health: /healthz, /readyz)",
                            host,
                            bound_port(probes),
                        )
                    await run_socket_mode(handler, stop)
                else:
                    assert signing is not None
                    running = await start_http(
                        bot.app,
                        services,
                        host,
                        port,
                        signing_secret=signing,
                        readiness=readiness,
                        card_clicks=bot.restore,
                    )
                    log.info(
                        "serving Slack requests at %s (health: /healthz, /readyz; /metrics)",
                        running.url,
                    )
                    await stop.wait()
                    await running.stop()
                # Requests already acknowledged finish their work before the process exits.
                if not await services.pending.drain(within=SHUTDOWN_DRAIN_SECONDS):
                    log.warning(
                        "stopping with %d requests still being handled", services.pending.count
                    )
        finally:
            version_check.cancel()
            await asyncio.gather(version_check, return_exceptions=True)
            await background.stop()
            if probes is not None:
                await probes.cleanup()
            log.info("stopped")
