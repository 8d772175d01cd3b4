"""What a click on a restore card did, as typed results the Slack side turns into words.

A click either took effect (``Accepted``: the card and its thread show what followed), or
changed nothing for a reason the store decided (``Refused``) or the access rules decided
(``NotAllowed``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.restore.session import Refusal


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


ClickResult = Accepted | Refused | NotAllowed

__all__ = ["Accepted", "ClickResult", "NotAllowed", "Refusal", "Refused"]
