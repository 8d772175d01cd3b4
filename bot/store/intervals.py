"""Work done at most once per interval across all processes, decided on the injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import redis.asyncio as aioredis

from bot.clock import Clock, ensure_utc

# KEYS[1] when the work is next due (ms). ARGV[1] now (ms), ARGV[2] the next due time (ms).
# The first caller at or after the due time gets 1 and moves the due time; others get 0.
_DUE: Final = """
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
if due > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


class OncePerInterval:
    """Work done at most once per ``interval`` across all processes, on the injected clock."""

    def __init__(
        self, redis: aioredis.Redis, clock: Clock, *, key: str, interval: timedelta
    ) -> None:
        self._clock = clock
        self._key = key
        self._interval = interval
        self._due = redis.register_script(_DUE)

    async def due(self) -> bool:
        """True for the one caller that should do the work now."""
        now = self._clock.now()
        taken = await self._due(
            keys=[self._key], args=[str(_ms(now)), str(_ms(now + self._interval))]
        )
        return bool(taken)


__all__ = ["OncePerInterval"]
