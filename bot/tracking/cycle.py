"""What one poll cycle counts, and how every tracking step calls Atlassian.

A failed Atlassian call never ends a cycle: it is counted, logged, and the operations it
covered are simply looked at again next cycle. Rate limits and outages also mark the cycle
as troubled, so the loop backs off (honouring ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from bot.errors import AtlassianError, NotFoundError, RateLimited, Unavailable
from bot.tracking.status import GONE, Gone

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass
class CycleStats:
    """What one poll cycle did."""

    operations_polled: int = 0
    atlassian_calls: int = 0
    transitions: int = 0
    messages_sent: int = 0
    errors: int = 0
    shards_held: int = 0
    deferred: int = 0
    # Atlassian was unavailable or rate limiting: the loop backs off.
    service_trouble: bool = False
    retry_after: float | None = None


async def call_atlassian(stats: CycleStats, call: Awaitable[_T]) -> _T | Gone | None:
    """One Atlassian call: its result, GONE on 404, or None after a logged failure."""
    stats.atlassian_calls += 1
    try:
        return await call
    except NotFoundError:
        return GONE
    except AtlassianError as exc:
        stats.errors += 1
        if isinstance(exc, RateLimited | Unavailable):
            stats.service_trouble = True
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                stats.retry_after = max(stats.retry_after or 0.0, exc.retry_after)
        log.warning("tracker: %s", exc)
        return None


async def bounded(jobs: Iterable[Awaitable[None]], limit: int) -> None:
    """Run ``jobs`` with at most ``limit`` at a time."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[None]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(run(job) for job in jobs))


__all__ = ["CycleStats", "bounded", "call_atlassian"]
