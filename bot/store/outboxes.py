"""The outboxes as the sender sees them: read, claim, acknowledge, set aside.

Each owner (an operation's ``{kind}:{id}``, or ``policy:{id}``) has one outbox, a Redis hash
``outbox:{owner}`` under the key prefix, filled by ``OperationStore`` in the same script that
records the change causing it (see ``bot.store.operations`` for the key layout):

- ``card``: the version of the operation its card must show; one field however many
  changes happened, so several changes before an edit may go become one edit;
- ``e:{seq}``: notifications (``bot.store.outbox``) in the order they must be sent;
- ``claim:{field}``: ``holder|until_ms``, who is sending that field now.

Delivery is at least once: a sender claims a field (proving in the same script that it
still holds the lease of the owner's shard), sends it, and acknowledges it only after Slack
accepted it; a failed send gives the claim back. An entry that this code cannot read is set
aside into ``outbox:set-aside`` (kept for an operator, with why and when) and acknowledged,
so it never blocks the entries after it nor retries for ever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import redis.asyncio as aioredis

from bot.clock import Clock, ensure_utc
from bot.store.keys import TRACKING, family_prefix
from bot.store.outbox import Notification, UnreadableNotification, decode

CARD_FIELD: Final = "card"
_ENTRY_PREFIX: Final = "e:"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One notification still owed to Slack; ``field`` orders entries and acknowledges them."""

    field: str
    notification: Notification


@dataclass(frozen=True, slots=True)
class UnreadableEntry:
    """An entry this code cannot read: what is stored, and why it cannot be read."""

    field: str
    raw: str
    reason: str


@dataclass(frozen=True, slots=True)
class OutboxView:
    """An owner's outbox as read: the card version still to draw, and the entries in order."""

    owner: str
    card_version: int | None
    entries: tuple[OutboxEntry, ...]
    unreadable: tuple[UnreadableEntry, ...] = ()

    @property
    def empty(self) -> bool:
        return self.card_version is None and not self.entries and not self.unreadable


# Ends a script on the outbox KEYS[1]: deletes it once it holds nothing to send, and takes
# its owner ARGV[2] out of the pending set KEYS[2]; returns ``removed``.
_DROP_IF_EMPTY: Final = """
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if name == 'card' or string.sub(name, 1, 2) == 'e:' then return removed end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return removed
"""

# Takes the right to send one entry. KEYS: outbox, the sender's lease ("holder|fence|expiry").
# ARGV: [1] field, [2] holder, [3] now (ms), [4] claim until (ms), [5] the "holder|fence|"
# prefix the sender believes it holds. Returns 1 taken, 0 gone, -1 lease lost, -2 busy.
_CLAIM: Final = """
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

# Removes a sent entry (the card only if no newer version arrived meanwhile) and its claim.
# KEYS: outbox, pending set. ARGV: [1] field, [2] owner, [3] card version or ''.
_ACK: Final = (
    """
redis.call('HDEL', KEYS[1], 'claim:' .. ARGV[1])
local removed = 0
if ARGV[3] == '' or redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[3] then
  removed = redis.call('HDEL', KEYS[1], ARGV[1])
end
"""
    + _DROP_IF_EMPTY
)

# Moves an entry nobody can read into the set-aside hash: 1 if this call moved it.
# KEYS: outbox, pending set, set-aside hash. ARGV: [1] field, [2] owner, [3] why, [4] now.
_SET_ASIDE: Final = (
    """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local kept = cjson.encode({entry = raw, reason = ARGV[3], at = ARGV[4]})
