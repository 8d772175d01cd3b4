"""The simulated organisation: its sites, storages, policies, backups, transfers and restores.

Pure state and rules, no I/O. Every status is computed from the world's clock when it is
read, so moving the clock is all it takes to finish an operation: nothing runs in the
background. An operation's outcome (COMPLETE or FAILED) is drawn from the world's seeded
random generator when it is created, so a given seed and sequence of calls always plays out
the same way.

Refusals are raised as ``SimulatedApiError``: the HTTP status, code and message the
simulated service answers with. They are the service's answers, not the bot's own errors,
so they stay outside the bot's error tree.

The world speaks one API version (``api``): its rules (retention, the interval between
backups) are that version's, and in v2 policies are saved inactive, activated, and run on
their schedule: each active scheduled policy holds one CREATED backup for its next slot,
which starts when the clock reaches the slot (``settle``). The JSON shapes of v2 live in
``bot.simulator.v2``.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol

from bot.atlassian.models import (
    BackupStatus,
    ConsentCheck,
    OperationStatus,
    Product,
    RestoreStatus,
    Schedule,
)
from bot.atlassian.schedules import next_run
from bot.atlassian.versions import EAP_RULES, V1, ApiProfile, ApiVersion, profile_of
from bot.clock import Clock, SystemClock

BACKUP_RETENTION = EAP_RULES.retention
BACKUP_INTERVAL = EAP_RULES.backup_interval
RESTORE_INTERVAL = EAP_RULES.restore_interval
# However far the clock jumps, one look starts at most this many scheduled backups.
MAX_SCHEDULED_PER_SETTLE = 500
# An unanswered validation would otherwise block its destination for ever.
CONSENT_WINDOW = timedelta(hours=24)

DEFAULT_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
)

_CUSTOM_GROUP_ANSWERS = frozenset(
    {ConsentCheck.ACCEPT_CUSTOM_GROUP, ConsentCheck.DENY_CUSTOM_GROUP}
)


class SimulatedApiError(Exception):
    """An error response of the simulated service: HTTP status, SCREAMING code, one sentence."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def rule_violation(code: str, message: str) -> SimulatedApiError:
    return SimulatedApiError(400, code, message)


def not_found(code: str, message: str) -> SimulatedApiError:
    return SimulatedApiError(404, code, message)


def conflict(code: str, message: str) -> SimulatedApiError:
    return SimulatedApiError(409, code, message)


def iso(moment: datetime) -> str:
    """The service's timestamp spelling: UTC, milliseconds, ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class Plan(enum.IntEnum):
    """Product plans, ordered so that a lower plan compares lower."""

    FREE = 0
    STANDARD = 1
    PREMIUM = 2
    ENTERPRISE = 3

    @property
    def label(self) -> str:
        return self.name.capitalize()


class AdvanceableClock(Clock, Protocol):
    def advance(self, seconds: float = 0) -> datetime: ...


class ShiftableClock:
    """Real time plus an offset, so a simulator on the system clock can still skip ahead."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base: Clock = base or SystemClock()
        self._offset = timedelta()

    def now(self) -> datetime:
        return self._base.now() + self._offset

    def advance(self, seconds: float = 0) -> datetime:
        self._offset += timedelta(seconds=seconds)
        return self.now()


@dataclass
class Site:
    """A cloud site of the org and what a restore onto it is checked against."""

    cloud_id: str
    name: str
    plan: Plan = Plan.STANDARD
    free_trial: bool = False
    shard: str = "shard-1"
    project_keys: set[str] = field(default_factory=set)
    space_keys: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    custom_groups: set[str] = field(default_factory=set)

    def keys_for(self, product: Product) -> set[str]:
        """Jira project keys or Confluence space keys: the live set, so edits stick."""
        return self.project_keys if product is Product.JIRA else self.space_keys

    def to_json(self) -> dict[str, Any]:
        return {
            "cloudId": self.cloud_id,
            "name": self.name,
            "plan": self.plan.name,
            "freeTrial": self.free_trial,
            "shard": self.shard,
            "projectKeys": sorted(self.project_keys),
            "spaceKeys": sorted(self.space_keys),
            "groups": sorted(self.groups),
            "customGroups": sorted(self.custom_groups),
        }


@dataclass
class StorageRecord:
    storage_id: str
    storage_name: str
    storage_region: str
    storage_prefix: str | None
    storage_type: str
    role_identifier: str
    principal_tag: str | None
    cloud_id: str
    created_at: datetime

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "storageId": self.storage_id,
            "storageName": self.storage_name,
            "storageRegion": self.storage_region,
            "storagePrefix": self.storage_prefix,
            "storageType": self.storage_type,
            "roleIdentifier": self.role_identifier,
            "principalTag": self.principal_tag,
            "cloudId": self.cloud_id,
            "status": "ACTIVE",
        }


@dataclass
class PolicyRecord:
    policy_id: str
    cloud_id: str
    product: Product
    storage_id: str | None
    include_attachments: bool
    include_personal_spaces: bool | None
    created_at: datetime
    # v2 only: a name, whether it was activated, its schedule and the backup waiting for
    # the schedule's next slot.
    name: str | None = None
    active: bool = True
    schedule: Schedule | None = None
    created_by: str | None = None
    pending_backup_id: str | None = None

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "policyId": self.policy_id,
            "cloudId": self.cloud_id,
            "product": self.product.value,
            "storageId": self.storage_id,
            "includeAttachments": self.include_attachments,
            "includePersonalSpaces": self.include_personal_spaces,
            "status": "ACTIVE",
            "createdAt": iso(self.created_at),
        }


