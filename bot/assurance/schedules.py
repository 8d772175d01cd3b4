"""A schedule the bot runs for a v1 policy, and when its slots fall. Pure: no I/O.

A slot is a moment on the schedule's own wall clock (``at`` in ``tz``, on ``day`` for a
weekly one), converted to UTC with ``zoneinfo``, so "Monday 02:00 Europe/Berlin" stays at
02:00 local time across daylight-saving changes. A time that does not exist on a given day
(the hour skipped in spring) resolves as ``zoneinfo`` does for ``fold=0``: an hour later.
Only slots after the schedule was set count: setting a schedule never runs a past slot.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from bot.clock import ensure_utc


class Cadence(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class Weekday(enum.IntEnum):
    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6

    @property
    def word(self) -> str:
        return self.name.lower()


DEFAULT_AT: Final = time(2, 0)
DEFAULT_DAY: Final = Weekday.MON
UTC_NAME: Final = "UTC"


@dataclass(frozen=True, slots=True)
class BackupSchedule:
    """One policy's schedule, with who set it, where, and when."""

    policy_id: str
    cadence: Cadence
    at: time
    tz: str
    channel: str
    set_by: str
    set_at: datetime
    day: Weekday = DEFAULT_DAY

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def _slot_on(self, local_day: date) -> datetime:
        return datetime.combine(local_day, self.at, tzinfo=self.zone).astimezone(UTC)

    def _candidate_days(self, local_day: date) -> list[date]:
        """Local days around ``local_day`` that hold a slot, earliest first."""
        span = range(-8, 9)
        days = [local_day + timedelta(days=offset) for offset in span]
        if self.cadence is Cadence.WEEKLY:
            days = [d for d in days if d.weekday() == self.day.value]
        return days

    def latest_slot(self, now: datetime) -> datetime | None:
        """The last slot at or before ``now`` and after the schedule was set; None if none yet."""
        now = ensure_utc(now)
        local_day = now.astimezone(self.zone).date()
        past = [s for d in self._candidate_days(local_day) if (s := self._slot_on(d)) <= now]
        slot = max(past, default=None)
        if slot is None or slot <= ensure_utc(self.set_at):
            return None
        return slot

    def next_slot(self, after: datetime) -> datetime:
        """The first slot strictly after ``after`` (and after the schedule was set)."""
        after = max(ensure_utc(after), ensure_utc(self.set_at))
        local_day = after.astimezone(self.zone).date()
        return min(s for d in self._candidate_days(local_day) if (s := self._slot_on(d)) > after)


__all__ = ["DEFAULT_AT", "DEFAULT_DAY", "UTC_NAME", "BackupSchedule", "Cadence", "Weekday"]
