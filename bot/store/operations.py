"""Operations the bot started or adopted, each with the Slack card that reports on it.

This is what the tracker polls and what lets ``export-status`` and ``import-status`` remember
an operation's site. Everything lives in Redis so a restarted or second bot process sees it.

Keys, all under the prefix (``bbot:{tracking}:`` by default)::

    op:{kind}:{id}        the operation as JSON; ``version`` grows with every recorded change
    ops:active            set of ``{kind}:{id}`` still being polled
    outbox:{owner}        hash: what must still reach Slack for one owner (an operation's
                          ``{kind}:{id}``, or ``policy:{id}``): ``card`` (the version the card
                          must show), ``e:{seq}`` entries in order, ``claim:{field}`` senders
    outbox:pending        set of owners whose outbox is not empty
    outbox:set-aside      hash: entries no sender could read, ``{owner} {field}`` -> JSON
                          (the entry as stored, why, when), kept for an operator to look at
    reminders:expiry      sorted set of backup owners by when their expiry reminder is due
    ops:ended             sorted set of finished operations by when they ended (ms)

Outbox entries are typed notifications (``bot.store.outbox``) in their stored form.

A change of an operation's status and the notifications it causes are written by one Lua
script (``record``): the write happens only if nobody changed the operation since it was
read (its ``version``), so two processes that see the same change record it once, and the
outbox can never hold a notification for a change that was not recorded, nor miss one for
a change that was. Every key carries the ``{tracking}`` hash tag (``bot.store.keys``), and so
do the keys of the tracker, the outboxes and the send budgets built from ``key_prefix``:
every script touches one slot and stays one atomic step on a Redis Cluster too.

Retention: a finished operation, its outbox and its set-aside entries are forgotten
``retention`` after it ended, measured on the injected clock (``forget_ended``, which the
tracker runs at most once an hour). A backup whose expiry reminder is still to come is kept
until ``retention`` after that reminder. The Redis TTL a finished operation's keys get is
longer than that and only cleans up after a bot that stopped running for good.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

import redis.asyncio as aioredis

from bot.clock import Clock, ensure_utc
from bot.store.keys import TRACKING, family_prefix
from bot.store.outbox import Notification, encode
from bot.store.outboxes import Outboxes

# MGET batch size: large enough to need few round trips, small enough to keep replies short.
_LOAD_BATCH: Final = 500
# Finished operations forgotten per script call, so one sweep never blocks Redis for long.
_FORGET_BATCH: Final = 200
_CAS_ATTEMPTS: Final = 20
# How much longer than the retention a finished operation's Redis TTL runs: cleanup only.
_CLEANUP_MARGIN: Final = timedelta(days=1)
DEFAULT_RETENTION: Final = timedelta(days=30)


class OperationKind(enum.StrEnum):
    BACKUP = "backup"
    EXPORT = "export"
    IMPORT = "import"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class TrackedOperation:
    kind: OperationKind
    operation_id: str
    cloud_id: str | None
    product: str | None
    channel: str | None
    card_ts: str | None
    started_by: str | None
    registered_at: str
    policy_id: str | None = None
    backup_id: str | None = None
    session_id: str | None = None
    status: str | None = None
    status_message: str | None = None
    final: bool = False
    adopted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    # The API object as last seen (JSON text), so a card can be redrawn without calling it.
    snapshot: str | None = None
    changed_at: str | None = None
    report_url: str | None = None
    awaiting_report: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.operation_id}"

    @property
    def last_changed_at(self) -> datetime:
        """When its last change was recorded, on the injected clock (or its registration).

        For a finished operation, that is when it ended.
        """
        return ensure_utc(datetime.fromisoformat(self.changed_at or self.registered_at))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> TrackedOperation:
        data = json.loads(raw)
        data["kind"] = OperationKind(data["kind"])
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{name: value for name, value in data.items() if name in known})


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


def parse_owner(owner: str) -> tuple[OperationKind, str] | None:
    """The kind and id of an operation owner; None for other owners (e.g. ``policy:...``)."""
    kind_text, _, operation_id = owner.partition(":")
    try:
        return OperationKind(kind_text), operation_id
    except ValueError:
        return None


# Appends ARGV[first + 1 ..] to the outbox KEYS[outbox] as e:{seq} entries.
def _append_entries(outbox: int, first: int) -> str:
    return f"""
local count, box = tonumber(ARGV[{first}]), KEYS[{outbox}]
if count > 0 then
  local last = redis.call('HINCRBY', box, '#seq', count)
  for i = 1, count do
    redis.call('HSET', box, string.format('e:%010d', last - count + i), ARGV[{first} + i])
  end
  queued = true
