"""The tracker: one poll cycle after another, and the sends that had to wait in between.

One poll cycle (``Tracker.poll_once``):

1. Shards: renew this process's leases on its fair share of the shards (``shards``).
2. Fetching: ask Atlassian about this process's running operations (``poller``).
3. Recording: store each change once, with the notifications it causes (``changes``).
4. Expiry reminders that came due (``reminders``); the assurance watch (freshness and size
   alerts, the daily digest: ``bot.assurance.watch``); at most once an hour across all
   processes, forget the operations that ended longer than ``BOT_RETENTION_DAYS`` ago.
5. Sending: what this process's outboxes owe Slack, within the budgets (``sender``).

``run`` repeats that every ``BOT_POLL_SECONDS`` and, between cycles, wakes whenever a
held-back send may go (``next_send_at``). Nothing raised by one cycle ends the loop; while
Atlassian fails or rate-limits, the pause grows up to ``MAX_BACKOFF_FACTOR`` intervals (and
at least ``Retry-After``). Every pause goes through the injected ``sleep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from bot.assurance.watch import AssuranceWatch
from bot.errors import AtlassianError
from bot.store.intervals import OncePerInterval
from bot.store.operations import TrackedOperation
from bot.tracking.adoption import Adopter
from bot.tracking.changes import ChangeRecorder
from bot.tracking.cycle import CycleStats
from bot.tracking.delivery import Delivery
from bot.tracking.poller import Poller
from bot.tracking.ports import RestoreOutcomes, SlackPort
from bot.tracking.reminders import Reminders
from bot.tracking.sender import Sender
from bot.tracking.shards import ShardLeases

if TYPE_CHECKING:
    # Only the type: at run time the tracker needs nothing of the wiring (nor of Slack).
    from bot.runtime import Services

log = logging.getLogger(__name__)

DEFAULT_SHARDS: Final = 32
MAX_BACKOFF_FACTOR: Final = 10
RETENTION_CHECK_INTERVAL: Final = timedelta(hours=1)


class Tracker:
    """Polls tracked operations, records their changes and tells Slack, across replicas."""

    def __init__(
        self,
        services: Services,
        slack: SlackPort,
        *,
        process_id: str,
        restore_outcomes: RestoreOutcomes | None = None,
        lease_seconds: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        shards: int = DEFAULT_SHARDS,
    ) -> None:
        store = services.operations
        clock = services.clock
        atlassian = services.atlassian
        notify_channel = services.settings.bot_notify_channel or None
        self._store = store
        self._clock = clock
        self._process_id = process_id
        self._sleep = sleep
        self._poll_seconds = float(services.settings.bot_poll_seconds)
        self.lease_seconds = lease_seconds if lease_seconds is not None else 3 * self._poll_seconds
        self._shards = ShardLeases(
            services.redis,
            clock,
            key_prefix=store.key_prefix,
            process_id=process_id,
            shards=shards,
            lease_seconds=self.lease_seconds,
        )
        self._poller = Poller(store, atlassian, self._shards)
        self._changes = ChangeRecorder(
            store,
            atlassian,
            clock,
            notify_channel=notify_channel,
            restore_hook=restore_outcomes is not None,
        )
        self._reminders = Reminders(store, clock, self._shards)
        self._assurance = AssuranceWatch(
            store,
            atlassian,
            services.schedules,
            services.status_report,
            clock,
            services.settings,
            services.sites,
        )
        self._adopter = Adopter(
            store,
            atlassian,
            clock,
            process_id=process_id,
            notify_channel=notify_channel,
            restore_outcomes=restore_outcomes,
        )
        delivery = Delivery(
            store, slack, notify_channel=notify_channel, restore_outcomes=restore_outcomes
        )
        self._sender = Sender(store, clock, self._shards, delivery, process_id=process_id)
        self._retention_check = OncePerInterval(
            services.redis,
            clock,
            key=f"{store.key_prefix}tracker:retention-due",
            interval=RETENTION_CHECK_INTERVAL,
        )

    @property
    def process_id(self) -> str:
        return self._process_id

    @property
    def held_shards(self) -> frozenset[int]:
        return self._shards.held

    @property
    def next_send_at(self) -> datetime | None:
        """When a notification held back by a throttle or a failure can next be tried."""
        return self._sender.next_send_at

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
                await self._shards.release_all()

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
        await self._shards.release_all()

    async def poll_once(self, *, send: bool = True) -> CycleStats:
        """Renew leases, poll this process's operations, queue and send notifications.

        ``send=False`` leaves the sending to a separate ``flush()``, so the cost of polling
        and the cost of talking to Slack can be measured apart.
        """
        stats = CycleStats()
        # Changes recorded now, and entries queued by others, are found by a full pass.
        self._sender.rescan()
        stats.shards_held = len(await self._shards.refresh())
        operations = await self._poller.load_mine()
        stats.operations_polled = len(operations)
        observed = await self._poller.observe(operations, stats, self._clock.now())
        results = await self._changes.record_observed(operations, observed, stats)
        results.update(await self._changes.retry_reports(operations, stats))
        for key, operation in results.items():
            self._sender.touch(key)
            if operation is None:
                self._poller.forget(key)
            else:
                self._poller.remember(operation)
        for owner in await self._reminders.queue_expiry_reminders():
            self._sender.touch(owner)
        try:
            await self._assurance.check()
        except AtlassianError as exc:
            stats.errors += 1
            log.warning("the assurance check could not reach Atlassian (%s)", exc)
        if await self._retention_check.due():
            forgotten = await self._store.forget_ended()
            if forgotten:
                log.info("forgot %d operations that ended over the retention ago", forgotten)
        if send:
            await self._sender.flush(stats)
        return stats

    async def flush(self, stats: CycleStats | None = None) -> CycleStats:
        """Send what the outboxes of this process's shards still owe Slack (see ``Sender``)."""
        stats = stats or CycleStats()
        await self._sender.flush(stats)
        return stats

    async def adopt_running(self) -> list[TrackedOperation]:
        """Track restores and backups running in the org that the bot is not tracking yet.

        Each is announced with a new card in BOT_NOTIFY_CHANNEL (without one, it is tracked
        without a card); a restore a restore session claims stays that session's. Returns
        what this process adopted; while another process adopts, this one adopts nothing.
        """
        adopted = await self._adopter.adopt_running()
        if adopted:
            self._sender.rescan()
            for operation in adopted:
                self._sender.touch(operation.key)
        return adopted


__all__ = ["DEFAULT_SHARDS", "MAX_BACKOFF_FACTOR", "Tracker"]