redis.call('HSET', KEYS[3], ARGV[2] .. ' ' .. ARGV[1], kept)
redis.call('HDEL', KEYS[1], ARGV[1], 'claim:' .. ARGV[1])
local removed = 1
"""
    + _DROP_IF_EMPTY
)

# Gives a claim back if ARGV[2] still holds it. KEYS: outbox. ARGV: [1] field, [2] holder.
_UNCLAIM: Final = """
local claim = redis.call('HGET', KEYS[1], 'claim:' .. ARGV[1])
if claim and string.sub(claim, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
  redis.call('HDEL', KEYS[1], 'claim:' .. ARGV[1])
end
return 1
"""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Outboxes:
    """Reading and settling outbox entries; ``OperationStore`` is what fills them."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, *, key_prefix: str) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = family_prefix(key_prefix, TRACKING)
        self._claim = redis.register_script(_CLAIM)
        self._ack = redis.register_script(_ACK)
        self._unclaim = redis.register_script(_UNCLAIM)
        self._set_aside = redis.register_script(_SET_ASIDE)

    def key(self, owner: str) -> str:
        return f"{self._prefix}outbox:{owner}"

    @property
    def pending_key(self) -> str:
        return f"{self._prefix}outbox:pending"

    @property
    def _set_aside_key(self) -> str:
        return f"{self._prefix}outbox:set-aside"

    async def read(self, owner: str) -> OutboxView:
        """What ``owner`` still owes Slack; entries this code cannot read come apart."""
        raw: Mapping[str | bytes, str | bytes] = await self._redis.hgetall(self.key(owner))
        card: int | None = None
        entries: list[OutboxEntry] = []
        unreadable: list[UnreadableEntry] = []
        for name_raw, value_raw in raw.items():
            name, value = _text(name_raw), _text(value_raw)
            if name == CARD_FIELD:
                card = int(value)
            elif name.startswith(_ENTRY_PREFIX):
                try:
                    entries.append(OutboxEntry(field=name, notification=decode(value)))
                except UnreadableNotification as exc:
                    unreadable.append(UnreadableEntry(field=name, raw=value, reason=str(exc)))
        entries.sort(key=lambda entry: entry.field)
        unreadable.sort(key=lambda entry: entry.field)
        return OutboxView(
            owner=owner, card_version=card, entries=tuple(entries), unreadable=tuple(unreadable)
        )

    async def pending_owners(self) -> list[str]:
        members = await self._redis.smembers(self.pending_key)
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
                keys=[self.key(owner), lease_key],
                args=[entry_field, holder, str(now_ms), str(until_ms), lease_prefix],
            )
        )

    async def unclaim(self, owner: str, entry_field: str, *, holder: str) -> None:
        await self._unclaim(keys=[self.key(owner)], args=[entry_field, holder])

    async def ack(self, owner: str, entry_field: str, *, card_version: int | None = None) -> bool:
        """Mark a sent entry done; the card only if it still asks for ``card_version``."""
        result = await self._ack(
            keys=[self.key(owner), self.pending_key],
            args=[entry_field, owner, "" if card_version is None else str(card_version)],
        )
        return bool(result)

    async def set_aside(self, owner: str, entry: UnreadableEntry) -> bool:
        """Move an unreadable entry out of the outbox; True for the one caller that moved it."""
        moved = await self._set_aside(
            keys=[self.key(owner), self.pending_key, self._set_aside_key],
            args=[entry.field, owner, entry.reason, self._clock.now().isoformat()],
        )
        return bool(int(moved))

    async def set_aside_entries(self) -> dict[str, dict[str, str]]:
        """What was set aside, by ``{owner} {field}``: the entry as stored, why, and when."""
        raw: Mapping[str | bytes, str | bytes] = await self._redis.hgetall(self._set_aside_key)
        return {_text(name): json.loads(_text(value)) for name, value in raw.items()}

    async def forget_set_aside(self, *, before: datetime) -> None:
        """Drop what was set aside before ``before``."""
        old = [
            name
            for name, kept in (await self.set_aside_entries()).items()
            if ensure_utc(datetime.fromisoformat(kept["at"])) < before
        ]
        if old:
            await self._redis.hdel(self._set_aside_key, *old)


__all__ = ["CARD_FIELD", "OutboxEntry", "OutboxView", "Outboxes", "UnreadableEntry"]
