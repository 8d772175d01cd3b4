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
from bot.store.outbox import Post


class SlackPort(Protocol):
    """How the tracker's messages reach Slack: the Slack side renders and sends them.

    Each method returns once Slack accepted the message, or raises one of the Slack errors
    of ``bot.errors``, which the tracker answers as follows:

    - ``SlackRateLimited``: sent again after ``retry_after`` seconds (on the injected clock).
      Its ``channel`` is None when the limit is the whole workspace's, as for card edits:
      then no other card is tried either until it passes.
    - ``SlackRefused``: no retry can help (the channel or message is gone); dropped.
    - ``SlackUnavailable``, or anything else raised: sent again after a short pause.

    Sends are paced: they draw on the send budgets shared by every process, and a spent
    budget is reported as ``SlackRateLimited`` rather than waited for. Nothing here sleeps.
    """

    async def post(
        self,
        channel: str,
        notice: Post,
        operation: TrackedOperation | None,
        *,
        thread_ts: str | None = None,
    ) -> None:
        """Post ``notice`` about ``operation`` in ``channel``, in the thread of ``thread_ts``.

        ``operation`` is None only for a policy's nudge. A thread whose parent card is gone
        gets the post in its channel instead. A post outside the card's thread points at
        the card.
        """
        ...

    async def edit_card(self, operation: TrackedOperation) -> None:
        """Redraw the card at ``operation.channel``/``card_ts`` to show the operation now."""
        ...

    async def announce(self, operation: TrackedOperation, channel: str) -> str:
        """Post a new card in ``channel`` for an operation found running; returns its ts."""
        ...


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


__all__ = ["RestoreOutcomes", "SlackPort"]
