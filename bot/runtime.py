"""The bot's parts wired together: settings, Atlassian client, Redis stores, clock.

One ``Services`` object is built at start-up and handed to the Slack app, the restore flow
and the tracker, so each of them can be given test doubles for the clock, the HTTP
transport and the Redis client without patching anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import httpx
import redis.asyncio as aioredis

from bot.access import AccessPolicy
from bot.access.groups import GroupRoster
from bot.assurance.status import StatusReport
from bot.assurance.store import ScheduleStore
from bot.atlassian.client import AtlassianClient
from bot.atlassian.retry import RetryPolicy
from bot.clock import Clock, SystemClock
from bot.config import Settings, SiteDirectory
from bot.restore.store import RestoreSessionStore
from bot.store.connection import RedisEndpoint, connect
from bot.store.operations import OperationStore

log = logging.getLogger(__name__)


class PendingWork:
    """Counts requests whose post-ack work is still running, so shutdown can let them finish."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    def begin(self) -> None:
        """One more piece of work is pending (from the moment it is acknowledged)."""
        self._count += 1
        self._idle.clear()

    def end(self) -> None:
        """A piece of work ``begin`` counted is done."""
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()

    async def drain(self, within: float = 30.0) -> bool:
        """Wait until no work is pending; False if ``within`` seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True


@dataclass
class Services:
    settings: Settings
    atlassian: AtlassianClient
    redis: aioredis.Redis
    clock: Clock
    operations: OperationStore
    sessions: RestoreSessionStore
    access: AccessPolicy
    sites: SiteDirectory
    pending: PendingWork = field(default_factory=PendingWork)

    @cached_property
    def schedules(self) -> ScheduleStore:
        """The bot's backup schedules, under the operations' key prefix."""
        return ScheduleStore(
            self.redis,
            self.clock,
            key_prefix=self.operations.key_prefix,
            audit_stream=self.sessions.audit_stream_key,
        )

    @cached_property
    def status_report(self) -> StatusReport:
        return StatusReport(self.atlassian, self.schedules, self.sessions, self.clock, self.sites)


def access_policy(settings: Settings, redis: aioredis.Redis, clock: Clock) -> AccessPolicy:
    """Who may do what, with a roster of the user groups BOT_ADMINS / BOT_APPROVERS name."""
    groups = AccessPolicy.group_ids(settings.bot_admins, settings.bot_approvers)
    roster = (
        GroupRoster(
            groups,
            None,
            redis,
            clock,
            ttl=timedelta(seconds=settings.bot_group_cache_seconds),
            stale_after=timedelta(seconds=settings.bot_group_stale_seconds),
        )
        if groups
        else None
    )
    return AccessPolicy.build(
        admins=settings.bot_admins,
        approvers=settings.bot_approvers,
        channels=settings.bot_channels,
        four_eyes=settings.bot_four_eyes,
        groups=roster,
    )


def redis_endpoint(settings: Settings) -> RedisEndpoint:
    """Where the settings say Redis is, in whichever mode they choose."""
    password = settings.redis_sentinel_password
    return RedisEndpoint(
        url=settings.redis_url,
        sentinels=tuple(settings.redis_sentinels),
        sentinel_master=settings.redis_sentinel_master,
        sentinel_password=password.get_secret_value() if password else None,
        cluster=settings.redis_cluster,
    )


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    redis: aioredis.Redis | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> AsyncIterator[Services]:
    clock = clock or SystemClock()
    own_redis = redis is None
    redis_client = redis if redis is not None else await connect(redis_endpoint(settings))
    atlassian = AtlassianClient.from_settings(
        settings, transport=transport, retry=retry, clock=clock
    )
    try:
        yield Services(
            settings=settings,
            atlassian=atlassian,
            redis=redis_client,
            clock=clock,
            operations=OperationStore(
                redis_client, clock, retention=timedelta(days=settings.bot_retention_days)
            ),
            sessions=RestoreSessionStore(
                redis_client,
                clock,
                final_retention=timedelta(days=settings.bot_retention_days),
                replica_ack_ms=settings.redis_replica_ack_ms,
            ),
            access=access_policy(settings, redis_client, clock),
            sites=settings.sites,
        )
    finally:
        await atlassian.aclose()
        if own_redis:
            await redis_client.aclose()
