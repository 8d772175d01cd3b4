"""The pure rules of assurance: coverage levels, size drops and schedule slots."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bot.assurance.coverage import Coverage, assess, size_drop, size_of
from bot.assurance.schedules import BackupSchedule, Cadence, Weekday
from bot.atlassian.models import Backup

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=8)


def backup(
    backup_id: str, status: str, age_days: float, size_gb: float | None = None, **extra: Any
) -> Backup:
    created = NOW - timedelta(days=age_days)
    data: dict[str, Any] = {
        "backupId": backup_id,
        "status": status,
        "createdAt": created.isoformat(),
        "expiryTime": (created + timedelta(days=14)).isoformat(),
        **extra,
    }
    if size_gb is not None:
        data["backupSize"] = {"totalBackupSizeInGB": size_gb}
    return Backup.model_validate(data)


@pytest.mark.parametrize(
    ("backups", "coverage", "restorable"),
    [
        ([backup("b1", "COMPLETE", 2)], Coverage.COVERED, "b1"),
        ([backup("b1", "COMPLETE", 9)], Coverage.STALE, "b1"),
        # Exactly the maximum age is no longer younger than it.
        ([backup("b1", "COMPLETE", 8)], Coverage.STALE, "b1"),
        ([backup("b1", "COMPLETE", 9), backup("b2", "INCOMPLETE", 1)], Coverage.STALE, "b2"),
        ([backup("b1", "INCOMPLETE", 1)], Coverage.STALE, "b1"),
        ([backup("b1", "COMPLETE", 15)], Coverage.UNRESTORABLE, None),
        (
            [
                backup("b1", "FAILED", 1),
                backup("b2", "IN_PROGRESS", 0),
                backup("b3", "EXPIRED", 20),
            ],
            Coverage.UNRESTORABLE,
            None,
        ),
        ([], Coverage.UNRESTORABLE, None),
    ],
)
def test_coverage_levels(backups: list[Backup], coverage: Coverage, restorable: str | None) -> None:
    """Covered needs a COMPLETE backup younger than the maximum age; stale still leaves
    something restorable; unrestorable leaves nothing."""
    assessed = assess(backups, NOW, MAX_AGE)
    assert assessed.coverage is coverage
    found = assessed.newest_restorable
    assert (found.backup_id if found else None) == restorable


def test_size_is_the_total_or_the_sum_of_the_parts_reported() -> None:
    """v2 reports a total; a reply with only parts is summed; none reported is None."""
    assert size_of(backup("b", "COMPLETE", 1, 4.5)) == 4.5
    parts = backup("b", "COMPLETE", 1, backupSize={"dataSize": 1.0, "attachmentsSize": 2.5})
    assert size_of(parts) == 3.5
    assert size_of(backup("b", "COMPLETE", 1)) is None


def test_a_drop_below_the_median_of_earlier_backups_is_found_and_a_normal_one_is_not() -> None:
    """Median of 10, 11 and 30 is 11: 7.6 is 31 % below it, 7.8 only 29 %."""
    earlier = [
        backup("b1", "EXPIRED", 20, 10.0),
        backup("b2", "COMPLETE", 13, 30.0),
        backup("b3", "COMPLETE", 6, 11.0),
    ]
    drop = size_drop([*earlier, backup("b4", "COMPLETE", 0, 7.6)], 30)
    assert drop is not None
    assert (drop.backup.backup_id, drop.size, drop.median) == ("b4", 7.6, 11.0)
    assert size_drop([*earlier, backup("b4", "COMPLETE", 0, 7.8)], 30) is None
    # A failed newest backup is not judged: the newest COMPLETE one is (b3, 11 against the
    # median 20 of b1 and b2).
    judged = size_drop([*earlier, backup("b4", "FAILED", 0, 0.1)], 30)
    assert judged is not None
    assert (judged.backup.backup_id, judged.median) == ("b3", 20.0)
    assert size_drop([backup("b4", "COMPLETE", 0, 0.1)], 30) is None


def test_daily_slots_and_weekly_slots_in_utc() -> None:
    """A daily schedule at 02:00 UTC has a slot every day; a weekly one on its day only."""
    set_at = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # a Monday, after that day's slot
    daily = BackupSchedule("p", Cadence.DAILY, time(2), "UTC", "C", "U", set_at)
    weekly = BackupSchedule("p", Cadence.WEEKLY, time(2), "UTC", "C", "U", set_at, Weekday.MON)
    assert daily.next_slot(set_at) == datetime(2026, 11, 3, 2, tzinfo=UTC)
    assert weekly.next_slot(set_at) == datetime(2026, 11, 9, 2, tzinfo=UTC)
    assert daily.latest_slot(datetime(2026, 11, 2, 23, tzinfo=UTC)) is None
    assert weekly.latest_slot(datetime(2026, 11, 15, 1, tzinfo=UTC)) == datetime(
        2026, 11, 9, 2, tzinfo=UTC
    )
