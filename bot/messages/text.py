"""The small pieces every sentence is made of: escaping, ids, people, times, counts, statuses.

Slack mrkdwn throughout. Anything that came from a request or from Atlassian goes through
``esc`` (or ``code``) before it is put into a sentence, so it can never form a mention, a
link or a channel ping.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from bot.clock import ensure_utc

# Matches bot.atlassian.rules.TIME_FORMAT: one way of writing a time where Slack cannot
# localise it (plain text, option labels, the fallback of every `<!date^…>`).
PLAIN_TIME_FORMAT: Final = "%Y-%m-%d %H:%M UTC"


def esc(text: str) -> str:
    """Escape text for Slack mrkdwn so it cannot form mentions, links or channel pings."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(value: object) -> str:
    """An id or a value as a code span, escaped; a dash when there is none."""
    return f"`{esc(str(value))}`" if value not in (None, "") else "—"


def mention(user: str | None) -> str:
    """A Slack user as a mention; "the bot" for the bot's own steps."""
    return f"<@{esc(user)}>" if user and user != "system" else "the bot"


def group_mention(group_id: str) -> str:
    """A Slack user group as a mention."""
    return f"<!subteam^{esc(group_id)}>"


def mention_listed(entry: str) -> str:
    """An entry of BOT_ADMINS / BOT_APPROVERS as a mention: a user group (S…) or a person."""
    return group_mention(entry) if entry.startswith("S") else mention(entry)


def plain_time(moment: datetime) -> str:
    """A time where Slack cannot show it in the reader's zone: ``2026-11-20 09:00 UTC``."""
    return ensure_utc(moment).strftime(PLAIN_TIME_FORMAT)


def when(moment: datetime | None) -> str:
    """A time every reader sees in their own zone, with the plain UTC form as fallback."""
    if moment is None:
        return "—"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{plain_time(moment)}>"


def ago(moment: datetime) -> str:
    """How long ago, as Slack shows it when the reader looks ("3 minutes ago"): a card that
    is not edited while an operation runs still tells its elapsed time."""
    return f"<!date^{int(moment.timestamp())}^{{ago}}|{plain_time(moment)}>"


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``1 check``, ``3 checks``; ``plural`` for nouns that do not just take an s."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def duration(span: timedelta) -> str:
    """How long something took, in at most two units: "42 seconds", "1 hour 5 minutes"."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return count(seconds, "second")
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return count(minutes, "minute") + (f" {count(seconds, 'second')}" if seconds else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return count(hours, "hour") + (f" {count(minutes, 'minute')}" if minutes else "")
    days, hours = divmod(hours, 24)
    return count(days, "day") + (f" {count(hours, 'hour')}" if hours else "")


def yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def listing(items: list[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


STATUS_EMOJI: Final = {
    "STARTING": ":arrows_counterclockwise:",
    "CREATED": ":calendar:",
    "IN_PROGRESS": ":hourglass_flowing_sand:",
    "VALIDATING": ":hourglass_flowing_sand:",
    "VALIDATION_FAILED": ":raised_hand:",
    "COMPLETE": ":white_check_mark:",
    "INCOMPLETE": ":warning:",
    "FAILED": ":x:",
    "EXPIRED": ":wastebasket:",
}

# What each status is called where a person reads it; an unknown status is shown spaced out.
STATUS_WORDS: Final = {
    "STARTING": "STARTING",
    "CREATED": "waiting to start",
    "IN_PROGRESS": "IN PROGRESS",
    "VALIDATING": "validating",
    "VALIDATION_FAILED": "waiting for consent",
    "COMPLETE": "COMPLETE",
    "INCOMPLETE": "INCOMPLETE",
    "FAILED": "FAILED",
    "EXPIRED": "EXPIRED",
}

FINAL_OPERATION_TEXT: Final = {
    "COMPLETE": "finished",
    "INCOMPLETE": "finished incomplete",
    "FAILED": "failed",
    "EXPIRED": "expired",
}


def status_words(status: object) -> str:
    text = str(status)
    return STATUS_WORDS.get(text, text.replace("_", " "))


def status_label(status: object) -> str:
    """A status with its emoji, in words: ``:hourglass_flowing_sand: IN PROGRESS``."""
    emoji = STATUS_EMOJI.get(str(status), ":grey_question:")
    return f"{emoji} {esc(status_words(status))}"


def ended_verb(status: object) -> str:
    """``finished``, ``failed``...: how an operation with this final status ended."""
    return FINAL_OPERATION_TEXT.get(str(status), f"ended as {esc(status_words(status))}")


__all__ = [
    "FINAL_OPERATION_TEXT",
    "PLAIN_TIME_FORMAT",
    "STATUS_EMOJI",
    "STATUS_WORDS",
    "ago",
    "code",
    "count",
    "duration",
    "ended_verb",
    "esc",
    "group_mention",
    "listing",
    "mention",
    "mention_listed",
    "plain_time",
    "status_label",
    "status_words",
    "when",
    "yes_no",
]
