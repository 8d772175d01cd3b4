"""Send budgets shared by every bot process: a generic cell rate algorithm in Redis.

A budget is a rate (one call per ``interval`` seconds, bursts of up to ``burst`` calls) on
one key. ``take`` either counts a call and answers 0, or answers how many seconds to wait;
``block`` pushes the budget past a moment (after a 429 the whole budget waits out Slack's
``Retry-After``). Times come from the injected clock and are stored in the key; the key's
Redis TTL only cleans up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import redis.asyncio as aioredis

from bot.clock import Clock, ensure_utc


@dataclass(frozen=True, slots=True)
class SendRate:
    """One call per ``interval`` seconds, with bursts of up to ``burst`` calls."""

    interval: float
    burst: int

    @property
    def window(self) -> float:
        return self.interval * (self.burst - 1)


# KEYS[1] the budget. ARGV[1] now_ms, ARGV[2] interval_ms, ARGV[3] window_ms.
# Returns 0 (the call is counted) or the milliseconds to wait.
_TAKE: Final = """
local now, interval, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > window then return math.ceil(tat - now - window) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', 600000)
return 0
"""

# KEYS[1] the budget. ARGV[1] the moment (ms) before which nothing may be sent.
_BLOCK: Final = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local blocked = tonumber(ARGV[1])
if blocked > tat then redis.call('SET', KEYS[1], tostring(blocked), 'PX', 600000) end
return 1
"""


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


class SendBudgets:
    """Budgets under one key prefix, on the injected clock."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, *, key_prefix: str) -> None:
        self._prefix = key_prefix
        self._clock = clock
        self._take = redis.register_script(_TAKE)
        self._block = redis.register_script(_BLOCK)

    def key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    async def take(self, name: str, rate: SendRate) -> float:
        """0 when a call may go now (and it is counted), else the seconds to wait."""
        wait_ms = await self._take(
            keys=[self.key(name)],
            args=[
                str(_ms(self._clock.now())),
                str(int(rate.interval * 1000)),
                str(int(rate.window * 1000)),
            ],
        )
        return int(wait_ms) / 1000

    async def block_until(self, name: str, until: datetime) -> None:
        await self._block(keys=[self.key(name)], args=[str(_ms(until))])


__all__ = ["SendBudgets", "SendRate"]
