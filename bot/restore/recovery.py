"""Recovery: settling sessions whose API call was decided but never confirmed.

A bot that dies between writing the intent and recording Atlassian's answer leaves a
session in VALIDATING or REVALIDATING. Recovery never repeats a create blindly: it looks
the restore up in Atlassian's list (a restore of that backup on that destination, created
since the intent, allowing ``RECONCILE_SKEW`` of clock difference) and goes on from what it
finds; only when Atlassian has no such restore does Start become possible again.

Every replica runs recovery, so each session is recovered under its call lease
(``bot.store.leases``, on the injected clock), the same one a live Start or final consent
holds while its call runs: two replicas recovering one REVALIDATING session would both send
revalidate, and the later one's conflict would mark a restore that is running as failed. A
session is only looked at once ``IN_FLIGHT_GRACE`` has passed since its intent, longer than
a live call and its retries take. The lease is short and renewed while held, so a holder
that died has let go long before the grace is over: recovery runs at the grace, not later.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from bot.atlassian.client import RECONCILE_SKEW
from bot.atlassian.models import Restore, RestoreStatus
from bot.clock import ensure_utc
from bot.errors import AtlassianError
from bot.messages import restore as said
from bot.restore import notices
from bot.restore.calls import OwedCalls
from bot.restore.context import CALL_LEASE, CALL_LEASE_RENEW_SECONDS, RestoreContext
from bot.restore.session import IN_FLIGHT_STATES, SYSTEM_ACTOR, RestoreSession, SessionState

log = logging.getLogger(__name__)

# How long an in-flight call may stay unconfirmed before recovery looks it up; longer
# than a create's own timeout and retries, so recovery never races a live call.
IN_FLIGHT_GRACE: Final = timedelta(minutes=5)


def may_have_created(session: RestoreSession, restore: Restore) -> bool:
    """Whether ``restore`` can be the one this session's Start asked for.

    Same backup and destination, and not created before the intent (allowing for clock
    skew between the bot and Atlassian); what Atlassian leaves out cannot rule it out.
    """
    if restore.backup_id != session.backup_id:
        return False
    if restore.cloud_id is not None and restore.cloud_id.lower() != session.dest_cloud_id.lower():
        return False
    if restore.created_at is None:
        return True
    since = (session.intent_at or session.created_at) - RECONCILE_SKEW
    return ensure_utc(restore.created_at) >= since


class Recovery:
    """Settles in-flight sessions from what Atlassian says happened."""

    def __init__(self, context: RestoreContext, calls: OwedCalls) -> None:
        self._ctx = context
        self._calls = calls

    async def claim(self, restore: Restore) -> bool:
        """Whether a session owns ``restore``, found at Atlassian before the bot tracks it.

        Its own restore id, or an unconfirmed Start (VALIDATING, no restore id yet) that
        may have created it: recovery then settles that session on its own card, and the
        restore must not get a second owner.
        """
        sessions = self._ctx.sessions
        if await sessions.find_by_restore_id(restore.restore_id) is not None:
            return True
        return any(
            session.state is SessionState.VALIDATING
            and session.restore_id is None
            and may_have_created(session, restore)
            for session in await sessions.in_flight()
        )

    async def recover_in_flight(self, *, grace: timedelta = IN_FLIGHT_GRACE) -> int:
        """Settle sessions whose API call was decided but never confirmed; how many were."""
        ctx = self._ctx
        now = ctx.clock.now()
        settled = 0
        for listed in await ctx.sessions.in_flight():
            if listed.intent_at is not None and now - listed.intent_at < grace:
                continue
            async with ctx.leases.hold(
                ctx.call_lease_key(listed.session_id),
                CALL_LEASE,
                renew_every=CALL_LEASE_RENEW_SECONDS,
            ) as lease:
                if lease is not None:
                    settled += await self.recover_held(listed.session_id)
        return settled

    async def recover_held(self, session_id: str) -> int:
        """Recover one in-flight session; the caller holds its call lease. 1 if settled."""
        try:
            # Re-read under the lease: another replica may have settled it meanwhile.
            session = await self._ctx.sessions.get(session_id)
            if session is None or session.state not in IN_FLIGHT_STATES:
                return 0
            if session.state is SessionState.VALIDATING:
                await self._recover_create(session)
            else:
                await self._recover_revalidate(session)
        except AtlassianError:
            log.warning("could not recover restore session %s yet", session_id, exc_info=True)
            return 0
        return 1

    async def _recover_create(self, session: RestoreSession) -> None:
        ctx = self._ctx
        for restore in await ctx.atlassian.list_restores(cloud_id=session.dest_cloud_id):
            if may_have_created(session, restore):
                await self._calls.apply_result(session.session_id, restore, SessionState.VALIDATING)
                return
        # Atlassian has no such restore: the call never took effect, so Start may be pressed again.
        moved = await ctx.sessions.transition(
            session.session_id,
            to=SessionState.AWAITING_START,
            actor=SYSTEM_ACTOR,
            action="recovered_not_started",
            expected={SessionState.VALIDATING},
        )
        if moved.ok:
            await ctx.refresh_card(session.session_id)
            await ctx.tell(session, notices.NothingStarted())

    async def _recover_revalidate(self, session: RestoreSession) -> None:
        if session.restore_id is None:
            await self._calls.fail(session, SessionState.REVALIDATING, said.LOST_THE_RESTORE_ID)
            return
        restore = await self._ctx.atlassian.get_restore(session.restore_id)
        same_checks = {str(c.check) for c in restore.failed_checks} == {
            str(c.get("check")) for c in session.failed_checks
        }
        if restore.status == RestoreStatus.VALIDATION_FAILED and same_checks:
            consents = [answer["consent"] for answer in session.answers.values()]
            await self._calls.revalidate(session, consents)
            return
        await self._calls.apply_result(session.session_id, restore, SessionState.REVALIDATING)


__all__ = ["IN_FLIGHT_GRACE", "Recovery", "may_have_created"]
