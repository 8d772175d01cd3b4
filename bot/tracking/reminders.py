"""Expiry reminders: what the tracker says about a backup without anything having changed.

A COMPLETE backup gets one expiry reminder ``REMINDER_LEAD`` before it expires, in its
card's thread and in the notify channel. The reminder is scheduled when the backup's
completion is recorded (``OperationStore.record(remind_at=...)``) and queued by the holder
of the backup's shard once it is due, guarded by a Redis marker set in the same step
(``OperationStore.enqueue_once``), so however many processes see it due, it is queued once.

A policy with no recent complete backup is the freshness watch's (``bot.assurance.watch``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from bot.atlassian import rules
from bot.clock import Clock
from bot.store.operations import OperationStore
from bot.store.outbox import Destination, ExpiryReminder
from bot.tracking.shards import ShardLeases
from bot.tracking.status import backup_of

REMINDER_LEAD: Final = timedelta(hours=48)


class Reminders:
    """Queues expiry reminders."""

    def __init__(
        self,
        store: OperationStore,
        clock: Clock,
        shards: ShardLeases,
    ) -> None:
        self._store = store
        self._clock = clock
        self._shards = shards

    async def queue_expiry_reminders(self) -> list[str]:
        """Queue the reminders due for this process's backups; returns the owners touched."""
        now = self._clock.now()
        touched: list[str] = []
        for owner in await self._store.due_reminders(now):
            if not self._shards.mine(owner):
                continue
            touched.append(owner)
            operation = await self._store.get_by_key(owner)
            backup = backup_of(operation) if operation is not None else None
            expiry = rules.backup_expiry(backup) if backup is not None else None
            if operation is not None and expiry is not None and expiry > now:
                await self._store.enqueue_once(
                    owner,
                    [ExpiryReminder(to=to, expiry=expiry) for to in Destination],
                    marker=f"expiry-reminder:{operation.operation_id}",
                )
            await self._store.drop_reminder(owner)
        return touched


__all__ = [
    "REMINDER_LEAD",
    "Reminders",
]
