"""What the App Home tab says around its lists."""

from __future__ import annotations

from datetime import datetime

from bot.messages.text import when

TITLE = "Atlassian backups"
WAITING_HEADING = "*Waiting for your decision*"
RUNNING_HEADING = "*Running now*"
POLICIES_HEADING = "*Policies and their latest backups*"
NOTHING_WAITING = "No restore is waiting for you."
NOTHING_RUNNING = "Nothing is running."
NO_POLICIES = "No backup policies yet. Create one with `/backup policy create`."
OLDEST_FIRST = "The oldest requests come first."
NEWEST_SHOWN = "The newest are shown."
ALL_POLICIES = "`/backup policy list` shows all."
NO_BACKUPS_YET = "no backups yet"
FOUND_AT_START = "found running at start-up"


def as_of(now: datetime) -> str:
    return f"As of {when(now)}. Open the tab again to refresh."


def policies_unavailable(why: str) -> str:
    return f"Atlassian could not be reached, so policies are not shown. {why}"


__all__ = [
    "ALL_POLICIES",
    "FOUND_AT_START",
    "NEWEST_SHOWN",
    "NOTHING_RUNNING",
    "NOTHING_WAITING",
    "NO_BACKUPS_YET",
    "NO_POLICIES",
    "OLDEST_FIRST",
    "POLICIES_HEADING",
    "RUNNING_HEADING",
    "TITLE",
    "WAITING_HEADING",
    "as_of",
    "policies_unavailable",
]
