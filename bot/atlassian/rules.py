"""The documented backup and restore rules, checked before the API is called.

Atlassian refuses a request that breaks one of its rules, but its refusal rarely says when
the request would succeed. These pure functions answer the same questions from the backups
and restores already listed, so the bot can refuse first, in one plain sentence, and name the
moment the action becomes possible. Atlassian stays the final arbiter: where the data cannot
settle a question (an undated backup, say) the check lets the request through rather than
blocking it forever.

Nothing here does I/O or reads the clock: callers pass ``now`` (from an injected ``Clock``).

Rules that differ between API versions (retention, the interval between backups) come from
``bot.atlassian.versions.BackupRules``: a backup read through the client carries the
retention of the version that answered, and ``may_run_backup`` takes the rules in use.
Without either, the EAP (v1) rules apply.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from bot.atlassian.models import (
    Backup,
    BackupSize,
    BackupStatus,
    Product,
    Restore,
    RestoreStatus,
)
from bot.atlassian.versions import EAP_RULES, BackupRules
from bot.clock import ensure_utc
from bot.messages import rules as said

BACKUP_RETENTION = EAP_RULES.retention
BACKUP_INTERVAL = EAP_RULES.backup_interval
RESTORE_INTERVAL = EAP_RULES.restore_interval

RESTORABLE_BACKUP_STATUSES = frozenset({BackupStatus.COMPLETE, BackupStatus.INCOMPLETE})
# A restore in any of these states occupies its destination site.
ACTIVE_RESTORE_STATUSES = frozenset(
    {RestoreStatus.VALIDATING, RestoreStatus.VALIDATION_FAILED, RestoreStatus.IN_PROGRESS}
)

TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


class Concern(enum.StrEnum):
    """What a refusal is about, so it can be said beside what the user would change.

    The values are ordered by what the user can fix at once: the destination and the
    options are theirs to change now, the backup's own state waits on time or is final.
    """

    DESTINATION = "destination"
    OPTIONS = "options"
    BACKUP = "backup"


@dataclass(frozen=True)
class Problem:
    """One rule that refuses: about what, why in one sentence and, if known, from when."""

    concern: Concern
    reason: str
    possible_from: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether an action may go ahead; if not, why in one sentence and, if known, from when.

    ``problems`` lists every rule that refuses, what the user can fix at once first; the
    ``reason`` says them all, so a user who fixes one is not refused next for another.
    """

    allowed: bool
    reason: str = ""
    possible_from: datetime | None = None
    # Said by ``reason`` already; two verdicts saying the same are the same verdict.
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.allowed and (self.reason or self.possible_from is not None):
            raise ValueError("an allowed verdict carries no reason and no possible_from")
        if not self.allowed and not self.reason:
            raise ValueError("a refusal must say why")

    @classmethod
    def allow(cls) -> Verdict:
        return cls(allowed=True)

    @classmethod
    def refuse(cls, reason: str, possible_from: datetime | None = None) -> Verdict:
        return cls(allowed=False, reason=reason, possible_from=possible_from)

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> Verdict:
        """Allowed when nothing refuses; else every problem said, in the order given.

        ``possible_from`` is the latest moment any time rule names: fixing the rest does
        not make the action possible earlier.
        """
        if not problems:
            return cls.allow()
        moments = [p.possible_from for p in problems if p.possible_from is not None]
        return cls(
            allowed=False,
            reason=" ".join(p.reason for p in problems),
            possible_from=max(moments) if moments else None,
            problems=tuple(problems),
        )

    def about(self, concern: Concern) -> list[Problem]:
        """The problems about ``concern``."""
        return [p for p in self.problems if p.concern is concern]


@dataclass(frozen=True)
class SizeLimit:
    """Largest backup Atlassian storage accepts for a product, in GB."""

    data_gb: float
    attachments_gb: float


SIZE_LIMITS: Mapping[Product, SizeLimit] = MappingProxyType(
    {
        Product.JIRA: SizeLimit(data_gb=40, attachments_gb=500),
        Product.CONFLUENCE: SizeLimit(data_gb=30, attachments_gb=800),
    }
)


