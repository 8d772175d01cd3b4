"""This process's fair share of the tracked operations, held on leases with fencing numbers.

Operations are split into ``shards`` by a CRC-32 of their key. Each process holds leases
(``bot.store.leases``) on a fair share of them: every cycle it renews its leases up to
``ceil(shards / live processes)``, gives up any beyond that, and takes shards whose lease is
free or lapsed until it has its share. A process polls and notifies only for the shards it
holds, so each operation is handled by one process at a time, and the shards of a dead
process are taken over at the first cycle after its leases lapse (``lease_seconds`` after
its last renewal).

Live processes are counted by a heartbeat, a sorted set of process ids scored by when each
membership lapses. Like the leases it runs on the injected clock, not on Redis TTLs, so
every process and every test agrees on who is alive.

A sender proves that it still holds a shard in the same Redis step that claims one of its
notifications (``Outboxes.claim`` checks ``guard``), so a process that stalled past its lease
cannot send what the shard's new holder sends.

Keys under the prefix: ``tracker:lease:{shard}`` (the leases), ``tracker:fence`` (their
fencing counter), ``tracker:members`` (the heartbeat).
"""

from __future__ import annotations

import math
import zlib
from datetime import timedelta
from typing import Final

import redis.asyncio as aioredis

from bot.clock import Clock
from bot.store.leases import Lease, Leases

# KEYS[1] the heartbeat set. ARGV[1] this process, ARGV[2] now (ms), ARGV[3] lease (ms).
# Renews this process's membership, drops the lapsed ones, returns how many are live.
_HEARTBEAT: Final = """
local now = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return redis.call('ZCARD', KEYS[1])
"""


def shard_of(owner: str, shards: int) -> int:
    return zlib.crc32(owner.encode()) % shards


class ShardLeases:
    """The shards this process holds, renewed each cycle."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        *,
        key_prefix: str,
        process_id: str,
        shards: int,
        lease_seconds: float,
    ) -> None:
        if "|" in process_id or not process_id:
            raise ValueError("process_id must be non-empty and must not contain '|'")
        self._redis = redis
        self._process_id = process_id
        self.shards = shards
        self.lease = timedelta(seconds=lease_seconds)
        self._leases = Leases(redis, clock, fence_key=f"{key_prefix}tracker:fence")
        self._key_prefix = f"{key_prefix}tracker:lease:"
        self._members_key = f"{key_prefix}tracker:members"
        self._heartbeat = redis.register_script(_HEARTBEAT)
        # Processes start looking for free shards at different places, so that several
        # starting at once do not all contend for shard 0 first.
        self._start = shard_of(process_id, shards)
        self._held: dict[int, Lease] = {}

    @property
    def held(self) -> frozenset[int]:
        return frozenset(self._held)

    @property
    def lease_ms(self) -> int:
        return int(self.lease.total_seconds() * 1000)

    def key(self, shard: int) -> str:
        return f"{self._key_prefix}{shard}"

    def mine(self, owner: str) -> bool:
        """Whether this process holds the shard of ``owner``."""
        return shard_of(owner, self.shards) in self._held

    def guard(self, owner: str) -> tuple[str, str] | None:
        """The lease key and ``holder|fence|`` prefix proving this process holds ``owner``."""
        lease = self._held.get(shard_of(owner, self.shards))
        return None if lease is None else (lease.key, lease.guard)

    async def refresh(self) -> frozenset[int]:
        """Renew, give up and take leases until this process holds its fair share."""
        live = await self._heartbeat(
            keys=[self._members_key],
            args=[self._process_id, str(self._leases.now_ms()), str(self.lease_ms)],
        )
        target = math.ceil(self.shards / max(int(live), 1))
        kept = sorted(self._held.items())
        for _, lease in kept[target:]:
            await self._leases.release(lease)
        kept = kept[:target]
        renewed = await self._leases.renew_all([lease for _, lease in kept], self.lease)
        held = {
            shard: lease
            for (shard, _), lease in zip(kept, renewed, strict=True)
            if lease is not None
        }
        if len(held) < target:
            order = [(self._start + i) % self.shards for i in range(self.shards)]
            candidates = [shard for shard in order if shard not in held]
            holders = await self._leases.holders_of([self.key(shard) for shard in candidates])
            for shard, holder in zip(candidates, holders, strict=True):
                if len(held) >= target:
                    break
                if holder is not None and holder.holder != self._process_id:
                    continue
                taken = await self._leases.acquire(self.key(shard), self._process_id, self.lease)
                if taken is not None:
                    held[shard] = taken
        self._held = held
        return frozenset(held)

    async def release_all(self) -> None:
        """Give up every lease and the membership, so others take the shards at once."""
        held, self._held = self._held, {}
        for lease in held.values():
            await self._leases.release(lease)
        await self._redis.zrem(self._members_key, self._process_id)


__all__ = ["ShardLeases", "shard_of"]
