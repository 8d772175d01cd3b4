"""What every part of the restore workflow shares: its dependencies and the card's redraw.

The card is always drawn from the session as Redis has it at that moment, never from a
copy a caller holds, so the last redraw to finish shows the latest state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from bot.atlassian.client import AtlassianClient
from bot.clock import Clock
from bot.config import SiteDirectory
from bot.restore.notices import Notice
from bot.restore.ports import CardView, Deciders, RestoreSurface, Sleep
from bot.restore.session import RestoreSession
from bot.restore.store import RestoreSessionStore
from bot.store.leases import Leases
from bot.store.operations import OperationStore

log = logging.getLogger(__name__)

# Redraws of one card until it shows the session's latest version (see refresh_card).
CARD_REDRAWS = 3
# Whoever talks to Atlassian about a session (a live click's call, or recovery) holds its
# call lease, renewed while the call runs: a holder that dies lets go one lease later, long
# before recovery's grace period is over, so the dead holder never delays recovery.
CALL_LEASE: Final = timedelta(seconds=60)
CALL_LEASE_RENEW_SECONDS: Final = 20.0


@dataclass(frozen=True)
class RestoreContext:
    """The workflow's dependencies, and the two things every part of it does: redraw and tell."""

    atlassian: AtlassianClient
    sessions: RestoreSessionStore
    operations: OperationStore
    clock: Clock
    sites: SiteDirectory
    deciders: Deciders
    surface: RestoreSurface
    sleep: Sleep
    leases: Leases

    def key(self, suffix: str) -> str:
        return f"{self.sessions.key_prefix}{suffix}"

    def call_lease_key(self, session_id: str) -> str:
        """Held by whoever is talking to Atlassian about this session: a live click or recovery."""
        return self.key(f"call:{session_id}")

    async def view(self, session: RestoreSession, restore_status: str | None = None) -> CardView:
        return CardView(session, await self.sessions.facts(session.session_id), restore_status)

    async def refresh_card(self, session_id: str, restore_status: str | None = None) -> None:
        """Redraw the card from the session as Redis has it now (never from a stale copy).

        Two redraws racing (two clicks, two replicas) may reach Slack out of order, so after
        each edit the session is read again and, if it moved on meanwhile, drawn again: the
        last redraw to finish always shows the latest version.
        """
        drawn_version = None
        for _ in range(CARD_REDRAWS):
            session = await self.sessions.get(session_id)
            if session is None or session.card_ts is None or session.version == drawn_version:
                return
            if not await self.surface.redraw(await self.view(session, restore_status)):
                return
            drawn_version = session.version

    async def tell(self, session: RestoreSession, notice: Notice) -> None:
        """Say ``notice`` in the card's thread (a session without a card has no thread)."""
        if session.card_ts is not None:
            await self.surface.notice(session, notice)


__all__ = ["CALL_LEASE", "CALL_LEASE_RENEW_SECONDS", "CARD_REDRAWS", "RestoreContext"]
