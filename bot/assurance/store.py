"""Schedules in Redis: each policy's schedule, its audit trail and the run of its current slot.

Every key of one schedule starts with ``{prefix}schedule:{policy}`` (the definition, ``:audit``,
``:refusals``, ``:seq``, ``:gone``, ``:run``, ``:lease`` and ``:fence``) and each Lua script
here touches only those, so they can share one Cluster hash slot. The index of scheduled
policies (``{prefix}schedules``) is written on its own: a listing skips an indexed policy
whose definition is gone.

Refusals (anyone may type `/backup schedule <id>`, any number of times) never make keys for
an id nobody scheduled: they go to the capped global audit stream instead, their fields
bounded as the rest of the audit. A scheduled policy keeps its refusals in a list of their
own, capped apart from its changes, so no number of refusals pushes a change out of the
trail; one counter (``:seq``) orders the two lists as one trail.

The run of a slot (``SlotRun``) is written only under the schedule's lease, checked in the
same script (``Lease.guard``): a process that stalled past its lease cannot overwrite what
the next holder decided.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

import redis.asyncio as aioredis
from pydantic import TypeAdapter
from redis.typing import EncodableT, FieldT

from bot.assurance.schedules import BackupSchedule
from bot.clock import Clock, ensure_utc
from bot.restore.records import ACTOR_LIMIT, bounded_id, bounded_text
from bot.store.leases import Lease, Leases

# Cleanup only: audit trails and slot runs are dropped this long after their last write.
_CLEANUP: Final = timedelta(days=400)
AUDIT_KEPT: Final = 200
REFUSALS_KEPT: Final = 50
# The global audit stream's cap when none is given (the restore store's own default).
GLOBAL_AUDIT_KEPT: Final = 100_000
# A policy id as it may appear in a key: no ``:`` (it would read as another key's part) and
# no braces (they would move the key's Cluster hash slot).
_POLICY_ID: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


def valid_policy_id(policy_id: str) -> bool:
    return _POLICY_ID.fullmatch(policy_id) is not None


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
    # Orders the changes and the refusals (kept in separate lists) as one trail.
    seq: int = 0


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

# Both scripts: KEYS[1] definition, KEYS[2] the list the entry goes on, KEYS[3] the counter
# that orders a schedule's two lists as one trail. ARGV[1] the entry's JSON, ARGV[2] entries
# the list keeps, ARGV[3] cleanup (ms).
_APPEND: Final = """
local function append()
  local entry = cjson.decode(ARGV[1])
  entry.seq = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  redis.call('RPUSH', KEYS[2], cjson.encode(entry))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
"""

# KEYS[4] the "gone" mark, ARGV[4] definition JSON or '' to remove it. A change is a new
# start: the policy's "gone" mark goes with the old definition.
_CHANGE: Final = (
    _APPEND
    + """
if ARGV[4] == '' then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], ARGV[4]) end
redis.call('DEL', KEYS[4])
return append()
"""
)

# 0 (and nothing written) when the policy has no schedule: the caller audits it globally.
_REFUSAL: Final = (
    _APPEND
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return append()
"""
)

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


_DETAIL_LIMIT: Final = 200
# The global stream's ``action`` for a refused schedule change (restore entries name theirs).
_GLOBAL_ACTION: Final = "schedule"


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


def _cleanup_ms() -> int:
    return int(_CLEANUP.total_seconds() * 1000)


class ScheduleStore:
    """Schedules, their audit trails and slot runs, under ``key_prefix``."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        *,
        key_prefix: str,
        audit_stream: str | None = None,
        audit_maxlen: int = GLOBAL_AUDIT_KEPT,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = key_prefix
        self._audit_stream = audit_stream or f"{key_prefix}audit"
        self._audit_maxlen = audit_maxlen
        self._change = redis.register_script(_CHANGE)
        self._refusal = redis.register_script(_REFUSAL)
        self._save_run = redis.register_script(_SAVE_RUN)

    def _key(self, policy_id: str, part: str = "") -> str:
        if not valid_policy_id(policy_id):
            raise ValueError("not a policy id a schedule key can hold")
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
        """Record a change someone asked for and was not allowed to make.

        On the schedule's own refusals when the policy has one, else on the global stream.
        """
        now = self._clock.now()
        actor = bounded_id(by, ACTOR_LIMIT)
        detail = bounded_text(detail, _DETAIL_LIMIT)
        if valid_policy_id(policy_id):
            entry = ScheduleAudit(now, actor, ScheduleAction.REFUSED, detail)
            kept = await self._refusal(
                keys=[
                    self._key(policy_id),
                    self._key(policy_id, ":refusals"),
                    self._key(policy_id, ":seq"),
                ],
                args=[_AUDIT.dump_json(entry).decode(), str(REFUSALS_KEPT), str(_cleanup_ms())],
            )
            if int(kept):
                return
        fields: dict[FieldT, EncodableT] = {
            "at": ensure_utc(now).isoformat(),
            "policy": bounded_id(policy_id),
            "actor": actor,
            "action": _GLOBAL_ACTION,
            "outcome": ScheduleAction.REFUSED.value,
            "detail": detail,
        }
        await self._redis.xadd(
            self._audit_stream, fields, maxlen=self._audit_maxlen, approximate=True
        )

    async def _apply(self, policy_id: str, definition: str, entry: ScheduleAudit) -> None:
        await self._change(
            keys=[
                self._key(policy_id),
                self._key(policy_id, ":audit"),
                self._key(policy_id, ":seq"),
                self._key(policy_id, ":gone"),
            ],
            args=[
                _AUDIT.dump_json(entry).decode(),
                str(AUDIT_KEPT),
                str(_cleanup_ms()),
                definition,
            ],
        )

    async def audit_trail(self, policy_id: str) -> list[ScheduleAudit]:
        """The schedule's changes and refusals, in the order they were made."""
        changes: list[str | bytes] = await self._redis.lrange(self._key(policy_id, ":audit"), 0, -1)
        refusals: list[str | bytes] = await self._redis.lrange(
            self._key(policy_id, ":refusals"), 0, -1
        )
        entries = [_AUDIT.validate_json(item) for item in [*changes, *refusals]]
        return sorted(entries, key=lambda entry: entry.seq)

    async def mark_gone(self, policy_id: str, at: datetime) -> None:
        """Atlassian no longer has the policy: its schedule stays, stopped, until changed."""
        await self._redis.set(self._key(policy_id, ":gone"), ensure_utc(at).isoformat(), nx=True)

    async def gone(self, policy_ids: list[str]) -> dict[str, datetime]:
        """When each of ``policy_ids`` whose policy Atlassian no longer has was found gone."""
        if not policy_ids:
            return {}
        # One GET per schedule, not an MGET: each schedule's keys may be a slot of their own.
        async with self._redis.pipeline(transaction=False) as pipe:
            for policy_id in policy_ids:
                pipe.get(self._key(policy_id, ":gone"))
            raws: list[str | bytes | None] = await pipe.execute()
        return {
            p: datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
            for p, raw in zip(policy_ids, raws, strict=True)
            if raw is not None
        }

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
                str(_cleanup_ms()),
            ],
        )
        return bool(int(saved))


__all__ = [
    "AUDIT_KEPT",
    "REFUSALS_KEPT",
    "ScheduleAction",
    "ScheduleAudit",
    "ScheduleStore",
    "SlotRun",
    "valid_policy_id",
]
