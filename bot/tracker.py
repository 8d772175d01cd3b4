"""The tracker: polls every running backup, export, import and restore and reports on Slack.

Admins must learn how each operation ended without asking, exactly once, even when the bot
restarts or runs as several replicas. The tracker keeps no state of its own: everything is
in Redis (``bot.store.operations``), and any number of tracker processes may run.

One poll cycle (``poll_once``)
------------------------------
1. Leases: the operations are split into ``shards`` by a hash of their key. Each process
   holds leases on a fair share of the shards (leases are renewed every cycle and lapse
   ``lease_seconds`` after the last renewal; a heartbeat set counts the live processes). A
   process polls and notifies only for the shards it holds, so each operation is handled by
   one process at a time, and the shards of a dead process are taken over at the first
   cycle after its leases lapse. Lease times come from the injected clock, not from Redis
   TTLs, so every process and every test agrees on them; each acquisition takes a new
   fencing number, and a sender proves it still holds the lease (owner and fencing number)
   in the same Redis step that claims a notification.
2. Fetching: one call covers many operations. Backups are listed once per policy that has
   tracked backups, restores and exports once per cycle (the client follows the pages).
   Imports have no list endpoint, so each import is fetched on its own; anything missing
   from a list is fetched on its own too. Calls per cycle therefore grow with policies and
   pages, not with operations (imports excepted).
3. Recording: a status change is written by one Lua script that checks the operation's
   ``version`` (compare-and-set), stores the new status and appends the notifications it
   causes to the operation's outbox, all or nothing. Two processes seeing the same change
   record it once; a change is never recorded without its notifications.
4. Sending: each operation's outbox entries go in order (a restore's hook before its
   announcement), and card edits go as the edit budget allows. Each is claimed (lease check
   plus a per-entry claim that expires with the lease), sent, and acknowledged only after
   Slack accepted it, so a failed, throttled or rate-limited send stays in the outbox and is
   retried: a final-state message is never dropped. The card is one entry holding the
   version it must show; several changes before an edit is allowed become one
   ``chat.update`` that draws the latest state.

Slack's limits, and why cards may lag while thread posts do not
---------------------------------------------------------------
Sends are throttled in Redis, shared by all processes. ``chat.postMessage`` is limited per
channel (about 1 a second with short bursts); ``chat.update`` per workspace (Tier 3, about 50
a minute for the whole app), so every card edit of every channel draws on one budget, of
which the tracker leaves some to the edits people cause by clicking restore cards. A 429
blocks the channel (posts) or the whole workspace (edits) for ``Retry-After`` seconds.
Because a final state is also posted in the card's thread, on the per-channel budget, the
outcome reaches people even while card edits queue: a thread post never waits for its
card's edit. When edits queue, the cards of operations that ended (and of restores) go
before cards with intermediate changes, and within each group the card that has been stale
longest goes first. The waiting cards are kept in memory, so a process waiting for the
edit budget does not reread thousands of outboxes each time one edit may go; an outbox
that holds only a waiting card is reread after a poll only if this process queued something
for it, or in turn (a tenth of the shards per poll) as a safety net.

Ends
----
An operation ends with a documented final status of its kind, with one of a few
undocumented statuses that can only mean it stopped (``UNDOCUMENTED_END_STATUSES``: shown
verbatim, treated like FAILED by the restore flow), or when Atlassian answers 404 for it
(GONE). A restore started through the restore flow then gets the flow's ``finished`` hook,
or ``gone`` for GONE, before its announcement, so its session never stays RUNNING. A
restore without a session (adopted) gets the generic card, like a backup.

What is guaranteed, and the remaining window
--------------------------------------------
Each transition is recorded once and its notifications are queued with it, so nothing is
lost to a crash, a restart, a Slack outage or a 429. Slack's chat.postMessage has no
idempotency key, so delivery is exactly once except in one window: a process that dies (or
stalls longer than its lease) after Slack accepted a message and before the
acknowledgement reached Redis leaves the entry in the outbox, and the next holder of the
shard posts it again. The window is one Slack round trip plus one Redis round trip wide.
The same holds for the card posted for an operation adopted at start-up.

Adoption, reminders, nudges
---------------------------
``adopt_running`` (under a Redis lock, and with create-if-absent registration) adopts
restores and backups running in the organisation that nobody tracks, with a new card in
``BOT_NOTIFY_CHANNEL``. A COMPLETE backup gets one expiry reminder 48 hours before it
expires; a policy without a COMPLETE backup for 7 days gets one nudge per missing period.
Both are guarded by Redis markers set in the same step that queues the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import heapq
import logging
import re
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian import rules
from bot.atlassian.models import (
    FINAL_BACKUP_STATUSES,
    FINAL_OPERATION_STATUSES,
    FINAL_RESTORE_STATUSES,
    Backup,
    BackupStatus,
    Export,
    Import,
    Restore,
    RestoreStatus,
    normalise_product,
)
from bot.clock import ensure_utc
from bot.errors import (
    AtlassianError,
    ConflictError,
    NotFoundError,
    RateLimited,
    Unavailable,
)
from bot.runtime import Services
from bot.slack import blocks
from bot.slack.blocks import Message, OperationCard, OperationOutcome
from bot.slack.commands import escape_mrkdwn
from bot.store.operations import (
    CARD_FIELD,
    OperationKind,
    OutboxEntry,
    OutboxView,
    TrackedOperation,
)

log = logging.getLogger(__name__)

DEFAULT_SHARDS: Final = 32
REMINDER_LEAD: Final = timedelta(hours=48)
NUDGE_AFTER: Final = timedelta(days=7)
POLICY_CHECK_INTERVAL: Final = timedelta(hours=1)
# A report that is still not available a day after the restore ended will not come.
REPORT_GIVE_UP: Final = timedelta(days=1)
ADOPT_LOCK_SECONDS: Final = 300.0
# A full pass also rereads, in turn by shard, the outboxes it believes hold only a card edit,
# so each is reread at least every this many passes: a safety net for anything queued that
# this process did not see (it queues almost everything itself). Rereading them all at once
# would make one cycle in this many slow, and delay that cycle's posts.
OUTBOX_REREAD_PASSES: Final = 10
# Retry soon after a Slack failure that is not a rate limit, without waiting a whole cycle.
SEND_RETRY_SECONDS: Final = 5.0
SEND_CONCURRENCY: Final = 16
FETCH_CONCURRENCY: Final = 8
MAX_BACKOFF_FACTOR: Final = 10
GONE_STATUS: Final = "GONE"
# Statuses outside Atlassian's documented lists that can only mean the operation stopped
# (cancelled by support, aborted, timed out). Without them such an operation would be polled
# and shown as running forever. The list is short on purpose: any other unknown status keeps
# being polled and is shown verbatim, because announcing a running operation as ended would
# mislead more than waiting does. These end like FAILED (the restore flow is told the restore
# failed), while cards and messages show the status as Atlassian spelled it.
UNDOCUMENTED_END_STATUSES: Final = frozenset(
    {"CANCELLED", "CANCELED", "ABORTED", "TIMED_OUT", "TIMEDOUT", "TERMINATED"}
)

FINAL_STATUSES: Final[Mapping[OperationKind, frozenset[str]]] = {
    OperationKind.BACKUP: frozenset(str(s) for s in FINAL_BACKUP_STATUSES),
    OperationKind.EXPORT: frozenset(str(s) for s in FINAL_OPERATION_STATUSES),
    OperationKind.IMPORT: frozenset(str(s) for s in FINAL_OPERATION_STATUSES),
    OperationKind.RESTORE: frozenset(str(s) for s in FINAL_RESTORE_STATUSES),
}
_REPORTED_RESTORE_STATUSES: Final = frozenset({RestoreStatus.COMPLETE, RestoreStatus.INCOMPLETE})
_ADOPTABLE_RESTORE_STATUSES: Final = frozenset(
    {RestoreStatus.VALIDATING, RestoreStatus.IN_PROGRESS}
)

# Slack errors that no retry can fix: the entry is dropped (with a fallback for threads).
_PERMANENT_SLACK_ERRORS: Final = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "thread_not_found",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "restricted_action",
    }
)

ApiItem = Backup | Export | Import | Restore
_T = TypeVar("_T")


class RestoreHooks(Protocol):
    """What the restore flow supplies so that it, not the tracker, owns the restore card."""

    async def claim(self, restore: Restore) -> bool:
        """Whether a restore session owns ``restore``: then it is not adopted as unknown."""
        ...

    async def card_for(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> Message | None:
        """The restore card as it should look now.

        None when the restore flow has no card for it (a restore the bot did not start): the
        tracker then draws the generic operation card, as for a backup.
        """
        ...

    async def finished(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> None:
        """Move the restore session to DONE/FAILED; called once before the final announcement."""
        ...

    async def gone(self, operation: TrackedOperation) -> None:
        """Atlassian no longer reports the restore and the tracker stopped following it.

        Called once, in place of ``finished``, before the announcement, so the restore flow
        can end a session that would otherwise stay RUNNING and block its destination.
        """
        ...


@dataclass(frozen=True, slots=True)
class SlackRate:
    """A send rate: one call per ``interval`` seconds, with bursts of up to ``burst`` calls."""

    interval: float
    burst: int

    @property
    def window(self) -> float:
        return self.interval * (self.burst - 1)


# Any 60 s window holds at most 60/interval + burst - 1 calls. Card edits: 42 for the whole
# workspace, since Slack counts chat.update per app and workspace (about 50 a minute); the
# other 8 or so stay free for the edits people cause by clicking restore cards, which are
# sent at once and must not meet a 429 because the tracker spent the minute's budget. Posts:
# 59 per channel (Slack allows about 1 a second per channel, short bursts tolerated).
CARD_EDIT_RATE: Final = SlackRate(interval=60 / 40, burst=3)
POST_RATE: Final = SlackRate(interval=60 / 57, burst=3)
# Slack counts these methods' calls for the whole workspace; the others per channel.
_WORKSPACE_WIDE_METHODS: Final = frozenset({"chat.update"})


@dataclass
class CycleStats:
    """What one poll cycle did."""

    operations_polled: int = 0
    atlassian_calls: int = 0
    transitions: int = 0
    messages_sent: int = 0
    errors: int = 0
    shards_held: int = 0
    deferred: int = 0
    # Atlassian was unavailable or rate limiting: the loop backs off.
    service_trouble: bool = False
    retry_after: float | None = None


class _Gone:
    """Atlassian answered 404 for an operation the bot tracks."""


GONE: Final = _Gone()


class _Send(enum.Enum):
    DONE = "done"
    WAIT = "wait"


class _Sent(enum.Enum):
    """How far an operation's outbox entries got."""

    ALL = "all"
    SOME = "some"
    # Stopped before the announcement: the operation has no card to edit yet.
    UNTIL_ANNOUNCEMENT = "until-announcement"


