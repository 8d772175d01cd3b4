"""Members of the Slack user groups that grant roles, shared by every replica through Redis.

``BOT_ADMINS`` and ``BOT_APPROVERS`` may name user groups (``S…``). Their members are read
from Slack (``usergroups.users.list``, behind the ``GroupMembersSource`` port) and kept in
Redis under ``{roles}:group:<id>`` with the moment they were read, so that every replica
uses one reading and Slack is asked about a group about once per ``ttl``, whichever
replica asks.

A role check must cost no I/O (it runs before Slack's acknowledgement), so each process
keeps the last reading in memory and ``refresh`` renews it in the background: from Redis
when another replica read Slack less than ``ttl`` ago, else from Slack. The
``subteam_members_changed`` event refreshes its group at once. Every age is measured on
the injected clock from the moment of the reading; the Redis TTL only cleans up.

Fail closed: a reading older than ``stale_after`` (Slack has not answered for that long)
no longer grants anything. A person whose role would come from such a group gets
``Grant.unknown``: changing commands and decisions are refused with a sentence saying why,
read-only commands keep working.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import redis.asyncio as aioredis

from bot.clock import Clock, ensure_utc
from bot.store.connection import UNREACHABLE
from bot.store.keys import ROLES, family_prefix

log = logging.getLogger(__name__)

DEFAULT_TTL: Final = timedelta(seconds=60)
DEFAULT_STALE_AFTER: Final = timedelta(minutes=15)
# How long Redis keeps a reading it was not asked about: cleanup only, never a decision.
_CLEANUP_SECONDS: Final = 7 * 86400
SLACK_TIMEOUT_SECONDS: Final = 5.0


def is_group_id(entry: str) -> bool:
    """Slack user group ids start with S (user ids with U or W)."""
    return entry.startswith("S")


class GroupMembersSource(Protocol):
    """Who is in a Slack user group now; raises when Slack cannot say."""

    async def members(self, group_id: str) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Reading:
    """A group's members as read from Slack at ``read_at`` (the injected clock)."""

    members: frozenset[str]
    read_at: datetime

    def to_json(self) -> str:
        return json.dumps({"members": sorted(self.members), "read_at": self.read_at.isoformat()})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Reading:
        data = json.loads(raw)
        return cls(
            members=frozenset(str(member) for member in data["members"]),
            read_at=ensure_utc(datetime.fromisoformat(data["read_at"])),
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """Whether a group grants a role: ``via`` the group that does, or the groups unknown."""

    via: str | None = None
    unknown: tuple[str, ...] = ()

    @property
    def granted(self) -> bool:
        return self.via is not None


class GroupRoster:
    """The last known members of each configured group, renewed by ``refresh``."""

    def __init__(
        self,
        groups: Collection[str],
        source: GroupMembersSource | None,
        redis: aioredis.Redis,
        clock: Clock,
        *,
        key_prefix: str = "bbot:",
        ttl: timedelta = DEFAULT_TTL,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> None:
        if stale_after < ttl:
            raise ValueError("a reading must be trusted at least as long as it is cached")
        self.groups = tuple(sorted(set(groups)))
        # Slack, once the Slack side is built (``bot.slack.usergroups``); None: Redis only.
        self.source = source
        self._redis = redis
        self._clock = clock
        self._prefix = family_prefix(key_prefix, ROLES)
        self.ttl = ttl
        self.stale_after = stale_after
        self._readings: dict[str, Reading] = {}

    def key(self, group_id: str) -> str:
        return f"{self._prefix}group:{group_id}"

    def _now(self) -> datetime:
        return ensure_utc(self._clock.now())

    def _age(self, reading: Reading) -> timedelta:
        return self._now() - reading.read_at

    def reading(self, group_id: str) -> Reading | None:
        return self._readings.get(group_id)

    def grant(self, user_id: str, groups: Iterable[str]) -> Grant:
        """Through which of ``groups`` the user has a role, if any; which cannot be known."""
        unknown = []
        for group_id in groups:
            reading = self._readings.get(group_id)
            if reading is None or self._age(reading) > self.stale_after:
                unknown.append(group_id)
            elif user_id in reading.members:
                return Grant(via=group_id)
        return Grant(unknown=tuple(unknown))

    def problem_minutes(self, group_ids: Iterable[str]) -> int | None:
        """How many minutes old the oldest of these readings is (None: never read)."""
        ages = []
        for group_id in group_ids:
            reading = self._readings.get(group_id)
            if reading is None:
                return None
            ages.append(self._age(reading))
        return int(max(ages).total_seconds() // 60) if ages else None

    async def refresh(self, groups: Iterable[str] | None = None, *, force: bool = False) -> None:
        """Renew readings older than ``ttl`` (or all of ``groups`` when ``force``).

        Redis first (another replica's reading), Slack when that is older than ``ttl`` too.
        A failure leaves the last reading in place; it ages until ``stale_after``.
        """
        wanted = self.groups if groups is None else [g for g in groups if g in self.groups]
        await asyncio.gather(*(self._refresh_one(group_id, force) for group_id in wanted))

    async def _refresh_one(self, group_id: str, force: bool) -> None:
        held = self._readings.get(group_id)
        if held is not None and not force and self._age(held) < self.ttl:
            return
        if not force:
            shared = await self._shared(group_id)
            if shared is not None and (held is None or shared.read_at > held.read_at):
                self._readings[group_id] = held = shared
            if held is not None and self._age(held) < self.ttl:
                return
        await self._read_slack(group_id)

    async def _shared(self, group_id: str) -> Reading | None:
        try:
            raw = await self._redis.get(self.key(group_id))
        except UNREACHABLE:
            log.warning("Redis did not answer for user group %s; asking Slack", group_id)
            return None
        if raw is None:
            return None
        try:
            return Reading.from_json(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable members of user group %s in Redis; asking Slack", group_id)
            return None

    async def _read_slack(self, group_id: str) -> None:
        if self.source is None:
            return
        read_at = self._now()
        try:
            members = await asyncio.wait_for(self.source.members(group_id), SLACK_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("could not read the members of user group %s: %s", group_id, exc)
            return
        reading = Reading(members, read_at)
        self._readings[group_id] = reading
        try:
            await self._redis.set(self.key(group_id), reading.to_json(), ex=_CLEANUP_SECONDS)
        except UNREACHABLE:
            log.warning("could not share the members of user group %s through Redis", group_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh in the background, five times per ``ttl``, until ``stop`` is set."""
        interval = max(self.ttl.total_seconds() / 5, 1.0)
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing user group members failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                continue


__all__ = [
    "DEFAULT_STALE_AFTER",
    "DEFAULT_TTL",
    "Grant",
    "GroupMembersSource",
    "GroupRoster",
    "Reading",
    "is_group_id",
]