@dataclass
class BackupRecord:
    """A backup and what it holds; ``outcome`` is where it ends once ``finishes_at`` passes."""

    backup_id: str
    policy_id: str
    cloud_id: str
    product: Product
    created_at: datetime
    finishes_at: datetime
    outcome: BackupStatus
    status_message: str | None = None
    content_keys: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    custom_groups: frozenset[str] = frozenset()
    has_attachments: bool = True
    plan: Plan = Plan.STANDARD
    shard: str = "shard-1"
    data_size_gb: float = 1.0
    attachments_size_gb: float = 0.0
    users_size_gb: float = 0.01
    retention: timedelta = BACKUP_RETENTION
    # A scheduled v2 backup is CREATED until its slot, then runs; None: it ran at once.
    starts_at: datetime | None = None
    account_id: str | None = None

    @property
    def started_at(self) -> datetime:
        return self.starts_at or self.created_at

    @property
    def expiry_time(self) -> datetime:
        return self.started_at + self.retention

    @property
    def has_custom_groups(self) -> bool:
        return bool(self.custom_groups)

    def status_at(self, now: datetime) -> BackupStatus:
        if self.starts_at is not None and now < self.starts_at:
            return BackupStatus.CREATED
        if now < self.finishes_at:
            return BackupStatus.IN_PROGRESS
        if self.outcome is BackupStatus.FAILED:
            return BackupStatus.FAILED
        if now >= self.expiry_time:
            return BackupStatus.EXPIRED
        return self.outcome

    @property
    def expired_message(self) -> str:
        return f"This backup is more than {self.retention.days} days old and has expired."

    def to_json(self, now: datetime) -> dict[str, Any]:
        status = self.status_at(now)
        body: dict[str, Any] = {
            "backupId": self.backup_id,
            "policyId": self.policy_id,
            "cloudId": self.cloud_id,
            "product": self.product.value,
            "status": status.value,
        }
        if status is BackupStatus.EXPIRED:
            body["statusMessage"] = self.expired_message
        elif status is not BackupStatus.IN_PROGRESS and self.status_message:
            body["statusMessage"] = self.status_message
        body["createdAt"] = iso(self.created_at)
        if status is not BackupStatus.IN_PROGRESS:
            body["completedAt"] = iso(self.finishes_at)
        body["expiryTime"] = iso(self.expiry_time)
        if status in (BackupStatus.COMPLETE, BackupStatus.INCOMPLETE, BackupStatus.EXPIRED):
            body["backupSize"] = {
                "dataSize": self.data_size_gb,
                "attachmentsSize": self.attachments_size_gb,
                "totalBackupSizeInGB": round(self.data_size_gb + self.attachments_size_gb, 2),
            }
        return body


@dataclass
class TransferRecord:
    """An export to customer storage or an import back from it."""

    kind: Literal["export", "import"]
    transfer_id: str
    backup_id: str
    cloud_id: str
    product: Product
    created_at: datetime
    finishes_at: datetime
    outcome: OperationStatus
    status_message: str | None = None

    def status_at(self, now: datetime) -> OperationStatus:
        return OperationStatus.IN_PROGRESS if now < self.finishes_at else self.outcome

    def to_json(self, now: datetime) -> dict[str, Any]:
        status = self.status_at(now)
        body: dict[str, Any] = {
            f"{self.kind}Id": self.transfer_id,
            "backupId": self.backup_id,
            "cloudId": self.cloud_id,
            "product": self.product.value,
            "status": status.value,
            "createdAt": iso(self.created_at),
        }
        if status is not OperationStatus.IN_PROGRESS:
            body["completedAt"] = iso(self.finishes_at)
        if status is OperationStatus.FAILED and self.status_message:
            body["statusMessage"] = self.status_message
        return body


@dataclass(frozen=True)
class FailedCheckRecord:
    check: ConsentCheck
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check.value, "code": self.code, "message": self.message}


@dataclass
class RestoreRecord:
    """A restore: waiting for consent while ``failed_checks`` is non-empty, then running."""

    restore_id: str
    backup_id: str
    cloud_id: str
    source_cloud_id: str
    product: Product
    include_attachments: bool
    include_users_and_groups: bool
    created_at: datetime
    outcome: RestoreStatus
    outcome_message: str | None = None
    failed_checks: list[FailedCheckRecord] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)
    migration_id: str | None = None
    started_at: datetime | None = None
    finishes_at: datetime | None = None
    applied: bool = False

    def status_at(self, now: datetime) -> RestoreStatus:
        if self.started_at is None or self.finishes_at is None:
            if now >= self.created_at + CONSENT_WINDOW:
                return RestoreStatus.FAILED
            return RestoreStatus.VALIDATION_FAILED
        if now < self.finishes_at:
            return RestoreStatus.IN_PROGRESS
        return self.outcome

    def ended_at(self, now: datetime) -> datetime | None:
        status = self.status_at(now)
        if status not in (RestoreStatus.COMPLETE, RestoreStatus.INCOMPLETE, RestoreStatus.FAILED):
            return None
        return self.finishes_at or self.created_at + CONSENT_WINDOW

    def to_json(self, now: datetime) -> dict[str, Any]:
        status = self.status_at(now)
        body: dict[str, Any] = {
            "restoreId": self.restore_id,
            "backupId": self.backup_id,
            "cloudId": self.cloud_id,
            "product": self.product.value,
            "status": status.value,
            "failedChecks": [check.to_json() for check in self.failed_checks],
            "includeAttachments": self.include_attachments,
            "includeUsersAndGroups": self.include_users_and_groups,
            "consents": list(self.consents),
            "createdAt": iso(self.created_at),
        }
        if self.migration_id is not None:
            body["migrationId"] = self.migration_id
        ended = self.ended_at(now)
        if ended is not None:
            body["completedAt"] = iso(ended)
            if self.started_at is None:
                body["statusMessage"] = (
                    "No consent was given within 24 hours, so the restore was abandoned."
                )
            elif self.outcome_message:
                body["statusMessage"] = self.outcome_message
        return body


@dataclass
class QueuedFault:
    """A deterministic injection: the next ``remaining`` matching requests are answered so."""

    status: int
    remaining: int
    method: str | None = None
    path_contains: str | None = None
    retry_after: float | None = None
    delay_after_commit_s: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "count": self.remaining,
            "method": self.method,
            "pathContains": self.path_contains,
            "retryAfter": self.retry_after,
            "delayAfterCommitS": self.delay_after_commit_s,
        }


@dataclass(frozen=True)
class BackupEnding:
    """How the next backup started through the API ends, instead of the seeded draw."""

    status: BackupStatus
    # Its data size in GB; None: the size the site's content gives.
    data_size_gb: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "dataSizeGb": self.data_size_gb}


_ENDING_MESSAGES: Final = {
    BackupStatus.FAILED: (
        "The backup could not be completed because of an internal error; run it again."
    ),
    BackupStatus.INCOMPLETE: "Some content could not be backed up; run the backup again.",
}