end
"""


# Writes ``new`` only if the stored operation still has version ARGV[1]; then updates the
# active set and appends the notifications, all or nothing.
# KEYS: op, active set, outbox, pending set, reminders, active serial, ended index.
# ARGV: [1] expected version, [2] the operation's JSON, [3] owner, [4] '1' keep polling,
# [5] card version to draw or '', [6] reminder due (s) or '', [7] ended at (ms) or '',
# [8] cleanup TTL (ms), [9] entry count, then the entries.
_RECORD = (
    """
local raw = redis.call('GET', KEYS[1])
if not raw then return -1 end
local version = tonumber(cjson.decode(raw)['version']) or 0
if version ~= tonumber(ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2])
local owner = ARGV[3]
local moved
if ARGV[4] == '1' then
  moved = redis.call('SADD', KEYS[2], owner)
else
  moved = redis.call('SREM', KEYS[2], owner)
end
if moved == 1 then redis.call('INCR', KEYS[6]) end
local queued = false
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], 'card', ARGV[5])
  queued = true
end
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[5], ARGV[6], owner) end
"""
    + _append_entries(outbox=3, first=9)
    + """
if queued then redis.call('SADD', KEYS[4], owner) end
if ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[7], ARGV[7], owner)
  -- A cleanup TTL only grows: a later write must not cut one that covers a reminder.
  local cleanup = math.max(ttl, tonumber(ARGV[8]))
  redis.call('PEXPIRE', KEYS[1], cleanup)
  redis.call('PEXPIRE', KEYS[3], cleanup)
end
return version + 1
"""
)

# Creates the operation unless it exists, to be polled, with its first notifications.
# KEYS: op, active set, outbox, pending set, active serial. ARGV: [1] JSON, [2] owner,
# [3] entry count, then the entries.
_CREATE = (
    """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then return 0 end
local owner = ARGV[2]
if redis.call('SADD', KEYS[2], owner) == 1 then redis.call('INCR', KEYS[5]) end
local queued = false
"""
    + _append_entries(outbox=3, first=3)
    + """
if queued then redis.call('SADD', KEYS[4], owner) end
return 1
"""
)

# Appends notifications once: only the caller that sets the marker enqueues them.
# KEYS: outbox, pending set, marker. ARGV: [1] owner, [2] now, [3] marker TTL (s),
# [4] entry count, then the entries.
_ENQUEUE_ONCE = (
    """
if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', ARGV[3]) == false then return 0 end
local queued = false
"""
    + _append_entries(outbox=1, first=4)
    + """
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""
)

# Forgets up to ARGV[3] operations that ended at or before ARGV[2] (ms). One whose expiry
# reminder is still due is kept until the retention after that reminder (its score moves).
# KEYS: ended index, reminders, pending set, active set. ARGV: [1] key prefix, [2] cutoff,
# [3] batch size. Returns {forgotten, looked at}.
_FORGET_ENDED = """
local owners = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local forgotten = 0
for _, owner in ipairs(owners) do
  local reminder = redis.call('ZSCORE', KEYS[2], owner)
  if redis.call('SISMEMBER', KEYS[4], owner) == 1 then
    redis.call('ZREM', KEYS[1], owner)
  elseif reminder then
    local later = math.floor(tonumber(reminder) * 1000)
    redis.call('ZADD', KEYS[1], math.max(later, tonumber(ARGV[2]) + 1), owner)
  else
    redis.call('DEL', ARGV[1] .. 'op:' .. owner, ARGV[1] .. 'outbox:' .. owner)
    redis.call('SREM', KEYS[3], owner)
    redis.call('ZREM', KEYS[1], owner)
    forgotten = forgotten + 1
  end
end
return {forgotten, #owners}
"""