def format_time(when: datetime) -> str:
    """A time as shown in every reason: ``2026-11-20 09:00 UTC``."""
    return ensure_utc(when).strftime(TIME_FORMAT)


def retention_of(backup: Backup) -> timedelta:
    """How long Atlassian keeps this backup: its version's retention, else the EAP's 14 days."""
    return backup.retention or BACKUP_RETENTION


def _kept(backup: Backup) -> str:
    return BackupRules(retention_of(backup), BACKUP_INTERVAL, RESTORE_INTERVAL).kept()


def backup_expiry(backup: Backup) -> datetime | None:
    """When the backup leaves Atlassian storage: the API's expiryTime as given, else
    createdAt plus the retention of the version that answered."""
    if backup.expiry_time is not None:
        return ensure_utc(backup.expiry_time)
    if backup.created_at is not None:
        return ensure_utc(backup.created_at) + retention_of(backup)
    return None


def time_to_expiry(backup: Backup, now: datetime) -> timedelta | None:
    """Time left before the backup expires; negative once it has, None if its expiry is unknown."""
    expiry = backup_expiry(backup)
    return None if expiry is None else expiry - ensure_utc(now)


def is_expired_by_time(backup: Backup, now: datetime) -> bool:
    """True from the expiry instant on (a backup is kept exactly 14 days, not a moment longer)."""
    remaining = time_to_expiry(backup, now)
    return remaining is not None and remaining <= timedelta(0)


def effective_backup_status(backup: Backup, now: datetime) -> BackupStatus | str:
    """The status as it stands at ``now``: a finished backup past its expiry counts as EXPIRED.

    The API may lag behind the clock and still list a backup as COMPLETE after it expired.
    Running, failed and unrecognised statuses are returned unchanged.
    """
    if backup.status in RESTORABLE_BACKUP_STATUSES and is_expired_by_time(backup, now):
        return BackupStatus.EXPIRED
    return backup.status


def _backup_time(backup: Backup) -> datetime | None:
    # The backup's age, and so the 7-day interval, counts from when it was taken.
    moment = backup.created_at or backup.completed_at
    return None if moment is None else ensure_utc(moment)


def may_run_backup(
    backups: Sequence[Backup], now: datetime, *, rules: BackupRules = EAP_RULES
) -> Verdict:
    """Whether a new backup may run for a policy, given that policy's backups in any order.

    Refused while one is in progress, and until ``rules.backup_interval`` (7 days in v1)
    after the last COMPLETE one. A backup that is only CREATED (scheduled, not started)
    does not count as in progress.
    """
    now = ensure_utc(now)
    running = sorted(b.backup_id for b in backups if b.status == BackupStatus.IN_PROGRESS)
    if running:
        return Verdict.refuse(said.backup_still_running(running[0]))
    dated_complete = [
        (moment, b.backup_id)
        for b in backups
        if b.status == BackupStatus.COMPLETE and (moment := _backup_time(b)) is not None
    ]
    if not dated_complete:
        return Verdict.allow()
    last_time, last_id = max(dated_complete)
    possible_from = last_time + rules.backup_interval
    if now < possible_from:
        return Verdict.refuse(
            said.backup_too_soon(last_id, last_time, possible_from, rules.backup_cadence()),
            possible_from,
        )
    return Verdict.allow()


def _status_refusal(backup: Backup, now: datetime) -> Verdict | None:
    status = effective_backup_status(backup, now)
    backup_id = backup.backup_id
    if status in RESTORABLE_BACKUP_STATUSES:
        return None
    if status in (BackupStatus.IN_PROGRESS, BackupStatus.CREATED):
        return Verdict.refuse(
            said.backup_not_started(backup_id)
            if status == BackupStatus.CREATED
            else said.backup_in_progress(backup_id)
        )
    if status == BackupStatus.EXPIRED:
        expiry = backup_expiry(backup)
        if expiry is not None and expiry <= now:
            return Verdict.refuse(said.backup_expired_on(backup_id, expiry, _kept(backup)))
        return Verdict.refuse(said.backup_expired(backup_id, _kept(backup)))
    if status == BackupStatus.FAILED:
        return Verdict.refuse(said.backup_failed(backup_id, backup.status_message))
    return Verdict.refuse(said.backup_status_unknown(backup_id, status))


