"""Operations the bot started or adopted, each with the Slack card that reports on it.

This is what the tracker polls and what lets ``export-status`` and ``import-status`` remember
an operation's site. Everything lives in Redis so a restarted or second bot process sees it.

Keys, all under the prefix (``bbot:`` by default)::

    op:{kind}:{id}        the operation as JSON; ``version`` grows with every recorded change
    ops:active            set of ``{kind}:{id}`` still being polled
    outbox:{owner}        hash: what must still reach Slack for one owner (an operation's
                          ``{kind}:{id}``, or ``policy:{id}``): ``card`` (the version the card
                          must show), ``e:{seq}`` entries in order, ``claim:{field}`` senders
    outbox:pending        set of owners whose outbox is not empty
    reminders:expiry      sorted set of backup owners by when their expiry reminder is due

A change of an operation's status and the notifications it causes are written by one Lua
script (``record``): the write happens only if nobody changed the operation since it was
read (its ``version``), so two processes that see the same change record it once, and the
outbox can never hold a notification for a change that was not recorded, nor miss one for
a change that was. The scripts build key names from the prefix, so the store needs one Redis
server (not Redis Cluster).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Final

import redis.asyncio as aioredis

from bot.clock import Clock

# MGET batch size: large enough to need few round trips, small enough to keep replies short.
_LOAD_BATCH: Final = 500
_CAS_ATTEMPTS: Final = 20
CARD_FIELD: Final = "card"
_ENTRY_PREFIX: Final = "e:"
_CLAIM_PREFIX: Final = "claim:"


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> TrackedOperation:
        data = json.loads(raw)
        data["kind"] = OperationKind(data["kind"])
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{name: value for name, value in data.items() if name in known})


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One notification still owed to Slack; ``field`` orders entries and acknowledges them."""

    field: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxView:
    """An owner's outbox as read: the card version still to draw, and the entries in order."""

    owner: str
    card_version: int | None
    entries: tuple[OutboxEntry, ...]

    @property
    def empty(self) -> bool:
        return self.card_version is None and not self.entries


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_owner(owner: str) -> tuple[OperationKind, str] | None:
    """The kind and id of an operation owner; None for other owners (e.g. ``policy:...``)."""
    kind_text, _, operation_id = owner.partition(":")
    try:
        return OperationKind(kind_text), operation_id
    except ValueError:
        return None


# Writes ``new`` only if the stored operation still has version ARGV[1]; then updates the
# active set and appends the notifications, all or nothing.
_RECORD = """
local raw = redis.call('GET', KEYS[1])
if not raw then return -1 end
local version = tonumber(cjson.decode(raw)['version']) or 0
if version ~= tonumber(ARGV[1]) then return 0 end
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
local count = tonumber(ARGV[7])
if count > 0 then
  local last = redis.call('HINCRBY', KEYS[3], '#seq', count)
  for i = 1, count do
    redis.call('HSET', KEYS[3], string.format('e:%010d', last - count + i), ARGV[7 + i])
  end
  queued = true
end
if queued then redis.call('SADD', KEYS[4], owner) end
return version + 1
"""

# Creates the operation unless it exists, with its first notifications.
_CREATE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then return 0 end
local owner = ARGV[2]
if ARGV[3] == '1' and redis.call('SADD', KEYS[2], owner) == 1 then
  redis.call('INCR', KEYS[5])
end
local count = tonumber(ARGV[4])
if count > 0 then
  local last = redis.call('HINCRBY', KEYS[3], '#seq', count)
  for i = 1, count do
    redis.call('HSET', KEYS[3], string.format('e:%010d', last - count + i), ARGV[4 + i])
  end
  redis.call('SADD', KEYS[4], owner)
end
return 1
"""

# Appends notifications once: only the caller that sets the marker enqueues them.
_ENQUEUE_ONCE = """
if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', ARGV[3]) == false then return 0 end
local count = tonumber(ARGV[4])
local last = redis.call('HINCRBY', KEYS[1], '#seq', count)
for i = 1, count do
  redis.call('HSET', KEYS[1], string.format('e:%010d', last - count + i), ARGV[4 + i])
