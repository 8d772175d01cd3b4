"""What the tracker needs from the rest of the bot, as protocols it does not implement.

The tracker is core: it never imports the Slack package. It decides what must be said
where and when; the Slack side renders and sends it (``SlackPort``), and the restore
workflow owns what a restore session is (``RestoreOutcomes``). Runtime wiring passes the
implementations in.
"""

from __future__ import annotations

from typing import Protocol

from bot.atlassian.models import Restore
from bot.store.operations import TrackedOperation


class RestoreOutcomes(Protocol):
    """The restore workflow's side of a restore the tracker follows."""

    async def claim(self, restore: Restore) -> bool:
        """Whether a restore session owns ``restore`` (found at Atlassian, not tracked yet).

        True when a session requested it: by its restore id, or an in-flight session for
        the same destination and backup that has no restore id yet and whose intent came
        before the restore was created. The workflow then settles that session itself (on
        its own card), and the tracker must not adopt the restore as an unknown one.
        """
        ...

    async def finished(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> None:
        """End the restore's session (DONE or FAILED); called once before the announcement."""
        ...

    async def gone(self, operation: TrackedOperation) -> None:
        """Atlassian no longer reports the restore: end its session, once, in place of finished."""
        ...


__all__ = ["RestoreOutcomes"]
