"""The Atlassian calls a won transition owes, and what their answers do to the session.

Only the caller whose transition the store accepted calls Atlassian: Start's winner calls
create-restore, the answer completing the last check calls revalidate. The intent
(VALIDATING or REVALIDATING, with ``intent_at``) is already in Redis before the call, so a
caller that dies mid-call leaves a session recovery can find (bot/restore/recovery.py).

Errors are sorted by what is known about the call: ``OutcomeUnknown`` means it may have
taken effect (the session stays in flight for recovery); ``RateLimited`` and
``Unavailable`` from a create mean the client proved it did not (Start may be pressed
again); any other ``AtlassianError`` is Atlassian refusing, and the session fails.
"""

from __future__ import annotations

import logging
from typing import Final

from bot.atlassian.models import FINAL_RESTORE_STATUSES, Product, Restore, RestoreStatus
from bot.errors import AtlassianError, OutcomeUnknown, RateLimited, Unavailable
from bot.messages import restore as said
from bot.restore import notices
from bot.restore.context import RestoreContext
from bot.restore.ending import Ending
from bot.restore.session import SYSTEM_ACTOR, RestoreSession, SessionState, Transition
from bot.store.operations import OperationKind, TrackedOperation

log = logging.getLogger(__name__)

# A restore reported as VALIDATING is polled this many times, doubling the wait each time.
VALIDATION_POLLS: Final = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