class _CardEdit(enum.Enum):
    DONE = "done"
    # The workspace's edit budget is spent: no other card can be edited now either.
    THROTTLED = "throttled"
    # This card could not be edited now (a failure, or another sender holds it).
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class _StaleCard:
    """A card this process still has to edit, and how soon."""

    owner: str
    # Cards of ended operations, and restore cards, are what people act on.
    urgent: bool
    # When the card first fell behind its operation.
    since: datetime

    @property
    def rank(self) -> tuple[int, datetime, str]:
        return (0 if self.urgent else 1, self.since, self.owner)


def shard_of(owner: str, shards: int) -> int:
    return zlib.crc32(owner.encode()) % shards


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


# Renews this process's leases up to its fair share, gives up the excess and takes free or
# lapsed shards. Lease value: "owner|fence|expiry_ms". Returns shard, fence, shard, fence...
_LEASE_CYCLE = """
local prefix, shards, me = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now, lease, start = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZADD', KEYS[1], now + lease, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local live = math.max(redis.call('ZCARD', KEYS[1]), 1)
local target = math.ceil(shards / live)
local held = {}
local function parse(value)
  local a = string.find(value, '|', 1, true)
  local b = string.find(value, '|', a + 1, true)
  local expiry = tonumber(string.sub(value, b + 1))
  return string.sub(value, 1, a - 1), string.sub(value, a + 1, b - 1), expiry
end
for s = 0, shards - 1 do
  local key = prefix .. s
  local value = redis.call('GET', key)
  if value then
    local owner, fence = parse(value)
    if owner == me then
      if #held / 2 < target then
        redis.call('SET', key, me .. '|' .. fence .. '|' .. (now + lease))
        table.insert(held, s)
        table.insert(held, fence)
      else
        redis.call('DEL', key)
      end
    end
  end
end
for i = 0, shards - 1 do
  if #held / 2 >= target then break end
  local s = (start + i) % shards
  local key = prefix .. s
  local value = redis.call('GET', key)
  local free = true
  if value then
    local owner, fence, expiry = parse(value)
    free = owner ~= me and expiry <= now
  end
  if free then
    local fence = redis.call('INCR', KEYS[2])
    redis.call('SET', key, me .. '|' .. fence .. '|' .. (now + lease))
    table.insert(held, s)
    table.insert(held, tostring(fence))
  end
end
return held
"""

# Gives up the leases this process still holds with the given fencing numbers.
_LEASE_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[2])
for i = 3, #ARGV, 2 do
  local key = ARGV[1] .. ARGV[i]
  local value = redis.call('GET', key)
  local prefix = ARGV[2] .. '|' .. ARGV[i + 1] .. '|'
  if value and string.sub(value, 1, #prefix) == prefix then redis.call('DEL', key) end
end
return 1
"""

# A lock on the injected clock: "owner|expiry_ms"; the owner may take it again.
_LOCK = """
local value = redis.call('GET', KEYS[1])
if value then
  local sep = string.find(value, '|', 1, true)
  local owner = string.sub(value, 1, sep - 1)
  local expiry = tonumber(string.sub(value, sep + 1))
  if owner ~= ARGV[1] and expiry > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3])
return 1
"""

_UNLOCK = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('DEL', KEYS[1])
end
return 1
"""

# Once per interval across all processes: the first caller after the due time wins.
_DUE = """
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
if due > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

# Generic cell rate algorithm on the injected clock: 0 = send now, else milliseconds to wait.
# The key's real-time expiry only cleans up; the decision uses the stored time.
_THROTTLE = """
local now, interval, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > window then return math.ceil(tat - now - window) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', 600000)
return 0
"""

_THROTTLE_BLOCK = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local blocked = tonumber(ARGV[1])
if blocked > tat then redis.call('SET', KEYS[1], tostring(blocked), 'PX', 600000) end
return 1
"""


class ShardLeases:
    """This process's share of the shards, on the injected clock, with fencing numbers."""

    def __init__(
        self, services: Services, process_id: str, *, shards: int, lease_seconds: float
    ) -> None:
        if "|" in process_id or not process_id:
            raise ValueError("process_id must be non-empty and must not contain '|'")
        redis = services.redis
        prefix = services.operations.key_prefix
        self._clock = services.clock
        self._process_id = process_id
        self.shards = shards
        self.lease_ms = int(lease_seconds * 1000)
        self._key_prefix = f"{prefix}tracker:lease:"
        self._members_key = f"{prefix}tracker:members"
        self._fence_key = f"{prefix}tracker:fence"
        self._cycle = redis.register_script(_LEASE_CYCLE)
        self._release = redis.register_script(_LEASE_RELEASE)
        self._start = zlib.crc32(process_id.encode()) % shards
        self.held: dict[int, str] = {}

    def key(self, shard: int) -> str:
        return f"{self._key_prefix}{shard}"

    def guard(self, shard: int) -> tuple[str, str] | None:
        """The lease key and the value prefix that prove this process holds ``shard``."""
        fence = self.held.get(shard)
        return None if fence is None else (self.key(shard), f"{self._process_id}|{fence}|")

    async def refresh(self) -> frozenset[int]:
        raw: list[Any] = await self._cycle(
            keys=[self._members_key, self._fence_key],
            args=[
                self._key_prefix,
                str(self.shards),
                self._process_id,
                str(_ms(self._clock.now())),
                str(self.lease_ms),
                str(self._start),
            ],
        )
        values = [item.decode() if isinstance(item, bytes) else str(item) for item in raw]
        self.held = {int(values[i]): values[i + 1] for i in range(0, len(values), 2)}
        return frozenset(self.held)

    async def release_all(self) -> None:
        args = [self._key_prefix, self._process_id]
        for shard, fence in self.held.items():
            args.extend([str(shard), fence])
        await self._release(keys=[self._members_key], args=args)
        self.held = {}


