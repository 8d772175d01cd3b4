"""The whole bot on one machine: the simulator, a stand-in Slack and the real bot between them.

Everything speaks real HTTP on loopback, as in production: the bot's Web API client points at
``SlackWebApi``, its Atlassian client at the simulator, and ``SlackDriver`` posts signed
slash commands and clicks to the bot's ``/slack/events``. The background loops (the tracker
and restore housekeeping) run in the same event loop.

State goes to the Redis at ``REDIS_URL`` when one answers, under a key prefix of its own for
each run, so a production bot sharing that Redis never sees the console's keys and the
console never reads, changes or deletes anything else. Without a Redis, an in-process
Redis-compatible store (with Lua, which the stores' atomic steps need) stands in.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

import redis.asyncio as aioredis
from pydantic import ValidationError
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian.client import AtlassianClient
from bot.atlassian.versions import ApiVersion
from bot.background import Background, start_background
from bot.clock import Clock
from bot.config import Settings, redis_url_problem
from bot.errors import ConfigError
from bot.localslack import SlackDriver, SlackWebApi
from bot.messages import console as console_words
from bot.messages import settings as settings_words
from bot.redaction import redact
from bot.restore.store import RestoreSessionStore
from bot.runtime import Services, access_policy
from bot.simulator import (
    DEMO_ORG_ID,
    DEMO_SITES,
    DEMO_TOKEN,
    ShiftableClock,
    SimulatorServer,
    World,
)
from bot.simulator.seed import DEMO_ADMIN_ACCOUNT_ID
from bot.slack.app import SlackBot, build_app
from bot.slack.serve import RunningBot, make_web_client, start_http
from bot.store.operations import OperationStore

log = logging.getLogger(__name__)

CHANNEL: Final = "CBACKUPS"
CHANNEL_NAME: Final = "backups"
REDIS_PROBE_SECONDS: Final = 0.5
# How long a console's keys outlive it in a shared Redis: long enough to look at them.
CONSOLE_KEYS_TTL: Final = timedelta(hours=24)
HOUSEKEEPING_SECONDS: Final = 5.0


@dataclass(frozen=True)
class ConsoleUser:
    """A named person in the stand-in workspace."""

    name: str
    user_id: str


ALICE: Final = ConsoleUser("alice", "UALICE")
BOB: Final = ConsoleUser("bob", "UBOB")
CAROL: Final = ConsoleUser("carol", "UCAROL")
USERS: Final = (ALICE, BOB, CAROL)


@dataclass(frozen=True)
class LocalOptions:
    """How the local bot is set up; the defaults suit a person trying it out."""

    op_seconds: float = 3.0
    poll_seconds: float = 1.0
    four_eyes: bool = False
    #: ``None``: use ``REDIS_URL`` if set and answering, else the in-process store.
    redis_url: str | None = None
    in_process_store: bool = False
    housekeeping_seconds: float = HOUSEKEEPING_SECONDS
    api: ApiVersion = ApiVersion.V1


@dataclass
class StoreChoice:
    """Where the console keeps its state, and how that is told to the person."""

    redis: aioredis.Redis
    key_prefix: str
    description: str
    # A Redis others may use too: what the console leaves there must not stay forever.
    shared: bool = False

    async def expire_leftovers(self) -> int:
        """Give every key the console left without a TTL one; how many there were."""
        if not self.shared:
            return 0
        seconds = int(CONSOLE_KEYS_TTL.total_seconds())
        expired = 0
        async for key in self.redis.scan_iter(match=f"{self.key_prefix}*", count=500):
            if await self.redis.ttl(key) == -1:
                expired += int(await self.redis.expire(key, seconds))
        return expired


def configured_redis_url() -> str | None:
    """REDIS_URL from the environment or ``.env``; None when nobody set one."""
    try:
        settings = Settings()
    except ValidationError:
        # Another setting is malformed; the console needs none of them but this one.
        raw = os.environ.get("REDIS_URL") or None
        problem = redis_url_problem(raw) if raw else None
        if problem:
            raise ConfigError(settings_words.setting_invalid("REDIS_URL", problem)) from None
        return raw
    return settings.redis_url if "redis_url" in settings.model_fields_set else None


async def choose_store(options: LocalOptions, run_id: str) -> StoreChoice:
    """A real Redis when one is configured and answers quickly, else the in-process store."""
    url = None if options.in_process_store else (options.redis_url or configured_redis_url())
    prefix = f"bbot-console:{run_id}:"
    if url:
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=REDIS_PROBE_SECONDS,
            socket_timeout=5,
        )
        try:
            await client.ping()
        except (aioredis.RedisError, OSError) as exc:
            await client.aclose()
            reason = f"Redis at {redact(url)} did not answer ({type(exc).__name__})"
        else:
            return StoreChoice(
                redis=client,
                key_prefix=prefix,
                description=console_words.store_in_redis(
                    redact(url), prefix, int(CONSOLE_KEYS_TTL.total_seconds() // 3600)
                ),
                shared=True,
            )
    else:
        reason = "--memory given" if options.in_process_store else console_words.NO_REDIS_URL
    import fakeredis

    memory: aioredis.Redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    return StoreChoice(
        redis=memory,
        key_prefix=prefix,
        description=console_words.store_in_memory(reason),
    )


def console_settings(
    *,
    simulator_url: str,
    slack_api_url: str,
    bot_token: str,
    signing_secret: str,
    options: LocalOptions,
) -> Settings:
    """Settings for the local bot, every one given so nothing leaks in from the environment."""
    settings = Settings(
        _env_file=None,
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=None,
        slack_api_url=slack_api_url,
        atlassian_api_url=simulator_url,
        atlassian_api_version=options.api,
        atlassian_account_id=DEMO_ADMIN_ACCOUNT_ID,
        atlassian_org_id=DEMO_ORG_ID,
        atlassian_email="console@acme.example",
        atlassian_api_token=DEMO_TOKEN,
        atlassian_sites=dict(DEMO_SITES),
        redis_url="redis://in-process/0",
        bot_admins=[ALICE.user_id],
        bot_approvers=[ALICE.user_id, BOB.user_id],
        bot_four_eyes=options.four_eyes,
        bot_channels=[],
        # Alerts, digests and expiry reminders show in #backups beside the cards.
        bot_notify_channel=CHANNEL,
        bot_poll_seconds=options.poll_seconds,
    )
    settings.register_secrets()
    return settings


def build_services(
    settings: Settings,
    *,
    redis: aioredis.Redis,
    clock: Clock,
    key_prefix: str,
    atlassian: AtlassianClient | None = None,
) -> Services:
    """The bot's services on a given Redis and clock, with the stores under ``key_prefix``."""
    return Services(
        settings=settings,
        atlassian=atlassian or AtlassianClient.from_settings(settings, clock=clock),
        redis=redis,
        clock=clock,
        operations=OperationStore(
            redis,
            clock,
            key_prefix=key_prefix,
            retention=timedelta(days=settings.bot_retention_days),
        ),
        sessions=RestoreSessionStore(
            redis,
            clock,
            key_prefix=key_prefix,
            final_retention=timedelta(days=settings.bot_retention_days),
        ),
        access=access_policy(settings, redis, clock),
        sites=settings.sites,
    )


