"""What assurance needs from Slack, as a protocol it does not implement."""

from __future__ import annotations

from typing import Protocol

from bot.atlassian.models import Backup, Policy


class BackupCards(Protocol):
    """Draws the usual backup card for a backup a schedule started."""

    async def post_started(
        self, policy: Policy, backup: Backup, channel: str, started_by: str
    ) -> str | None:
        """Post the card in ``channel``; its ts, or None when Slack would not take it.

        A card that could not be posted does not undo the backup: it is tracked without a
        card and the freshness watch still speaks for it.
        """
        ...


__all__ = ["BackupCards"]
