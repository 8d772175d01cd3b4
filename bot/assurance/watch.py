"""The freshness watch, the size alert and the daily digest, each said once across replicas.

At most once per ``CHECK_INTERVAL`` across all processes (``OncePerInterval``) every policy
is assessed (``coverage.assess``):

- a policy whose coverage gets worse (no COMPLETE backup younger than
  ``BOT_MAX_BACKUP_AGE_DAYS``; then nothing restorable at all) is alerted on in
  ``BOT_NOTIFY_CHANNEL``, once per breach, and once when a fresh backup covers it again;
- its newest COMPLETE backup, when it is more than ``BOT_SIZE_DROP_PERCENT`` below the
  median of the earlier ones, is alerted on once.

While a backup of the policy has been running for less than ``RUNNING_GRACE`` its coverage
is not judged: the backup will most likely end the breach before anyone could act on it.

The level last announced for each policy is kept in ``{prefix}schedule:{policy}:coverage``.
Every message is queued with ``OperationStore.enqueue_once`` under a marker named after what
it is about (the breach's last backup, the covering backup, the shrunk backup, the day), so
a process that dies between queueing and saving the level, or two processes that check at
once, still queue each message once. The tracker's sender delivers them.

The digest goes out at ``BOT_DIGEST_AT`` (UTC) each day, under the marker of that day.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

import redis.asyncio as aioredis

from bot.assurance.coverage import Assessment, Coverage, assess, size_drop, taken_at
from bot.assurance.scheduler import policy_name
from bot.assurance.status import StatusReport
from bot.assurance.store import ScheduleStore
from bot.atlassian.client import AtlassianClient
from bot.atlassian.models import BackupStatus, Policy
from bot.clock import Clock
from bot.config import Settings, SiteDirectory
from bot.messages import assurance as words
from bot.store.intervals import OncePerInterval
from bot.store.operations import OperationStore
from bot.store.outbox import Destination, NoticePost

log = logging.getLogger(__name__)

CHECK_INTERVAL: Final = timedelta(hours=1)
RUNNING_GRACE: Final = timedelta(hours=24)


class AssuranceWatch:
    """Queues freshness, size and digest messages for the notify channel."""

    def __init__(
        self,
        operations: OperationStore,
        atlassian: AtlassianClient,
        schedules: ScheduleStore,
        status: StatusReport,
        clock: Clock,
        settings: Settings,
        sites: SiteDirectory,
    ) -> None:
        self._operations = operations
        self._redis: aioredis.Redis = operations.redis
        self._prefix = operations.key_prefix
        self._atlassian = atlassian
        self._schedules = schedules
        self._status = status
        self._clock = clock
        self._sites = sites
        self._notify = settings.bot_notify_channel or None
        self._max_age = timedelta(days=settings.bot_max_backup_age_days)
        self._max_age_days = settings.bot_max_backup_age_days
        self._drop_percent = settings.bot_size_drop_percent
        self._digest_at = settings.bot_digest_at
        self._check = OncePerInterval(
            self._redis, clock, key=f"{self._prefix}assurance:check-due", interval=CHECK_INTERVAL
        )

    async def check(self) -> None:
        """Assess every policy if it is this process's turn, and post the digest when due."""
        if not self._notify:
            return
        if await self._check.due():
            for policy in await self._atlassian.list_policies():
                try:
                    await self._check_policy(policy)
                except Exception:
                    log.exception("assurance check of %s failed", policy.policy_id)
        await self._digest()

    async def _check_policy(self, policy: Policy) -> None:
        now = self._clock.now()
        backups = await self._atlassian.list_backups(policy.policy_id)
        assessment = assess(backups, now, self._max_age)
        running = [
            moment
            for b in backups
            if b.status == BackupStatus.IN_PROGRESS and (moment := taken_at(b)) is not None
        ]
        # A breach a running backup is about to end is not worth an alert yet; one stuck
        # running for longer than RUNNING_GRACE is.
        if not any(now - moment < RUNNING_GRACE for moment in running):
            await self._freshness(policy, assessment, now)
        drop = size_drop(backups, self._drop_percent)
        if drop is not None:
            text = words.size_dropped(
                policy_name(policy, self._sites), drop.backup.backup_id, drop.size, drop.median
            )
            await self._queue(policy, text, f"size-drop:{drop.backup.backup_id}")

    def _level_key(self, policy_id: str) -> str:
        return f"{self._prefix}schedule:{policy_id}:coverage"

    async def _freshness(self, policy: Policy, assessment: Assessment, now: datetime) -> None:
        key = self._level_key(policy.policy_id)
        stored = await self._redis.get(key)
        announced = Coverage(int(stored)) if stored is not None else Coverage.COVERED
        level = assessment.coverage
        if level == announced:
            return
        name = policy_name(policy, self._sites)
        if level > announced:
            about = assessment.last_complete.backup_id if assessment.last_complete else "never"
            text = await self._breach_text(policy, assessment, now)
            await self._queue(policy, text, f"coverage:{policy.policy_id}:{level.name}:{about}")
        elif level is Coverage.COVERED and assessment.last_complete is not None:
            covering = assessment.last_complete.backup_id
            text = words.covered_again(name, covering)
            await self._queue(policy, text, f"coverage:{policy.policy_id}:COVERED:{covering}")
        await self._redis.set(key, str(level.value))

    async def _breach_text(self, policy: Policy, assessment: Assessment, now: datetime) -> str:
        name = policy_name(policy, self._sites)
        atlassian_schedules = self._atlassian.profile.has_activation
        scheduled = await self._schedules.get(policy.policy_id) is not None
        if assessment.coverage is Coverage.UNRESTORABLE:
            return words.nothing_restorable(
                name, atlassian_schedules=atlassian_schedules, scheduled=scheduled
            )
        last = assessment.last_complete
        taken = taken_at(last) if last is not None else None
        return words.backup_too_old(
            name,
            self._max_age_days,
            (last.backup_id, taken) if last is not None and taken is not None else None,
            now,
            atlassian_schedules=atlassian_schedules,
            scheduled=scheduled,
        )

    async def _queue(self, policy: Policy, text: str, marker: str) -> None:
        await self._operations.enqueue_once(
            f"policy:{policy.policy_id}", [NoticePost(Destination.NOTIFY, text)], marker=marker
        )

    async def _digest(self) -> None:
        if self._digest_at is None:
            return
        now = self._clock.now()
        if now.time() < self._digest_at:
            return
        marker = f"digest:{now.date().isoformat()}"
        if await self._redis.exists(f"{self._prefix}marker:{marker}"):
            return
        text = words.digest_text(await self._status.lines(), now)
        await self._operations.enqueue_once(
            "assurance:digest", [NoticePost(Destination.NOTIFY, text)], marker=marker
        )


__all__ = ["CHECK_INTERVAL", "AssuranceWatch"]