class Faults:
    """Random and queued misbehaviour of the service, for testing the bot's resilience."""

    def __init__(self, rng_seed: str = "faults") -> None:
        self.fail_rate: float = 0.0
        self.rate_limit_rate: float = 0.0
        self.latency_ms: float = 0.0
        self._queue: list[QueuedFault] = []
        self._endings: list[BackupEnding] = []
        # Separate from the world's generator so injected faults never shift ids or outcomes.
        self._rng = random.Random(rng_seed)

    def queue(
        self,
        status: int = 503,
        count: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        retry_after: float | None = None,
        delay_after_commit_s: float | None = None,
    ) -> QueuedFault:
        """Answer the next ``count`` matching requests with ``status``.

        With ``delay_after_commit_s`` the request is carried out and only its answer is held
        back that long, so a client times out on a create that did happen.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if delay_after_commit_s is None and not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        fault = QueuedFault(
            status=status,
            remaining=count,
            method=method,
            path_contains=path_contains,
            retry_after=retry_after,
            delay_after_commit_s=delay_after_commit_s,
        )
        self._queue.append(fault)
        return fault

    @property
    def queued(self) -> list[QueuedFault]:
        return list(self._queue)

    def end_next_backup(
        self, status: BackupStatus, *, data_size_gb: float | None = None
    ) -> BackupEnding:
        """The next backup started through the API ends ``status`` (COMPLETE, INCOMPLETE or
        FAILED), holding ``data_size_gb``; several calls queue endings for later backups."""
        if status not in (BackupStatus.COMPLETE, BackupStatus.INCOMPLETE, BackupStatus.FAILED):
            raise ValueError("a backup ends COMPLETE, INCOMPLETE or FAILED")
        ending = BackupEnding(status, data_size_gb)
        self._endings.append(ending)
        return ending

    def take_backup_ending(self) -> BackupEnding | None:
        return self._endings.pop(0) if self._endings else None

    def clear_queue(self) -> None:
        self._queue.clear()

    def take(self, method: str, path: str) -> QueuedFault | None:
        """Consume one use of the first queued fault matching this request, if any."""
        for fault in self._queue:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._queue.remove(fault)
                return fault
        return None

    def roll_rate_limit(self) -> bool:
        return self._rng.random() < self.rate_limit_rate

    def to_json(self) -> dict[str, Any]:
        return {
            "fail_rate": self.fail_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "latency_ms": self.latency_ms,
            "queue": [fault.to_json() for fault in self._queue],
            "backupEndings": [ending.to_json() for ending in self._endings],
        }


@dataclass
class RecordedCall:
    """One API request as the service saw it (credentials are never kept)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "body": self.body,
            "at": iso(self.at),
        }


@dataclass(frozen=True)
class BackupReference:
    """One item of an export or import request."""

    product: Product
    cloud_id: str
    backup_id: str


