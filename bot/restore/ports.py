"""What the restore workflow needs from the surfaces around it, as protocols it does not implement.

The workflow is core: it never imports the Slack package. It decides what a restore card
must show and what its thread must be told; a surface (bot/slack/restore_surface.py) draws
and sends it. Who may decide is a rule the workflow asks about (``Deciders``), not one it
knows: the access policy of the deployment answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.restore.facts import BackupFacts
from bot.restore.notices import Notice
from bot.restore.session import RestoreSession

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CardView:
    """Everything a restore card shows: the session as it stands, its backup, Atlassian's status."""

    session: RestoreSession
    facts: BackupFacts
    restore_status: str | None = None


@dataclass(frozen=True, slots=True)
class CardPlace:
    """Where a restore card was posted."""

    channel: str
    ts: str


class RestoreSurface(Protocol):
    """Where people see a restore: its card and the card's thread."""

    async def post_card(self, channel: str, view: CardView) -> CardPlace:
        """Post a new card in ``channel``; raises when it could not be posted."""
        ...

    async def redraw(self, view: CardView) -> bool:
        """Edit the session's card to show ``view``; False when the edit did not go through."""
        ...

    async def notice(self, session: RestoreSession, notice: Notice) -> None:
        """Tell the card's thread; a failure is logged by the surface, never raised."""
        ...


class Deciders(Protocol):
    """Who may take each decision on a restore: None when ``user_id`` may, else why not."""

    def start_refusal(self, user_id: str, requester: str) -> str | None: ...

    def consent_refusal(self, user_id: str, requester: str) -> str | None: ...

    def cancel_refusal(self, user_id: str, requester: str) -> str | None: ...


__all__ = ["CardPlace", "CardView", "Deciders", "RestoreSurface", "Sleep"]