def _recent_restore_refusal(
    backup: Backup, restores: Sequence[Restore], now: datetime
) -> Verdict | None:
    # A restore waiting for consent never started: the backup was not restored by it, so it
    # does not start the 7-day interval (it occupies only its destination, see preflight).
    same_backup = [
        r
        for r in restores
        if r.backup_id == backup.backup_id
        and r.status not in (RestoreStatus.FAILED, RestoreStatus.VALIDATION_FAILED)
    ]
    dated = [
        (ensure_utc(r.created_at), r.restore_id)
        for r in same_backup
        if r.created_at is not None and ensure_utc(r.created_at) + RESTORE_INTERVAL > now
    ]
    if dated:
        started, restore_id = max(dated)
        possible_from = started + RESTORE_INTERVAL
        return Verdict.refuse(
            said.restored_recently(backup.backup_id, restore_id, started, possible_from),
            possible_from,
        )
    # An undated restore that is still running certainly falls inside the window.
    undated_running = sorted(
        r.restore_id
        for r in same_backup
        if r.created_at is None and r.status in ACTIVE_RESTORE_STATUSES
    )
    if undated_running:
        return Verdict.refuse(said.being_restored(backup.backup_id, undated_running[0]))
    return None


def restorability(backup: Backup, restores: Sequence[Restore], now: datetime) -> Verdict:
    """Whether the backup itself may be restored now: status, expiry and the 7-day rule.

    ``restores`` may list restores of any backup; those of other backups are ignored.
    """
    now = ensure_utc(now)
    return (
        _status_refusal(backup, now)
        or _recent_restore_refusal(backup, restores, now)
        or Verdict.allow()
    )


def restore_warning(backup: Backup) -> str | None:
    """What the user should know before restoring an INCOMPLETE backup; None for any other."""
    if backup.status != BackupStatus.INCOMPLETE:
        return None
    if backup.product == Product.JIRA:
        missing = said.INCOMPLETE_JIRA
    elif backup.product == Product.CONFLUENCE:
        missing = said.INCOMPLETE_CONFLUENCE
    else:
        missing = said.INCOMPLETE_OTHER
    return said.incomplete_backup(backup.backup_id, missing, backup.status_message)


def _has_no_attachments(backup: Backup) -> bool:
    if backup.include_attachments is False:
        return True
    size = backup.backup_size
    return size is not None and size.attachments_size == 0


def preflight_restore(
    *,
    backup: Backup,
    restores: Sequence[Restore],
    dest_cloud_id: str | None,
    dest_label: str,
    known_cloud_ids: Collection[str],
    include_attachments: bool | None,
    now: datetime,
) -> Verdict:
    """Every check the bot makes before asking Atlassian to restore ``backup`` onto a site.

    ``restores`` are the organisation's restores (any backup, any destination); ``dest_label``
    is how the user named the destination and is only used in reasons. Every rule that
    refuses is said, what the user can change at once (destination, options) before the
    backup's own state (status, expiry, the 7-day rule).
    """
    return Verdict.of(
        destination_problems(
            backup=backup,
            restores=restores,
            dest_cloud_id=dest_cloud_id,
            dest_label=dest_label,
            known_cloud_ids=known_cloud_ids,
        )
        + option_problems(backup, include_attachments)
        + backup_problems(backup, restores, now)
    )


