"""What Atlassian's answers mean for a tracked operation: its status, and whether it ended.

Pure rules, no I/O; every other tracking module decides through these.

Ends
----
An operation ends with a documented final status of its kind, with one of a few
undocumented statuses that can only mean it stopped (``UNDOCUMENTED_END_STATUSES``: shown
verbatim, treated like FAILED by the restore workflow), or when Atlassian answers 404 for
it (``GONE``). A restore started by the restore workflow is then handed to the workflow
(``RestoreOutcomes.finished``, or ``gone`` for GONE) before its announcement, so its session
never stays RUNNING. A restore without a session (adopted) gets the generic card, like a
backup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from bot.atlassian import rules
from bot.atlassian.models import (
    FINAL_BACKUP_STATUSES,
    FINAL_OPERATION_STATUSES,
    FINAL_RESTORE_STATUSES,
    Backup,
    Export,
    Import,
    Restore,
    RestoreStatus,
)
from bot.messages import endings
from bot.store.operations import OperationKind, TrackedOperation

log = logging.getLogger(__name__)

GONE_STATUS: Final = "GONE"
# Statuses outside Atlassian's documented lists that can only mean the operation stopped
# (cancelled by support, aborted, timed out). Without them such an operation would be polled
# and shown as running forever. The list is short on purpose: any other unknown status keeps
# being polled and is shown verbatim, because announcing a running operation as ended would
# mislead more than waiting does. These end like FAILED (the restore workflow is told the
# restore failed), while cards and messages show the status as Atlassian spelled it.
UNDOCUMENTED_END_STATUSES: Final = frozenset(
    {"CANCELLED", "CANCELED", "ABORTED", "TIMED_OUT", "TIMEDOUT", "TERMINATED"}
)

FINAL_STATUSES: Final[Mapping[OperationKind, frozenset[str]]] = {
    OperationKind.BACKUP: frozenset(str(s) for s in FINAL_BACKUP_STATUSES),
    OperationKind.EXPORT: frozenset(str(s) for s in FINAL_OPERATION_STATUSES),
    OperationKind.IMPORT: frozenset(str(s) for s in FINAL_OPERATION_STATUSES),
    OperationKind.RESTORE: frozenset(str(s) for s in FINAL_RESTORE_STATUSES),
}
# A finished restore of these has a post-restore report.
REPORTED_RESTORE_STATUSES: Final = frozenset({RestoreStatus.COMPLETE, RestoreStatus.INCOMPLETE})
# Restores found at Atlassian in these are adopted at start-up when nobody tracks them.
ADOPTABLE_RESTORE_STATUSES: Final = frozenset({RestoreStatus.VALIDATING, RestoreStatus.IN_PROGRESS})

ApiItem = Backup | Export | Import | Restore


class Gone:
    """Atlassian answered 404 for an operation the bot tracks."""


GONE: Final = Gone()
# What one look at Atlassian found for an operation.
Observed = ApiItem | Gone


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


def status_of(item: ApiItem, now: datetime) -> tuple[str, str | None]:
    """The status and message to record: a backup past its expiry reads as EXPIRED."""
    if isinstance(item, Backup):
        status: object = rules.effective_backup_status(item, now)
    else:
        status = item.status
    return str(status), item.status_message


def observed_status(item: Observed, now: datetime) -> tuple[str, str | None]:
    if isinstance(item, Gone):
        return GONE_STATUS, endings.GONE_MESSAGE
    return status_of(item, now)


def item_cloud_id(item: Observed) -> str | None:
    return None if isinstance(item, Gone) else item.cloud_id


def item_product(item: Observed) -> str | None:
    if isinstance(item, Gone) or item.product is None:
        return None
    return str(item.product)


_ITEM_MODELS: Final[Mapping[OperationKind, type[ApiItem]]] = {
    OperationKind.BACKUP: Backup,
    OperationKind.EXPORT: Export,
    OperationKind.IMPORT: Import,
    OperationKind.RESTORE: Restore,
}


def item_of(operation: TrackedOperation) -> ApiItem | None:
    """The API object as last seen, from the operation's snapshot."""
    if not operation.snapshot:
        return None
    try:
        return _ITEM_MODELS[operation.kind].model_validate_json(operation.snapshot)
    except ValueError:
        log.warning("the stored view of %s is unreadable", operation.key)
        return None


def backup_of(operation: TrackedOperation) -> Backup | None:
    item = item_of(operation)
    return item if isinstance(item, Backup) else None


def restore_of(operation: TrackedOperation) -> Restore:
    """The restore as last seen, or what the tracked operation itself knows of it."""
    item = item_of(operation)
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


def restore_for_workflow(operation: TrackedOperation) -> Restore:
    """The restore as the restore workflow should see it: an undocumented end reads as FAILED.

    The workflow only knows the documented final statuses; the status Atlassian actually
    gave stays in the message, so the session's outcome still names it.
    """
    restore = restore_of(operation)
    status = str(restore.status)
    if status in FINAL_STATUSES[OperationKind.RESTORE] or not ends_operation(
        OperationKind.RESTORE, status
    ):
        return restore
    reason = f"the restore ended with the status {status}"
    if restore.status_message:
        reason += f": {restore.status_message}"
    return restore.model_copy(update={"status": RestoreStatus.FAILED, "status_message": reason})


__all__ = [
    "ADOPTABLE_RESTORE_STATUSES",
    "FINAL_STATUSES",
    "GONE",
    "GONE_STATUS",
    "REPORTED_RESTORE_STATUSES",
    "UNDOCUMENTED_END_STATUSES",
    "ApiItem",
    "Gone",
    "Observed",
    "backup_of",
    "ends_operation",
    "item_cloud_id",
    "item_of",
    "item_product",
    "observed_status",
    "restore_for_workflow",
    "restore_of",
    "status_of",
]