@dataclass
class LoopbackBot:
    bot: SlackBot
    running: RunningBot
    driver: SlackDriver
    web_client: AsyncWebClient


async def start_bot_on_loopback(
    services: Services, slack: SlackWebApi, *, signing_secret: str
) -> LoopbackBot:
    """The Bolt app in HTTP mode on a free loopback port, and a driver that plays Slack to it."""
    web_client = make_web_client(services.settings)
    identity = AuthorizeResult(
        enterprise_id=None,
        team_id=slack.team_id,
        bot_user_id=slack.bot_user_id,
        bot_id=slack.bot_id,
        bot_token=web_client.token,
    )
    bot = build_app(
        services, web_client=web_client, signing_secret=signing_secret, bot_identity=identity
    )
    running = await start_http(
        bot.app, services, "127.0.0.1", 0, signing_secret=signing_secret, card_clicks=bot.restore
    )
    driver = SlackDriver(running.url, signing_secret, slack)
    return LoopbackBot(bot=bot, running=running, driver=driver, web_client=web_client)


@dataclass
class LocalBot:
    """Everything the console runs, started by ``start_local_bot`` and ended by ``stop``."""

    simulator: SimulatorServer
    slack: SlackWebApi
    services: Services
    bot: SlackBot
    running: RunningBot
    driver: SlackDriver
    background: Background
    store: StoreChoice
    options: LocalOptions
    # Shared by the bot, the simulator and the stand-in Slack: `/clock +7d` moves all three.
    clock: ShiftableClock
    _stopped: bool = field(default=False, repr=False)

    @property
    def world(self) -> World:
        return self.simulator.world

    async def settle(self, within: float = 30.0) -> bool:
        """Wait until the bot has finished the work of every request it acknowledged."""
        return await self.services.pending.drain(within)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self.background.stop()
        await self.services.pending.drain(5.0)
        await self.running.stop()
        await self.driver.aclose()
        await self.services.atlassian.aclose()
        await self.slack.stop()
        await self.simulator.stop()
        try:
            await self.store.expire_leftovers()
        finally:
            await self.store.redis.aclose()