end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# Takes the right to send one entry. KEYS[2] is the sender's lease: "owner|fence|expiry_ms";
# ARGV[5] is the "owner|fence|" prefix the sender believes it holds.
_CLAIM = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local lease = redis.call('GET', KEYS[2])
local prefix = ARGV[5]
if not lease or string.sub(lease, 1, #prefix) ~= prefix then return -1 end
local expiry = tonumber(string.sub(lease, #prefix + 1))
local now = tonumber(ARGV[3])
if not expiry or expiry <= now then return -1 end
local claim = redis.call('HGET', KEYS[1], 'claim:' .. ARGV[1])
if claim then
  local sep = string.find(claim, '|', 1, true)
  local holder = string.sub(claim, 1, sep - 1)
  local until_ms = tonumber(string.sub(claim, sep + 1))
  if holder ~= ARGV[2] and until_ms > now then return -2 end
end
redis.call('HSET', KEYS[1], 'claim:' .. ARGV[1], ARGV[2] .. '|' .. ARGV[4])
return 1
"""

# Removes a sent entry (the card only if no newer version arrived meanwhile) and its claim;
# an outbox left with nothing to send is deleted and leaves the pending set.
_ACK = """
redis.call('HDEL', KEYS[1], 'claim:' .. ARGV[1])
local removed = 0
if ARGV[3] == '' or redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[3] then
  removed = redis.call('HDEL', KEYS[1], ARGV[1])
end
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if name == 'card' or string.sub(name, 1, 2) == 'e:' then return removed end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return removed
"""

_UNCLAIM = """
local claim = redis.call('HGET', KEYS[1], 'claim:' .. ARGV[1])
if claim and string.sub(claim, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
  redis.call('HDEL', KEYS[1], 'claim:' .. ARGV[1])
end
return 1
"""


class OperationStore:
    """Tracked operations keyed by kind and id; the active set is what the tracker polls."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, *, key_prefix: str = "bbot:") -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = key_prefix
        self._record = redis.register_script(_RECORD)
        self._create = redis.register_script(_CREATE)
        self._enqueue_once = redis.register_script(_ENQUEUE_ONCE)
        self._claim = redis.register_script(_CLAIM)
        self._ack = redis.register_script(_ACK)
        self._unclaim = redis.register_script(_UNCLAIM)

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
        return f"{self._prefix}outbox:{owner}"

    @property
    def _active_key(self) -> str:
        return f"{self._prefix}ops:active"

    @property
    def _active_serial_key(self) -> str:
        return f"{self._prefix}ops:active:serial"

    @property
    def _pending_key(self) -> str:
        return f"{self._prefix}outbox:pending"

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
        self, operation: TrackedOperation, *, notify: Sequence[Mapping[str, Any]] = ()
    ) -> bool:
        """Store a new operation with its first notifications; False if it is already known."""
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
                "0" if operation.final else "1",
                str(len(notify)),
                *(json.dumps(entry, sort_keys=True) for entry in notify),
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

    async def save(self, operation: TrackedOperation) -> None:
        """Overwrite the operation as given (no version check); prefer ``update``."""
        key = self._op_key(operation.kind, operation.operation_id)
        await self._redis.set(key, operation.to_json())
        if operation.final and not operation.awaiting_report:
            moved = await self._redis.srem(self._active_key, operation.key)
        else:
            moved = await self._redis.sadd(self._active_key, operation.key)
        if moved:
            await self._redis.incr(self._active_serial_key)

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
        notify: Sequence[Mapping[str, Any]] = (),
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
        result = await self._record(
            keys=[
                self._op_key(operation.kind, operation.operation_id),
                self._active_key,
                self._outbox_key(operation.key),
                self._pending_key,
                self._reminders_key,
                self._active_serial_key,
            ],
            args=[
                str(expected_version),
                operation.to_json(),
                operation.key,
                "1" if keep_active else "0",
                str(operation.version) if redraw_card else "",
                "" if remind_at is None else repr(remind_at.timestamp()),
                str(len(notify)),
                *(json.dumps(entry, sort_keys=True) for entry in notify),
            ],
        )
        return int(result) > 0

    async def enqueue_once(
        self,
        owner: str,
        notify: Sequence[Mapping[str, Any]],
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
                *(json.dumps(entry, sort_keys=True) for entry in notify),
            ],
        )
        return bool(result)

    async def outbox(self, owner: str) -> OutboxView:
        raw: Mapping[str | bytes, str | bytes] = await self._redis.hgetall(self._outbox_key(owner))
        card: int | None = None
        entries: list[OutboxEntry] = []
        for name_raw, value_raw in raw.items():
            name, value = _text(name_raw), _text(value_raw)
            if name == CARD_FIELD:
                card = int(value)
            elif name.startswith(_ENTRY_PREFIX):
                entries.append(OutboxEntry(field=name, payload=json.loads(value)))
        entries.sort(key=lambda entry: entry.field)
        return OutboxView(owner=owner, card_version=card, entries=tuple(entries))

    async def pending_owners(self) -> list[str]:
        members = await self._redis.smembers(self._pending_key)
        return sorted(_text(member) for member in members)

    async def claim(
        self,
        owner: str,
        entry_field: str,
        *,
        holder: str,
        now_ms: int,
        until_ms: int,
        lease_key: str,
        lease_prefix: str,
    ) -> int:
        """Take the right to send one entry: 1 taken, 0 already gone, -1 lease lost, -2 busy."""
        return int(
            await self._claim(
                keys=[self._outbox_key(owner), lease_key],
                args=[entry_field, holder, str(now_ms), str(until_ms), lease_prefix],
            )
        )

    async def unclaim(self, owner: str, entry_field: str, *, holder: str) -> None:
        await self._unclaim(keys=[self._outbox_key(owner)], args=[entry_field, holder])

    async def ack(self, owner: str, entry_field: str, *, card_version: int | None = None) -> bool:
        """Mark a sent entry done; the card only if it still asks for ``card_version``."""
        result = await self._ack(
            keys=[self._outbox_key(owner), self._pending_key],
            args=[entry_field, owner, "" if card_version is None else str(card_version)],
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

    async def forget_before(self, cutoff: datetime) -> int:
        """Drop finished operations registered before ``cutoff``; returns how many."""
        removed = 0
        async for key in self._redis.scan_iter(match=f"{self._prefix}op:*"):
            raw = await self._redis.get(key)
            if raw is None:
                continue
            operation = TrackedOperation.from_json(raw)
            if operation.final and datetime.fromisoformat(operation.registered_at) < cutoff:
                await self._redis.delete(key)
                removed += 1
        return removed


__all__ = [
    "CARD_FIELD",
    "OperationKind",
    "OperationStore",
    "OutboxEntry",
    "OutboxView",
    "TrackedOperation",
    "parse_owner",
]
