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
from bot.assurance.status import StatusReport
from bot.assurance.store import ScheduleStore
from bot.atlassian.client import AtlassianClient
from bot.atlassian.retry import RetryPolicy
from bot.clock import Clock, SystemClock
from bot.config import Settings, SiteDirectory
from bot.errors import ConfigError
from bot.redaction import redact
from bot.restore.store import RestoreSessionStore
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

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

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


async def connect_redis(url: str) -> aioredis.Redis:
    """Connect and ping, so a wrong REDIS_URL stops start-up with one line."""
    client = aioredis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5
    )
    try:
        await client.ping()
    except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
        await client.aclose()
        raise ConfigError(f"REDIS_URL: cannot reach Redis at {redact(url)} ({exc}).") from None
    return client


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
    redis_client = redis if redis is not None else await connect_redis(settings.redis_url)
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
                redis_client, clock, final_retention=timedelta(days=settings.bot_retention_days)
            ),
            access=AccessPolicy.build(
                admins=settings.bot_admins,
                approvers=settings.bot_approvers,
                channels=settings.bot_channels,
                four_eyes=settings.bot_four_eyes,
            ),
            sites=settings.sites,
        )
    finally:
        await atlassian.aclose()
        if own_redis:
            await redis_client.aclose()
