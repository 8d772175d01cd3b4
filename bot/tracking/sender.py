"""Sending: what this process's outboxes still owe Slack, in order and within the budgets.

Each operation's outbox entries go in order (a restore's hook before its announcement), and
card edits go as the edit budget allows. Each is claimed (lease check plus a per-entry claim
that expires with the lease), sent, and acknowledged only after Slack accepted it, so a
failed, throttled or rate-limited send stays in the outbox and is retried: a final-state
message is never dropped. The card is one entry holding the version it must show; several
changes before an edit is allowed become one ``chat.update`` that draws the latest state.

Slack's limits, and why cards may lag while thread posts do not
---------------------------------------------------------------
Sends draw on budgets in Redis shared by all processes (``bot.store.throttle``, applied by
the Slack gateway). ``chat.postMessage`` is limited per channel (about 1 a second with short
bursts); ``chat.update`` per workspace (Tier 3, about 50 a minute for the whole app), so every
card edit of every channel draws on one budget, of which the tracker leaves some to the
edits people cause by clicking restore cards. A 429 blocks the channel (posts) or the whole
workspace (edits) for ``Retry-After`` seconds on the injected clock; nothing here sleeps,
the loop wakes when ``next_send_at`` comes. Because a final state is also posted in the
card's thread, on the per-channel budget, the outcome reaches people even while card edits
queue: a thread post never waits for its card's edit. When edits queue, the cards of
operations that ended (and of restores) go before cards with intermediate changes, and
within each group the card that has been stale longest goes first. The waiting cards are
kept in memory (``CardQueue``), so a process waiting for the edit budget does not reread
thousands of outboxes each time one edit may go; an outbox that holds only a waiting card is
reread after a poll only if this process queued something for it, or in turn (a tenth of
the shards per poll) as a safety net.
"""

from __future__ import annotations

import enum
import functools
import heapq
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bot.clock import Clock, ensure_utc
from bot.redaction import redact
from bot.store.operations import OperationKind, OperationStore, TrackedOperation
from bot.store.outbox import Announce, RestoreHook
from bot.store.outboxes import CARD_FIELD, OutboxEntry, OutboxView
from bot.tracking.cycle import CycleStats, bounded
from bot.tracking.delivery import DONE, Delivery, Later, Outcome
from bot.tracking.shards import ShardLeases, shard_of

log = logging.getLogger(__name__)

SEND_CONCURRENCY: Final = 16
# A full pass also rereads, in turn by shard, the outboxes it believes hold only a card edit,
# so each is reread at least every this many passes: a safety net for anything queued that
# this process did not see (it queues almost everything itself). Rereading them all at once
# would make one cycle in this many slow, and delay that cycle's posts.
OUTBOX_REREAD_PASSES: Final = 10


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
class StaleCard:
    """A card this process still has to edit, and how soon."""

    owner: str
    # Cards of ended operations, and restore cards, are what people act on.
    urgent: bool
    # When the card first fell behind its operation.
    since: datetime

    @property
    def rank(self) -> tuple[int, datetime, str]:
        return (0 if self.urgent else 1, self.since, self.owner)


class CardQueue:
    """Cards waiting for the edit budget, most urgent and stalest first.

    The order is kept between edits (a heap, rebuilt only after cards were added), so each
    freed edit does not sort thousands of waiting cards again.
    """

    def __init__(self) -> None:
        self._cards: dict[str, StaleCard] = {}
        self._heap: list[tuple[tuple[int, datetime, str], StaleCard]] | None = None

    def __bool__(self) -> bool:
        return bool(self._cards)

    def get(self, owner: str) -> StaleCard | None:
        return self._cards.get(owner)

    def put(self, card: StaleCard) -> None:
        self._cards[card.owner] = card
        self._heap = None

    def discard(self, owner: str) -> None:
        self._cards.pop(owner, None)

    def take_all(self) -> dict[str, StaleCard]:
        """Empty the queue, returning what it held."""
        cards, self._cards, self._heap = self._cards, {}, None
        return cards

    def in_order(self) -> Iterator[StaleCard]:
        """The waiting cards in order, each taken off the queue as it is yielded."""
        if self._heap is None:
            self._heap = [(card.rank, card) for card in self._cards.values()]
            heapq.heapify(self._heap)
        while self._heap:
            _, card = heapq.heappop(self._heap)
            if self._cards.get(card.owner) is card:
                yield card

    def put_back(self, card: StaleCard) -> None:
        """Return a card that ``in_order`` yielded but that could not be edited yet."""
        if self._heap is not None and self._cards.get(card.owner) is card:
            heapq.heappush(self._heap, (card.rank, card))


