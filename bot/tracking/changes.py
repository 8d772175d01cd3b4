"""Recording: a status change stored once, together with every notification it causes.

A change is written by one Lua script (``OperationStore.record``) that checks the
operation's ``version`` (compare-and-set), stores the new status and appends the
notifications it causes to the operation's outbox, all or nothing. Two processes seeing the
same change record it once; a change is never recorded without its notifications. When the
compare-and-set fails, the change is judged again against what the other writer stored
(once): an operation that moved on, or ended, is left as the other writer left it.

An ending queues, in this order: the restore workflow's hook (restores, when a workflow is
wired in), the final state for the card's thread, and its copy for the notify channel; the
card is asked to be redrawn at the new version. A finished restore's post-restore report is
fetched with the ending; one that is not ready yet is asked for again each cycle, for up to
``REPORT_GIVE_UP``, and posted in the thread when it comes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from bot.atlassian import rules
from bot.atlassian.client import AtlassianClient
from bot.atlassian.models import Backup, BackupStatus, Restore
from bot.clock import Clock
from bot.errors import AtlassianError, ConflictError, RateLimited, Unavailable
from bot.store.operations import OperationKind, OperationStore, TrackedOperation
from bot.store.outbox import Destination, FinalPost, Notification, ReportPost, RestoreHook
from bot.tracking.cycle import CycleStats, bounded
from bot.tracking.reminders import REMINDER_LEAD
from bot.tracking.status import (
    REPORTED_RESTORE_STATUSES,
    Gone,
    Observed,
    ends_operation,
    item_cloud_id,
    item_product,
    observed_status,
    restore_of,
)

log = logging.getLogger(__name__)

# A report that is still not available a day after the restore ended will not come.
REPORT_GIVE_UP: Final = timedelta(days=1)
RECORD_CONCURRENCY: Final = 8

# What to remember of an operation after trying to record a change: as now stored, or None
# when it needs no more polling (or is gone).
Remembered = TrackedOperation | None


class ChangeRecorder:
    """Turns what the poller observed into recorded changes and queued notifications."""

    def __init__(
        self,
        store: OperationStore,
        atlassian: AtlassianClient,
        clock: Clock,
        *,
        notify_channel: str | None,
        restore_hook: bool,
    ) -> None:
        self._store = store
        self._atlassian = atlassian
        self._clock = clock
        self._notify_channel = notify_channel
        self._restore_hook = restore_hook

    async def record_observed(
        self,
        operations: Sequence[TrackedOperation],
        observed: Mapping[str, Observed],
        stats: CycleStats,
    ) -> dict[str, Remembered]:
        """Record every change between ``operations`` and what was observed of them."""
        results: dict[str, Remembered] = {}
        changes = []
        # Comparing is cheap and synchronous; only changes cost a task and a Redis call.
        for operation in operations:
            item = observed.get(operation.key)
            if item is None:
                continue
            status, message = observed_status(item, self._clock.now())
            if status != operation.status or message != operation.status_message:
                changes.append(self._record(operation, item, status, message, stats, results))
        await bounded(changes, RECORD_CONCURRENCY)
        return results

    async def retry_reports(
        self, operations: Sequence[TrackedOperation], stats: CycleStats
    ) -> dict[str, Remembered]:
        """Ask again for the reports of finished restores that had none ready."""
        results: dict[str, Remembered] = {}

        async def retry(operation: TrackedOperation) -> None:
            results[operation.key] = await self._retry_report(operation, stats)

        await bounded(
            (retry(op) for op in operations if op.final and op.awaiting_report),
            RECORD_CONCURRENCY,
        )
        return results

    async def _record(
        self,
        operation: TrackedOperation,
        item: Observed,
        status: str,
        message: str | None,
        stats: CycleStats,
        results: dict[str, Remembered],
        *,
        retried: bool = False,
    ) -> None:
        if isinstance(item, Gone):
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
            cloud_id=operation.cloud_id or item_cloud_id(item),
            product=operation.product or item_product(item),
        )
        recorded = await self._store.record(
            updated,
            expected_version=operation.version,
            notify=self._final_entries(updated) if final else [],
            redraw_card=True,
            remind_at=remind_at,
        )
        if recorded:
            stats.transitions += 1
            results[operation.key] = updated
            log.info("%s is now %s", operation.key, status)
            return
        # Someone changed the operation since it was read: judge the change against theirs.
        current = await self._store.get(operation.kind, operation.operation_id)
        results[operation.key] = current
        if current is None or (current.final and not current.awaiting_report):
            results[operation.key] = None
            return
        unchanged = current.status == status and current.status_message == message
        if not retried and not unchanged and not current.final:
            await self._record(current, item, status, message, stats, results, retried=True)

    def _final_entries(self, operation: TrackedOperation) -> list[Notification]:
        entries: list[Notification] = []
        if operation.kind is OperationKind.RESTORE and self._restore_hook:
            entries.append(RestoreHook())
        destinations = [Destination.THREAD]
        if self._notify_channel:
            destinations.append(Destination.NOTIFY)
        entries.extend(
            FinalPost(
                to=to,
                status=str(operation.status),
                message=operation.status_message,
                report_url=operation.report_url,
            )
            for to in destinations
        )
        return entries

    async def _report_for(self, restore: Restore, stats: CycleStats) -> tuple[str | None, bool]:
        """The report URL, and whether to try again later because it is not ready yet."""
        if (
            restore.status not in REPORTED_RESTORE_STATUSES
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

    async def _retry_report(self, operation: TrackedOperation, stats: CycleStats) -> Remembered:
        url, still_waiting = await self._report_for(restore_of(operation), stats)
        if url is None and still_waiting:
            if self._clock.now() - operation.last_changed_at < REPORT_GIVE_UP:
                return operation
            log.warning("giving up on the report of restore %s", operation.operation_id)
        updated = replace(
            operation, version=operation.version + 1, report_url=url, awaiting_report=False
        )
        notify: list[Notification] = (
            [ReportPost(to=Destination.THREAD, report_url=url)] if url else []
        )
        if await self._store.record(
            updated, expected_version=operation.version, notify=notify, redraw_card=bool(url)
        ):
            stats.transitions += 1
            return updated
        return None


__all__ = ["REPORT_GIVE_UP", "ChangeRecorder", "Remembered"]
