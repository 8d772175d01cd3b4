"""Schedules in Redis: each policy's schedule, its audit trail and the run of its current slot.

Every key of one schedule starts with ``{prefix}schedule:{policy}`` (the definition, ``:audit``,
``:run``, ``:lease`` and ``:fence``) and each Lua script here touches only those, so they can
share one Cluster hash slot. The index of scheduled policies (``{prefix}schedules``) is
written on its own: a listing skips an indexed policy whose definition is gone.

The run of a slot (``SlotRun``) is written only under the schedule's lease, checked in the
same script (``Lease.guard``): a process that stalled past its lease cannot overwrite what
the next holder decided.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

import redis.asyncio as aioredis
from pydantic import TypeAdapter

from bot.assurance.schedules import BackupSchedule
from bot.clock import Clock, ensure_utc
from bot.store.leases import Lease, Leases

# Cleanup only: audit trails and slot runs are dropped this long after their last write.
_CLEANUP: Final = timedelta(days=400)
AUDIT_KEPT: Final = 200


class ScheduleAction(enum.StrEnum):
    SET = "set"
    OFF = "off"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ScheduleAudit:
    """One change asked of a schedule: who, when, what, and whether it was allowed."""

    at: datetime
    by: str
    action: ScheduleAction
    detail: str


@dataclass(frozen=True, slots=True)
class SlotRun:
    """How the bot is getting on with one slot of a schedule."""

    slot: datetime
    tries: int = 0
    backup_id: str | None = None
    # A backup start was asked for at this time and its answer not recorded yet.
    intent_at: datetime | None = None
    # Not before this time: a refusal's "possible from", or a retry's backoff.
    next_try_at: datetime | None = None
    refusal_announced: bool = False
    # The backup that ended last, already announced (so a failure is announced once).
    settled_backup_id: str | None = None
    done: bool = False

    def next(self, **changes: Any) -> SlotRun:
        return replace(self, **changes)


_SCHEDULE: Final = TypeAdapter(BackupSchedule)
_AUDIT: Final = TypeAdapter(ScheduleAudit)
_RUN: Final = TypeAdapter(SlotRun)

# KEYS[1] definition, KEYS[2] audit. ARGV[1] definition JSON, '' to remove it or '=' to
# leave it as it is, ARGV[2] audit entry, ARGV[3] entries kept, ARGV[4] cleanup (ms).
_CHANGE: Final = """
if ARGV[1] == '' then redis.call('DEL', KEYS[1])
elseif ARGV[1] ~= '=' then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS[1] the slot run, KEYS[2] the schedule's lease. ARGV[1] the lease's "holder|fence|",
# ARGV[2] now (ms), ARGV[3] the run's JSON, ARGV[4] cleanup (ms).
# Writes only while that lease is held and has not lapsed on the caller's clock: 1, else 0.
_SAVE_RUN: Final = """
local lease = redis.call('GET', KEYS[2])
local guard = ARGV[1]
if not lease or string.sub(lease, 1, #guard) ~= guard then return 0 end
if tonumber(string.sub(lease, #guard + 1)) <= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
"""


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


class ScheduleStore:
    """Schedules, their audit trails and slot runs, under ``key_prefix``."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, *, key_prefix: str) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = key_prefix
        self._change = redis.register_script(_CHANGE)
        self._save_run = redis.register_script(_SAVE_RUN)

    def _key(self, policy_id: str, part: str = "") -> str:
        return f"{self._prefix}schedule:{policy_id}{part}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}schedules"

    def lease_key(self, policy_id: str) -> str:
        return self._key(policy_id, ":lease")

    def leases_for(self, policy_id: str) -> Leases:
        """Leases whose fence counter lives beside the schedule (one hash slot per schedule)."""
        return Leases(self._redis, self._clock, fence_key=self._key(policy_id, ":fence"))

    async def put(self, schedule: BackupSchedule, detail: str) -> None:
        """Save ``schedule`` (replacing the policy's) and audit who set it."""
        await self._redis.sadd(self._index, schedule.policy_id)
        entry = ScheduleAudit(schedule.set_at, schedule.set_by, ScheduleAction.SET, detail)
        await self._apply(schedule.policy_id, _SCHEDULE.dump_json(schedule).decode(), entry)

    async def remove(self, policy_id: str, by: str) -> bool:
        """Stop the policy's schedule; False when it had none (still audited)."""
        had = await self.get(policy_id) is not None
        entry = ScheduleAudit(self._clock.now(), by, ScheduleAction.OFF, "schedule off")
        await self._apply(policy_id, "", entry)
        await self._redis.srem(self._index, policy_id)
        return had

    async def audit_refused(self, policy_id: str, by: str, detail: str) -> None:
        """Record a change someone asked for and was not allowed to make."""
        entry = ScheduleAudit(self._clock.now(), by, ScheduleAction.REFUSED, detail)
        await self._apply(policy_id, "=", entry)

    async def _apply(self, policy_id: str, definition: str, entry: ScheduleAudit) -> None:
        await self._change(
            keys=[self._key(policy_id), self._key(policy_id, ":audit")],
            args=[
                definition,
                _AUDIT.dump_json(entry).decode(),
                str(AUDIT_KEPT),
                str(int(_CLEANUP.total_seconds() * 1000)),
            ],
        )

    async def audit_trail(self, policy_id: str) -> list[ScheduleAudit]:
        raw: list[str | bytes] = await self._redis.lrange(self._key(policy_id, ":audit"), 0, -1)
        return [_AUDIT.validate_json(item) for item in raw]

    async def get(self, policy_id: str) -> BackupSchedule | None:
        raw = await self._redis.get(self._key(policy_id))
        return _SCHEDULE.validate_json(raw) if raw is not None else None

    async def all(self) -> list[BackupSchedule]:
        """Every schedule, by policy id."""
        policy_ids = sorted(str(p) for p in await self._redis.smembers(self._index))
        if not policy_ids:
            return []
        raws = await self._redis.mget([self._key(p) for p in policy_ids])
        return [_SCHEDULE.validate_json(raw) for raw in raws if raw is not None]

    async def run_of(self, policy_id: str) -> SlotRun | None:
        raw = await self._redis.get(self._key(policy_id, ":run"))
        return _RUN.validate_json(raw) if raw is not None else None

    async def save_run(self, policy_id: str, run: SlotRun, lease: Lease) -> bool:
        """Write the slot's run while ``lease`` is still held; False when it is not."""
        saved = await self._save_run(
            keys=[self._key(policy_id, ":run"), lease.key],
            args=[
                lease.guard,
                str(_ms(self._clock.now())),
                _RUN.dump_json(run).decode(),
                str(int(_CLEANUP.total_seconds() * 1000)),
            ],
        )
        return bool(int(saved))


__all__ = ["ScheduleAction", "ScheduleAudit", "ScheduleStore", "SlotRun"]
