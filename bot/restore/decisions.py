"""The decisions people make on a restore card — Start, consent, Cancel — each made once.

A click is checked against where its session's card is (workspace, channel, message) and
the access rules, on the session read once, then put to the store as one atomic decision
under a request id of its own. Only the click whose decision won makes the API call it
owes, holding the session's call lease; before calling it reads the session again, so a
call already made by someone else (recovery, after a long stall) is never made twice.

When Redis fails after the decision may have run (``StoreUncertain``), the click is
``Checking``: the clicker is told the outcome is being checked, never that nothing
changed. The same decision is then asked again with its request id (``settle``, right
after telling the clicker, and each housekeeping cycle for any left over): Redis answers
what it decided, and the click goes on from there, API call included, exactly as if the
answer had come at once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final

from bot.atlassian import rules
from bot.errors import StoreUncertain
from bot.messages import restore as said
from bot.restore import notices
from bot.restore.blocking import pending_of
from bot.restore.calls import OwedCalls
from bot.restore.clicks import (
    Accepted,
    Checking,
    ClickOrigin,
    ClickResult,
    Decision,
    NotAllowed,
    PendingDecision,
    Refused,
)
from bot.restore.context import CALL_LEASE, CALL_LEASE_RENEW_SECONDS, RestoreContext
from bot.restore.records import NAME_LIMIT
from bot.restore.recovery import IN_FLIGHT_GRACE, Recovery
from bot.restore.session import Answer, Refusal, RestoreSession, SessionState, Transition
from bot.restore.store import new_request_id
from bot.store.leases import Lease

log = logging.getLogger(__name__)

# Waits (seconds) between asking Redis again about a decision it did not confirm: about a
# minute in all, after which housekeeping goes on asking once a cycle.
SETTLE_DELAYS: Final = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
# Sessions whose card is remembered in memory (see ``Decisions._allowed``).
MAX_REMEMBERED_CARDS: Final = 4096


class Decisions:
    """Puts clicks to the store and follows up on the ones that won."""

    def __init__(self, context: RestoreContext, calls: OwedCalls, recovery: Recovery) -> None:
        self._ctx = context
        self._calls = calls
        self._recovery = recovery
        # Decisions Redis has not confirmed yet, by request id, and those being asked now.
        self._unsettled: dict[str, PendingDecision] = {}
        self._settling: set[str] = set()
        # Sessions as read when their card was already attached, the latest clicked last:
        # only their requester, workspace and card are ever read from here (they never
        # change after the card is attached), never their state.
        self._carded: OrderedDict[str, RestoreSession] = OrderedDict()

    async def clicked(
        self,
        decision: Decision,
        session_id: str,
        user: str,
        *,
        origin: ClickOrigin,
        check: str = "",
        consent: str = "",
    ) -> ClickResult:
        """A button pressed by ``user`` on the message ``origin`` names: refused, accepted
        (and followed up) or ``Checking``."""
        allowed = await self._allowed(decision, session_id, user, origin)
        if isinstance(allowed, RestoreSession):
            detail = _cancel_detail(allowed) if decision is Decision.CANCEL else None
            return await self._decide(
                PendingDecision(
                    decision, session_id, user, new_request_id(), check, consent, detail
                )
            )
        return allowed

    async def unknown_action(self, session_id: str, user: str, action: str) -> ClickResult:
        """A click no card offers (a forged or outdated action id): audited, refused."""
        await self._ctx.sessions.record_refusal(
            session_id or "-",
            actor=user,
            action="click",
            reason=f"{Refusal.UNKNOWN_ACTION.value}: {action[:NAME_LIMIT]}",
        )
        return Refused(session_id, Refusal.UNKNOWN_ACTION)

    async def settle(self, checking: Checking) -> ClickResult:
        """Ask Redis again, waiting between tries, until it says what the click did."""
        pending = checking.pending
        if pending.request_id in self._settling:
            return checking
        self._settling.add(pending.request_id)
        try:
            for delay in SETTLE_DELAYS:
                await self._ctx.sleep(delay)
                result = await self._decide(pending)
                if not isinstance(result, Checking):
                    return result
            return checking
        finally:
            self._settling.discard(pending.request_id)

    async def settle_left_over(self) -> int:
        """Once per housekeeping cycle: ask again about every click still unconfirmed."""
        settled = 0
        for pending in list(self._unsettled.values()):
            if pending.request_id in self._settling:
                continue
            self._settling.add(pending.request_id)
            try:
                if not isinstance(await self._decide(pending), Checking):
                    settled += 1
            finally:
                self._settling.discard(pending.request_id)
        return settled

    # -- deciding --------------------------------------------------------------------------

    async def _allowed(
        self, decision: Decision, session_id: str, user: str, origin: ClickOrigin
    ) -> RestoreSession | ClickResult:
        """The session, when it exists, the click was made on its card and ``user`` may
        decide on it; else why not. The session read here is the only read before the
        decision: where its card is comes with it.

        For a Start or a consent only what never changes once the card is up is needed (the
        requester, the workspace, the card's channel and message), so a session with its
        card attached is read once per process: in a storm of clicks on one card each later
        click costs the one decision script, which refuses it if it lost. A cancel reads
        the session afresh, since its audit entry says what the cancel leaves pending.
        """
        sessions = self._ctx.sessions
        session = self._carded.get(session_id) if decision is not Decision.CANCEL else None
        if session is None:
            session = await sessions.get(session_id) if session_id else None
            if session is None:
                await sessions.record_refusal(
                    session_id or "-", actor=user, action=decision.value, reason=Refusal.UNKNOWN
                )
                return Refused(session_id, Refusal.UNKNOWN)
            self._remember_card(session)
        if not origin.is_on_card_of(session):
            await sessions.record_refusal(
                session_id, actor=user, action=decision.value, reason=Refusal.WRONG_CARD
            )
            return Refused(session_id, Refusal.WRONG_CARD)
        deciders = self._ctx.deciders
        rule: Callable[[str, str], str | None] = {
            Decision.START: deciders.start_refusal,
            Decision.CONSENT: deciders.consent_refusal,
            Decision.CANCEL: deciders.cancel_refusal,
        }[decision]
        why = rule(user, session.requester)
        if why:
            await sessions.record_refusal(session_id, actor=user, action=decision.value, reason=why)
            return NotAllowed(session_id, why)
        return session

    def _remember_card(self, session: RestoreSession) -> None:
        if session.card_ts is None:
            return  # not attached yet: its card's place may still change
        self._carded[session.session_id] = session
        self._carded.move_to_end(session.session_id)
        while len(self._carded) > MAX_REMEMBERED_CARDS:
            self._carded.popitem(last=False)

    async def _decide(self, pending: PendingDecision) -> ClickResult:
        try:
            outcome = await self._ask(pending)
        except StoreUncertain:
            log.warning(
                "Redis did not confirm the %s on restore session %s; checking",
                pending.decision.value,
                pending.session_id,
                exc_info=True,
            )
            self._unsettled[pending.request_id] = pending
            return Checking(pending.session_id, pending)
        self._unsettled.pop(pending.request_id, None)
        return await self._follow(pending, outcome)

    async def _ask(self, pending: PendingDecision) -> Transition | Answer:
        sessions = self._ctx.sessions
        sid, user, request = pending.session_id, pending.user, pending.request_id
        if pending.decision is Decision.START:
            return await sessions.transition(
                sid,
                to=SessionState.VALIDATING,
                actor=user,
                action="start",
                expected={SessionState.AWAITING_START},
                updates={"started_by": user},
                request_id=request,
            )
        if pending.decision is Decision.CONSENT:
            return await sessions.answer_check(
                sid, check=pending.check, consent=pending.consent, actor=user, request_id=request
            )
        return await sessions.transition(
            sid,
            to=SessionState.CANCELLED,
            actor=user,
            action="cancel",
            updates={"outcome": said.cancelled_outcome(user), "cancelled_by": user},
            detail=pending.detail,
            request_id=request,
        )

    # -- following up ----------------------------------------------------------------------

    async def _follow(self, pending: PendingDecision, outcome: Transition | Answer) -> ClickResult:
        ctx = self._ctx
        sid = pending.session_id
        if not outcome.ok or outcome.session is None:
            if outcome.expired_now:
                await ctx.refresh_card(sid)
            answered_by = outcome.answered_by if isinstance(outcome, Answer) else None
            return Refused(sid, outcome.reason or Refusal.WRONG_STATE, answered_by)
        won = outcome.session
        if pending.decision is Decision.START:
            # Atlassian first, the card after: a slow or rate-limited card edit must not
            # delay the call.
            await self._owed_call(won, self._calls.create)
        elif pending.decision is Decision.CONSENT:
            await ctx.refresh_card(sid)
            if isinstance(outcome, Answer) and outcome.complete:
                consents = outcome.consents

                async def revalidate(session: RestoreSession) -> None:
                    await self._calls.revalidate(session, consents)

                await self._owed_call(won, revalidate)
        else:
            await ctx.refresh_card(sid)
            await ctx.tell(won, notices.Cancelled(by=pending.user, pending=pending_of(won)))
        return Accepted(sid)

    async def _owed_call(
        self, won: RestoreSession, call: Callable[[RestoreSession], Awaitable[None]]
    ) -> None:
        """Make the call a won decision owes, under the session's call lease, exactly once.

        Skipped when someone else holds the lease (recovery is making the call) or the
        session moved on since it was won (someone made it). A winner that comes to call
        only after the grace period (its decision was settled late) may have been recovered
        already: it looks Atlassian up first, as recovery does, instead of calling blindly.
        """
        ctx = self._ctx
        async with self._live_call(won.session_id) as lease:
            if lease is None:
                return
            current = await ctx.sessions.get(won.session_id)
            if current is None or current.version != won.version:
                return
            intent = current.intent_at
            if intent is not None and ctx.clock.now() - intent >= IN_FLIGHT_GRACE:
                await self._recovery.recover_held(current.session_id)
                return
            await call(current)

    def _live_call(self, session_id: str) -> AbstractAsyncContextManager[Lease | None]:
        """The call lease for the call a won decision owes, renewed while the call runs."""
        return self._ctx.leases.hold(
            self._ctx.call_lease_key(session_id),
            CALL_LEASE,
            renew_every=CALL_LEASE_RENEW_SECONDS,
        )


def _cancel_detail(session: RestoreSession) -> str:
    """The audit trail's account of a cancel: what it leaves pending at Atlassian, if anything."""
    left = pending_of(session)
    if left is None:
        return "cancelled before Atlassian validated a restore; nothing is pending there"
    until = rules.format_time(left.until) if left.until else "it lapses (about 24 hours)"
    return (
        f"cancelled after validation; restore {left.restore_id} stays waiting for consent at "
        f"Atlassian, which offers no cancel for it, and blocks the site until {until}"
    )


__all__ = ["SETTLE_DELAYS", "Decisions"]
