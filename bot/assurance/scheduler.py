"""Each slot of each schedule gets its backup, exactly once across replicas.

``Scheduler.step`` looks at every schedule whose latest slot has come. The work on one
schedule happens under its lease (``ScheduleStore.lease_key``), and every decision is saved
as the slot's ``SlotRun`` under that lease, so however many processes step, one decides:

1. Due, nothing started: check the rules (``rules.may_run_backup``). A refusal is announced
   once in the schedule's channel with why and when the bot tries again (the moment the
   rules allow it, plus ``RULE_MARGIN`` for the clocks of Atlassian and the bot); a rule
   that lifts within ``QUIET_WAIT`` is waited out without a word, so a weekly slot a little
   short of 7 days after last week's backup does not speak every week. A refusal with no
   known end (a backup still running, Atlassian refusing the start) is said once per slot
   and looked at again every ``RECHECK``.
2. Allowed: save the intent, start the backup, post the usual card, register it with the
   tracker (which follows the card to its end), save the backup id.
3. The slot's backup ended FAILED or INCOMPLETE: announce the retry in the card's thread
   and run again after a backoff (``RETRY_BACKOFF`` doubling), at most ``tries`` per slot;
   then say so and wait for the next slot. COMPLETE ends the slot.
4. Atlassian no longer has the policy (its read answers 404): say so once in the channel
   the schedule was set in, with what to do, mark the schedule gone and stop stepping it.
   It stays listed, as stopped, until someone turns it off or sets it again.

Failure window: a process that dies after Atlassian started the backup and before saving
its id leaves the intent. The next holder looks for a backup of the policy created since
the intent and adopts it (posting its card); only when none shows up within
``INTENT_GRACE`` does it try again, and Atlassian's own one-running-backup rule refuses a
second start meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bot.assurance.coverage import taken_at
from bot.assurance.ports import BackupCards
from bot.assurance.schedules import BackupSchedule
from bot.assurance.store import ScheduleStore, SlotRun
from bot.atlassian import rules
from bot.atlassian.client import AtlassianClient
from bot.atlassian.models import Backup, BackupStatus, Policy
from bot.clock import Clock, ensure_utc
from bot.config import SiteDirectory
from bot.errors import (
    AtlassianError,
    ConflictError,
    NotFoundError,
    OutcomeUnknown,
    RuleViolation,
)
from bot.messages import assurance as words
from bot.store.leases import Lease
from bot.store.operations import OperationKind, OperationStore
from bot.store.outbox import Destination, NoticePost

log = logging.getLogger(__name__)

LEASE_TTL: Final = timedelta(seconds=60)
RULE_MARGIN: Final = timedelta(minutes=1)
QUIET_WAIT: Final = timedelta(hours=1)
# How soon to look again when Atlassian refuses for a reason that gives no time.
RECHECK: Final = timedelta(minutes=15)
RETRY_BACKOFF: Final = timedelta(minutes=30)
INTENT_GRACE: Final = timedelta(minutes=5)
_UNFINISHED: Final = frozenset({BackupStatus.IN_PROGRESS, BackupStatus.CREATED})


@dataclass(frozen=True, slots=True)
class _Parts:
    """What the work on a slot uses."""

    schedules: ScheduleStore
    operations: OperationStore
    atlassian: AtlassianClient
    cards: BackupCards
    sites: SiteDirectory
    tries: int


class Scheduler:
    """Runs the backups of the bot's schedules; any number of processes may step it."""

    def __init__(
        self,
        schedules: ScheduleStore,
        operations: OperationStore,
        atlassian: AtlassianClient,
        cards: BackupCards,
        clock: Clock,
        sites: SiteDirectory,
        *,
        process_id: str,
        tries: int = 3,
    ) -> None:
        self._parts = _Parts(schedules, operations, atlassian, cards, sites, tries)
        self._schedules = schedules
        self._atlassian = atlassian
        self._clock = clock
        self._holder = process_id.replace("|", "/")

    @property
    def active(self) -> bool:
        """False under an API version where Atlassian schedules backups itself."""
        return not self._atlassian.profile.has_activation

    async def step(self) -> int:
        """Do what every due slot needs now; returns how many backups this process started."""
        if not self.active:
            return 0
        started = 0
        schedules = await self._schedules.all()
        gone = await self._schedules.gone([s.policy_id for s in schedules])
        for schedule in schedules:
            if schedule.policy_id in gone:
                continue
            try:
                started += await self._step_one(schedule)
            except AtlassianError as exc:
                log.warning("schedule of %s: Atlassian failed (%s)", schedule.policy_id, exc)
            except Exception:
                log.exception("schedule of %s failed this step", schedule.policy_id)
        return started

    async def _step_one(self, schedule: BackupSchedule) -> int:
        now = self._clock.now()
        slot = schedule.latest_slot(now)
        if slot is None:
            return 0
        run = await self._schedules.run_of(schedule.policy_id)
        if run is not None and run.slot == slot and _idle_until(run, now):
            return 0
        leases = self._schedules.leases_for(schedule.policy_id)
        key = self._schedules.lease_key(schedule.policy_id)
        async with leases.hold(key, LEASE_TTL, holder=self._holder, renew_every=10) as lease:
            if lease is None:
                return 0
            # Read again under the lease: another holder may have moved it on.
            run = await self._schedules.run_of(schedule.policy_id)
            if run is None or run.slot < slot:
                run = SlotRun(slot=slot)
            step = _SlotStep(self._parts, schedule, run, lease, self._clock.now())
            return await step.advance()
        return 0  # pragma: no cover - hold() always yields


