"""The sentences the restore core stores or raises itself: how a request ends unanswered and
why a restore waiting at Atlassian holds its destination.

Kept apart from ``bot.messages.restore``, which reads the restore core's types, so that the
core can import these without a cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot.atlassian import rules

EXPIRED_OUTCOME: Final = "Expired: nobody decided within the decision window."
GONE_MESSAGE: Final = "Atlassian no longer knows this operation."


def _until_words(until: datetime | None, now: datetime) -> str:
    if until is None:
        return "until Atlassian lets it lapse, about 24 hours after it was requested"
    if until <= now:
        return "until Atlassian lets it lapse, which is due any moment now"
    return f"until {rules.format_time(until)}, when Atlassian lets it lapse"


def pending_holds_destination(
    restore_id: str, dest: str, *, cancelled: bool, until: datetime | None, now: datetime
) -> str:
    cancelled_here = ", though it was cancelled here" if cancelled else ""
    return (
        f"Restore {restore_id} onto {dest} is still waiting for consent at "
        f"Atlassian{cancelled_here}; Atlassian offers no way to cancel it, so it blocks "
        f"{dest} {_until_words(until, now)}: restore onto another site meanwhile, or "
        "ask again after that."
    )


__all__ = ["EXPIRED_OUTCOME", "GONE_MESSAGE", "pending_holds_destination"]