def destination_problems(
    *,
    backup: Backup,
    restores: Sequence[Restore],
    dest_cloud_id: str | None,
    dest_label: str,
    known_cloud_ids: Collection[str],
) -> list[Problem]:
    """Why ``dest_cloud_id`` cannot take a restore of ``backup``: unknown, its source, busy."""
    # Cloud ids are UUIDs: the same site may be spelled in either case by config and API.
    known = {cloud_id.lower() for cloud_id in known_cloud_ids}
    if dest_cloud_id is None or dest_cloud_id.lower() not in known:
        return [
            Problem(
                Concern.DESTINATION,
                said.unknown_destination(dest_label),
            )
        ]
    if backup.cloud_id is not None and dest_cloud_id.lower() == backup.cloud_id.lower():
        return [
            Problem(
                Concern.DESTINATION,
                said.destination_is_source(backup.backup_id, dest_label),
            )
        ]
    running_there = sorted(
        r.restore_id
        for r in restores
        if (r.cloud_id or "").lower() == dest_cloud_id.lower()
        and r.status in ACTIVE_RESTORE_STATUSES
    )
    if running_there:
        return [
            Problem(
                Concern.DESTINATION,
                said.destination_running(running_there[0], dest_label),
            )
        ]
    return []


def option_problems(backup: Backup, include_attachments: bool | None) -> list[Problem]:
    """Options the backup cannot honour: attachments asked for from a backup without any."""
    if include_attachments is True and _has_no_attachments(backup):
        return [
            Problem(
                Concern.OPTIONS,
                said.no_attachments(backup.backup_id),
            )
        ]
    return []


def backup_problems(backup: Backup, restores: Sequence[Restore], now: datetime) -> list[Problem]:
    """Why the backup itself may not be restored now (``restorability``), as problems."""
    verdict = restorability(backup, restores, now)
    if verdict.allowed:
        return []
    return [Problem(Concern.BACKUP, verdict.reason, verdict.possible_from)]


def size_limit_problems(product: Product | str | None, backup_size: BackupSize | None) -> list[str]:
    """One sentence per Atlassian storage limit the backup exceeds; empty if within or unknown.

    The API does not document units for ``dataSize`` and ``attachmentsSize``; they are taken
    to be GB, like ``totalBackupSizeInGB`` beside them. An unrecognised product has no
    documented limit, so nothing is reported for it.
    """
    if not isinstance(product, Product) or backup_size is None:
        return []
    limit = SIZE_LIMITS[product]
    problems = []
    if backup_size.data_size is not None and backup_size.data_size > limit.data_gb:
        problems.append(
            said.over_size_limit(product.label, "data", backup_size.data_size, limit.data_gb)
        )
    if (
        backup_size.attachments_size is not None
        and backup_size.attachments_size > limit.attachments_gb
    ):
        problems.append(
            said.over_size_limit(
                product.label, "attachments", backup_size.attachments_size, limit.attachments_gb
            )
        )
    return problems


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def describe_age(then: datetime, now: datetime) -> str:
    """How long ago ``then`` was, in its largest whole unit: "8 days", "3 hours", "12 minutes"."""
    # A time slightly ahead of ours is clock skew between Atlassian and the bot, not the future.
    age = max(ensure_utc(now) - ensure_utc(then), timedelta(0))
    if age >= timedelta(days=1):
        return _plural(age.days, "day")
    if age >= timedelta(hours=1):
        return _plural(age.seconds // 3600, "hour")
    if age >= timedelta(minutes=1):
        return _plural(age.seconds // 60, "minute")
    return "less than a minute"


__all__ = [
    "ACTIVE_RESTORE_STATUSES",
    "BACKUP_INTERVAL",
    "BACKUP_RETENTION",
    "RESTORABLE_BACKUP_STATUSES",
    "RESTORE_INTERVAL",
    "SIZE_LIMITS",
    "TIME_FORMAT",
    "Concern",
    "Problem",
    "SizeLimit",
    "Verdict",
    "backup_expiry",
    "backup_problems",
    "describe_age",
    "destination_problems",
    "effective_backup_status",
    "format_time",
    "is_expired_by_time",
    "may_run_backup",
    "option_problems",
    "preflight_restore",
    "restorability",
    "restore_warning",
    "retention_of",
    "size_limit_problems",
    "time_to_expiry",
]