class World:
    """One simulated organisation and the documented rules of its backup and restore API."""

    def __init__(
        self,
        clock: Clock | None = None,
        op_seconds: float = 5.0,
        rng_seed: str = "demo",
        regions: Sequence[str] = DEFAULT_REGIONS,
        api: ApiVersion = ApiVersion.V1,
    ) -> None:
        self.profile: ApiProfile = profile_of(api)
        self.rules = self.profile.rules
        self.clock: Clock = clock or SystemClock()
        self.op_seconds = op_seconds
        self.regions: list[str] = list(regions)
        self.faults = Faults(rng_seed=f"{rng_seed}:faults")
        self.calls: list[RecordedCall] = []
        self._sites: dict[str, Site] = {}
        self.storages: dict[str, StorageRecord] = {}
        self.policies: dict[str, PolicyRecord] = {}
        self.backups: dict[str, BackupRecord] = {}
        self.exports: dict[str, TransferRecord] = {}
        self.imports: dict[str, TransferRecord] = {}
        self.restores: dict[str, RestoreRecord] = {}
        self._running_schedules = False
        self._id_rng = random.Random(f"{rng_seed}:ids")
        self._outcome_rng = random.Random(f"{rng_seed}:outcomes")

    @classmethod
    def empty(
        cls,
        clock: Clock | None = None,
        op_seconds: float = 5.0,
        rng_seed: str = "demo",
        api: ApiVersion = ApiVersion.V1,
    ) -> World:
        """An org with no sites and nothing in it; add what a test needs."""
        return cls(clock=clock, op_seconds=op_seconds, rng_seed=rng_seed, api=api)

    @classmethod
    def demo(
        cls,
        clock: Clock | None = None,
        op_seconds: float = 5.0,
        rng_seed: str = "demo",
        api: ApiVersion = ApiVersion.V1,
    ) -> World:
        """The ``demo`` seed: acme, acme-sandbox and acme-staging, with policies and backups."""
        from bot.simulator.seed import populate_demo

        world = cls(clock=clock, op_seconds=op_seconds, rng_seed=rng_seed, api=api)
        populate_demo(world)
        return world

    # ---- time and ids -------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def op_duration(self) -> timedelta:
        return timedelta(seconds=self.op_seconds)

    def new_id(self, prefix: str) -> str:
        taken = {
            *self.storages,
            *self.policies,
            *self.backups,
            *self.exports,
            *self.imports,
            *self.restores,
        }
        while True:
            candidate = f"{prefix}-{self._id_rng.getrandbits(32):08x}"
            if candidate not in taken:
                return candidate

    def _new_migration_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _fails(self) -> bool:
        # Drawn even at fail_rate 0 so that changing the rate never shifts later outcomes.
        return self._outcome_rng.random() < self.faults.fail_rate

    @property
    def sites(self) -> dict[str, Site]:
        """Sites by cloudId, with finished restores already applied (edit them freely)."""
        self.settle()
        return self._sites

    @property
    def schedules_run(self) -> bool:
        return self.profile.has_activation

    def settle(self) -> None:
        """Start scheduled backups whose slot has come, and apply finished restores."""
        now = self.now()
        if self.schedules_run and not self._running_schedules:
            # Starting a scheduled backup reads the site, which settles again: once is enough.
            self._running_schedules = True
            try:
                self._run_schedules(now)
            finally:
                self._running_schedules = False
        for restore in self.restores.values():
            if restore.applied or restore.status_at(now) not in (
                RestoreStatus.COMPLETE,
                RestoreStatus.INCOMPLETE,
            ):
                continue
            restore.applied = True
            backup = self.backups[restore.backup_id]
            site = self._sites[restore.cloud_id]
            site.keys_for(restore.product).update(backup.content_keys)
            if restore.include_users_and_groups:
                left_out = (
                    backup.custom_groups
                    if ConsentCheck.DENY_CUSTOM_GROUP.value in restore.consents
                    else frozenset()
                )
                site.groups.update(backup.groups - left_out)

    def view(self, record: Record) -> dict[str, Any]:
        """A record as the API shows it now, in the shape of the world's API version."""
        self.settle()
        if self.profile is not V1:
            from bot.simulator import v2

            return v2.view(self, record)
        return record.to_json(self.now())

    # ---- v2: activation and schedules ----------------------------------------------------------

    def activate_policy(self, policy_id: str, account_id: str) -> list[BackupRecord]:
        """Activate a policy; answers with the backup waiting for its schedule's next slot."""
        self.settle()
        policy = self.get_policy(policy_id)
        if policy.schedule is None:
            raise rule_violation(
                "POLICY_HAS_NO_SCHEDULE",
                f"Policy {policy_id} has no schedule; give it a start date before activating it.",
            )
        policy.active = True
        if policy.pending_backup_id is None:
            self._schedule_next(policy, after=self.now(), account_id=account_id)
        pending = policy.pending_backup_id
        return [self.backups[pending]] if pending is not None else []

    def _schedule_next(
        self, policy: PolicyRecord, *, after: datetime, account_id: str | None
    ) -> bool:
        slot = next_run(policy.schedule, after)
        if slot is None:
            policy.pending_backup_id = None
            return False
        backup = self.add_backup(policy.policy_id, status=BackupStatus.COMPLETE, created_at=after)
        backup.starts_at = slot
        backup.finishes_at = slot + self.op_duration
        backup.account_id = account_id
        policy.pending_backup_id = backup.backup_id
        return True

    def _run_schedules(self, now: datetime) -> None:
        budget = MAX_SCHEDULED_PER_SETTLE
        for policy in self.policies.values():
            while policy.active and policy.pending_backup_id is not None and budget > 0:
                pending = self.backups[policy.pending_backup_id]
                if pending.starts_at is None or now < pending.starts_at:
                    break
                budget -= 1
                slot = pending.starts_at
                if not self._schedule_next(policy, after=slot, account_id=pending.account_id):
                    # A once-only schedule that has run leaves the policy inactive.
                    policy.active = False

    # ---- helpers for building a world ---------------------------------------------------------

    def add_site(
        self,
        name: str,
        cloud_id: str,
        *,
        plan: Plan = Plan.STANDARD,
        free_trial: bool = False,
        shard: str = "shard-1",
        project_keys: Iterable[str] = (),
        space_keys: Iterable[str] = (),
        groups: Iterable[str] = (),
        custom_groups: Iterable[str] = (),
    ) -> Site:
        site = Site(
            cloud_id=cloud_id,
            name=name,
            plan=plan,
            free_trial=free_trial,
            shard=shard,
            project_keys=set(project_keys),
            space_keys=set(space_keys),
            groups=set(groups) | set(custom_groups),
            custom_groups=set(custom_groups),
        )
        self.sites[cloud_id] = site
        return site

    def site_named(self, name: str) -> Site:
        for site in self.sites.values():
            if site.name == name:
                return site
        raise KeyError(name)

    def add_policy(
        self,
        cloud_id: str,
        product: Product,
        *,
        policy_id: str | None = None,
        storage_id: str | None = None,
        include_attachments: bool = True,
        include_personal_spaces: bool | None = None,
        created_at: datetime | None = None,
        name: str | None = None,
        schedule: Schedule | None = None,
        active: bool = True,
        created_by: str | None = None,
    ) -> PolicyRecord:
        """Add a policy without the API's checks, for setting up a scene.

        In v2 an active policy with a schedule gets its CREATED backup for the next slot.
        """
        policy = PolicyRecord(
            policy_id=policy_id or self.new_id("pol"),
            cloud_id=cloud_id,
            product=product,
            storage_id=storage_id,
            include_attachments=include_attachments,
            include_personal_spaces=(
                (include_personal_spaces or False) if product is Product.CONFLUENCE else None
            ),
            created_at=created_at or self.now(),
            name=name,
            schedule=schedule,
            active=active,
            created_by=created_by,
        )
        self.policies[policy.policy_id] = policy
        if self.schedules_run and active and schedule is not None:
            self._schedule_next(policy, after=self.now(), account_id=created_by)
        return policy

    def add_backup(
        self,
        policy_id: str,
        *,
        status: BackupStatus = BackupStatus.COMPLETE,
        created_at: datetime | None = None,
        backup_id: str | None = None,
        status_message: str | None = None,
        has_attachments: bool | None = None,
        custom_groups: Iterable[str] | None = None,
        content_keys: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
        plan: Plan | None = None,
        shard: str | None = None,
    ) -> BackupRecord:
        """Add a backup of a policy's site as it is now, without the API's checks.

        ``status`` is what it shows: IN_PROGRESS runs for ``op_seconds`` from now and then
        completes, EXPIRED is a complete backup 20 days old, the others are final already.
        Anything not given is taken from the site and the policy.
        """
        policy = self.policies[policy_id]
        site = self.sites[policy.cloud_id]
        now = self.now()
        outcome = status
        finishes_at: datetime | None = None
        if status is BackupStatus.IN_PROGRESS:
            outcome = BackupStatus.COMPLETE
            created = created_at or now
            finishes_at = created + self.op_duration
        elif status is BackupStatus.EXPIRED:
            outcome = BackupStatus.COMPLETE
            created = created_at or now - self.rules.retention - timedelta(days=6)
        else:
            created = created_at or now
        keys = frozenset(site.keys_for(policy.product) if content_keys is None else content_keys)
        attachments = policy.include_attachments if has_attachments is None else has_attachments
        backup = BackupRecord(
            backup_id=backup_id or self.new_id("bkp"),
            policy_id=policy_id,
            cloud_id=policy.cloud_id,
            product=policy.product,
            created_at=created,
            finishes_at=finishes_at or created,
            outcome=outcome,
            status_message=status_message,
            content_keys=keys,
            groups=frozenset(site.groups if groups is None else groups),
            custom_groups=frozenset(site.custom_groups if custom_groups is None else custom_groups),
            has_attachments=attachments,
            plan=site.plan if plan is None else plan,
            shard=site.shard if shard is None else shard,
            data_size_gb=round(0.6 * max(len(keys), 1), 2),
            attachments_size_gb=round(3.5 * max(len(keys), 1), 2) if attachments else 0.0,
            retention=self.rules.retention,
        )
        self.backups[backup.backup_id] = backup
        return backup

    # ---- lookups ---------------------------------------------------------------------------

    def _site(self, cloud_id: str) -> Site:
        site = self.sites.get(cloud_id)
        if site is None:
            raise not_found(
                "SITE_NOT_FOUND", f"No site with cloudId {cloud_id} in this organisation."
            )
        return site

    def get_storage(self, storage_id: str) -> StorageRecord:
        storage = self.storages.get(storage_id)
        if storage is None:
            raise not_found("STORAGE_NOT_FOUND", f"No storage with id {storage_id}.")
        return storage

    def get_policy(self, policy_id: str) -> PolicyRecord:
        policy = self.policies.get(policy_id)
        if policy is None:
            raise not_found("POLICY_NOT_FOUND", f"No backup policy with id {policy_id}.")
        return policy

    def get_backup(self, backup_id: str) -> BackupRecord:
        backup = self.backups.get(backup_id)
        if backup is None:
            raise not_found("BACKUP_NOT_FOUND", f"No backup with id {backup_id}.")
        return backup

    def get_export(self, cloud_id: str, export_id: str) -> TransferRecord:
        export = self.exports.get(export_id)
        if export is None or export.cloud_id != cloud_id:
            raise not_found("EXPORT_NOT_FOUND", f"No export with id {export_id} on that site.")
        return export

    def get_import(self, cloud_id: str, import_id: str) -> TransferRecord:
        imported = self.imports.get(import_id)
        if imported is None or imported.cloud_id != cloud_id:
            raise not_found("IMPORT_NOT_FOUND", f"No import with id {import_id} on that site.")
        return imported

    def get_restore(self, restore_id: str) -> RestoreRecord:
        self.settle()
        restore = self.restores.get(restore_id)
        if restore is None:
            raise not_found("RESTORE_NOT_FOUND", f"No restore with id {restore_id}.")
        return restore

    def backup_status(self, backup_id: str) -> BackupStatus:
        return self.get_backup(backup_id).status_at(self.now())

    def restore_status(self, restore_id: str) -> RestoreStatus:
        return self.get_restore(restore_id).status_at(self.now())

    # ---- storages (operations 1-4) -----------------------------------------------------------

    def list_regions(self) -> list[str]:
        return list(self.regions)

    def create_storage(
        self,
        *,
        storage_name: str,
        storage_region: str,
        storage_type: str,
        role_identifier: str,
        cloud_id: str,
        storage_prefix: str | None = None,
        principal_tag: str | None = None,
    ) -> StorageRecord:
        if storage_type != "aws":
            raise rule_violation(
                "UNSUPPORTED_STORAGE_TYPE",
                f'Storage type {storage_type!r} is not supported; the only type is "aws".',
            )
        if storage_region not in self.regions:
            raise rule_violation(
                "INVALID_STORAGE_REGION",
                f"Region {storage_region!r} is not available; choose one of "
                f"{', '.join(self.regions)}.",
            )
        if not role_identifier.startswith("arn:aws:iam::"):
            raise rule_violation(
                "INVALID_ROLE_IDENTIFIER",
                "roleIdentifier must be the ARN of an IAM role (arn:aws:iam::...).",
            )
        self._site(cloud_id)
        storage = StorageRecord(
            storage_id=self.new_id("sto"),
            storage_name=storage_name,
            storage_region=storage_region,
            storage_prefix=storage_prefix,
            storage_type=storage_type,
            role_identifier=role_identifier,
            principal_tag=principal_tag,
            cloud_id=cloud_id,
            created_at=self.now(),
        )
        self.storages[storage.storage_id] = storage
        return storage

    def list_storages(
        self, cloud_id: str | None = None, product: Product | None = None
    ) -> list[StorageRecord]:
        # A customer storage serves every product of its site, so ``product`` narrows nothing.
        del product
        return [s for s in self.storages.values() if cloud_id is None or s.cloud_id == cloud_id]

    # ---- policies (operations 5-8) -----------------------------------------------------------

    def _check_storage_for(self, storage_id: str, cloud_id: str) -> None:
        storage = self.get_storage(storage_id)
        if storage.cloud_id != cloud_id:
            raise rule_violation(
                "STORAGE_SITE_MISMATCH",
                f"Storage {storage_id} belongs to another site; use a storage of site {cloud_id}.",
            )

    def create_policy(
        self,
        cloud_id: str,
        *,
        product: Product,
        storage_id: str | None = None,
        include_attachments: bool = True,
        include_personal_spaces: bool | None = None,
        name: str | None = None,
        schedule: Schedule | None = None,
    ) -> PolicyRecord:
        """v2 saves the policy inactive: it runs once activated."""
        self._site(cloud_id)
        if include_personal_spaces and product is not Product.CONFLUENCE:
            raise rule_violation(
                "PERSONAL_SPACES_CONFLUENCE_ONLY",
                "includePersonalSpaces applies to Confluence policies only.",
            )
        for existing in self.policies.values():
            if existing.cloud_id == cloud_id and existing.product is product:
                raise rule_violation(
                    "POLICY_ALREADY_EXISTS",
                    f"Site {cloud_id} already has a {product.label} backup policy "
                    f"({existing.policy_id}); only one per product per site is allowed.",
                )
        if storage_id is not None:
            self._check_storage_for(storage_id, cloud_id)
        return self.add_policy(
            cloud_id,
            product,
            storage_id=storage_id,
            include_attachments=include_attachments,
            include_personal_spaces=include_personal_spaces,
            name=name,
            schedule=schedule,
            active=not self.profile.has_activation,
        )

    def list_policies(self) -> list[PolicyRecord]:
        return list(self.policies.values())

    def update_policy(self, policy_id: str, changes: Mapping[str, Any]) -> PolicyRecord:
        """Apply any of ``storageId``, ``includeAttachments``, ``includePersonalSpaces``."""
        policy = self.get_policy(policy_id)
        if changes.get("includePersonalSpaces") and policy.product is not Product.CONFLUENCE:
            raise rule_violation(
                "PERSONAL_SPACES_CONFLUENCE_ONLY",
                "includePersonalSpaces applies to Confluence policies only.",
            )
        if "storageId" in changes and changes["storageId"] is not None:
            self._check_storage_for(changes["storageId"], policy.cloud_id)
        if "storageId" in changes:
            policy.storage_id = changes["storageId"]
        if "includeAttachments" in changes:
            policy.include_attachments = bool(changes["includeAttachments"])
        if "includePersonalSpaces" in changes and policy.product is Product.CONFLUENCE:
            policy.include_personal_spaces = bool(changes["includePersonalSpaces"])
        return policy

    # ---- backups (operations 9-11) -------------------------------------------------------------

    def run_backup(self, policy_id: str, cloud_id: str) -> BackupRecord:
        policy = self.get_policy(policy_id)
        if policy.cloud_id != cloud_id:
            raise rule_violation(
                "CLOUD_ID_MISMATCH",
                f"Policy {policy_id} belongs to site {policy.cloud_id}, not {cloud_id}.",
            )
        now = self.now()
        for other in self.backups.values():
            if (
                other.cloud_id == cloud_id
                and other.product is policy.product
                and other.status_at(now) is BackupStatus.IN_PROGRESS
            ):
                raise conflict(
                    "BACKUP_ALREADY_RUNNING",
                    f"A {policy.product.label} backup of this site is already in progress "
                    f"({other.backup_id}).",
                )
        last_complete = max(
            (
                other.finishes_at
                for other in self.backups.values()
                if other.policy_id == policy_id
                and other.outcome is BackupStatus.COMPLETE
                and other.finishes_at <= now
            ),
            default=None,
        )
        if last_complete is not None and now < last_complete + self.rules.backup_interval:
            allowed_from = last_complete + self.rules.backup_interval
            raise rule_violation(
                "BACKUP_TOO_SOON",
                f"The last complete backup of this policy finished at {_when(last_complete)}; "
                f"a new backup can run from {_when(allowed_from)}.",
            )
        failed = self._fails()
        outcome = BackupStatus.FAILED if failed else BackupStatus.COMPLETE
        ending = self.faults.take_backup_ending()
        if ending is not None:
            outcome = ending.status
        backup = self.add_backup(
            policy_id,
            status=outcome,
            created_at=now,
            status_message=_ENDING_MESSAGES.get(outcome),
        )
        if ending is not None and ending.data_size_gb is not None:
            backup.data_size_gb = ending.data_size_gb
            backup.attachments_size_gb = 0.0
        backup.finishes_at = now + self.op_duration
        return backup

    def list_backups(self, policy_id: str) -> list[BackupRecord]:
        self.get_policy(policy_id)
        return [b for b in self.backups.values() if b.policy_id == policy_id]

    # ---- exports and imports (operations 12-16) ------------------------------------------------

    def _check_transferable(self, ref: BackupReference, action: str) -> BackupRecord:
        backup = self.get_backup(ref.backup_id)
        if backup.cloud_id != ref.cloud_id:
            raise rule_violation(
                "CLOUD_ID_MISMATCH",
                f"Backup {backup.backup_id} is of site {backup.cloud_id}, not {ref.cloud_id}.",
            )
        if backup.product is not ref.product:
            raise rule_violation(
                "PRODUCT_MISMATCH",
                f"Backup {backup.backup_id} is a {backup.product.label} backup, "
                f"not {ref.product.label}.",
            )
        status = backup.status_at(self.now())
        refusals = {
            BackupStatus.IN_PROGRESS: (
                "BACKUP_NOT_FINISHED",
                f"Backup {backup.backup_id} is still in progress; "
                f"{action} it once it has finished.",
            ),
            BackupStatus.FAILED: (
                "BACKUP_FAILED",
                f"Backup {backup.backup_id} failed and cannot be {action}ed.",
            ),
            BackupStatus.EXPIRED: (
                "BACKUP_EXPIRED",
                f"Backup {backup.backup_id} has expired and cannot be {action}ed.",
            ),
        }
        if status in refusals:
            raise rule_violation(*refusals[status])
        return backup

    def _start_transfer(
        self, kind: Literal["export", "import"], backup: BackupRecord
    ) -> TransferRecord:
        now = self.now()
        failed = self._fails()
        message = (
            f"The {kind} could not reach the customer storage; check the IAM role and try again."
        )
        return TransferRecord(
            kind=kind,
            transfer_id=self.new_id("exp" if kind == "export" else "imp"),
            backup_id=backup.backup_id,
            cloud_id=backup.cloud_id,
            product=backup.product,
            created_at=now,
            finishes_at=now + self.op_duration,
            outcome=OperationStatus.FAILED if failed else OperationStatus.COMPLETE,
            status_message=message if failed else None,
        )

    def _check_not_transferring(
        self, records: Mapping[str, TransferRecord], backup_id: str, kind: str
    ) -> None:
        now = self.now()
        for record in records.values():
            running = record.status_at(now) is OperationStatus.IN_PROGRESS
            if record.backup_id == backup_id and running:
                raise conflict(
                    f"{kind.upper()}_IN_PROGRESS",
                    f"An {kind} of backup {backup_id} is already in progress "
                    f"({record.transfer_id}).",
                )

    def create_exports(self, refs: Sequence[BackupReference]) -> list[TransferRecord]:
        """Export each backup to its site's customer storage; all or nothing."""
        if not refs:
            raise rule_violation("EMPTY_REQUEST", "Name at least one backup to export.")
        backups = []
        for ref in refs:
            backup = self._check_transferable(ref, "export")
            if not any(s.cloud_id == backup.cloud_id for s in self.storages.values()):
                raise rule_violation(
                    "NO_CUSTOMER_STORAGE",
                    f"Site {backup.cloud_id} has no customer storage; create one before exporting.",
                )
            self._check_not_transferring(self.exports, backup.backup_id, "export")
            backups.append(backup)
        created = [self._start_transfer("export", backup) for backup in backups]
        for export in created:
            self.exports[export.transfer_id] = export
        return created

    def list_exports(self, product: Product | None = None) -> list[TransferRecord]:
        return [e for e in self.exports.values() if product is None or e.product is product]

    def create_imports(self, refs: Sequence[BackupReference]) -> list[TransferRecord]:
        """Import each backup back from customer storage; only exported ones qualify."""
        if not refs:
            raise rule_violation("EMPTY_REQUEST", "Name at least one backup to import.")
        now = self.now()
        backups = []
        for ref in refs:
            backup = self._check_transferable(ref, "import")
            exported = any(
                e.backup_id == backup.backup_id and e.status_at(now) is OperationStatus.COMPLETE
                for e in self.exports.values()
            )
            if not exported:
                raise rule_violation(
                    "BACKUP_NOT_EXPORTED",
                    f"Backup {backup.backup_id} has not been exported to customer storage, "
                    "so there is nothing to import.",
                )
            self._check_not_transferring(self.imports, backup.backup_id, "import")
            backups.append(backup)
        created = [self._start_transfer("import", backup) for backup in backups]
        for imported in created:
            self.imports[imported.transfer_id] = imported
        return created

    # ---- restores (operations 17-21) ---------------------------------------------------------

    def _last_restore_start(self, backup_id: str, excluding: str | None = None) -> datetime | None:
        return max(
            (
                r.started_at
                for r in self.restores.values()
                if r.backup_id == backup_id
                and r.started_at is not None
                and r.restore_id != excluding
            ),
            default=None,
        )

    def _check_restore_interval(self, backup_id: str, excluding: str | None = None) -> None:
        last = self._last_restore_start(backup_id, excluding)
        interval = self.rules.restore_interval
        if last is not None and self.now() < last + interval:
            raise rule_violation(
                "BACKUP_RESTORED_RECENTLY",
                f"Backup {backup_id} was restored at {_when(last)}; a backup can be restored "
                f"once in {interval.days} days, so again from {_when(last + interval)}.",
            )

    def validation_checks(
        self, backup: BackupRecord, destination: Site, include_users_and_groups: bool
    ) -> list[FailedCheckRecord]:
        """The checks a restore of ``backup`` onto ``destination`` fails, in a stable order."""
        checks: list[FailedCheckRecord] = []
        things = "projects" if backup.product is Product.JIRA else "spaces"
        clashing_keys = sorted(backup.content_keys & destination.keys_for(backup.product))
        if clashing_keys:
            checks.append(
                FailedCheckRecord(
                    ConsentCheck.CONFLICTING_SPACE,
                    "CONFLICTING_SPACE_KEYS" if things == "spaces" else "CONFLICTING_PROJECT_KEYS",
                    f"The destination already has {things} with the keys "
                    f"{', '.join(clashing_keys)}; with consent they are skipped and the "
                    "destination keeps its version.",
                )
            )
        clashing_groups = sorted((backup.groups | backup.custom_groups) & destination.groups)
        if include_users_and_groups and clashing_groups:
            checks.append(
                FailedCheckRecord(
                    ConsentCheck.CONFLICTING_GROUP,
                    "CONFLICTING_GROUP_NAMES",
                    f"The destination already has groups named {', '.join(clashing_groups)}; "
                    "with consent they are merged and their members may gain permissions.",
                )
            )
        if destination.plan is Plan.FREE or destination.plan < backup.plan:
            checks.append(
                FailedCheckRecord(
                    ConsentCheck.PRODUCT_LICENSE,
                    "PRODUCT_LICENSE_MISMATCH",
                    f"The destination's {backup.product.label} is on the "
                    f"{destination.plan.label} plan, lower than the backup's "
                    f"{backup.plan.label} plan; upgrading first is advised.",
                )
            )
        if destination.free_trial:
            checks.append(
                FailedCheckRecord(
                    ConsentCheck.SITE_LICENSE,
                    "SITE_ON_FREE_TRIAL",
                    "The destination site is on a free trial; a Standard, Premium or "
                    "Enterprise licence is advised.",
                )
            )
        if destination.shard != backup.shard:
            checks.append(
                FailedCheckRecord(
                    ConsentCheck.TDP_SHARD,
                    "DIFFERENT_SHARD",
                    f"The destination is on shard {destination.shard} and the backup on "
                    f"{backup.shard}; the same shard is advised.",
                )
            )
        if include_users_and_groups and backup.has_custom_groups:
            checks.append(
                FailedCheckRecord(
                    ConsentCheck.ACCEPT_CUSTOM_GROUP,
                    "CUSTOM_GROUPS_IN_BACKUP",
                    f"The backup has custom groups ({', '.join(sorted(backup.custom_groups))}); "
                    "answer Accept_Custom_Group_Check to restore them or "
                    "Deny_Custom_Group_Check to leave them out.",
                )
            )
        return checks

    def create_restore(
        self,
        dest_cloud_id: str,
        *,
        backup_id: str,
        product: Product,
        include_attachments: bool,
        include_users_and_groups: bool,
    ) -> RestoreRecord:
        self.settle()
        destination = self._site(dest_cloud_id)
        backup = self.get_backup(backup_id)
        now = self.now()
        if backup.product is not product:
            raise rule_violation(
                "PRODUCT_MISMATCH",
                f"Backup {backup_id} is a {backup.product.label} backup, not {product.label}.",
            )
        status = backup.status_at(now)
        refusals = {
            BackupStatus.IN_PROGRESS: (
                "BACKUP_NOT_FINISHED",
                f"Backup {backup_id} is still in progress; restore it once it is complete.",
            ),
            BackupStatus.FAILED: (
                "BACKUP_FAILED",
                f"Backup {backup_id} failed and cannot be restored.",
            ),
            BackupStatus.EXPIRED: (
                "BACKUP_EXPIRED",
                f"Backup {backup_id} is more than {backup.retention.days} days old and has "
                "expired; it cannot be restored.",
            ),
            BackupStatus.CREATED: (
                "BACKUP_NOT_FINISHED",
                f"Backup {backup_id} has not started yet; restore it once it is complete.",
            ),
        }
        if status in refusals:
            raise rule_violation(*refusals[status])
        if dest_cloud_id == backup.cloud_id:
            raise rule_violation(
                "SAME_SITE_RESTORE",
                "A backup in Atlassian storage can only be restored to another site of the "
                "organisation, not to the site it was taken from.",
            )
        if include_attachments and not backup.has_attachments:
            raise rule_violation(
                "ATTACHMENTS_NOT_IN_BACKUP",
                f"Backup {backup_id} was taken without attachments; restore it with "
                "includeAttachments set to false.",
            )
        self._check_restore_interval(backup_id)
        for other in self.restores.values():
            if other.cloud_id == dest_cloud_id and other.status_at(now) in (
                RestoreStatus.VALIDATING,
                RestoreStatus.VALIDATION_FAILED,
                RestoreStatus.IN_PROGRESS,
            ):
                raise conflict(
                    "RESTORE_IN_PROGRESS",
                    f"Restore {other.restore_id} onto this site is "
                    f"{other.status_at(now).value}; finish or abandon it first.",
                )
        failed = self._fails()
        if failed:
            outcome, message = (
                RestoreStatus.FAILED,
                "The restore stopped because of an internal error; nothing further was changed.",
            )
        elif backup.status_at(now) is BackupStatus.INCOMPLETE:
            outcome, message = (
                RestoreStatus.INCOMPLETE,
                "The backup was incomplete, so what it was missing was not restored.",
            )
        else:
            outcome, message = RestoreStatus.COMPLETE, None
        restore = RestoreRecord(
            restore_id=self.new_id("rst"),
            backup_id=backup_id,
            cloud_id=dest_cloud_id,
            source_cloud_id=backup.cloud_id,
            product=product,
            include_attachments=include_attachments,
            include_users_and_groups=include_users_and_groups,
            created_at=now,
            outcome=outcome,
            outcome_message=message,
            failed_checks=self.validation_checks(backup, destination, include_users_and_groups),
        )
        if not restore.failed_checks:
            self._start_restore(restore)
        self.restores[restore.restore_id] = restore
        return restore

    def _start_restore(self, restore: RestoreRecord) -> None:
        now = self.now()
        restore.failed_checks = []
        restore.migration_id = self._new_migration_id()
        restore.started_at = now
        restore.finishes_at = now + self.op_duration

    def revalidate_restore(
        self, dest_cloud_id: str, restore_id: str, consent: Sequence[str]
    ) -> RestoreRecord:
        """Answer failed checks; the restore starts once every one is answered."""
        restore = self.get_restore(restore_id)
        if restore.cloud_id != dest_cloud_id:
            raise not_found("RESTORE_NOT_FOUND", f"No restore with id {restore_id} on that site.")
        status = restore.status_at(self.now())
        if status is not RestoreStatus.VALIDATION_FAILED:
            raise conflict(
                "RESTORE_NOT_AWAITING_CONSENT",
                f"Restore {restore_id} is {status.value} and is not waiting for consent.",
            )
        known = {check.value: check for check in ConsentCheck}
        answers: set[ConsentCheck] = set()
        for value in consent:
            if value not in known:
                raise rule_violation(
                    "UNKNOWN_CONSENT",
                    f"{value!r} is not a consent value; use one of {', '.join(known)}.",
                )
            answers.add(known[value])
        if answers >= _CUSTOM_GROUP_ANSWERS:
            raise rule_violation(
                "CONFLICTING_CONSENT",
                "Give either Accept_Custom_Group_Check or Deny_Custom_Group_Check, not both.",
            )
        pending = {check.check for check in restore.failed_checks}
        for answer in answers:
            answered = (
                ConsentCheck.ACCEPT_CUSTOM_GROUP if answer in _CUSTOM_GROUP_ANSWERS else answer
            )
            if answered not in pending:
                raise rule_violation(
                    "CONSENT_NOT_NEEDED",
                    f"{answer.value} answers no failed check of restore {restore_id}.",
                )
        answered_checks = {
            ConsentCheck.ACCEPT_CUSTOM_GROUP if a in _CUSTOM_GROUP_ANSWERS else a for a in answers
        }
        remaining = [c for c in restore.failed_checks if c.check not in answered_checks]
        if not remaining:
            self._check_restore_interval(restore.backup_id, excluding=restore_id)
        restore.consents.extend(a.value for a in ConsentCheck if a in answers)
        restore.failed_checks = remaining
        if not remaining:
            self._start_restore(restore)
        return restore

    def list_restores(
        self, cloud_id: str | None = None, product: Product | None = None
    ) -> list[RestoreRecord]:
        self.settle()
        return [
            r
            for r in self.restores.values()
            if (cloud_id is None or r.cloud_id == cloud_id)
            and (product is None or r.product is product)
        ]

    def post_op_report(self, cloud_id: str, migration_id: str) -> RestoreRecord:
        """The ended restore a post-operation report describes."""
        self.settle()
        for restore in self.restores.values():
            if restore.migration_id == migration_id and restore.cloud_id == cloud_id:
                status = restore.status_at(self.now())
                if restore.ended_at(self.now()) is None:
                    raise conflict(
                        "REPORT_NOT_READY",
                        f"Migration {migration_id} is {status.value}; its report is available "
                        "once it has ended.",
                    )
                return restore
        raise not_found("MIGRATION_NOT_FOUND", f"No migration {migration_id} on site {cloud_id}.")

    # ---- summary ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything in the world as JSON, for the control endpoint and the console."""
        self.settle()
        now = self.now()
        return {
            "now": iso(now),
            "opSeconds": self.op_seconds,
            "faults": self.faults.to_json(),
            "regions": list(self.regions),
            "sites": [site.to_json() for site in self.sites.values()],
            "storages": [s.to_json(now) for s in self.storages.values()],
            "policies": [p.to_json(now) for p in self.policies.values()],
            "backups": [b.to_json(now) for b in self.backups.values()],
            "exports": [e.to_json(now) for e in self.exports.values()],
            "imports": [i.to_json(now) for i in self.imports.values()],
            "restores": [r.to_json(now) for r in self.restores.values()],
            "calls": len(self.calls),
        }


class Record(Protocol):
    """Anything the API lists: it has a creation time and a JSON view at a given time."""

    @property
    def created_at(self) -> datetime: ...

    def to_json(self, now: datetime) -> dict[str, Any]: ...


__all__ = [
    "BACKUP_INTERVAL",
    "BACKUP_RETENTION",
    "CONSENT_WINDOW",
    "DEFAULT_REGIONS",
    "RESTORE_INTERVAL",
    "AdvanceableClock",
    "BackupRecord",
    "BackupReference",
    "FailedCheckRecord",
    "Faults",
    "Plan",
    "PolicyRecord",
    "QueuedFault",
    "Record",
    "RecordedCall",
    "RestoreRecord",
    "ShiftableClock",
    "SimulatedApiError",
    "Site",
    "StorageRecord",
    "TransferRecord",
    "World",
    "iso",
]
