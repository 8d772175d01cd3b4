"""Adoption: restores and backups running in the organisation that nobody tracks yet.

At start-up (``Tracker.adopt_running``) the tracker lists the running restores and each
policy's running backups, and starts tracking every one the store does not know. One
process at a time does it, under the lease ``tracker:adopt`` (``bot.store.leases``, on the
injected clock); a process that dies while adopting lets the next one in when its lease
lapses. Registration is create-if-absent, so an operation registered meanwhile by the flow
that started it keeps its own card.

A restore a restore session asked for belongs to that session: the restore workflow is
asked first (``RestoreOutcomes.claim``) and, when it claims the restore, settles it on the
session's own card, so the same restore never has two owners. Anything else gets a new card
in ``BOT_NOTIFY_CHANNEL``, posted through the outbox (an ``Announce`` entry, so a crash or a
Slack outage cannot lose it); without that channel it is tracked without a card.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from bot.atlassian.client import AtlassianClient
from bot.atlassian.models import Backup, BackupStatus, Restore
from bot.clock import Clock
from bot.store.leases import Leases
from bot.store.operations import OperationKind, OperationStore, TrackedOperation
from bot.store.outbox import Announce, Notification
from bot.tracking.cycle import CycleStats, call_atlassian
from bot.tracking.ports import RestoreOutcomes
from bot.tracking.status import ADOPTABLE_RESTORE_STATUSES, item_product, status_of

log = logging.getLogger(__name__)

ADOPT_LEASE: Final = timedelta(seconds=300)


class Adopter:
    """Finds untracked running operations and registers them, one process at a time."""

    def __init__(
        self,
        store: OperationStore,
        atlassian: AtlassianClient,
        clock: Clock,
        *,
        process_id: str,
        notify_channel: str | None,
        restore_outcomes: RestoreOutcomes | None,
    ) -> None:
        self._store = store
        self._atlassian = atlassian
        self._clock = clock
        self._process_id = process_id
        self._notify_channel = notify_channel
        self._restore_outcomes = restore_outcomes
        prefix = store.key_prefix
        self._leases = Leases(store.redis, clock, fence_key=f"{prefix}tracker:fence")
        self._lease_key = f"{prefix}tracker:adopt"

    async def adopt_running(self) -> list[TrackedOperation]:
        """What this process adopted; nothing while another process holds the lease."""
        async with self._leases.hold(
            self._lease_key, ADOPT_LEASE, holder=self._process_id
        ) as lease:
            if lease is None:
                log.info("another tracker process is adopting running operations")
                return []
            return await self._adopt_all()

    async def _adopt_all(self) -> list[TrackedOperation]:
        stats = CycleStats()
        adopted: list[TrackedOperation] = []
        restores = await call_atlassian(stats, self._atlassian.list_restores())
        for restore in restores if isinstance(restores, list) else []:
            if restore.status in ADOPTABLE_RESTORE_STATUSES:
                operation = await self._adopt(OperationKind.RESTORE, restore.restore_id, restore)
                if operation is not None:
                    adopted.append(operation)
        policies = await call_atlassian(stats, self._atlassian.list_policies())
        for policy in policies if isinstance(policies, list) else []:
            backups = await call_atlassian(stats, self._atlassian.list_backups(policy.policy_id))
            for backup in backups if isinstance(backups, list) else []:
                if backup.status == BackupStatus.IN_PROGRESS:
                    operation = await self._adopt(
                        OperationKind.BACKUP, backup.backup_id, backup, policy_id=policy.policy_id
                    )
                    if operation is not None:
                        adopted.append(operation)
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
        if (
            isinstance(item, Restore)
            and self._restore_outcomes is not None
            and await self._restore_outcomes.claim(item)
        ):
            log.info("restore %s belongs to a restore session; not adopted", operation_id)
            return None
        status, message = status_of(item, self._clock.now())
        operation = TrackedOperation(
            kind=kind,
            operation_id=operation_id,
            cloud_id=item.cloud_id,
            product=item_product(item),
            channel=None,
            card_ts=None,
            started_by=None,
            registered_at=self._clock.now().isoformat(),
            policy_id=policy_id,
            backup_id=item.backup_id if isinstance(item, Restore) else None,
            status=status,
            status_message=message,
            adopted=True,
            snapshot=item.model_dump_json(by_alias=True),
        )
        notify: list[Notification] = []
        if self._notify_channel:
            notify.append(Announce())
        else:
            log.info("adopted %s without a card: BOT_NOTIFY_CHANNEL is not set", operation.key)
        if not await self._store.create(operation, notify=notify):
            return None
        log.info("adopted running %s", operation.key)
        return operation


__all__ = ["ADOPT_LEASE", "Adopter"]