async def start_local_bot(options: LocalOptions) -> LocalBot:
    """Start the simulator, the stand-in Slack, the bot and its background loops."""
    clock = ShiftableClock()
    run_id = secrets.token_hex(4)
    bot_token = f"xoxb-console-{secrets.token_hex(12)}"
    signing_secret = secrets.token_hex(16)
    store = await choose_store(options, run_id)
    started: list[object] = []
    try:
        # Real time, shiftable, so operations take op_seconds and `/clock` skips ahead.
        world = World.demo(clock=clock, op_seconds=options.op_seconds, api=options.api)
        simulator = SimulatorServer(world, org_id=DEMO_ORG_ID, token=DEMO_TOKEN)
        await simulator.start(host="127.0.0.1", port=0)
        started.append(simulator)
        slack = SlackWebApi(bot_token=bot_token, clock=clock)
        for user in USERS:
            slack.add_user(user.user_id, user.name)
        slack.add_user(slack.bot_user_id, "backup-bot")
        slack.add_channel(CHANNEL, CHANNEL_NAME)
        await slack.start()
        started.append(slack)
        settings = console_settings(
            simulator_url=simulator.url,
            slack_api_url=slack.url,
            bot_token=bot_token,
            signing_secret=signing_secret,
            options=options,
        )
        services = build_services(
            settings, redis=store.redis, clock=clock, key_prefix=store.key_prefix
        )
        started.append(services.atlassian)
        loopback = await start_bot_on_loopback(services, slack, signing_secret=signing_secret)
        started.extend([loopback.running, loopback.driver])
        background = await start_background(
            loopback.bot,
            services,
            loopback.web_client,
            housekeeping_seconds=options.housekeeping_seconds,
        )
    except BaseException:
        for part in reversed(started):
            await _close(part)
        await store.redis.aclose()
        raise
    return LocalBot(
        simulator=simulator,
        slack=slack,
        services=services,
        bot=loopback.bot,
        running=loopback.running,
        driver=loopback.driver,
        background=background,
        store=store,
        options=options,
        clock=clock,
    )


async def _close(part: object) -> None:
    if isinstance(part, SimulatorServer | SlackWebApi | RunningBot):
        await part.stop()
    elif isinstance(part, SlackDriver | AtlassianClient):
        await part.aclose()
