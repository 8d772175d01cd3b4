"""What the workflow tells the people following a restore, as typed notices for its thread.

The workflow decides *that* something must be said and what it is about; the Slack side
(bot/slack/restore_blocks.py) decides the words. Each notice is a frozen record, so a new
kind of notice is a new class the renderer must handle (mypy checks the match is complete).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.restore.blocking import PendingAtAtlassian


@dataclass(frozen=True, slots=True)
class RestoreRunning:
    """Atlassian started the restore; the card follows it to the end."""

    restore_id: str
    dest_label: str


@dataclass(frozen=True, slots=True)
class ConsentNeeded:
    """Validation failed checks that need an approver's answer on the card."""

    checks: int


@dataclass(frozen=True, slots=True)
class CreateUnconfirmed:
    """Atlassian did not confirm create-restore; the bot will look it up."""


@dataclass(frozen=True, slots=True)
class NotStarted:
    """Create-restore provably did not take effect (``reason`` is the error's own sentence)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RestoreFailed:
    """The session ended FAILED before the restore ran; ``outcome`` says why."""

    outcome: str


@dataclass(frozen=True, slots=True)
class RevalidateUnanswered:
    """Atlassian did not answer revalidate; the bot will retry it."""


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Someone cancelled the request before the restore ran.

    ``pending`` is the validated restore Atlassian still holds (it has no cancel for it).
    """

    by: str
    pending: PendingAtAtlassian | None = None


@dataclass(frozen=True, slots=True)
class Expired:
    """Nobody decided within the decision window."""


@dataclass(frozen=True, slots=True)
class NothingStarted:
    """Recovery found no restore at Atlassian for an unconfirmed Start: Start may go again."""


@dataclass(frozen=True, slots=True)
class RestoreEnded:
    """The restore reached a final status (said by the workflow only when the tracker cannot)."""

    restore_id: str
    status: str
    status_message: str | None
    report_url: str | None


Notice = (
    RestoreRunning
    | RestoreEnded
    | ConsentNeeded
    | CreateUnconfirmed
    | NotStarted
    | RestoreFailed
    | RevalidateUnanswered
    | Cancelled
    | Expired
    | NothingStarted
)

__all__ = [
    "Cancelled",
    "ConsentNeeded",
    "CreateUnconfirmed",
    "Expired",
    "NotStarted",
    "NothingStarted",
    "Notice",
    "RestoreEnded",
    "RestoreFailed",
    "RestoreRunning",
    "RevalidateUnanswered",
]
