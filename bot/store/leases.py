"""Leases on the injected clock, with fencing numbers: the bot's one lock primitive.

Whoever must be the only one doing something for a while (polling a shard of tracked
operations, adopting running operations at start-up, requesting a restore onto one site,
talking to Atlassian about one restore session) takes a lease on a key. A lease is a Redis
string ``holder|fence|expiry_ms``:

- ``holder`` names the process (or the single call) holding it; it never contains ``|``;
- ``fence`` is a number taken from one counter each time the lease changes hands, so a
  holder that stalled past its lease and comes back can be told apart from the new holder
  (a write guarded by the lease checks ``holder|fence|`` in the same script, see
  ``Lease.guard``);
- ``expiry_ms`` is the time on the **injected clock** after which the lease is free. Every
  decision compares that stored time with the caller's clock, never a Redis TTL, so tests
  move a ManualClock and every process agrees on when a lease lapsed. The key also carries
  a generous Redis TTL, only so that forgotten keys are cleaned up eventually.

A holder taking a lease it still holds keeps its fence and gets a new expiry. ``hold``
keeps a lease for the duration of a block and renews it in the background, so a short
lease can cover a long call: if the process dies, the lease lapses one ``ttl`` later
instead of after the longest call anyone could make.

Each ``Leases`` remembers which leases it took and has neither released nor seen lapse
(on its clock), for ``backup_bot_leases_held``: a process that shut down cleanly shows 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import redis.asyncio as aioredis

from bot.clock import Clock, ensure_utc
from bot.observability.metrics import track_leases

log = logging.getLogger(__name__)

# Cleanup only: a lease key outlives its logical expiry by this much before Redis drops it.
_CLEANUP_MS: Final = 3_600_000


def _ms(clock: Clock) -> int:
    return int(ensure_utc(clock.now()).timestamp() * 1000)


# KEYS[1] the lease, KEYS[2] the fence counter.
# ARGV[1] holder, ARGV[2] now_ms, ARGV[3] ttl_ms, ARGV[4] cleanup_ms.
# Returns {fence, expiry_ms}, or {0, expiry_ms of the other holder} when someone else holds it.
_ACQUIRE: Final = """
local value = redis.call('GET', KEYS[1])
local holder, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local fence = nil
if value then
  local a = string.find(value, '|', 1, true)
  local b = string.find(value, '|', a + 1, true)
  local owner, owned_fence = string.sub(value, 1, a - 1), string.sub(value, a + 1, b - 1)
  local expiry = tonumber(string.sub(value, b + 1))
  if expiry > now then
    if owner ~= holder then return {0, expiry} end
    fence = owned_fence
  end
