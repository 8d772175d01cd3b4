"""Reminders and nudges: what the tracker says without anything having changed.

- A COMPLETE backup gets one expiry reminder ``REMINDER_LEAD`` before it expires, in its
  card's thread and in the notify channel. The reminder is scheduled when the backup's
  completion is recorded (``OperationStore.record(remind_at=...)``) and queued by the
  holder of the backup's shard once it is due.
- A policy without a COMPLETE backup for ``NUDGE_AFTER`` gets one nudge in the notify
  channel per missing period. Policies are checked at most once per
  ``POLICY_CHECK_INTERVAL`` across all processes (``OncePerInterval``).

Both are guarded by Redis markers set in the same step that queues the message
(``OperationStore.enqueue_once``), so however many processes see them due, each is queued
once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import redis.asyncio as aioredis

from bot.atlassian import rules
from bot.atlassian.client import AtlassianClient
from bot.atlassian.models import BackupStatus
from bot.clock import Clock, ensure_utc
from bot.store.operations import OperationStore
from bot.store.outbox import Destination, ExpiryReminder, PolicyNudge
from bot.tracking.cycle import CycleStats, call_atlassian
from bot.tracking.shards import ShardLeases
from bot.tracking.status import backup_of

REMINDER_LEAD: Final = timedelta(hours=48)
NUDGE_AFTER: Final = timedelta(days=7)
POLICY_CHECK_INTERVAL: Final = timedelta(hours=1)

# KEYS[1] when the work is next due (ms). ARGV[1] now (ms), ARGV[2] the next due time (ms).
# The first caller at or after the due time gets 1 and moves the due time; others get 0.
_DUE: Final = """
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
if due > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


class OncePerInterval:
    """Work done at most once per ``interval`` across all processes, on the injected clock."""

    def __init__(
        self, redis: aioredis.Redis, clock: Clock, *, key: str, interval: timedelta
    ) -> None:
        self._clock = clock
        self._key = key
        self._interval = interval
        self._due = redis.register_script(_DUE)

    async def due(self) -> bool:
        """True for the one caller that should do the work now."""
        now = self._clock.now()
        taken = await self._due(
            keys=[self._key], args=[str(_ms(now)), str(_ms(now + self._interval))]
        )
        return bool(taken)


class Reminders:
    """Queues expiry reminders and idle-policy nudges."""

    def __init__(
        self,
        store: OperationStore,
        atlassian: AtlassianClient,
        clock: Clock,
        shards: ShardLeases,
        *,
        notify_channel: str | None,
    ) -> None:
        self._store = store
        self._atlassian = atlassian
        self._clock = clock
        self._shards = shards
        self._notify_channel = notify_channel
        self._policy_check = OncePerInterval(
            store.redis,
            clock,
            key=f"{store.key_prefix}tracker:policy-check-due",
            interval=POLICY_CHECK_INTERVAL,
        )

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

    async def nudge_idle_policies(self, stats: CycleStats) -> None:
        """At most once per POLICY_CHECK_INTERVAL across all processes: nudge idle policies."""
        if not self._notify_channel or not await self._policy_check.due():
            return
        now = self._clock.now()
        policies = await call_atlassian(stats, self._atlassian.list_policies())
        if not isinstance(policies, list):
            return
        for policy in policies:
            backups = await call_atlassian(stats, self._atlassian.list_backups(policy.policy_id))
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
                    PolicyNudge(
                        policy_id=policy.policy_id,
                        product=str(policy.product),
                        cloud_id=policy.cloud_id,
                        last_complete=last,
                    )
                ],
                marker=f"policy-nudge:{policy.policy_id}:{period_id}",
            )


__all__ = [
    "NUDGE_AFTER",
    "POLICY_CHECK_INTERVAL",
    "REMINDER_LEAD",
    "OncePerInterval",
    "Reminders",
]