class _Throttle:
    """Send budgets per method and channel, or per method for the whole workspace.

    Shared by every process through Redis.
    """

    def __init__(self, services: Services) -> None:
        redis = services.redis
        self._prefix = f"{services.operations.key_prefix}throttle:"
        self._clock = services.clock
        self._take = redis.register_script(_THROTTLE)
        self._block = redis.register_script(_THROTTLE_BLOCK)

    def _key(self, method: str, channel: str | None) -> str:
        return f"{self._prefix}{method}" if channel is None else f"{self._prefix}{method}:{channel}"

    async def take(self, method: str, channel: str | None, rate: SlackRate) -> float:
        """0 when a call may go now (and it is counted), else the seconds to wait.

        ``channel`` None counts the call against the method's workspace-wide budget.
        """
        wait_ms = await self._take(
            keys=[self._key(method, channel)],
            args=[
                str(_ms(self._clock.now())),
                str(int(rate.interval * 1000)),
                str(int(rate.window * 1000)),
            ],
        )
        return int(wait_ms) / 1000

    async def block(
        self, method: str, channel: str | None, seconds: float, rate: SlackRate
    ) -> None:
        until = self._clock.now() + timedelta(seconds=seconds + rate.window)
        await self._block(keys=[self._key(method, channel)], args=[str(_ms(until))])


@dataclass(frozen=True, slots=True)
class _Posted:
    ts: str | None


@dataclass(frozen=True, slots=True)
class _Refused:
    """Slack refused for good (the channel is gone, the message cannot be edited...)."""

    error: str


_SlackResult = _Posted | _Refused | _Send


