"""How much the org would lose if it had to restore now: one line per site and product.

For each policy: the newest COMPLETE backup (age, expiry), the newest restorable backup
(the data after it is what a restore now would lose), the next run (the bot's schedule,
Atlassian's under v2, or else when the rules next allow one) and the restores open on the
policy's site for that product (from it or onto it), with those waiting for consent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from bot.assurance.coverage import newest_complete, newest_restorable, taken_at
from bot.assurance.scheduler import policy_name
from bot.assurance.store import ScheduleStore
from bot.atlassian import rules
from bot.atlassian.client import AtlassianClient
from bot.atlassian.models import Backup, BackupStatus, Policy
from bot.atlassian.schedules import next_run
from bot.clock import Clock
from bot.config import SiteDirectory
from bot.messages.assurance import StatusFacts
from bot.restore.session import RestoreSession, SessionState
from bot.restore.store import RestoreSessionStore


class StatusReport:
    """Builds the status lines from Atlassian, the schedules and the restore sessions."""

    def __init__(
        self,
        atlassian: AtlassianClient,
        schedules: ScheduleStore,
        sessions: RestoreSessionStore,
        clock: Clock,
        sites: SiteDirectory,
    ) -> None:
        self._atlassian = atlassian
        self._schedules = schedules
        self._sessions = sessions
        self._clock = clock
        self._sites = sites

    async def lines(self) -> list[StatusFacts]:
        policies = await self._atlassian.list_policies()
        backups = await asyncio.gather(
            *(self._atlassian.list_backups(policy.policy_id) for policy in policies)
        )
        sessions = await self._sessions.unfinished()
        now = self._clock.now()
        facts = [
            await self._line(policy, list(found), sessions, now)
            for policy, found in zip(policies, backups, strict=True)
        ]
        return sorted(facts, key=lambda f: (f.policy.site, f.policy.product, f.policy.policy_id))

    async def _line(
        self,
        policy: Policy,
        backups: Sequence[Backup],
        sessions: Sequence[RestoreSession],
        now: datetime,
    ) -> StatusFacts:
        last = newest_complete(backups)
        last_complete = None
        if last is not None and (taken := taken_at(last)) is not None:
            last_complete = (last.backup_id, taken, rules.backup_expiry(last))
        restorable = newest_restorable(backups, now)
        next_at, kind = await self._next_run(policy, backups, now)
        mine = [
            s
            for s in sessions
            if policy.cloud_id in (s.dest_cloud_id, s.source_cloud_id)
            and str(s.product) == str(policy.product)
        ]
        return StatusFacts(
            policy=policy_name(policy, self._sites),
            last_complete=last_complete,
            restorable_since=taken_at(restorable) if restorable is not None else None,
            next_run=next_at,
            next_run_is=kind,
            open_restores=len(mine),
            consents_waiting=sum(1 for s in mine if s.state is SessionState.AWAITING_CONSENT),
            last_is_complete=last is None or last.status == BackupStatus.COMPLETE,
            restorable_is_incomplete=restorable is not None
            and restorable.status == BackupStatus.INCOMPLETE,
        )

    async def _next_run(
        self, policy: Policy, backups: Sequence[Backup], now: datetime
    ) -> tuple[datetime | None, str]:
        profile = self._atlassian.profile
        if profile.has_activation:
            upcoming = next_run(policy.schedule, now) if policy.is_active else None
            return upcoming, "Atlassian-scheduled"
        verdict = rules.may_run_backup(backups, now, rules=profile.rules)
        allowed_from = verdict.possible_from if not verdict.allowed else now
        schedule = await self._schedules.get(policy.policy_id)
        if schedule is None:
            return allowed_from, "allowed"
        slot = schedule.next_slot(now)
        if allowed_from is not None and allowed_from > slot:
            return allowed_from, "scheduled"
        return slot, "scheduled"


__all__ = ["StatusReport"]
