"""What a click on a restore card did, as typed results the Slack side turns into words.

A click either took effect (``Accepted``: the card and its thread show what followed),
changed nothing for a reason the store decided (``Refused``) or the access rules decided
(``NotAllowed``), or did not reach a decision because Redis did not answer before it was
put (``NotRecorded``: press again), or its outcome is not known yet because Redis failed
after the decision may have been made (``Checking``): the clicker must then hear that the
bot is finding out, never that nothing changed. ``Checking`` carries the decision as it was
put to the store, so the workflow can ask again (``RestoreWorkflow.settle``) and learn what
happened.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.restore.session import Refusal, RestoreSession


class Decision(enum.StrEnum):
    START = "start"
    CONSENT = "consent"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class ClickOrigin:
    """Where a click came from: the workspace, the channel and the message it was made on.

    A button carries only its session's id, which anyone who saw the card knows; a decision
    counts only when it is made on that session's own card.
    """

    team_id: str
    channel: str
    message_ts: str

    def is_on_card_of(self, session: RestoreSession) -> bool:
        """Whether the click was made on ``session``'s card, in its channel and workspace."""
        return (
            session.card_ts is not None
            and self.message_ts == session.card_ts
            and self.channel == session.channel
            and (session.team_id is None or self.team_id == session.team_id)
        )


@dataclass(frozen=True, slots=True)
class PendingDecision:
    """A click put to the store: asked again with ``request_id``, the store says what it did."""

    decision: Decision
    session_id: str
    user: str
    request_id: str
    check: str = ""
    consent: str = ""
    # What the audit trail says about the decision, when more than its updates say.
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """The click took effect."""

    session_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The click changed nothing; ``answered_by`` names who answered a check first."""

    session_id: str
    reason: Refusal
    answered_by: str | None = None


@dataclass(frozen=True, slots=True)
class NotAllowed:
    """The clicker may not take this decision; ``why`` is the access rule's own sentence."""

    session_id: str
    why: str


@dataclass(frozen=True, slots=True)
class Checking:
    """Redis did not confirm the decision; the workflow is finding out what it did."""

    session_id: str
    pending: PendingDecision


@dataclass(frozen=True, slots=True)
class NotRecorded:
    """Redis did not answer before the decision was put to it: nothing was written."""

    session_id: str


ClickResult = Accepted | Refused | NotAllowed | Checking | NotRecorded

__all__ = [
    "Accepted",
    "Checking",
    "ClickOrigin",
    "ClickResult",
    "Decision",
    "NotAllowed",
    "NotRecorded",
    "PendingDecision",
    "Refusal",
    "Refused",
]