class OwedCalls:
    """Makes the API call a won transition owes and moves the session on by its answer."""

    def __init__(self, context: RestoreContext, ending: Ending) -> None:
        self._ctx = context
        self._ending = ending

    async def _move(
        self,
        session: RestoreSession,
        to: SessionState,
        action: str,
        expected: SessionState,
        updates: dict[str, object] | None = None,
        detail: str | None = None,
    ) -> Transition:
        """A move the bot makes on an in-flight session by what Atlassian answered."""
        return await self._ctx.sessions.transition(
            session.session_id,
            to=to,
            actor=SYSTEM_ACTOR,
            action=action,
            expected={expected},
            updates=updates,
            detail=detail,
        )

    async def create(self, session: RestoreSession) -> None:
        ctx = self._ctx
        try:
            restore = await ctx.atlassian.create_restore(
                dest_cloud_id=session.dest_cloud_id,
                backup_id=session.backup_id,
                product=Product(str(session.product)),
                include_attachments=session.include_attachments,
                include_users_and_groups=session.include_users_and_groups,
            )
        except OutcomeUnknown:
            log.warning(
                "create-restore for session %s is unconfirmed", session.session_id, exc_info=True
            )
            await ctx.tell(session, notices.CreateUnconfirmed())
            return
        except (RateLimited, Unavailable) as exc:
            # The client only gives up this way when the request provably did not take effect.
            await self._move(
                session,
                SessionState.AWAITING_START,
                "start_not_sent",
                SessionState.VALIDATING,
                detail=exc.user_message,
            )
            await ctx.refresh_card(session.session_id)
            await ctx.tell(session, notices.NotStarted(exc.user_message))
            return
        except AtlassianError as exc:
            await self.fail(
                session,
                SessionState.VALIDATING,
                said.atlassian_refused_restore(exc.user_message),
            )
            return
        await self.apply_result(session.session_id, restore, SessionState.VALIDATING)

    async def revalidate(self, session: RestoreSession, consents: list[str]) -> None:
        ctx = self._ctx
        if session.restore_id is None:
            await self.fail(session, SessionState.REVALIDATING, said.LOST_THE_RESTORE_ID)
            return
        try:
            restore = await ctx.atlassian.revalidate_restore(
                dest_cloud_id=session.dest_cloud_id,
                restore_id=session.restore_id,
                consents=consents,
            )
        except (OutcomeUnknown, RateLimited, Unavailable):
            # Revalidating again with the same answers is harmless, so recovery simply retries.
            log.warning(
                "revalidate for session %s did not complete", session.session_id, exc_info=True
            )
            await ctx.tell(session, notices.RevalidateUnanswered())
            return
        except AtlassianError as exc:
            await self.fail(
                session,
                SessionState.REVALIDATING,
                said.atlassian_refused_consents(exc.user_message),
            )
            return
        await self.apply_result(session.session_id, restore, SessionState.REVALIDATING)

    async def fail(self, session: RestoreSession, expected: SessionState, outcome: str) -> None:
        ctx = self._ctx
        await self._move(
            session, SessionState.FAILED, "api_refused", expected, {"outcome": outcome}
        )
        await ctx.refresh_card(session.session_id)
        await ctx.tell(session, notices.RestoreFailed(outcome))

    async def _settled(self, restore: Restore) -> Restore:
        """Atlassian may validate asynchronously: wait (bounded) until it leaves VALIDATING."""
        for delay in VALIDATION_POLLS:
            if restore.status != RestoreStatus.VALIDATING:
                break
            await self._ctx.sleep(delay)
            restore = await self._ctx.atlassian.get_restore(restore.restore_id)
        return restore

    async def apply_result(self, session_id: str, restore: Restore, expected: SessionState) -> None:
        """Move the session on according to what create or revalidate returned."""
        ctx = self._ctx
        restore = await self._settled(restore)
        session = await ctx.sessions.get(session_id)
        if session is None:
            return
        if restore.status == RestoreStatus.VALIDATING:
            # Still validating after the polls: the session stays in flight and
            # recover_in_flight finds the restore in Atlassian's list later.
            return
        if restore.status == RestoreStatus.VALIDATION_FAILED and not restore.failed_checks:
            # Consent is needed, but for what the bot cannot read: never run without it.
            log.warning("validation failed with no readable checks: %s", restore.model_dump())
            await self.fail(
                session,
                expected,
                said.consent_without_checks(restore.restore_id),
            )
            return
        if restore.status == RestoreStatus.VALIDATION_FAILED:
            await self._needs_consent(session, restore, expected)
            return
        if restore.status == RestoreStatus.FAILED:
            await self.fail(
                session,
                expected,
                said.atlassian_failed_it(restore.status_message),
            )
            return
        await self._running(session, restore, expected)

    async def _needs_consent(
        self, session: RestoreSession, restore: Restore, expected: SessionState
    ) -> None:
        ctx = self._ctx
        checks = [
            {"check": str(c.check), "code": c.code, "message": c.message}
            for c in restore.failed_checks
        ]
        moved = await self._move(
            session,
            SessionState.AWAITING_CONSENT,
            "validation_failed",
            expected,
            {**_found(restore), "failed_checks": checks},
            detail=", ".join(c["check"] or "" for c in checks),
        )
        if moved.ok:
            await ctx.refresh_card(session.session_id)
            await ctx.tell(session, notices.ConsentNeeded(len(checks)))

    async def _running(
        self, session: RestoreSession, restore: Restore, expected: SessionState
    ) -> None:
        ctx = self._ctx
        moved = await self._move(
            session,
            SessionState.RUNNING,
            "running",
            expected,
            {**_found(restore), "migration_id": restore.migration_id},
        )
        if not moved.ok or moved.session is None:
            return
        running = moved.session
        in_progress = restore.status == RestoreStatus.IN_PROGRESS
        tracked = await ctx.operations.register(
            OperationKind.RESTORE,
            restore.restore_id,
            cloud_id=running.dest_cloud_id,
            product=str(running.product),
            channel=running.channel,
            card_ts=running.card_ts,
            started_by=running.started_by,
            # A restore that already ended (found late, by recovery) or reports a status the
            # bot does not know is registered with no status, so the tracker's first poll
            # records what it is and announces it: the one path that announces final states.
            status=str(restore.status) if in_progress else None,
            session_id=running.session_id,
            backup_id=running.backup_id,
        )
        if tracked.session_id != running.session_id and await self._take_over(
            tracked, running, restore
        ):
            return
        await ctx.refresh_card(session.session_id, str(restore.status))
        if in_progress:
            await ctx.tell(running, notices.RestoreRunning(restore.restore_id, running.dest_label))

    async def _take_over(
        self, tracked: TrackedOperation, session: RestoreSession, restore: Restore
    ) -> bool:
        """The tracker adopted the restore before the session claimed it: the session wins.

        A process that did not ask whether a session owns the restore adopted it as unknown.
        The session's card, the one people saw, must tell the outcome: a restore still
        running is handed to that card; one that already ended ends the session here (the
        tracker announced it on the adopted operation and will not come back to it). True
        when the session ended.
        """
        ctx = self._ctx
        if not tracked.final:
            await ctx.operations.update(
                OperationKind.RESTORE,
                tracked.operation_id,
                {
                    "session_id": session.session_id,
                    "channel": session.channel,
                    "card_ts": session.card_ts,
                    "started_by": session.started_by,
                    "adopted": False,
                },
            )
            return False
        if restore.status not in FINAL_RESTORE_STATUSES:
            restore = await ctx.atlassian.get_restore(restore.restore_id)
        return await self._ending.end(session, restore, tracked.report_url)


def _found(restore: Restore) -> dict[str, object]:
    """What a session records of the restore Atlassian made for it."""
    return {"restore_id": restore.restore_id, "restore_created_at": restore.created_at}


__all__ = ["VALIDATION_POLLS", "OwedCalls"]
