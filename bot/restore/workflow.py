"""The restore workflow: request, Start, consent, revalidate, run — each decision exactly once.

Every decision goes through ``RestoreSessionStore`` (bot/restore/store.py), whose atomic
transitions decide which single click, among any number of clicks and bot processes, makes
the API call. Only that winner calls Atlassian (bot/restore/calls.py). The intent (state
VALIDATING/REVALIDATING with ``intent_at``) is written before the call, so a bot that dies
mid-call finds it again: recovery (bot/restore/recovery.py) looks the restore up in
Atlassian's list instead of repeating it. Who did what, refusals included, is audited by
the store in the same step as the change.

The workflow is core: it knows nothing of Slack. Clicks return typed results
(bot/restore/clicks.py) that the Slack side words; the card and its thread are reached
through a ``RestoreSurface`` (bot/restore/ports.py). It also is what the tracker calls for
a restore it follows (``bot.tracking.ports.RestoreOutcomes``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from bot.atlassian import rules
from bot.atlassian.client import AtlassianClient
from bot.atlassian.models import Backup, Product, Restore, RestoreStatus
from bot.clock import Clock
from bot.config import SiteDirectory
from bot.errors import BotError, NotFoundError, RestoreRefused
from bot.messages import backups as backups_words
from bot.messages import restore as said
from bot.restore import blocking, notices
from bot.restore.calls import OwedCalls
from bot.restore.clicks import Checking, ClickOrigin, ClickResult, Decision
from bot.restore.context import RestoreContext
from bot.restore.decisions import Decisions
from bot.restore.ending import Ending
from bot.restore.facts import BackupFacts, has_attachments
from bot.restore.ports import CardView, Deciders, RestoreSurface, Sleep
from bot.restore.recovery import IN_FLIGHT_GRACE, Recovery
from bot.restore.session import (
    SYSTEM_ACTOR,
    RestoreSession,
    SessionState,
)
from bot.restore.store import RestoreSessionStore
from bot.store.leases import Leases
from bot.store.operations import OperationStore, TrackedOperation

log = logging.getLogger(__name__)

# Requests for one destination are checked and created one at a time; the checks are a few
# Redis reads, so a lease this long only matters if a process dies holding it.
DESTINATION_LEASE: Final = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    """A restore someone asked for: what to restore where, and who asked, where.

    ``include_attachments`` None means the requester did not say, so the backup decides.
    """

    backup_id: str
    dest_cloud_id: str
    dest_label: str
    include_attachments: bool | None
    include_users_and_groups: bool
    requester: str
    channel: str
    team_id: str | None = None


@dataclass(frozen=True, slots=True)
class RestoreOffer:
    """What a restore form offers: the restorable backups of a product, newest first, the
    organisation's restores they were judged by, and the destinations the bot's own
    unfinished restores hold."""

    backups: list[Backup]
    restores: list[Restore]
    busy_destinations: list[str]


class RestoreWorkflow:
    """Requests, decisions and their API calls, recovery and endings of restores."""

    def __init__(
        self,
        *,
        atlassian: AtlassianClient,
        sessions: RestoreSessionStore,
        operations: OperationStore,
        clock: Clock,
        sites: SiteDirectory,
        deciders: Deciders,
        surface: RestoreSurface,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        leases = Leases(sessions.redis, clock, fence_key=f"{sessions.key_prefix}restore:fence")
        self._ctx = RestoreContext(
            atlassian=atlassian,
            sessions=sessions,
            operations=operations,
            clock=clock,
            sites=sites,
            deciders=deciders,
            surface=surface,
            sleep=sleep,
            leases=leases,
        )
        self._ending = Ending(self._ctx)
        self._calls = OwedCalls(self._ctx, self._ending)
        self._recovery = Recovery(self._ctx, self._calls)
        self._decisions = Decisions(self._ctx, self._calls, self._recovery)

    @property
    def sessions(self) -> RestoreSessionStore:
        return self._ctx.sessions

    @property
    def surface(self) -> RestoreSurface:
        return self._ctx.surface

    @property
    def leases(self) -> Leases:
        return self._ctx.leases

    def call_lease_key(self, session_id: str) -> str:
        """The lease a live call or recovery holds while it talks to Atlassian about a session."""
        return self._ctx.call_lease_key(session_id)

    # -- requesting ------------------------------------------------------------------------

    async def request(self, request: RestoreRequest) -> RestoreSession:
        """Check everything the rules can, then record the session and post its card.

        Raises ``RestoreRefused`` with one sentence saying why not (and from when).
        """
        ctx = self._ctx
        now = ctx.clock.now()
        try:
            backup = await ctx.atlassian.get_backup(request.backup_id)
        except NotFoundError:
            raise RestoreRefused(backups_words.no_such_backup(request.backup_id)) from None
        await self._refuse_if_busy(request)
        restores = await ctx.atlassian.list_restores()
        verdict = blocking.preflight(
            backup=backup,
            restores=restores,
            dest_cloud_id=request.dest_cloud_id,
            dest_label=request.dest_label,
            known_cloud_ids=set(ctx.sites.aliases.values()),
            include_attachments=request.include_attachments,
            sessions=await self._sessions_of(restores, request.dest_cloud_id),
            now=now,
        )
        if not verdict.allowed:
            if not rules.restorability(backup, restores, now).allowed:
                raise RestoreRefused(
                    await self._with_restorable(verdict.reason, backup, restores, request),
                    verdict.possible_from,
                )
            raise RestoreRefused(verdict.reason, verdict.possible_from)
        product = backup.product if isinstance(backup.product, Product) else None
        if product is None or backup.cloud_id is None:
            raise RestoreRefused(said.backup_without_product(backup.backup_id))
        session = await self._create_session(request, backup, product, backup.cloud_id)
        facts = BackupFacts.of(backup, now)
        await ctx.sessions.save_facts(session.session_id, facts)
        try:
            place = await ctx.surface.post_card(request.channel, CardView(session, facts))
        except Exception:
            # Without a card nobody can approve it: close the session rather than leave it dangling.
            await ctx.sessions.transition(
                session.session_id,
                to=SessionState.CANCELLED,
                actor=SYSTEM_ACTOR,
                action="cancel",
                updates={"outcome": said.CARD_NOT_POSTED},
            )
            raise
        await ctx.sessions.attach_card(session.session_id, place.channel, place.ts)
        return session

    async def _refuse_if_busy(self, request: RestoreRequest) -> None:
        """The bot's own unfinished restore onto the site is named, with where its card is."""
        busy = blocking.busy_with(await self._ctx.sessions.unfinished(), request.dest_cloud_id)
        if busy is not None:
            raise RestoreRefused(
                said.another_restore_under_way(busy),
                mrkdwn=True,
                card_channel=busy.channel,
                card_ts=busy.card_ts,
            )

    async def _with_restorable(
        self,
        reason: str,
        backup: Backup,
        restores: Sequence[Restore],
        request: RestoreRequest,
    ) -> str:
        """A backup that may not be restored: the same policy's backups that may, instead."""
        now = self._ctx.clock.now()
        try:
            siblings = await self._same_policy(backup)
        except BotError:
            return reason
        usable = sorted(
            (
                b
                for b in siblings
                if b.backup_id != backup.backup_id
                and rules.restorability(b, restores, now).allowed
                and b.created_at is not None
            ),
            key=lambda b: b.created_at or now,
            reverse=True,
        )
        ages = [
            (b.backup_id, rules.describe_age(b.created_at, now)) for b in usable if b.created_at
        ]
        return said.restorable_instead(reason, ages, request.dest_label)

    async def _same_policy(self, backup: Backup) -> list[Backup]:
        """The backups of the policy ``backup`` belongs to (found by site and product when
        the API does not say which policy took it)."""
        api = self._ctx.atlassian
        policy_ids = (
            [backup.policy_id]
            if backup.policy_id
            else [
                policy.policy_id
                for policy in await api.list_policies()
                if policy.cloud_id == backup.cloud_id and policy.product == backup.product
            ]
        )
        return [found for policy_id in policy_ids for found in await api.list_backups(policy_id)]

    async def _create_session(
        self, request: RestoreRequest, backup: Backup, product: Product, source_cloud_id: str
    ) -> RestoreSession:
        ctx = self._ctx
        include_attachments = (
            request.include_attachments
            if request.include_attachments is not None
            else has_attachments(backup)
        )
        async with ctx.leases.hold(
            ctx.key(f"requesting:{request.dest_cloud_id}"), DESTINATION_LEASE
        ) as lease:
            if lease is None:
                raise RestoreRefused(said.being_requested_now(request.dest_label))
            # Checked and created under the lease, so two requests cannot both pass.
            await self._refuse_if_busy(request)
            return await ctx.sessions.create(
                backup_id=backup.backup_id,
                product=product,
                source_cloud_id=source_cloud_id,
                dest_cloud_id=request.dest_cloud_id,
                dest_label=request.dest_label,
                include_attachments=include_attachments,
                include_users_and_groups=request.include_users_and_groups,
                requester=request.requester,
                channel=request.channel,
                team_id=request.team_id,
            )

    async def _sessions_of(
        self, restores: list[Restore], dest_cloud_id: str
    ) -> dict[str, RestoreSession]:
        """The bot's sessions of the restores waiting for consent on the destination."""
        found: dict[str, RestoreSession] = {}
        for restore in restores:
            if (restore.cloud_id or "").lower() != dest_cloud_id.lower():
                continue
            if restore.status != RestoreStatus.VALIDATION_FAILED:
                continue
            session = await self._ctx.sessions.find_by_restore_id(restore.restore_id)
            if session is not None:
                found[restore.restore_id] = session
        return found

    async def offer(self, product: Product) -> RestoreOffer:
        """What a restore form offers for ``product`` now, and what its choices are checked by."""
        ctx = self._ctx
        now = ctx.clock.now()
        restores = await ctx.atlassian.list_restores()
        found: list[Backup] = []
        for policy in await ctx.atlassian.list_policies():
            if policy.product != product:
                continue
            for backup in await ctx.atlassian.list_backups(policy.policy_id):
                if rules.restorability(backup, restores, now).allowed:
                    found.append(backup)
        found.sort(key=lambda backup: backup.created_at or now, reverse=True)
        busy = sorted({s.dest_cloud_id for s in await ctx.sessions.unfinished()})
        return RestoreOffer(backups=found, restores=restores, busy_destinations=busy)

    # -- clicks ----------------------------------------------------------------------------

    async def start_clicked(
        self, session_id: str, user: str, *, origin: ClickOrigin
    ) -> ClickResult:
        """Start pressed on the card ``origin`` names: the one winning click calls
        create-restore."""
        return await self._decisions.clicked(Decision.START, session_id, user, origin=origin)

    async def answer_clicked(
        self, session_id: str, user: str, *, origin: ClickOrigin, check: str, consent: str
    ) -> ClickResult:
        """A consent button: the answer completing the set calls revalidate, once."""
        return await self._decisions.clicked(
            Decision.CONSENT, session_id, user, origin=origin, check=check, consent=consent
        )

    async def cancel_clicked(
        self, session_id: str, user: str, *, origin: ClickOrigin
    ) -> ClickResult:
        """Cancel pressed: the request ends, nothing is restored."""
        return await self._decisions.clicked(Decision.CANCEL, session_id, user, origin=origin)

    async def unknown_action(self, session_id: str, user: str, action: str) -> ClickResult:
        """A button no card draws: refused and audited, the session left as it is."""
        return await self._decisions.unknown_action(session_id, user, action)

    async def settle(self, checking: Checking) -> ClickResult:
        """What a click Redis did not confirm did, once Redis says (``Checking`` if not yet)."""
        return await self._decisions.settle(checking)

    # -- housekeeping ----------------------------------------------------------------------

    async def expire_due(self) -> int:
        """Expire every undecided session past its deadline and say so on its card."""
        ctx = self._ctx
        expired = await ctx.sessions.expire_due()
        for session in expired:
            await ctx.refresh_card(session.session_id)
            await ctx.tell(session, notices.Expired())
        return len(expired)

    async def forget_finished(self) -> int:
        """Forget sessions that ended longer than the retention period ago (BOT_RETENTION_DAYS)."""
        return await self._ctx.sessions.forget_finished()

    async def recover_in_flight(self, *, grace: timedelta = IN_FLIGHT_GRACE) -> int:
        """Settle clicks Redis did not confirm, then sessions whose API call was decided but
        never confirmed (a crash, a timeout): how many sessions recovery settled."""
        await self._decisions.settle_left_over()
        return await self._recovery.recover_in_flight(grace=grace)

    async def apply_result(self, session_id: str, restore: Restore, expected: SessionState) -> None:
        """Move an in-flight session on by what Atlassian answered (create or revalidate)."""
        await self._calls.apply_result(session_id, restore, expected)

    # -- the tracker's side (bot.tracking.ports.RestoreOutcomes) -----------------------------

    async def claim(self, restore: Restore) -> bool:
        """Whether a session owns ``restore``, so the tracker must not adopt it as unknown."""
        return await self._recovery.claim(restore)

    async def finished(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> None:
        await self._ending.finished(operation, restore, report_url)

    async def gone(self, operation: TrackedOperation) -> None:
        await self._ending.gone(operation)

    async def card_view(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> CardView | None:
        """What the restore's card should show now; None when no session owns the restore."""
        return await self._ending.card_for(operation, restore, report_url)


__all__ = ["DESTINATION_LEASE", "RestoreOffer", "RestoreRequest", "RestoreWorkflow"]
