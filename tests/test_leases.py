"""The lease primitive against a real Redis, on a manual clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from bot.clock import ManualClock
from bot.store.leases import Leases

TTL = timedelta(seconds=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def leases(redis_client: aioredis.Redis, clock: ManualClock) -> Leases:
    return Leases(redis_client, clock, fence_key="t:fence")


async def test_only_one_holder_at_a_time(leases: Leases) -> None:
    """A second holder is refused while the first holds the key."""
    first = await leases.acquire("t:lease", "a", TTL)
    assert first is not None
    assert await leases.acquire("t:lease", "b", TTL) is None


async def test_a_lease_lapses_on_the_injected_clock_not_by_redis_ttl(
    leases: Leases, clock: ManualClock
) -> None:
    """Moving the manual clock past the expiry frees the key, with a new fencing number."""
    first = await leases.acquire("t:lease", "a", TTL)
    assert first is not None
    clock.advance(29)
    assert await leases.acquire("t:lease", "b", TTL) is None
    clock.advance(2)
    second = await leases.acquire("t:lease", "b", TTL)
    assert second is not None
    assert second.fence > first.fence


async def test_the_holder_retaking_keeps_its_fence(leases: Leases, clock: ManualClock) -> None:
    """Taking a lease one already holds extends it and keeps the fencing number."""
    first = await leases.acquire("t:lease", "a", TTL)
    clock.advance(20)
    again = await leases.acquire("t:lease", "a", TTL)
    assert first is not None
    assert again is not None
    assert again.fence == first.fence
    assert again.expires_at_ms > first.expires_at_ms


async def test_a_lapsed_holder_cannot_renew_or_release_the_new_holders_lease(
    leases: Leases, clock: ManualClock
) -> None:
    """Fencing: the old holder's renew and release do nothing once the lease changed hands."""
    old = await leases.acquire("t:lease", "a", TTL)
    assert old is not None
    clock.advance(31)
    assert await leases.renew(old, TTL) is None
    new = await leases.acquire("t:lease", "b", TTL)
    assert new is not None
    assert not await leases.release(old)
    holder = await leases.holder_of("t:lease")
    assert holder is not None
    assert holder.holder == "b"
    assert await leases.release(new)
    assert await leases.holder_of("t:lease") is None


async def test_hold_renews_in_the_background_and_releases_at_the_end(
    leases: Leases, clock: ManualClock
) -> None:
    """A held lease outlives its ttl while the block runs, and is free once the block ends."""
    async with leases.hold("t:lease", TTL, holder="a", renew_every=0.01) as lease:
        assert lease is not None
        clock.advance(25)
        await asyncio.sleep(0.05)
        clock.advance(25)
        assert await leases.acquire("t:lease", "b", TTL) is None
    assert await leases.acquire("t:lease", "b", TTL) is not None


async def test_hold_yields_none_while_another_holds_it(leases: Leases) -> None:
    """Nobody else gets in; the block learns it holds nothing."""
    assert await leases.acquire("t:lease", "a", TTL) is not None
    async with leases.hold("t:lease", TTL) as lease:
        assert lease is None
    holder = await leases.holder_of("t:lease")
    assert holder is not None
    assert holder.holder == "a"


def test_holder_names_cannot_forge_the_separator() -> None:
    """A holder containing '|' could impersonate another fence; it is refused."""
    leases = Leases(aioredis.Redis(), ManualClock(), fence_key="f")
    with pytest.raises(ValueError, match="must not contain"):
        asyncio.run(leases.acquire("k", "a|1", TTL))