class OperationStore:
    """Tracked operations keyed by kind and id; the active set is what the tracker polls."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        *,
        key_prefix: str = "bbot:",
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = family_prefix(key_prefix, TRACKING)
        self.retention = retention
        self._record = redis.register_script(_RECORD)
        self._create = redis.register_script(_CREATE)
        self._enqueue_once = redis.register_script(_ENQUEUE_ONCE)
        self._forget_ended = redis.register_script(_FORGET_ENDED)
        self.outboxes = Outboxes(redis, clock, key_prefix=self._prefix)

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    @property
    def key_prefix(self) -> str:
        return self._prefix

    def _op_key(self, kind: OperationKind, operation_id: str) -> str:
        return f"{self._prefix}op:{kind.value}:{operation_id}"

    def _owner_key(self, owner: str) -> str:
        return f"{self._prefix}op:{owner}"

    def _outbox_key(self, owner: str) -> str:
        return self.outboxes.key(owner)

    @property
    def _active_key(self) -> str:
        return f"{self._prefix}ops:active"

    @property
    def _active_serial_key(self) -> str:
        return f"{self._prefix}ops:active:serial"

    @property
    def _ended_key(self) -> str:
        return f"{self._prefix}ops:ended"

    @property
    def _pending_key(self) -> str:
        return self.outboxes.pending_key

    @property
    def _reminders_key(self) -> str:
        return f"{self._prefix}reminders:expiry"

    def _new_operation(
        self,
        kind: OperationKind,
        operation_id: str,
        *,
        cloud_id: str | None,
        product: str | None,
        channel: str | None,
        card_ts: str | None,
        started_by: str | None,
        status: str | None,
        adopted: bool,
        details: dict[str, Any],
    ) -> TrackedOperation:
        return TrackedOperation(
            kind=kind,
            operation_id=operation_id,
            cloud_id=cloud_id,
            product=product,
            channel=channel,
            card_ts=card_ts,
            started_by=started_by,
            registered_at=self._clock.now().isoformat(),
            status=status,
            adopted=adopted,
            policy_id=details.pop("policy_id", None),
            backup_id=details.pop("backup_id", None),
            session_id=details.pop("session_id", None),
            extra=dict(details),
        )

    async def register(
        self,
        kind: OperationKind,
        operation_id: str,
        *,
        cloud_id: str | None,
        product: str | None,
        channel: str | None = None,
        card_ts: str | None = None,
        started_by: str | None = None,
        status: str | None = None,
        adopted: bool = False,
        **details: Any,
    ) -> TrackedOperation:
        """Start tracking; registering the same operation twice keeps the first card."""
        operation = self._new_operation(
            kind,
            operation_id,
            cloud_id=cloud_id,
            product=product,
            channel=channel,
            card_ts=card_ts,
            started_by=started_by,
            status=status,
            adopted=adopted,
            details=dict(details),
        )
        if await self.create(operation):
            return operation
        existing = await self.get(kind, operation_id)
        return existing if existing is not None else operation

    async def create(
        self, operation: TrackedOperation, *, notify: Sequence[Notification] = ()
    ) -> bool:
        """Store a new operation to poll, with its first notifications; False if it is known."""
        if operation.final:
            raise ValueError("create takes an operation still to be polled")
        created = await self._create(
            keys=[
                self._op_key(operation.kind, operation.operation_id),
                self._active_key,
                self._outbox_key(operation.key),
                self._pending_key,
                self._active_serial_key,
            ],
            args=[
                operation.to_json(),
                operation.key,
                str(len(notify)),
                *(encode(entry) for entry in notify),
            ],
        )
        return bool(created)

    async def get(self, kind: OperationKind, operation_id: str) -> TrackedOperation | None:
        raw = await self._redis.get(self._op_key(kind, operation_id))
        return None if raw is None else TrackedOperation.from_json(raw)

    async def get_by_key(self, owner: str) -> TrackedOperation | None:
        """The operation for ``{kind}:{id}``; None for an unknown or non-operation owner."""
        if parse_owner(owner) is None:
            return None
        raw = await self._redis.get(self._owner_key(owner))
        return None if raw is None else TrackedOperation.from_json(raw)

    async def update(
        self, kind: OperationKind, operation_id: str, changes: Mapping[str, Any]
    ) -> TrackedOperation | None:
        """Apply ``changes`` atomically against concurrent changes by the tracker."""
        for _ in range(_CAS_ATTEMPTS):
            current = await self.get(kind, operation_id)
            if current is None:
                return None
            updated = replace(current, **{**changes, "version": current.version + 1})
            outcome = await self.record(updated, expected_version=current.version)
            if outcome:
                return updated
        raise RuntimeError(
            f"operation {kind.value}:{operation_id} keeps changing; update abandoned"
        )

    async def record(
        self,
        operation: TrackedOperation,
        *,
        expected_version: int,
        notify: Sequence[Notification] = (),
        redraw_card: bool = False,
        remind_at: datetime | None = None,
    ) -> bool:
        """Write ``operation`` if it is still at ``expected_version``, with its notifications.

        ``operation.version`` should be ``expected_version + 1``. ``redraw_card`` asks for the
        card to be redrawn at that version; ``notify`` entries are appended in order;
        ``remind_at`` schedules the backup's expiry reminder. Returns False, writing nothing,
        when someone else changed the operation first (or it is gone).
        """
        keep_active = not operation.final or operation.awaiting_report
        ended = "" if keep_active else str(_ms(operation.last_changed_at))
        # Past the retention, and past the reminder still to come, whichever is later.
        cleanup = self.retention + _CLEANUP_MARGIN
        if remind_at is not None:
            cleanup += max(remind_at - self._clock.now(), timedelta(0))
        result = await self._record(
            keys=[
                self._op_key(operation.kind, operation.operation_id),
                self._active_key,
                self._outbox_key(operation.key),
                self._pending_key,
                self._reminders_key,
                self._active_serial_key,
                self._ended_key,
            ],
            args=[
                str(expected_version),
                operation.to_json(),
                operation.key,
                "1" if keep_active else "0",
                str(operation.version) if redraw_card else "",
                "" if remind_at is None else repr(remind_at.timestamp()),
                ended,
                str(int(cleanup.total_seconds() * 1000)),
                str(len(notify)),
                *(encode(entry) for entry in notify),
            ],
        )
        return int(result) > 0

    async def enqueue_once(
        self,
        owner: str,
        notify: Sequence[Notification],
        *,
        marker: str,
        marker_ttl_seconds: int = 60 * 24 * 3600,
    ) -> bool:
        """Append notifications unless ``marker`` was set before: each marker fires once."""
        if not notify:
            raise ValueError("enqueue_once needs at least one notification")
        result = await self._enqueue_once(
            keys=[self._outbox_key(owner), self._pending_key, f"{self._prefix}marker:{marker}"],
            args=[
                owner,
                self._clock.now().isoformat(),
                str(marker_ttl_seconds),
                str(len(notify)),
                *(encode(entry) for entry in notify),
            ],
        )
        return bool(result)

    async def due_reminders(self, now: datetime) -> list[str]:
        members: list[Any] = await self._redis.zrangebyscore(
            self._reminders_key, "-inf", now.timestamp()
        )
        return [_text(member) for member in members]

    async def drop_reminder(self, owner: str) -> None:
        await self._redis.zrem(self._reminders_key, owner)

    async def active_serial(self) -> int:
        """A number that changes whenever an operation joins or leaves the active set."""
        value = await self._redis.get(self._active_serial_key)
        return int(value) if value is not None else 0

    async def active_keys(self) -> list[str]:
        """``{kind}:{id}`` of every operation still being polled."""
        members = await self._redis.smembers(self._active_key)
        return sorted(_text(member) for member in members)

    async def load_raw(self, owners: Sequence[str]) -> list[str | None]:
        """The stored JSON of each operation, in order, fetched in a few round trips."""
        found: list[str | None] = []
        for start in range(0, len(owners), _LOAD_BATCH):
            batch = [self._owner_key(owner) for owner in owners[start : start + _LOAD_BATCH]]
            values = await self._redis.mget(batch)
            found.extend(None if value is None else _text(value) for value in values)
        return found

    async def active(self) -> list[TrackedOperation]:
        keys = await self.active_keys()
        return [
            TrackedOperation.from_json(raw) for raw in await self.load_raw(keys) if raw is not None
        ]

    async def site_of(self, kind: OperationKind, operation_id: str) -> str | None:
        """The cloud id the bot remembers for an export, import or restore it started."""
        operation = await self.get(kind, operation_id)
        return operation.cloud_id if operation else None

    async def forget_ended(self) -> int:
        """Forget the operations that ended more than ``retention`` ago; returns how many.

        Their outboxes go with them, and so do entries set aside longer ago than that.
        """
        now = self._clock.now()
        cutoff = str(_ms(now - self.retention))
        await self._index_unindexed_ended()
        forgotten = 0
        while True:
            done, seen = await self._forget_ended(
                keys=[self._ended_key, self._reminders_key, self._pending_key, self._active_key],
                args=[self._prefix, cutoff, str(_FORGET_BATCH)],
            )
            forgotten += int(done)
            if int(seen) < _FORGET_BATCH:
                break
        await self.outboxes.forget_set_aside(before=now - self.retention)
        return forgotten

    async def _index_unindexed_ended(self) -> None:
        """Once per Redis: index finished operations stored before there was an index.

        Earlier versions kept finished operations for ever; this finds them once (a scan of
        the operation keys) so they are forgotten like the others.
        """
        if not await self._redis.set(f"{self._ended_key}:backfilled", "1", nx=True):
            return
        batch: list[str] = []
        async for key in self._redis.scan_iter(match=f"{self._prefix}op:*", count=_LOAD_BATCH):
            batch.append(_text(key))
            if len(batch) >= _LOAD_BATCH:
                await self._index_ended(batch)
                batch = []
        await self._index_ended(batch)

    async def _index_ended(self, keys: Sequence[str]) -> None:
        ended: dict[str, int] = {}
        for raw in await self._redis.mget(keys) if keys else []:
            if raw is None:
                continue
            operation = TrackedOperation.from_json(raw)
            if operation.final and not operation.awaiting_report:
                ended[operation.key] = _ms(operation.last_changed_at)
        if ended:
            await self._redis.zadd(self._ended_key, ended, nx=True)


__all__ = [
    "DEFAULT_RETENTION",
    "OperationKind",
    "OperationStore",
    "TrackedOperation",
    "parse_owner",
]