end
if not fence then fence = tostring(redis.call('INCR', KEYS[2])) end
local expiry = now + ttl
redis.call('SET', KEYS[1], holder .. '|' .. fence .. '|' .. expiry, 'PX', ttl + tonumber(ARGV[4]))
return {tonumber(fence), expiry}
"""

# KEYS the leases (of one key family, so of one hash slot). ARGV[1] now_ms, ARGV[2] ttl_ms,
# ARGV[3] cleanup, then "holder|fence|" for each lease. Extends each lease only while it is
# still held with that fence and has not lapsed: a 1 or a 0 for each.
_RENEW: Final = """
local now, ttl, cleanup = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local answers = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local prefix = ARGV[3 + i]
  local answer = 0
  if value and string.sub(value, 1, #prefix) == prefix
      and tonumber(string.sub(value, #prefix + 1)) > now then
    redis.call('SET', key, prefix .. (now + ttl), 'PX', ttl + cleanup)
    answer = 1
  end
  answers[i] = answer
end
return answers
"""

# KEYS[1] the lease. ARGV[1] "holder|fence|". Deletes it only if still held with that fence.
_RELEASE: Final = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as its holder took it."""

    key: str
    holder: str
    fence: int
    expires_at_ms: int

    @property
    def guard(self) -> str:
        """The ``holder|fence|`` prefix a guarded script checks against the lease's value."""
        return f"{self.holder}|{self.fence}|"


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a key now, as stored (the lease may have lapsed on the caller's clock)."""

    holder: str
    fence: int
    expires_at_ms: int


class Leases:
    """Takes, renews and gives back leases; every time comes from ``clock``."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, *, fence_key: str) -> None:
        self._redis = redis
        self._clock = clock
        self._fence_key = fence_key
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        # Leases taken and not given back: key -> (fence, expiry_ms on the injected clock).
        self._held: dict[str, tuple[int, int]] = {}
        track_leases(self)

    @property
    def clock(self) -> Clock:
        return self._clock

    def now_ms(self) -> int:
        return _ms(self._clock)

    def held_count(self) -> int:
        """Leases this object took that are neither released nor lapsed on its clock."""
        now = self.now_ms()
        self._held = {key: held for key, held in self._held.items() if held[1] > now}
        return len(self._held)

    async def acquire(self, key: str, holder: str, ttl: timedelta) -> Lease | None:
        """The lease on ``key`` for ``ttl``, or None while another holder has it."""
        _check_holder(holder)
        ttl_ms = _ttl_ms(ttl)
        raw: list[Any] = await self._acquire(
            keys=[key, self._fence_key],
            args=[holder, str(self.now_ms()), str(ttl_ms), str(_CLEANUP_MS)],
        )
        fence, expiry = int(raw[0]), int(raw[1])
        if fence == 0:
            return None
        self._held[key] = (fence, expiry)
        return Lease(key=key, holder=holder, fence=fence, expires_at_ms=expiry)

    async def renew(self, lease: Lease, ttl: timedelta) -> Lease | None:
        """The same lease for another ``ttl``; None when it lapsed or changed hands."""
        (renewed,) = await self.renew_all([lease], ttl)
        return renewed

    async def renew_all(self, leases: Sequence[Lease], ttl: timedelta) -> list[Lease | None]:
        """``renew`` for each of ``leases``, in one script (so one round trip, also on a
        Cluster: the leases must be of one key family, as the shard leases are)."""
        if not leases:
            return []
        ttl_ms = _ttl_ms(ttl)
        now = self.now_ms()
        answers = await self._renew(
            keys=[lease.key for lease in leases],
            args=[str(now), str(ttl_ms), str(_CLEANUP_MS), *(lease.guard for lease in leases)],
        )
        renewed: list[Lease | None] = []
        for lease, answer in zip(leases, answers, strict=True):
            if not int(answer):
                self._forget(lease)
                renewed.append(None)
                continue
            self._held[lease.key] = (lease.fence, now + ttl_ms)
            renewed.append(
                Lease(
                    key=lease.key,
                    holder=lease.holder,
                    fence=lease.fence,
                    expires_at_ms=now + ttl_ms,
                )
            )
        return renewed

    async def release(self, lease: Lease) -> bool:
        """Give the lease back; False when it had already lapsed or changed hands."""
        released = bool(int(await self._release(keys=[lease.key], args=[lease.guard])))
        self._forget(lease)
        return released

    def _forget(self, lease: Lease) -> None:
        held = self._held.get(lease.key)
        if held is not None and held[0] == lease.fence:
            del self._held[lease.key]

    async def holder_of(self, key: str) -> LeaseHolder | None:
        """The current holder of ``key`` if its lease has not lapsed on this clock."""
        (holder,) = await self.holders_of([key])
        return holder

    async def holders_of(self, keys: Sequence[str]) -> list[LeaseHolder | None]:
        """``holder_of`` for each of ``keys``, in one round trip."""
        if not keys:
            return []
        now = self.now_ms()
        holders: list[LeaseHolder | None] = []
        for value in await self._redis.mget(keys):
            text = value.decode() if isinstance(value, bytes) else value
            if text is None:
                holders.append(None)
                continue
            holder, fence, expiry = str(text).split("|", 2)
            lapsed = int(expiry) <= now
            holders.append(
                None
                if lapsed
                else LeaseHolder(holder=holder, fence=int(fence), expires_at_ms=int(expiry))
            )
        return holders

    @contextlib.asynccontextmanager
    async def hold(
        self,
        key: str,
        ttl: timedelta,
        *,
        holder: str | None = None,
        renew_every: float | None = None,
    ) -> AsyncIterator[Lease | None]:
        """Hold ``key`` inside the block; yields None (holding nothing) if someone else has it.

        With ``renew_every`` (real seconds) the lease is renewed in the background while the
        block runs, so ``ttl`` only needs to cover a dead holder, not the longest call.
        """
        lease = await self.acquire(key, holder or new_holder(), ttl)
        if lease is None:
            yield None
            return
        renewer: asyncio.Task[None] | None = None
        if renew_every is not None:
            renewer = asyncio.create_task(self._keep(lease, ttl, renew_every))
        try:
            yield lease
        finally:
            if renewer is not None:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
            try:
                await self.release(lease)
            except Exception:
                # It lapses by itself one ttl later; failing the caller for it would be worse.
                log.warning("could not release lease %s; it will lapse", key, exc_info=True)

    async def _keep(self, lease: Lease, ttl: timedelta, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                renewed = await self.renew(lease, ttl)
            except Exception:
                log.warning("could not renew lease %s; retrying", lease.key, exc_info=True)
                continue
            if renewed is None:
                log.warning("lease %s lapsed while held", lease.key)
                return
            lease = renewed


def new_holder() -> str:
    """A holder name for one call, unique across processes."""
    return secrets.token_hex(8)


def _check_holder(holder: str) -> None:
    if not holder or "|" in holder:
        raise ValueError("a lease holder must be non-empty and must not contain '|'")


def _ttl_ms(ttl: timedelta) -> int:
    ms = int(ttl.total_seconds() * 1000)
    if ms <= 0:
        raise ValueError("a lease needs a positive ttl")
    return ms


__all__ = ["Lease", "LeaseHolder", "Leases", "new_holder"]