class Tracker:
    """Polls tracked operations, records their changes and tells Slack, across replicas."""

    def __init__(
        self,
        services: Services,
        slack: AsyncWebClient,
        *,
        process_id: str,
        restore_hooks: RestoreHooks | None = None,
        lease_seconds: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        shards: int = DEFAULT_SHARDS,
        card_edit_rate: SlackRate = CARD_EDIT_RATE,
        post_rate: SlackRate = POST_RATE,
    ) -> None:
        self._services = services
        self._slack = slack
        self._store = services.operations
        self._atlassian = services.atlassian
        self._clock = services.clock
        self._process_id = process_id
        self._hooks = restore_hooks
        self._sleep = sleep
        self._poll_seconds = float(services.settings.bot_poll_seconds)
        self._notify_channel = services.settings.bot_notify_channel or None
        self.lease_seconds = lease_seconds if lease_seconds is not None else 3 * self._poll_seconds
        self._leases = ShardLeases(
            services, process_id, shards=shards, lease_seconds=self.lease_seconds
        )
        self._throttle = _Throttle(services)
        self._card_edit_rate = card_edit_rate
        self._post_rate = post_rate
        prefix = self._store.key_prefix
        redis = services.redis
        self._lock = redis.register_script(_LOCK)
        self._unlock = redis.register_script(_UNLOCK)
        self._due = redis.register_script(_DUE)
        self._adopt_lock_key = f"{prefix}tracker:adopt-lock"
        self._policy_check_key = f"{prefix}tracker:policy-check-due"
        self._known: dict[str, TrackedOperation] = {}
        self._active: tuple[int, list[str]] | None = None
        self._known_shards: frozenset[int] = frozenset()
        # When a held-back post (or hook) and a held-back card edit may next be tried.
        self._entries_retry_at: datetime | None = None
        self._cards_retry_at: datetime | None = None
        # Cards waiting for the edit budget, as their outboxes were last read: outboxes are
        # read after each poll and when a held-back post is due, not for each card edit.
        self._stale_cards: dict[str, _StaleCard] = {}
        # The same cards in the order they are due, rebuilt after a full pass; kept between
        # passes so that each freed edit does not sort thousands of waiting cards again.
        self._card_queue: list[tuple[tuple[int, datetime, str], _StaleCard]] | None = None
        self._rescan = True
        # Of those, the owners whose outbox held nothing else: a full pass skips rereading
        # them unless this process queued something for them since (``_touched``), their
        # shard is newly held, or it is their shard's turn to be reread.
        self._card_only: set[str] = set()
        self._touched: set[str] = set()
        self._read_shards: frozenset[int] = frozenset()
        self._full_passes = 0
        # Owners whose posts (or hook) could not all go: what a retry rereads.
        self._entries_waiting: set[str] = set()
        # Throttled channels (or, with None, the workspace), so a backlog costs no Redis call
        # per waiting entry.
        self._blocked: dict[tuple[str, str | None], datetime] = {}

    @property
    def process_id(self) -> str:
        return self._process_id

    @property
    def held_shards(self) -> frozenset[int]:
        return frozenset(self._leases.held)

    @property
    def next_send_at(self) -> datetime | None:
        """When a notification held back by a throttle or a failure can next be tried."""
        due = [at for at in (self._entries_retry_at, self._cards_retry_at) if at is not None]
        return min(due, default=None)

    def _mine(self, owner: str) -> bool:
        return shard_of(owner, self._leases.shards) in self._leases.held

    # -- the loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, adopt: bool = False) -> None:
        """Poll every BOT_POLL_SECONDS until ``stop`` is set, backing off while Atlassian fails.

        Nothing raised by one cycle ends the loop. Between cycles, throttled notifications
        are sent as soon as their channel allows it. Start-up normally calls
        ``adopt_running()`` first; ``adopt=True`` does that here.
        """
        if adopt:
            try:
                await self.adopt_running()
            except Exception:
                log.exception("adopting running operations failed; tracking continues")
        failures = 0
        next_poll = self._clock.now()
        try:
            while not stop.is_set():
                now = self._clock.now()
                if now >= next_poll:
                    delay = self._poll_seconds
                    try:
                        stats = await self.poll_once()
                    except Exception:
                        log.exception("tracker cycle failed; retrying after a pause")
                        failures += 1
                        delay = self._backoff(failures, None)
                    else:
                        failures = failures + 1 if stats.service_trouble else 0
                        if failures:
                            delay = self._backoff(failures, stats.retry_after)
                    next_poll = self._clock.now() + timedelta(seconds=delay)
                else:
                    try:
                        await self.flush()
                    except Exception:
                        log.exception("sending notifications failed; retrying later")
                wake = next_poll
                send_at = self.next_send_at
                if send_at is not None and send_at < wake:
                    wake = send_at
                pause = max(0.0, (wake - self._clock.now()).total_seconds())
                await self._pause(stop, pause)
        finally:
            with contextlib.suppress(Exception):
                await self._leases.release_all()

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        factor = min(2.0**failures, float(MAX_BACKOFF_FACTOR))
        delay: float = self._poll_seconds * factor
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def release(self) -> None:
        """Give up this process's leases now, so others take its shards without waiting."""
        await self._leases.release_all()

    # -- one cycle ---------------------------------------------------------------------------

    async def poll_once(self, *, send: bool = True) -> CycleStats:
        """Renew leases, poll this process's operations, queue and send notifications.

        ``send=False`` leaves the sending to a separate ``flush()``, so the cost of polling
        and the cost of talking to Slack can be measured apart.
        """
        stats = CycleStats()
        # Changes recorded now, and entries queued by others, are found by a full pass.
        self._rescan = True
        held = await self._leases.refresh()
        stats.shards_held = len(held)
        operations = await self._load_mine()
        stats.operations_polled = len(operations)
        await self._poll(operations, stats)
        await self._queue_expiry_reminders(stats)
        await self._check_policies(stats)
        if send:
            await self.flush(stats)
        return stats

    async def _load_mine(self) -> list[TrackedOperation]:
        """This process's active operations, read from Redis only when not already known.

        Reading and parsing thousands of unchanged operations every cycle would dominate
        the cycle's cost. An operation of a shard held since the last cycle is known from
        then (this process wrote its last change); a change made elsewhere meanwhile makes
        the next compare-and-set fail, which reloads it. Shards newly held are read afresh.
        """
        held = frozenset(self._leases.held)
        shards = self._leases.shards
        serial = await self._store.active_serial()
        if self._active is None or self._active[0] != serial:
            # The set is read again only when an operation joined or left it.
            self._active = (serial, await self._store.active_keys())
        keys = [key for key in self._active[1] if self._mine(key)]
        stale = [
            key
            for key in keys
            if key not in self._known or shard_of(key, shards) not in self._known_shards
        ]
        fresh: dict[str, TrackedOperation] = {}
        for key, raw in zip(stale, await self._store.load_raw(stale), strict=True):
            if raw is not None:
                fresh[key] = TrackedOperation.from_json(raw)
        known: dict[str, TrackedOperation] = {}
        for key in keys:
            operation = fresh.get(key) or self._known.get(key)
            if operation is not None:
                known[key] = operation
        self._known = known
        self._known_shards = held
        return list(known.values())

    def _remember(self, operation: TrackedOperation) -> None:
        if operation.final and not operation.awaiting_report:
            self._known.pop(operation.key, None)
        else:
            self._known[operation.key] = operation

    async def _api(self, stats: CycleStats, call: Awaitable[_T]) -> _T | _Gone | None:
        """One Atlassian call: its result, GONE on 404, or None after a logged failure."""
        stats.atlassian_calls += 1
        try:
            return await call
        except NotFoundError:
            return GONE
        except AtlassianError as exc:
            stats.errors += 1
            if isinstance(exc, RateLimited | Unavailable):
                stats.service_trouble = True
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    stats.retry_after = max(stats.retry_after or 0.0, exc.retry_after)
            log.warning("tracker: %s", exc)
            return None

    async def _bounded(self, jobs: Iterable[Awaitable[None]], limit: int) -> None:
        gate = asyncio.Semaphore(limit)

        async def run(job: Awaitable[None]) -> None:
            async with gate:
                await job

        await asyncio.gather(*(run(job) for job in jobs))

    async def _poll(self, operations: Sequence[TrackedOperation], stats: CycleStats) -> None:
        observed: dict[str, ApiItem | _Gone] = {}
        singles: list[TrackedOperation] = []
        by_policy: dict[str, list[TrackedOperation]] = defaultdict(list)
        exports: list[TrackedOperation] = []
        restores: list[TrackedOperation] = []
        awaiting_report: list[TrackedOperation] = []
        for operation in operations:
            if operation.final:
                if operation.awaiting_report:
                    awaiting_report.append(operation)
                continue
            if operation.kind is OperationKind.BACKUP and operation.policy_id:
                by_policy[operation.policy_id].append(operation)
            elif operation.kind is OperationKind.EXPORT:
                exports.append(operation)
            elif operation.kind is OperationKind.RESTORE:
                restores.append(operation)
            else:
                # Imports have no list endpoint; a backup without a policy cannot be listed.
                singles.append(operation)

        async def list_policy(policy_id: str, group: list[TrackedOperation]) -> None:
            listed = await self._api(stats, self._atlassian.list_backups(policy_id))
            if isinstance(listed, list):
                self._match(group, {b.backup_id: b for b in listed}, observed, singles)

        await self._bounded(
            (list_policy(policy_id, group) for policy_id, group in by_policy.items()),
            FETCH_CONCURRENCY,
        )
        if exports:
            listed_exports = await self._api(stats, self._atlassian.list_exports())
            if isinstance(listed_exports, list):
                self._match(exports, {e.export_id: e for e in listed_exports}, observed, singles)
        if restores:
            listed_restores = await self._api(stats, self._atlassian.list_restores())
            if isinstance(listed_restores, list):
                self._match(restores, {r.restore_id: r for r in listed_restores}, observed, singles)

        async def fetch_one(operation: TrackedOperation) -> None:
            call = self._get_one(operation)
            if call is None:
                return
            item = await self._api(stats, call)
            if item is not None:
                observed[operation.key] = item

        await self._bounded((fetch_one(operation) for operation in singles), FETCH_CONCURRENCY)

        # Comparing is cheap and synchronous; only changes cost a task and a Redis call.
        changes = []
        for operation in operations:
            item = observed.get(operation.key)
            if item is None:
                continue
            status, message = self._observed_status(item)
            if status != operation.status or message != operation.status_message:
                changes.append(self._record_change(operation, item, status, message, stats))
        await self._bounded(changes, FETCH_CONCURRENCY)
        await self._bounded(
            (self._retry_report(operation, stats) for operation in awaiting_report),
            FETCH_CONCURRENCY,
        )

    @staticmethod
    def _match(
        group: Sequence[TrackedOperation],
        listed: Mapping[str, ApiItem],
        observed: dict[str, ApiItem | _Gone],
        singles: list[TrackedOperation],
    ) -> None:
        for operation in group:
            item = listed.get(operation.operation_id)
            if item is None:
                singles.append(operation)
            else:
                observed[operation.key] = item

    def _get_one(self, operation: TrackedOperation) -> Awaitable[ApiItem] | None:
        kind, operation_id, cloud_id = operation.kind, operation.operation_id, operation.cloud_id
        if kind is OperationKind.BACKUP:
            return self._atlassian.get_backup(operation_id)
        if kind is OperationKind.RESTORE:
            return self._atlassian.get_restore(operation_id)
        if cloud_id is None:
            log.warning("tracker: %s has no site, so it cannot be looked up", operation.key)
            return None
        if kind is OperationKind.EXPORT:
            return self._atlassian.get_export(cloud_id=cloud_id, export_id=operation_id)
        return self._atlassian.get_import(cloud_id=cloud_id, import_id=operation_id)

    # -- recording changes --------------------------------------------------------------------

    def _status_of(self, item: ApiItem) -> tuple[str, str | None]:
        if isinstance(item, Backup):
            status: object = rules.effective_backup_status(item, self._clock.now())
        else:
            status = item.status
        return str(status), item.status_message

    def _observed_status(self, item: ApiItem | _Gone) -> tuple[str, str | None]:
        if isinstance(item, _Gone):
            return GONE_STATUS, "Atlassian no longer knows this operation."
        return self._status_of(item)

    async def _record_change(
        self,
        operation: TrackedOperation,
        item: ApiItem | _Gone,
        status: str,
        message: str | None,
        stats: CycleStats,
        *,
        retried: bool = False,
    ) -> None:
        self._touched.add(operation.key)
        if isinstance(item, _Gone):
            snapshot = operation.snapshot
            final = True
        else:
            snapshot = item.model_dump_json(by_alias=True)
            final = ends_operation(operation.kind, status)
        report_url: str | None = None
        awaiting = False
        if final and isinstance(item, Restore):
            report_url, awaiting = await self._report_for(item, stats)
        remind_at: datetime | None = None
        if isinstance(item, Backup) and status == BackupStatus.COMPLETE:
            expiry = rules.backup_expiry(item)
            if expiry is not None:
                remind_at = expiry - REMINDER_LEAD
        updated = replace(
            operation,
            status=status,
            status_message=message,
            final=final,
            version=operation.version + 1,
            snapshot=snapshot,
            changed_at=self._clock.now().isoformat(),
            report_url=report_url or operation.report_url,
            awaiting_report=awaiting,
            cloud_id=operation.cloud_id or _item_cloud_id(item),
            product=operation.product or _item_product(item),
        )
        notify = self._final_entries(updated) if final else []
        recorded = await self._store.record(
            updated,
            expected_version=operation.version,
            notify=notify,
            redraw_card=True,
            remind_at=remind_at,
        )
        if recorded:
            stats.transitions += 1
            self._remember(updated)
            log.info("%s is now %s", operation.key, status)
            return
        # Someone changed the operation since it was read: judge the change against theirs.
        current = await self._store.get(operation.kind, operation.operation_id)
        if current is None or (current.final and not current.awaiting_report):
            self._known.pop(operation.key, None)
            return
        self._remember(current)
        unchanged = current.status == status and current.status_message == message
        if not retried and not unchanged and not current.final:
            await self._record_change(current, item, status, message, stats, retried=True)

    def _final_entries(self, operation: TrackedOperation) -> list[dict[str, Any]]:
        outcome = {
            "what": "final",
            "status": operation.status,
            "message": operation.status_message,
            "report_url": operation.report_url,
        }
        entries: list[dict[str, Any]] = []
        if operation.kind is OperationKind.RESTORE and self._hooks is not None:
            entries.append({"type": "hook"})
        entries.append({"type": "post", "to": "thread", **outcome})
        if self._notify_channel:
            entries.append({"type": "post", "to": "notify", **outcome})
        return entries

    async def _report_for(self, restore: Restore, stats: CycleStats) -> tuple[str | None, bool]:
        """The report URL, and whether to try again later because it is not ready yet."""
        if (
            restore.status not in _REPORTED_RESTORE_STATUSES
            or not restore.migration_id
            or not restore.cloud_id
        ):
            return None, False
        stats.atlassian_calls += 1
        try:
            url = await self._atlassian.get_post_op_report(
                cloud_id=restore.cloud_id, migration_id=restore.migration_id
            )
        except (ConflictError, Unavailable, RateLimited) as exc:
            log.info("report of restore %s not available yet: %s", restore.restore_id, exc)
            return None, True
        except AtlassianError as exc:
            stats.errors += 1
            log.warning("report of restore %s cannot be fetched: %s", restore.restore_id, exc)
            return None, False
        return url, False

    async def _retry_report(self, operation: TrackedOperation, stats: CycleStats) -> None:
        self._touched.add(operation.key)
        restore = _restore_of(operation)
        url, still_waiting = await self._report_for(restore, stats)
        if url is None and still_waiting:
            ended = operation.changed_at or operation.registered_at
            if self._clock.now() - datetime.fromisoformat(ended) < REPORT_GIVE_UP:
                return
            log.warning("giving up on the report of restore %s", operation.operation_id)
        updated = replace(
            operation,
            version=operation.version + 1,
            report_url=url,
            awaiting_report=False,
        )
        notify = (
            [{"type": "post", "to": "thread", "what": "report", "report_url": url}] if url else []
        )
        if await self._store.record(
            updated, expected_version=operation.version, notify=notify, redraw_card=bool(url)
        ):
            stats.transitions += 1
            self._remember(updated)
        else:
            self._known.pop(operation.key, None)

    # -- reminders and nudges ---------------------------------------------------------------

    async def _queue_expiry_reminders(self, stats: CycleStats) -> None:
        now = self._clock.now()
        for owner in await self._store.due_reminders(now):
            if not self._mine(owner):
                continue
            self._touched.add(owner)
            operation = await self._store.get_by_key(owner)
            backup = _backup_of(operation) if operation is not None else None
            expiry = rules.backup_expiry(backup) if backup is not None else None
            if operation is not None and expiry is not None and expiry > now:
                entry = {"type": "post", "what": "reminder", "expiry": expiry.isoformat()}
                await self._store.enqueue_once(
                    owner,
                    [{**entry, "to": "thread"}, {**entry, "to": "notify"}],
                    marker=f"expiry-reminder:{operation.operation_id}",
                )
            await self._store.drop_reminder(owner)

    async def _check_policies(self, stats: CycleStats) -> None:
        """At most once per POLICY_CHECK_INTERVAL across all processes: nudge idle policies."""
        if not self._notify_channel:
            return
        now = self._clock.now()
        due = await self._due(
            keys=[self._policy_check_key],
            args=[str(_ms(now)), str(_ms(now + POLICY_CHECK_INTERVAL))],
        )
        if not due:
            return
        policies = await self._api(stats, self._atlassian.list_policies())
        if not isinstance(policies, list):
            return
        for policy in policies:
            backups = await self._api(stats, self._atlassian.list_backups(policy.policy_id))
            if not isinstance(backups, list):
                continue
            if any(b.status == BackupStatus.IN_PROGRESS for b in backups):
                continue
            complete = [
                ensure_utc(b.created_at)
                for b in backups
                if b.status == BackupStatus.COMPLETE and b.created_at is not None
            ]
            last = max(complete, default=None)
            if last is not None and now - last < NUDGE_AFTER:
                continue
            since = last or (ensure_utc(policy.created_at) if policy.created_at else None)
            period = since + NUDGE_AFTER if since is not None else None
            period_id = "never" if period is None else str(int(period.timestamp()))
            await self._store.enqueue_once(
                f"policy:{policy.policy_id}",
                [
                    {
                        "type": "post",
                        "to": "notify",
                        "what": "nudge",
                        "policy_id": policy.policy_id,
                        "product": str(policy.product),
                        "cloud_id": policy.cloud_id,
                        "last_complete": last.isoformat() if last else None,
                    }
                ],
                marker=f"policy-nudge:{policy.policy_id}:{period_id}",
            )

    # -- adoption ----------------------------------------------------------------------------

    async def adopt_running(self) -> list[TrackedOperation]:
        """Track restores and backups running in the org that the bot is not tracking yet.

        Each is announced with a new card in BOT_NOTIFY_CHANNEL (without one, it is tracked
        without a card). A restore that belongs to a restore session keeps that session's
        card. Returns what this process adopted; another process holding the adoption lock
        means that process is doing it, and this one adopts nothing.
        """
        now = self._clock.now()
        locked = await self._lock(
            keys=[self._adopt_lock_key],
            args=[
                self._process_id,
                str(_ms(now)),
                str(_ms(now + timedelta(seconds=ADOPT_LOCK_SECONDS))),
            ],
        )
        if not locked:
            log.info("another tracker process is adopting running operations")
            return []
        stats = CycleStats()
        adopted: list[TrackedOperation] = []
        try:
            restores = await self._api(stats, self._atlassian.list_restores())
            for restore in restores if isinstance(restores, list) else []:
                if restore.status in _ADOPTABLE_RESTORE_STATUSES:
                    operation = await self._adopt(
                        OperationKind.RESTORE, restore.restore_id, restore
                    )
                    if operation is not None:
                        adopted.append(operation)
            policies = await self._api(stats, self._atlassian.list_policies())
            for policy in policies if isinstance(policies, list) else []:
                backups = await self._api(stats, self._atlassian.list_backups(policy.policy_id))
                for backup in backups if isinstance(backups, list) else []:
                    if backup.status == BackupStatus.IN_PROGRESS:
                        operation = await self._adopt(
                            OperationKind.BACKUP,
                            backup.backup_id,
                            backup,
                            policy_id=policy.policy_id,
                        )
                        if operation is not None:
                            adopted.append(operation)
        finally:
            await self._unlock(keys=[self._adopt_lock_key], args=[self._process_id])
        return adopted

    async def _adopt(
        self,
        kind: OperationKind,
        operation_id: str,
        item: Backup | Restore,
        *,
        policy_id: str | None = None,
    ) -> TrackedOperation | None:
        if await self._store.get(kind, operation_id) is not None:
            return None
        if isinstance(item, Restore) and self._hooks is not None and await self._hooks.claim(item):
            # A session asked for this restore: its recovery settles it on the session's card.
            return None
        session = (
            await self._services.sessions.find_by_restore_id(operation_id)
            if kind is OperationKind.RESTORE
            else None
        )
        status, message = self._status_of(item)
        operation = TrackedOperation(
            kind=kind,
            operation_id=operation_id,
            cloud_id=item.cloud_id,
            product=_item_product(item),
            channel=session.channel if session else None,
            card_ts=session.card_ts if session else None,
            started_by=session.requester if session else None,
            registered_at=self._clock.now().isoformat(),
            policy_id=policy_id,
            backup_id=item.backup_id if isinstance(item, Restore) else None,
            session_id=session.session_id if session else None,
            status=status,
            status_message=message,
            adopted=True,
            snapshot=item.model_dump_json(by_alias=True),
        )
        notify: list[dict[str, Any]] = []
        if session is None and self._notify_channel:
            notify.append({"type": "announce"})
        elif session is None:
            log.info("adopted %s without a card: BOT_NOTIFY_CHANNEL is not set", operation.key)
        if not await self._store.create(operation, notify=notify):
            return None
        self._rescan = True
        self._touched.add(operation.key)
        log.info("adopted running %s", operation.key)
        return operation

    # -- sending -----------------------------------------------------------------------------

    async def flush(self, stats: CycleStats | None = None) -> CycleStats:
        """Send what the outboxes of this process's shards still owe Slack.

        After a poll, every pending outbox of this process's shards is considered. When a
        held-back post may be retried, only the outboxes that still had posts are read
        again. Otherwise only card edits are due (the edit budget freed up), and they are
        taken from what was read before: thousands of cards waiting for the edit budget cost
        no Redis call each time one edit may go.
        """
        stats = stats or CycleStats()
        now = self._clock.now()
        self._blocked = {key: until for key, until in self._blocked.items() if until > now}
        if self._rescan:
            await self._flush_all(stats)
        elif self._entries_retry_at is not None and self._entries_retry_at <= now:
            self._entries_retry_at = None
            owners = [owner for owner in self._entries_waiting if self._mine(owner)]
            await self._send_outboxes(owners, stats)
        else:
            self._cards_retry_at = None
            await self._edit_cards(stats)
        return stats

    async def _flush_all(self, stats: CycleStats) -> None:
        self._rescan = False
        self._entries_retry_at = None
        self._cards_retry_at = None
        self._full_passes += 1
        turn = self._full_passes % OUTBOX_REREAD_PASSES
        read_shards, self._read_shards = self._read_shards, frozenset(self._leases.held)
        touched, self._touched = self._touched, set()
        known, self._stale_cards = self._stale_cards, {}
        card_only, self._card_only = self._card_only, set()
        self._entries_waiting = set()
        self._card_queue = None
        to_read: list[str] = []
        rereads: list[str] = []
        for owner in await self._store.pending_owners():
            shard = shard_of(owner, self._leases.shards)
            if shard not in self._leases.held:
                continue
            if (
                owner not in card_only
                or owner not in known
                or owner in touched
                or shard not in read_shards
            ):
                to_read.append(owner)
            elif shard % OUTBOX_REREAD_PASSES == turn:
                rereads.append(owner)
                self._stale_cards[owner] = known[owner]
            else:
                # Still just a card edit waiting for the budget: nothing to reread.
                self._stale_cards[owner] = known[owner]
                self._card_only.add(owner)
        await self._send_outboxes(to_read, stats, known=known)
        # Last, so that rereading thousands of waiting cards delays no post of this cycle.
        await self._send_outboxes(rereads, stats, known=known)

    async def _send_outboxes(
        self,
        owners: Sequence[str],
        stats: CycleStats,
        *,
        known: Mapping[str, _StaleCard] | None = None,
    ) -> None:
        """Read the outboxes of ``owners`` and send what they hold, the cards as budget allows.

        ``known`` is what was known of the waiting cards before; by default, the memory.
        """
        if not owners:
            await self._edit_cards(stats)
            return
        known = dict(self._stale_cards) if known is None else known
        found: dict[str, tuple[OutboxView, TrackedOperation | None]] = {}

        async def read(owner: str) -> None:
            view = await self._store.outbox(owner)
            if not view.empty:
                found[owner] = (view, await self._store.get_by_key(owner))

        await self._bounded((read(owner) for owner in owners), SEND_CONCURRENCY)
        # A card waits for its operation's hook (the restore flow first settles the session
        # the card shows) and announcement (an adopted operation has no card before it).
        after_entries: dict[str, _StaleCard] = {}
        for owner in owners:
            self._stale_cards.pop(owner, None)
            self._card_only.discard(owner)
            self._entries_waiting.discard(owner)
            view, operation = found.get(owner, (None, None))
            if view is None or view.card_version is None:
                continue
            stale = self._stale_card(owner, operation, known.get(owner))
            if any(entry.payload.get("type") in ("hook", "announce") for entry in view.entries):
                after_entries[owner] = stale
            else:
                self._stale_cards[owner] = stale
                if not view.entries:
                    self._card_only.add(owner)
        self._card_queue = None
        # Cards first, as far as the edit budget goes, so a thread post rarely arrives before
        # its card shows the same state; but posts never wait for the edit budget.
        await self._edit_cards(stats)

        async def send_entries(
            owner: str, view: OutboxView, operation: TrackedOperation | None
        ) -> None:
            sent = await self._send_entries(owner, view.entries, operation, stats)
            if sent is not _Sent.ALL:
                self._entries_waiting.add(owner)
            if owner in after_entries and sent is not _Sent.UNTIL_ANNOUNCEMENT:
                self._stale_cards[owner] = after_entries[owner]
                self._card_queue = None
            if sent is _Sent.ALL and view.card_version is not None:
                self._card_only.add(owner)

        await self._bounded(
            (
                send_entries(owner, view, operation)
                for owner, (view, operation) in found.items()
                if view.entries
            ),
            SEND_CONCURRENCY,
        )
        if after_entries:
            await self._edit_cards(stats)

    def _stale_card(
        self, owner: str, operation: TrackedOperation | None, known: _StaleCard | None
    ) -> _StaleCard:
        if operation is None:
            return _StaleCard(owner=owner, urgent=False, since=self._clock.now())
        since = ensure_utc(datetime.fromisoformat(operation.changed_at or operation.registered_at))
        if known is not None and known.since < since:
            # Coalesced changes keep the card's place in the queue: it is as late as its
            # oldest change not shown yet, so a card that keeps changing is not starved.
            since = known.since
        urgent = operation.final or operation.kind is OperationKind.RESTORE
        return _StaleCard(owner=owner, urgent=urgent, since=since)

    async def _send_entries(
        self,
        owner: str,
        entries: Sequence[OutboxEntry],
        operation: TrackedOperation | None,
        stats: CycleStats,
    ) -> _Sent:
        """Send ``entries`` in order, up to the first that must wait."""
        for index, entry in enumerate(entries):
            outcome = await self._claimed(
                owner,
                entry.field,
                stats,
                functools.partial(self._send_entry, owner, operation, entry, stats),
            )
            if outcome is _Send.WAIT:
                # Entries wait in order: a thread post never overtakes the hook before it.
                if any(e.payload.get("type") == "announce" for e in entries[index:]):
                    return _Sent.UNTIL_ANNOUNCEMENT
                return _Sent.SOME
            if entry.payload.get("type") == "announce":
                operation = await self._store.get_by_key(owner)
        return _Sent.ALL

    async def _edit_cards(self, stats: CycleStats) -> None:
        """Edit waiting cards, most urgent and stalest first, while the edit budget lasts."""
        if not self._stale_cards:
            self._card_queue = None
            return
        if self._card_queue is None:
            self._card_queue = [(card.rank, card) for card in self._stale_cards.values()]
            heapq.heapify(self._card_queue)
        queue = self._card_queue
        failed: list[tuple[tuple[int, datetime, str], _StaleCard]] = []
        while queue:
            rank, stale = queue[0]
            if self._stale_cards.get(stale.owner) is not stale:
                heapq.heappop(queue)
                continue
            now = self._clock.now()
            blocked_until = self._blocked.get(("chat.update", None))
            if blocked_until is not None and blocked_until > now:
                self._defer((blocked_until - now).total_seconds(), stats, card=True)
                break
            heapq.heappop(queue)
            if not self._mine(stale.owner):
                self._stale_cards.pop(stale.owner, None)
                continue
            outcome = await self._edit_card(stale.owner, stats)
            if outcome is _CardEdit.THROTTLED:
                heapq.heappush(queue, (rank, stale))
                break
            if outcome is _CardEdit.DONE:
                self._stale_cards.pop(stale.owner, None)
            else:
                failed.append((rank, stale))
        for entry in failed:
            heapq.heappush(queue, entry)

    async def _edit_card(self, owner: str, stats: CycleStats) -> _CardEdit:
        view = await self._store.outbox(owner)
        if view.card_version is None:
            return _CardEdit.DONE
        if any(entry.payload.get("type") == "announce" for entry in view.entries):
            # Not announced yet (so there is no card); the next full pass comes back to it.
            return _CardEdit.DONE
        operation = await self._store.get_by_key(owner)
        outcome = await self._claimed(
            owner,
            CARD_FIELD,
            stats,
            functools.partial(self._send_card, operation, stats),
            card_version=view.card_version,
        )
        if outcome is _Send.DONE:
            return _CardEdit.DONE
        blocked_until = self._blocked.get(("chat.update", None))
        if blocked_until is not None and blocked_until > self._clock.now():
            return _CardEdit.THROTTLED
        return _CardEdit.RETRY

    def _defer(self, seconds: float, stats: CycleStats, *, card: bool = False) -> _Send:
        stats.deferred += 1
        at = self._clock.now() + timedelta(seconds=max(seconds, 0.001))
        if card:
            if self._cards_retry_at is None or at < self._cards_retry_at:
                self._cards_retry_at = at
        elif self._entries_retry_at is None or at < self._entries_retry_at:
            self._entries_retry_at = at
        return _Send.WAIT

    async def _claimed(
        self,
        owner: str,
        entry_field: str,
        stats: CycleStats,
        send: Callable[[], Awaitable[_Send]],
        *,
        card_version: int | None = None,
    ) -> _Send:
        guard = self._leases.guard(shard_of(owner, self._leases.shards))
        if guard is None:
            return _Send.WAIT
        lease_key, lease_prefix = guard
        now_ms = _ms(self._clock.now())
        claimed = await self._store.claim(
            owner,
            entry_field,
            holder=self._process_id,
            now_ms=now_ms,
            until_ms=now_ms + self._leases.lease_ms,
            lease_key=lease_key,
            lease_prefix=lease_prefix,
        )
        if claimed == 0:
            return _Send.DONE
        if claimed < 0:
            return _Send.WAIT
        try:
            outcome = await send()
        except BaseException:
            await self._store.unclaim(owner, entry_field, holder=self._process_id)
            raise
        if outcome is _Send.DONE:
            await self._store.ack(owner, entry_field, card_version=card_version)
        else:
            await self._store.unclaim(owner, entry_field, holder=self._process_id)
        return outcome

    async def _call_slack(
        self,
        method: str,
        channel: str,
        rate: SlackRate,
        stats: CycleStats,
        call: Callable[[], Awaitable[Any]],
    ) -> _SlackResult:
        workspace_wide = method in _WORKSPACE_WIDE_METHODS
        scope = None if workspace_wide else channel
        where = "the workspace" if workspace_wide else channel
        defer = functools.partial(self._defer, stats=stats, card=method == "chat.update")
        now = self._clock.now()
        blocked_until = self._blocked.get((method, scope))
        if blocked_until is not None and blocked_until > now:
            return defer((blocked_until - now).total_seconds())
        wait = await self._throttle.take(method, scope, rate)
        if wait > 0:
            self._blocked[(method, scope)] = now + timedelta(seconds=wait)
            return defer(wait)
        try:
            response = await call()
        except SlackApiError as exc:
            response_data = exc.response
            status = getattr(response_data, "status_code", None)
            error = str(response_data.get("error", "")) if response_data is not None else ""
            if status == 429 or error == "ratelimited":
                retry_after = _retry_after(response_data)
                await self._throttle.block(method, scope, retry_after, rate)
                self._blocked[(method, scope)] = self._clock.now() + timedelta(seconds=retry_after)
                log.info("Slack rate-limits %s in %s for %.0f s", method, where, retry_after)
                return defer(retry_after)
            if error in _PERMANENT_SLACK_ERRORS:
                return _Refused(error)
            stats.errors += 1
            log.warning("Slack refused %s in %s (%s); will retry", method, channel, error)
            return defer(SEND_RETRY_SECONDS)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            stats.errors += 1
            log.warning("Slack %s failed (%s); will retry", method, type(exc).__name__)
            return defer(SEND_RETRY_SECONDS)
        stats.messages_sent += 1
        ts = response.get("ts") if hasattr(response, "get") else None
        return _Posted(ts=str(ts) if ts else None)

    async def _post(
        self,
        channel: str,
        message: Message,
        stats: CycleStats,
        *,
        thread_ts: str | None = None,
    ) -> _SlackResult:
        async def call() -> Any:
            arguments: dict[str, Any] = {"channel": channel, **message.as_kwargs()}
            if thread_ts:
                arguments["thread_ts"] = thread_ts
            return await self._slack.chat_postMessage(**arguments)

        result = await self._call_slack("chat.postMessage", channel, self._post_rate, stats, call)
        if (
            isinstance(result, _Refused)
            and thread_ts
            and result.error
            in (
                "thread_not_found",
                "message_not_found",
            )
        ):
            log.warning("the card in %s is gone; posting without a thread", channel)
            return await self._post(channel, message, stats)
        return result

    async def _send_entry(
        self,
        owner: str,
        operation: TrackedOperation | None,
        entry: OutboxEntry,
        stats: CycleStats,
    ) -> _Send:
        payload = entry.payload
        kind = payload.get("type")
        if kind == "hook":
            return await self._run_restore_hook(operation)
        if kind == "announce":
            return await self._announce(operation, stats)
        if kind != "post":
            log.error("unknown outbox entry %s for %s; dropped", kind, owner)
            return _Send.DONE
        to_thread = payload.get("to") == "thread"
        if to_thread:
            if operation is None or not operation.channel or not operation.card_ts:
                return _Send.DONE
            channel, thread_ts = operation.channel, operation.card_ts
        else:
            if not self._notify_channel:
                return _Send.DONE
            if operation is not None and operation.channel == self._notify_channel:
                # Its card, and so its thread, is already in the notify channel.
                return _Send.DONE
            channel, thread_ts = self._notify_channel, None
        card_channel = None if to_thread or operation is None else operation.channel
        message = self._render_post(payload, operation, card_channel)
        if message is None:
            return _Send.DONE
        result = await self._post(channel, message, stats, thread_ts=thread_ts)
        if isinstance(result, _Refused):
            log.error("Slack refused a notification for %s in %s: %s", owner, channel, result.error)
            return _Send.DONE
        return _Send.WAIT if isinstance(result, _Send) else _Send.DONE

    def _render_post(
        self,
        payload: Mapping[str, Any],
        operation: TrackedOperation | None,
        card_channel: str | None,
    ) -> Message | None:
        what = payload.get("what")
        sites = self._services.sites
        if what == "nudge":
            last = payload.get("last_complete")
            return blocks.policy_nudge_message(
                policy_id=str(payload.get("policy_id")),
                product=normalise_product(payload.get("product")),
                site=sites.name(payload.get("cloud_id")),
                last_complete=datetime.fromisoformat(last) if last else None,
                now=self._clock.now(),
            )
        if operation is None:
            return None
        product = normalise_product(operation.product) if operation.product else None
        site = sites.name(operation.cloud_id)
        if what == "final":
            return blocks.outcome_message(
                OperationOutcome(
                    kind=operation.kind.value,
                    operation_id=operation.operation_id,
                    product=product,
                    site=site,
                    status=str(payload.get("status")),
                    status_message=payload.get("message"),
                    started_by=operation.started_by,
                    report_url=payload.get("report_url"),
                ),
                card_channel=card_channel,
            )
        if what == "report" and payload.get("report_url"):
            return blocks.report_message(operation.operation_id, str(payload["report_url"]))
        if what == "reminder":
            return blocks.expiry_reminder_message(
                backup_id=operation.operation_id,
                product=product,
                site=site,
                expiry=datetime.fromisoformat(str(payload["expiry"])),
                now=self._clock.now(),
                card_channel=card_channel,
            )
        return None

    async def _run_restore_hook(self, operation: TrackedOperation | None) -> _Send:
        if operation is None or self._hooks is None:
            return _Send.DONE
        try:
            if operation.status == GONE_STATUS:
                await self._hooks.gone(operation)
            else:
                await self._hooks.finished(
                    operation, _restore_for_flow(operation), operation.report_url
                )
        except Exception:
            log.exception("the restore flow could not finish %s; retrying", operation.key)
            return _Send.WAIT
        return _Send.DONE

    async def _announce(self, operation: TrackedOperation | None, stats: CycleStats) -> _Send:
        if operation is None or operation.card_ts or not self._notify_channel:
            return _Send.DONE
        message = await self._render_card(operation, adopted=True)
        result = await self._post(self._notify_channel, message, stats)
        if isinstance(result, _Refused):
            log.error("could not announce %s: %s", operation.key, result.error)
            return _Send.DONE
        if isinstance(result, _Send):
            return result
        await self._store.update(
            operation.kind,
            operation.operation_id,
            {"channel": self._notify_channel, "card_ts": result.ts},
        )
        return _Send.DONE

    async def _send_card(self, operation: TrackedOperation | None, stats: CycleStats) -> _Send:
        if operation is None or not operation.channel or not operation.card_ts:
            return _Send.DONE
        try:
            message = await self._render_card(operation, adopted=False)
        except Exception:
            log.exception("could not draw the card of %s; retrying", operation.key)
            return self._defer(SEND_RETRY_SECONDS, stats, card=True)
        channel, ts = operation.channel, operation.card_ts

        async def call() -> Any:
            return await self._slack.chat_update(channel=channel, ts=ts, **message.as_kwargs())

        result = await self._call_slack("chat.update", channel, self._card_edit_rate, stats, call)
        if isinstance(result, _Refused):
            log.warning("the card of %s cannot be edited: %s", operation.key, result.error)
            return _Send.DONE
        return _Send.WAIT if isinstance(result, _Send) else _Send.DONE

    async def _render_card(self, operation: TrackedOperation, *, adopted: bool) -> Message:
        if operation.kind is OperationKind.RESTORE and self._hooks is not None and not adopted:
            drawn = await self._hooks.card_for(
                operation, _restore_for_flow(operation), operation.report_url
            )
            if drawn is not None:
                return drawn
            # No restore session owns this card (the restore was adopted): the generic card.
        card = self._card_view(operation)
        return blocks.adopted_card(card) if adopted else blocks.operation_card(card)

    def _card_view(self, operation: TrackedOperation) -> OperationCard:
        sites = self._services.sites
        item = _item_of(operation)
        started = item.created_at if item is not None else None
        detail: str | None = None
        site = sites.name(operation.cloud_id)
        if operation.kind in (OperationKind.EXPORT, OperationKind.IMPORT) and operation.backup_id:
            detail = f"backup {blocks.code(operation.backup_id)}"
        if operation.kind is OperationKind.RESTORE:
            source = f"backup {blocks.code(operation.backup_id)}" if operation.backup_id else ""
            report = (
                f" · <{escape_mrkdwn(operation.report_url)}|Post-restore report>"
                if operation.report_url
                else ""
            )
            detail = (source + report).strip(" ·") or None
        return OperationCard(
            kind=operation.kind.value,
            operation_id=operation.operation_id,
            product=normalise_product(operation.product) if operation.product else None,
            site=site,
            started_by=operation.started_by,
            status=operation.status or "IN_PROGRESS",
            started_at=started or datetime.fromisoformat(operation.registered_at),
            status_message=operation.status_message,
            detail=detail,
            updated_at=(
                datetime.fromisoformat(operation.changed_at) if operation.changed_at else None
            ),
        )