class Sender:
    """Sends what the outboxes of this process's shards hold, as budgets allow."""

    def __init__(
        self,
        store: OperationStore,
        clock: Clock,
        shards: ShardLeases,
        delivery: Delivery,
        *,
        process_id: str,
    ) -> None:
        self._store = store
        self._outboxes = store.outboxes
        self._clock = clock
        self._shards = shards
        self._delivery = delivery
        self._process_id = process_id
        self._rescan = True
        # When a held-back post (or hook) and a held-back card edit may next be tried.
        self._entries_retry_at: datetime | None = None
        self._cards_retry_at: datetime | None = None
        # Until when the workspace's card-edit budget is known to be spent.
        self._cards_blocked_until: datetime | None = None
        # Cards waiting for the edit budget, as their outboxes were last read: outboxes are
        # read after each poll and when a held-back post is due, not for each card edit.
        self._cards = CardQueue()
        # Of those, the owners whose outbox held nothing else: a full pass skips rereading
        # them unless this process queued something for them since (``_touched``), their
        # shard is newly held, or it is their shard's turn to be reread.
        self._card_only: set[str] = set()
        self._touched: set[str] = set()
        self._read_shards: frozenset[int] = frozenset()
        self._full_passes = 0
        # Owners whose posts (or hook) could not all go: what a retry rereads.
        self._entries_waiting: set[str] = set()

    @property
    def next_send_at(self) -> datetime | None:
        """When a notification held back by a throttle or a failure can next be tried."""
        due = [at for at in (self._entries_retry_at, self._cards_retry_at) if at is not None]
        return min(due, default=None)

    def touch(self, owner: str) -> None:
        """This process queued something for ``owner``: its outbox is read at the next pass."""
        self._touched.add(owner)

    def rescan(self) -> None:
        """Consider every pending outbox at the next flush (after a poll)."""
        self._rescan = True

    async def flush(self, stats: CycleStats) -> None:
        """Send what the outboxes of this process's shards still owe Slack.

        After a poll, every pending outbox of this process's shards is considered. When a
        held-back post may be retried, only the outboxes that still had posts are read
        again. Otherwise only card edits are due (the edit budget freed up), and they are
        taken from what was read before: thousands of cards waiting for the edit budget cost
        no Redis call each time one edit may go.
        """
        now = self._clock.now()
        if self._rescan:
            await self._flush_all(stats)
        elif self._entries_retry_at is not None and self._entries_retry_at <= now:
            self._entries_retry_at = None
            owners = [owner for owner in self._entries_waiting if self._shards.mine(owner)]
            await self._send_outboxes(owners, stats)
        else:
            self._cards_retry_at = None
            await self._edit_cards(stats)

    async def _flush_all(self, stats: CycleStats) -> None:
        self._rescan = False
        self._entries_retry_at = None
        self._cards_retry_at = None
        self._full_passes += 1
        turn = self._full_passes % OUTBOX_REREAD_PASSES
        held = self._shards.held
        read_shards, self._read_shards = self._read_shards, held
        touched, self._touched = self._touched, set()
        known = self._cards.take_all()
        card_only, self._card_only = self._card_only, set()
        self._entries_waiting = set()
        to_read: list[str] = []
        rereads: list[str] = []
        for owner in await self._outboxes.pending_owners():
            shard = shard_of(owner, self._shards.shards)
            if shard not in held:
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
                self._cards.put(known[owner])
            else:
                # Still just a card edit waiting for the budget: nothing to reread.
                self._cards.put(known[owner])
                self._card_only.add(owner)
        await self._send_outboxes(to_read, stats, known=known)
        # Last, so that rereading thousands of waiting cards delays no post of this cycle.
        await self._send_outboxes(rereads, stats, known=known)

    async def _send_outboxes(
        self,
        owners: Sequence[str],
        stats: CycleStats,
        *,
        known: Mapping[str, StaleCard] | None = None,
    ) -> None:
        """Read the outboxes of ``owners`` and send what they hold, the cards as budget allows.

        ``known`` is what was known of the waiting cards before; by default, the queue.
        """
        if not owners:
            await self._edit_cards(stats)
            return
        found: dict[str, tuple[OutboxView, TrackedOperation | None]] = {}

        async def read(owner: str) -> None:
            view = await self._outboxes.read(owner)
            for unreadable in view.unreadable:
                if await self._outboxes.set_aside(owner, unreadable):
                    log.error(
                        "set aside an outbox entry of %s that cannot be read (%s): %.200s",
                        owner,
                        unreadable.reason,
                        redact(unreadable.raw),
                    )
            if view.entries or view.card_version is not None:
                found[owner] = (view, await self._store.get_by_key(owner))

        await bounded((read(owner) for owner in owners), SEND_CONCURRENCY)
        # A card waits for its operation's hook (the restore workflow first settles the
        # session the card shows) and announcement (an adopted operation has no card before).
        after_entries: dict[str, StaleCard] = {}
        for owner in owners:
            before = known.get(owner) if known is not None else self._cards.get(owner)
            self._cards.discard(owner)
            self._card_only.discard(owner)
            self._entries_waiting.discard(owner)
            view, operation = found.get(owner, (None, None))
            if view is None or view.card_version is None:
                continue
            stale = self._stale_card(owner, operation, before)
            if any(isinstance(e.notification, RestoreHook | Announce) for e in view.entries):
                after_entries[owner] = stale
            else:
                self._cards.put(stale)
                if not view.entries:
                    self._card_only.add(owner)
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
                self._cards.put(after_entries[owner])
            if sent is _Sent.ALL and view.card_version is not None:
                self._card_only.add(owner)

        await bounded(
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
        self, owner: str, operation: TrackedOperation | None, known: StaleCard | None
    ) -> StaleCard:
        if operation is None:
            return StaleCard(owner=owner, urgent=False, since=self._clock.now())
        since = operation.last_changed_at
        if known is not None and known.since < since:
            # Coalesced changes keep the card's place in the queue: it is as late as its
            # oldest change not shown yet, so a card that keeps changing is not starved.
            since = known.since
        urgent = operation.final or operation.kind is OperationKind.RESTORE
        return StaleCard(owner=owner, urgent=urgent, since=since)

    async def _send_entries(
        self,
        owner: str,
        entries: Sequence[OutboxEntry],
        operation: TrackedOperation | None,
        stats: CycleStats,
    ) -> _Sent:
        """Send ``entries`` in order, up to the first that must wait."""
        for index, entry in enumerate(entries):
            send = functools.partial(
                self._delivery.entry, owner, operation, entry.notification, stats
            )
            outcome = await self._claimed(owner, entry.field, send)
            if isinstance(outcome, Later):
                self._defer(outcome, stats, card=False)
                # Entries wait in order: a thread post never overtakes the hook before it.
                if any(isinstance(e.notification, Announce) for e in entries[index:]):
                    return _Sent.UNTIL_ANNOUNCEMENT
                return _Sent.SOME
            if isinstance(entry.notification, Announce):
                operation = await self._store.get_by_key(owner)
        return _Sent.ALL

    async def _edit_cards(self, stats: CycleStats) -> None:
        """Edit waiting cards, most urgent and stalest first, while the edit budget lasts."""
        failed: list[StaleCard] = []
        for stale in self._cards.in_order():
            now = self._clock.now()
            blocked = self._cards_blocked_until
            if blocked is not None and blocked > now:
                self._cards.put_back(stale)
                self._defer(Later((blocked - now).total_seconds()), stats, card=True)
                break
            if not self._shards.mine(stale.owner):
                self._cards.discard(stale.owner)
                continue
            outcome = await self._edit_card(stale.owner, stats)
            if outcome is _CardEdit.THROTTLED:
                self._cards.put_back(stale)
                break
            if outcome is _CardEdit.DONE:
                self._cards.discard(stale.owner)
            else:
                failed.append(stale)
        for stale in failed:
            self._cards.put_back(stale)

    async def _edit_card(self, owner: str, stats: CycleStats) -> _CardEdit:
        view = await self._outboxes.read(owner)
        if view.card_version is None:
            return _CardEdit.DONE
        if any(isinstance(entry.notification, Announce) for entry in view.entries):
            # Not announced yet (so there is no card); the next full pass comes back to it.
            return _CardEdit.DONE
        operation = await self._store.get_by_key(owner)
        edit = functools.partial(self._delivery.card, operation, stats)
        outcome = await self._claimed(owner, CARD_FIELD, edit, card_version=view.card_version)
        if not isinstance(outcome, Later):
            return _CardEdit.DONE
        self._defer(outcome, stats, card=True)
        if outcome.workspace_wide and outcome.seconds is not None:
            self._cards_blocked_until = self._clock.now() + timedelta(seconds=outcome.seconds)
            return _CardEdit.THROTTLED
        return _CardEdit.RETRY

    def _defer(self, later: Later, stats: CycleStats, *, card: bool) -> None:
        """Note when what had to wait may be tried again (None: at the next poll)."""
        if later.seconds is None:
            return
        stats.deferred += 1
        at = self._clock.now() + timedelta(seconds=max(later.seconds, 0.001))
        if card:
            if self._cards_retry_at is None or at < self._cards_retry_at:
                self._cards_retry_at = at
        elif self._entries_retry_at is None or at < self._entries_retry_at:
            self._entries_retry_at = at

    async def _claimed(
        self,
        owner: str,
        entry_field: str,
        send: Callable[[], Awaitable[Outcome]],
        *,
        card_version: int | None = None,
    ) -> Outcome:
        """Send one field under a claim; acknowledged only when the send is done."""
        guard = self._shards.guard(owner)
        if guard is None:
            return Later()
        lease_key, lease_prefix = guard
        now_ms = int(ensure_utc(self._clock.now()).timestamp() * 1000)
        claimed = await self._outboxes.claim(
            owner,
            entry_field,
            holder=self._process_id,
            now_ms=now_ms,
            until_ms=now_ms + self._shards.lease_ms,
            lease_key=lease_key,
            lease_prefix=lease_prefix,
        )
        if claimed == 0:
            return DONE
        if claimed < 0:
            return Later()
        try:
            outcome = await send()
        except BaseException:
            await self._outboxes.unclaim(owner, entry_field, holder=self._process_id)
            raise
        if isinstance(outcome, Later):
            await self._outboxes.unclaim(owner, entry_field, holder=self._process_id)
        else:
            await self._outboxes.ack(owner, entry_field, card_version=card_version)
        return outcome


__all__ = ["OUTBOX_REREAD_PASSES", "SEND_CONCURRENCY", "CardQueue", "Sender", "StaleCard"]