def _idle_until(run: SlotRun, now: datetime) -> bool:
    """Nothing to do for this slot now (done, or waiting for a time not reached yet)."""
    if run.done:
        return True
    if run.intent_at is not None:
        return False
    waiting = run.next_try_at is not None and now < run.next_try_at
    # A backup that ended and was announced only waits for its retry time.
    return waiting and (run.backup_id is None or run.settled_backup_id == run.backup_id)


class _SlotStep:
    """One holder's work on one slot, under the schedule's lease."""

    def __init__(
        self, parts: _Parts, schedule: BackupSchedule, run: SlotRun, lease: Lease, now: datetime
    ) -> None:
        self._p = parts
        self._schedule = schedule
        self._run = run
        self._lease = lease
        self._now = now

    async def _save(self, run: SlotRun) -> bool:
        saved = await self._p.schedules.save_run(self._schedule.policy_id, run, self._lease)
        if saved:
            self._run = run
        else:
            log.warning("lost the lease of %s's schedule; leaving it", self._schedule.policy_id)
        return saved

    async def advance(self) -> int:
        run = self._run
        if run.done:
            return 0
        try:
            policy = await self._p.atlassian.get_policy(self._schedule.policy_id)
        except NotFoundError:
            await self._policy_gone()
            return 0
        backups = await self._p.atlassian.list_backups(policy.policy_id)
        if run.backup_id is not None:
            return await self._follow(policy, backups, run.backup_id)
        if run.intent_at is not None:
            found = _started_since(backups, run.intent_at)
            if found is not None:
                # Registered with no status, so the tracker announces wherever it got to.
                await self._show(policy, found, status=None)
                await self._save(run.next(backup_id=found.backup_id, intent_at=None))
                return 0
            if self._now < run.intent_at + INTENT_GRACE:
                return 0
            run = run.next(intent_at=None)
        if run.next_try_at is not None and self._now < run.next_try_at:
            return 0
        return await self._start(policy, backups, run)

    async def _policy_gone(self) -> None:
        """Said once per schedule (as set), then the schedule is not stepped any more."""
        schedule = self._schedule
        policy_id = schedule.policy_id
        log.warning("schedule of %s: Atlassian no longer has the policy; stopped", policy_id)
        await self._p.operations.enqueue_once(
            f"policy:{policy_id}",
            [
                NoticePost(
                    Destination.NOTIFY,
                    words.scheduled_policy_gone(policy_id),
                    channel=schedule.channel,
                )
            ],
            marker=f"schedule-policy-gone:{policy_id}:{_ms(schedule.set_at)}",
        )
        await self._p.schedules.mark_gone(policy_id, self._now)

    async def _start(self, policy: Policy, backups: list[Backup], run: SlotRun) -> int:
        profile = self._p.atlassian.profile
        verdict = rules.may_run_backup(backups, self._now, rules=profile.rules)
        if not verdict.allowed:
            retry_at = (
                verdict.possible_from + RULE_MARGIN
                if verdict.possible_from is not None
                else self._now + RECHECK
            )
            await self._refused(
                policy, run, verdict.reason, retry_at, lifts_at=verdict.possible_from
            )
            return 0
        if not await self._save(run.next(intent_at=self._now, next_try_at=None)):
            return 0
        try:
            backup = await self._p.atlassian.run_backup(
                policy_id=policy.policy_id, cloud_id=policy.cloud_id
            )
        except (RuleViolation, ConflictError) as exc:
            await self._refused(
                policy,
                self._run.next(intent_at=None),
                exc.user_message,
                self._now + RECHECK,
                lifts_at=None,
            )
            return 0
        except OutcomeUnknown:
            # The intent stays: the next step looks for the backup this call may have made.
            log.warning("starting %s's scheduled backup: outcome unknown", policy.policy_id)
            return 0
        await self._show(policy, backup, status=str(backup.status))
        await self._save(
            self._run.next(backup_id=backup.backup_id, intent_at=None, tries=self._run.tries + 1)
        )
        return 1

    async def _refused(
        self,
        policy: Policy,
        run: SlotRun,
        reason: str,
        retry_at: datetime,
        *,
        lifts_at: datetime | None,
    ) -> None:
        """Wait until ``retry_at``; say why once, unless the rule lifts (``lifts_at``) soon."""
        quiet = lifts_at is not None and lifts_at - self._now <= QUIET_WAIT
        if not run.refusal_announced and not quiet:
            text = words.scheduled_run_refused(self._name(policy), reason, retry_at)
            # A known wait is said once however many slots it spans (a daily schedule under
            # a weekly rule); a wait of unknown length once per slot.
            about = _ms(lifts_at) if lifts_at is not None else f"slot-{_ms(run.slot)}"
            await self._p.operations.enqueue_once(
                f"policy:{policy.policy_id}",
                [NoticePost(Destination.NOTIFY, text, channel=self._schedule.channel)],
                marker=f"schedule-refused:{policy.policy_id}:{about}",
            )
            run = run.next(refusal_announced=True)
        await self._save(run.next(next_try_at=retry_at))

    async def _follow(self, policy: Policy, backups: list[Backup], backup_id: str) -> int:
        run = self._run
        backup = next((b for b in backups if b.backup_id == backup_id), None)
        if backup is None:
            backup = await self._p.atlassian.get_backup(backup_id)
        status = rules.effective_backup_status(backup, self._now)
        if status in _UNFINISHED:
            return 0
        if status == BackupStatus.COMPLETE:
            await self._save(run.next(done=True))
            return 0
        if run.settled_backup_id != backup_id:
            # Ended FAILED, INCOMPLETE (or anything else): announce once what happens next.
            if run.tries >= self._p.tries:
                text = words.scheduled_run_gave_up(
                    backup_id, str(status), run.tries, self._schedule.next_slot(self._now)
                )
                await self._thread(backup_id, text, "gave-up")
                await self._save(run.next(done=True, settled_backup_id=backup_id))
                return 0
            retry_at = self._now + RETRY_BACKOFF * (2 ** (run.tries - 1))
            text = words.scheduled_run_retry(
                backup_id, str(status), run.tries + 1, self._p.tries, retry_at
            )
            await self._thread(backup_id, text, "retry")
            await self._save(run.next(settled_backup_id=backup_id, next_try_at=retry_at))
            return 0
        if run.next_try_at is not None and self._now < run.next_try_at:
            return 0
        return await self._start(
            policy, backups, run.next(backup_id=None, next_try_at=None, refusal_announced=False)
        )

    async def _thread(self, backup_id: str, text: str, what: str) -> None:
        await self._p.operations.enqueue_once(
            f"{OperationKind.BACKUP.value}:{backup_id}",
            [NoticePost(Destination.THREAD, text)],
            marker=f"schedule-{what}:{backup_id}",
        )

    async def _show(self, policy: Policy, backup: Backup, *, status: str | None) -> None:
        channel = self._schedule.channel
        card_ts: str | None = None
        try:
            card_ts = await self._p.cards.post_started(
                policy, backup, channel, self._schedule.set_by
            )
        except Exception:
            log.exception("could not post the card of scheduled backup %s", backup.backup_id)
        await self._p.operations.register(
            OperationKind.BACKUP,
            backup.backup_id,
            cloud_id=policy.cloud_id,
            product=str(policy.product) if policy.product else None,
            channel=channel if card_ts else None,
            card_ts=card_ts,
            started_by=self._schedule.set_by,
            status=status,
            policy_id=policy.policy_id,
        )

    def _name(self, policy: Policy) -> words.PolicyName:
        return policy_name(policy, self._p.sites)


def policy_name(policy: Policy, sites: SiteDirectory) -> words.PolicyName:
    product = policy.product
    label = getattr(product, "label", None) or str(product)
    return words.PolicyName(label, sites.name(policy.cloud_id), policy.policy_id)


def _started_since(backups: list[Backup], since: datetime) -> Backup | None:
    # Atlassian's clock may be a little behind the bot's: allow a minute either way.
    earliest = ensure_utc(since) - timedelta(minutes=1)
    found = [b for b in backups if (moment := taken_at(b)) is not None and moment >= earliest]
    return max(found, key=lambda b: taken_at(b) or earliest, default=None)


def _ms(moment: datetime) -> int:
    return int(ensure_utc(moment).timestamp() * 1000)


__all__ = ["Scheduler", "policy_name"]
