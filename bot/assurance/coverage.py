"""Pure rules of assurance: whether a policy is covered, and whether its newest backup shrank.

Covered means a COMPLETE backup younger than the maximum age exists. Below that, *stale*
still leaves something restorable (an older COMPLETE or an INCOMPLETE backup not yet
expired); *unrestorable* leaves nothing (every backup expired, failed or still running).
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.atlassian import rules
from bot.atlassian.models import Backup, BackupStatus
from bot.clock import ensure_utc


class Coverage(enum.IntEnum):
    """Ordered: a larger value is a worse breach."""

    COVERED = 0
    STALE = 1
    UNRESTORABLE = 2


@dataclass(frozen=True, slots=True)
class Assessment:
    coverage: Coverage
    # The newest COMPLETE backup (expired or not), for "the last one was taken …".
    last_complete: Backup | None
    # The newest backup that could be restored now.
    newest_restorable: Backup | None


def taken_at(backup: Backup) -> datetime | None:
    moment = backup.created_at or backup.completed_at
    return ensure_utc(moment) if moment is not None else None


def _newest(backups: Sequence[Backup]) -> Backup | None:
    dated = [(moment, b.backup_id, b) for b in backups if (moment := taken_at(b)) is not None]
    return max(dated, key=lambda item: (item[0], item[1]))[2] if dated else None


def is_restorable(backup: Backup, now: datetime) -> bool:
    status = rules.effective_backup_status(backup, now)
    return status in rules.RESTORABLE_BACKUP_STATUSES and not rules.is_expired_by_time(backup, now)


def newest_complete(backups: Sequence[Backup]) -> Backup | None:
    """The newest backup that completed, even if it has expired since."""
    return _newest([b for b in backups if b.status in _ONCE_COMPLETE])


def newest_restorable(backups: Sequence[Backup], now: datetime) -> Backup | None:
    return _newest([b for b in backups if is_restorable(b, now)])


def assess(backups: Sequence[Backup], now: datetime, max_age: timedelta) -> Assessment:
    """How well ``backups`` (one policy's, any order) cover it at ``now``."""
    fresh = [
        b
        for b in backups
        if b.status == BackupStatus.COMPLETE
        and is_restorable(b, now)
        and (moment := taken_at(b)) is not None
        and now - moment < max_age
    ]
    restorable = newest_restorable(backups, now)
    if fresh:
        coverage = Coverage.COVERED
    elif restorable is not None:
        coverage = Coverage.STALE
    else:
        coverage = Coverage.UNRESTORABLE
    return Assessment(coverage, newest_complete(backups), restorable)


# An EXPIRED backup was complete once: it still says when the policy last backed up.
_ONCE_COMPLETE = frozenset({BackupStatus.COMPLETE, BackupStatus.EXPIRED})


def size_of(backup: Backup) -> float | None:
    """The backup's size in GB as Atlassian reports it; None when it reports none."""
    size = backup.backup_size
    if size is None:
        return None
    if size.total_backup_size_in_gb is not None:
        return size.total_backup_size_in_gb
    parts = [p for p in (size.data_size, size.attachments_size, size.users_size) if p is not None]
    return sum(parts) if parts else None


@dataclass(frozen=True, slots=True)
class SizeDrop:
    backup: Backup
    size: float
    median: float


def size_drop(backups: Sequence[Backup], drop_percent: float) -> SizeDrop | None:
    """The newest COMPLETE backup, if it is more than ``drop_percent`` below the median size
    of the policy's earlier complete backups (those that report a size)."""
    sized = [
        (moment, b.backup_id, b, size)
        for b in backups
        if b.status in _ONCE_COMPLETE
        and (moment := taken_at(b)) is not None
        and (size := size_of(b)) is not None
    ]
    sized.sort(key=lambda item: (item[0], item[1]))
    if len(sized) < 2 or sized[-1][2].status != BackupStatus.COMPLETE:
        return None
    *earlier, (_, _, newest, size) = sized
    median = statistics.median(item[3] for item in earlier)
    if median > 0 and size < median * (1 - drop_percent / 100):
        return SizeDrop(newest, size, median)
    return None


__all__ = [
    "Assessment",
    "Coverage",
    "SizeDrop",
    "assess",
    "is_restorable",
    "newest_complete",
    "newest_restorable",
    "size_drop",
    "size_of",
    "taken_at",
]
