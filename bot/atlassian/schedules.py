"""When a v2 policy's schedule runs, and how to say it in one phrase.

Atlassian schedules v2 backups itself: the admin picks a start date and how often (once,
daily, weekly), Atlassian assigns the time slot. The slot's format is not documented; a
time of day (``02:00``, possibly with an end, ``02:00-04:00``) is read as UTC and anything
else is shown as it came, with no next run computed. Pure functions: callers pass ``after``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from bot.atlassian.models import Schedule, ScheduleInterval

_SLOT: Final = re.compile(r"^\s*(\d{1,2}):(\d{2})")
_STEP: Final = {ScheduleInterval.DAILY: timedelta(days=1), ScheduleInterval.WEEKLY: timedelta(7)}
_WORDS: Final = {
    ScheduleInterval.ONCE: "once on",
    ScheduleInterval.DAILY: "daily from",
    ScheduleInterval.WEEKLY: "weekly from",
}


def slot_time(schedule: Schedule) -> time | None:
    """The slot's start as a UTC time of day, when the slot reads as one."""
    match = _SLOT.match(schedule.schedule_slot or "")
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute, tzinfo=UTC)


def has_schedule(schedule: Schedule | None) -> bool:
    """Whether Atlassian described any schedule (an interval or a start date)."""
    return schedule is not None and (
        schedule.interval is not None or schedule.start_date is not None
    )


def describe_schedule(schedule: Schedule | None) -> str:
    """ "weekly from 2026-12-07, slot 02:00 UTC"; "no schedule" when there is none."""
    if schedule is None or not has_schedule(schedule):
        return "no schedule"
    interval = schedule.interval
    if isinstance(interval, ScheduleInterval):
        lead = _WORDS[interval]
    elif interval:
        lead = f"{str(interval).replace('_', ' ').lower()} from"
    else:
        lead = "from"
    start = schedule.start_date
    when = start.isoformat() if isinstance(start, date) else (start or "a date not given")
    slot = slot_time(schedule)
    if slot is not None:
        slot_text = f"slot {slot:%H:%M} UTC"
    elif schedule.schedule_slot:
        slot_text = f"slot {schedule.schedule_slot}"
    else:
        slot_text = "slot not assigned yet"
    return f"{lead} {when}, {slot_text}"


def next_run(schedule: Schedule | None, after: datetime) -> datetime | None:
    """The first slot strictly after ``after``; None when it never runs again or is unknown."""
    if schedule is None or not isinstance(schedule.start_date, date):
        return None
    slot = slot_time(schedule)
    if slot is None or not isinstance(schedule.interval, ScheduleInterval):
        return None
    first = datetime.combine(schedule.start_date, slot)
    if first > after:
        return first
    step = _STEP.get(schedule.interval)
    if step is None:
        return None
    passed = (after - first) // step + 1
    return first + passed * step


__all__ = ["describe_schedule", "has_schedule", "next_run", "slot_time"]
