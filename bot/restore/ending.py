"""How a running restore ends: the tracker's side of a restore that has a session.

The tracker (bot/tracking/) polls a running restore to its end; this module is what it
calls (``bot.tracking.ports.RestoreOutcomes``): ``finished`` moves the session to DONE or
FAILED once, before the tracker announces the end; ``gone`` ends a session whose restore
Atlassian no longer reports, so it never stays RUNNING and blocks its destination.
``card_for`` gives the view the tracker's card edits draw, already showing the end when
the tracker edits the card before calling ``finished``.
"""

from __future__ import annotations

from typing import Any

from bot.atlassian.models import FINAL_RESTORE_STATUSES, Restore, RestoreStatus
from bot.messages import restore as said
from bot.restore import notices
from bot.restore.context import RestoreContext
from bot.restore.ports import CardView
from bot.restore.session import SYSTEM_ACTOR, RestoreSession, SessionState, Transition
from bot.store.operations import TrackedOperation


def final_state(restore: Restore) -> tuple[SessionState, str]:
    """The session state and outcome line for a restore Atlassian reports as ended."""
    target = SessionState.FAILED if restore.status == RestoreStatus.FAILED else SessionState.DONE
    message = restore.status_message or ""
    if not message and restore.status == RestoreStatus.INCOMPLETE:
        message = said.NOTHING_MISSING_SAID
    outcome = said.atlassian_reports(restore.status, message)
    return target, outcome


class Ending:
    """Ends restore sessions as the tracker sees their restores end."""

    def __init__(self, context: RestoreContext) -> None:
        self._ctx = context

    async def session_for(
        self, operation: TrackedOperation, restore: Restore
    ) -> RestoreSession | None:
        sessions = self._ctx.sessions
        if operation.session_id:
            found = await sessions.get(operation.session_id)
            if found is not None:
                return found
        return await sessions.find_by_restore_id(restore.restore_id)

    async def card_for(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> CardView | None:
        """The view of the restore's card as it should look now; None without a session."""
        session = await self.session_for(operation, restore)
        if session is None:
            return None
        shown: dict[str, Any] = {}
        if report_url and not session.report_url:
            shown["report_url"] = report_url
        if session.state is SessionState.RUNNING and restore.status in FINAL_RESTORE_STATUSES:
            # The tracker may redraw the card before it calls ``finished``: the card must
            # already say how the restore ended, not that it is still running.
            state, outcome = final_state(restore)
            shown.update(state=state, outcome=outcome, final_status=str(restore.status))
        if shown:
            session = session.model_copy(update=shown)
        return await self._ctx.view(session, str(restore.status))

    async def end(self, session: RestoreSession, restore: Restore, report_url: str | None) -> bool:
        """End a RUNNING session by its restore's final status, on its card and in its thread.

        For the one case the tracker cannot: its operation ended without this session.
        """
        moved = await self._finish(session, restore, report_url)
        if moved is None or not moved.ok or moved.session is None:
            return False
        await self._ctx.refresh_card(session.session_id, str(restore.status))
        await self._ctx.tell(
            moved.session,
            notices.RestoreEnded(
                restore_id=restore.restore_id,
                status=str(restore.status),
                status_message=restore.status_message,
                report_url=report_url,
            ),
        )
        return True

    async def finished(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> None:
        session = await self.session_for(operation, restore)
        if session is not None:
            await self._finish(session, restore, report_url)

    async def _finish(
        self, session: RestoreSession, restore: Restore, report_url: str | None
    ) -> Transition | None:
        """RUNNING to DONE or FAILED by the restore's final status; None if it has none."""
        if restore.status not in FINAL_RESTORE_STATUSES:
            return None
        target, outcome = final_state(restore)
        return await self._ctx.sessions.transition(
            session.session_id,
            to=target,
            actor=SYSTEM_ACTOR,
            action="finished",
            expected={SessionState.RUNNING},
            updates={
                "outcome": outcome,
                "report_url": report_url,
                "final_status": str(restore.status),
            },
        )

    async def gone(self, operation: TrackedOperation) -> None:
        """Atlassian stopped reporting the restore: end its session as FAILED.

        Left RUNNING, the session would refuse every new restore onto its destination.
        """
        sessions = self._ctx.sessions
        session = (
            await sessions.get(operation.session_id) if operation.session_id else None
        ) or await sessions.find_by_restore_id(operation.operation_id)
        if session is None:
            return
        outcome = said.restore_gone(operation.operation_id)
        moved = await sessions.transition(
            session.session_id,
            to=SessionState.FAILED,
            actor=SYSTEM_ACTOR,
            action="gone",
            expected={SessionState.RUNNING},
            updates={"outcome": outcome},
        )
        if moved.ok:
            await self._ctx.refresh_card(session.session_id)


__all__ = ["Ending", "final_state"]