def ends_operation(kind: OperationKind, status: str) -> bool:
    """Whether ``status``, as Atlassian reported it, means the operation will not change again.

    The documented final statuses of its kind, or one of ``UNDOCUMENTED_END_STATUSES`` in
    any case or with spaces or hyphens for underscores.
    """
    if status in FINAL_STATUSES[kind]:
        return True
    return _status_key(status) in UNDOCUMENTED_END_STATUSES


def _status_key(status: str) -> str:
    return re.sub(r"[\s\-]+", "_", status.strip()).upper()


def _retry_after(response: Any) -> float:
    headers = getattr(response, "headers", None) or {}
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if hasattr(headers, "get") else None
        if value is not None:
            try:
                return max(1.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0


def _item_cloud_id(item: ApiItem | _Gone) -> str | None:
    return None if isinstance(item, _Gone) else item.cloud_id


def _item_product(item: ApiItem | _Gone) -> str | None:
    if isinstance(item, _Gone) or item.product is None:
        return None
    return str(item.product)


_ITEM_MODELS: Final[Mapping[OperationKind, type[ApiItem]]] = {
    OperationKind.BACKUP: Backup,
    OperationKind.EXPORT: Export,
    OperationKind.IMPORT: Import,
    OperationKind.RESTORE: Restore,
}


def _item_of(operation: TrackedOperation) -> ApiItem | None:
    if not operation.snapshot:
        return None
    try:
        return _ITEM_MODELS[operation.kind].model_validate_json(operation.snapshot)
    except ValueError:
        log.warning("the stored view of %s is unreadable", operation.key)
        return None


def _backup_of(operation: TrackedOperation) -> Backup | None:
    item = _item_of(operation)
    return item if isinstance(item, Backup) else None


def _restore_for_flow(operation: TrackedOperation) -> Restore:
    """The restore as the restore flow should see it: an undocumented end reads as FAILED.

    The flow only knows the documented final statuses; the status Atlassian actually gave
    stays in the message, so the session's outcome still names it.
    """
    restore = _restore_of(operation)
    status = str(restore.status)
    if status in FINAL_STATUSES[OperationKind.RESTORE] or not ends_operation(
        OperationKind.RESTORE, status
    ):
        return restore
    reason = f"the restore ended with the status {status}"
    if restore.status_message:
        reason += f": {restore.status_message}"
    return restore.model_copy(update={"status": RestoreStatus.FAILED, "status_message": reason})


def _restore_of(operation: TrackedOperation) -> Restore:
    """The restore as last seen, or what the tracked operation itself knows of it."""
    item = _item_of(operation)
    if isinstance(item, Restore):
        return item
    return Restore(
        restore_id=operation.operation_id,
        backup_id=operation.backup_id,
        cloud_id=operation.cloud_id,
        product=operation.product,
        status=operation.status or RestoreStatus.IN_PROGRESS,
        status_message=operation.status_message,
    )


__all__ = [
    "CARD_EDIT_RATE",
    "DEFAULT_SHARDS",
    "FINAL_STATUSES",
    "POST_RATE",
    "REMINDER_LEAD",
    "UNDOCUMENTED_END_STATUSES",
    "CycleStats",
    "RestoreHooks",
    "ShardLeases",
    "SlackRate",
    "Tracker",
    "ends_operation",
    "shard_of",
]
