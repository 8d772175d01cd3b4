"""Contract tests: every operation of the client against the simulator over loopback HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.atlassian import (
    AtlassianClient,
    AuthError,
    BackupRef,
    BackupStatus,
    ConflictError,
    ConsentCheck,
    ForbiddenError,
    NotFoundError,
    OperationStatus,
    OutcomeUnknown,
    Product,
    RateLimited,
    RestoreStatus,
    RetryPolicy,
    RuleViolation,
    Unavailable,
)
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_CONFLUENCE_POLICY,
    ACME_JIRA_POLICY,
    ACME_STORAGE,
    CONFLUENCE_COMPLETE_BACKUP,
    CONFLUENCE_EXPIRED_BACKUP,
    CONFLUENCE_INCOMPLETE_BACKUP,
    JIRA_COMPLETE_BACKUP,
    JIRA_EXPIRED_BACKUP,
    SANDBOX_CLOUD_ID,
    STAGING_CLOUD_ID,
)
from bot.simulator.world import BackupRecord
from tests.fixtures.atlassian_client import AtlassianClientFactory
from tests.fixtures.simulator import SIMULATOR_OP_SECONDS, RunningSimulator

ROLE = "arn:aws:iam::123456789012:role/backup"
JIRA_REF = BackupRef(product=Product.JIRA, cloud_id=ACME_CLOUD_ID, backup_id=JIRA_COMPLETE_BACKUP)


def calls(simulator: RunningSimulator, method: str, path_suffix: str) -> int:
    return sum(
        1
        for call in simulator.world.calls
        if call.method == method and call.path.endswith(path_suffix)
    )


def finish_operations(simulator: RunningSimulator) -> None:
    simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)


def backups_of(simulator: RunningSimulator, policy_id: str) -> list[BackupRecord]:
    return [b for b in simulator.world.backups.values() if b.policy_id == policy_id]


# -- 1-4: storage --------------------------------------------------------------------------


async def test_list_regions(atlassian_client: AtlassianClient) -> None:
    """Operation 1 lists the regions customer storage may live in."""
    regions = await atlassian_client.list_regions()
    assert "us-east-1" in regions
    assert all(isinstance(region, str) for region in regions)


async def test_create_storage_then_get_and_list_it(atlassian_client: AtlassianClient) -> None:
    """Operation 2 creates an S3 storage that operations 3 and 4 then show."""
    storage = await atlassian_client.create_storage(
        name="sandbox-s3",
        region="eu-west-1",
        prefix="sandbox/",
        role_identifier=ROLE,
        principal_tag="sandbox",
        cloud_id=SANDBOX_CLOUD_ID,
    )
    assert storage.storage_name == "sandbox-s3"
    assert storage.storage_type == "aws"
    fetched = await atlassian_client.get_storage(storage.storage_id)
    assert fetched.storage_region == "eu-west-1"
    listed = await atlassian_client.list_storages(cloud_id=SANDBOX_CLOUD_ID)
    assert [s.storage_id for s in listed] == [storage.storage_id]


async def test_create_storage_rules_are_refused(atlassian_client: AtlassianClient) -> None:
    """An unknown region or a role that is not an IAM ARN is a RuleViolation with its code."""
    with pytest.raises(RuleViolation) as region:
        await atlassian_client.create_storage(
            name="x",
            region="mars-north-1",
            prefix="p",
            role_identifier=ROLE,
            principal_tag="t",
            cloud_id=SANDBOX_CLOUD_ID,
        )
    assert region.value.code == "INVALID_STORAGE_REGION"
    assert "mars-north-1" in region.value.message
    with pytest.raises(RuleViolation) as role:
        await atlassian_client.create_storage(
            name="x",
            region="us-east-1",
            prefix="p",
            role_identifier="my-role",
            principal_tag="t",
            cloud_id=SANDBOX_CLOUD_ID,
        )
    assert role.value.code == "INVALID_ROLE_IDENTIFIER"
    assert "Atlassian refused" in role.value.user_message


async def test_list_storages_filters_by_site(atlassian_client: AtlassianClient) -> None:
    """Operation 3 lists the seeded acme storage, and nothing for the empty sandbox."""
    acme = await atlassian_client.list_storages(cloud_id=ACME_CLOUD_ID, product=Product.JIRA)
    assert [s.storage_id for s in acme] == [ACME_STORAGE]
    assert await atlassian_client.list_storages(cloud_id=SANDBOX_CLOUD_ID) == []


async def test_get_storage(atlassian_client: AtlassianClient) -> None:
    """Operation 4 reads one storage; an unknown id is NotFoundError."""
    storage = await atlassian_client.get_storage(ACME_STORAGE)
    assert storage.cloud_id == ACME_CLOUD_ID
    assert storage.status == "ACTIVE"
    with pytest.raises(NotFoundError) as missing:
        await atlassian_client.get_storage("sto-nope")
    assert missing.value.code == "STORAGE_NOT_FOUND"


# -- 5-8: policies -------------------------------------------------------------------------


async def test_create_policy(atlassian_client: AtlassianClient) -> None:
    """Operation 5 creates a Confluence policy on a site without one."""
    policy = await atlassian_client.create_policy(
        cloud_id=SANDBOX_CLOUD_ID,
        product=Product.CONFLUENCE,
        include_attachments=False,
        include_personal_spaces=True,
    )
    assert policy.cloud_id == SANDBOX_CLOUD_ID
    assert policy.product is Product.CONFLUENCE
    assert (policy.include_attachments, policy.include_personal_spaces) == (False, True)
    assert policy.storage_id is None


async def test_create_policy_rules_are_refused(atlassian_client: AtlassianClient) -> None:
    """A second policy per product per site, or personal spaces on Jira, are refused."""
    with pytest.raises(RuleViolation) as duplicate:
        await atlassian_client.create_policy(
            cloud_id=ACME_CLOUD_ID, product=Product.JIRA, include_attachments=True
        )
    assert duplicate.value.code == "POLICY_ALREADY_EXISTS"
    assert "only one per product per site" in duplicate.value.message
    with pytest.raises(RuleViolation) as personal:
        await atlassian_client.create_policy(
            cloud_id=SANDBOX_CLOUD_ID,
            product=Product.JIRA,
            include_attachments=True,
            include_personal_spaces=True,
        )
    assert personal.value.code == "PERSONAL_SPACES_CONFLUENCE_ONLY"


async def test_list_policies(atlassian_client: AtlassianClient) -> None:
    """Operation 6 lists the demo org's two policies."""
    policies = await atlassian_client.list_policies()
    assert {p.policy_id for p in policies} == {ACME_JIRA_POLICY, ACME_CONFLUENCE_POLICY}


async def test_get_policy(atlassian_client: AtlassianClient) -> None:
    """Operation 7 reads one policy with its product and creation time."""
    policy = await atlassian_client.get_policy(ACME_CONFLUENCE_POLICY)
    assert policy.product is Product.CONFLUENCE
    assert policy.include_personal_spaces is False
    assert policy.created_at is not None


async def test_update_policy(atlassian_client: AtlassianClient) -> None:
    """Operation 8 moves a policy to customer storage and back, and changes its flags."""
    moved = await atlassian_client.update_policy(
        ACME_JIRA_POLICY, storage_id=ACME_STORAGE, include_attachments=False
    )
    assert (moved.storage_id, moved.include_attachments) == (ACME_STORAGE, False)
    back = await atlassian_client.update_policy(ACME_JIRA_POLICY, storage_id=None)
    assert back.storage_id is None
    assert back.include_attachments is False
    with pytest.raises(NotFoundError) as unknown_storage:
        await atlassian_client.update_policy(ACME_JIRA_POLICY, storage_id="sto-nope")
    assert unknown_storage.value.code == "STORAGE_NOT_FOUND"


# -- 9-11: backups -------------------------------------------------------------------------


async def test_run_backup_progresses_with_the_clock(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """Operation 9 starts a backup that is IN_PROGRESS, then final once time has passed."""
    backup = await atlassian_client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=ACME_CLOUD_ID)
    assert backup.status is BackupStatus.IN_PROGRESS
    assert backup.policy_id == ACME_JIRA_POLICY
    finish_operations(simulator)
    done = await atlassian_client.get_backup(backup.backup_id)
    assert done.status is BackupStatus.COMPLETE
    assert done.completed_at is not None


async def test_run_backup_rules_are_refused(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """A backup while one runs is a conflict; within 7 days of a complete one, a rule."""
    await atlassian_client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=ACME_CLOUD_ID)
    with pytest.raises(ConflictError) as running:
        await atlassian_client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=ACME_CLOUD_ID)
    assert running.value.code == "BACKUP_ALREADY_RUNNING"
    assert "already in progress" in running.value.message
    finish_operations(simulator)
    with pytest.raises(RuleViolation) as too_soon:
        await atlassian_client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=ACME_CLOUD_ID)
    assert too_soon.value.code == "BACKUP_TOO_SOON"
    assert "can run from" in too_soon.value.message
    with pytest.raises(RuleViolation) as mismatch:
        await atlassian_client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=SANDBOX_CLOUD_ID)
    assert mismatch.value.code == "CLOUD_ID_MISMATCH"


async def test_list_backups(atlassian_client: AtlassianClient) -> None:
    """Operation 10 lists a policy's backups with normalised statuses."""
    backups = await atlassian_client.list_backups(ACME_CONFLUENCE_POLICY)
    statuses = {b.backup_id: b.status for b in backups}
    assert statuses == {
        CONFLUENCE_COMPLETE_BACKUP: BackupStatus.COMPLETE,
        CONFLUENCE_EXPIRED_BACKUP: BackupStatus.EXPIRED,
        CONFLUENCE_INCOMPLETE_BACKUP: BackupStatus.INCOMPLETE,
    }


async def test_list_backups_follows_pages(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """More backups than one page holds all arrive, each once."""
    for n in range(230):
        simulator.world.add_backup(
            ACME_JIRA_POLICY,
            status=BackupStatus.FAILED,
            created_at=simulator.clock.now() - timedelta(days=30, minutes=n),
        )
    backups = await atlassian_client.list_backups(ACME_JIRA_POLICY)
    assert len(backups) == len({b.backup_id for b in backups}) == 232
    assert calls(simulator, "GET", f"/policies/{ACME_JIRA_POLICY}/backups") == 3


async def test_get_backup(atlassian_client: AtlassianClient) -> None:
    """Operation 11 reads a backup's status, expiry and size."""
    backup = await atlassian_client.get_backup(JIRA_COMPLETE_BACKUP)
    assert backup.status is BackupStatus.COMPLETE
    assert backup.expiry_time is not None
    assert backup.created_at is not None
    assert backup.expiry_time - backup.created_at == timedelta(days=14)
    assert backup.backup_size is not None
    expired = await atlassian_client.get_backup(JIRA_EXPIRED_BACKUP)
    assert expired.status is BackupStatus.EXPIRED


# -- 12-16: exports and imports ------------------------------------------------------------


async def test_export_then_list_and_get_it(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """Operations 12, 13 and 14: an export starts, is listed, and completes with time."""
    [export] = await atlassian_client.export_backups([JIRA_REF])
    assert export.backup_id == JIRA_COMPLETE_BACKUP
    assert export.status is OperationStatus.IN_PROGRESS
    listed = await atlassian_client.list_exports(product=Product.JIRA)
    assert [e.export_id for e in listed] == [export.export_id]
    assert await atlassian_client.list_exports(product=Product.CONFLUENCE) == []
    finish_operations(simulator)
    done = await atlassian_client.get_export(cloud_id=ACME_CLOUD_ID, export_id=export.export_id)
    assert done.status is OperationStatus.COMPLETE


async def test_export_rules_are_refused(atlassian_client: AtlassianClient) -> None:
    """Exporting an expired backup, or one of another product, is a RuleViolation."""
    expired = BackupRef(product=Product.JIRA, cloud_id=ACME_CLOUD_ID, backup_id=JIRA_EXPIRED_BACKUP)
    with pytest.raises(RuleViolation) as refused:
        await atlassian_client.export_backups([expired])
    assert refused.value.code == "BACKUP_EXPIRED"
    wrong = BackupRef(
        product=Product.CONFLUENCE, cloud_id=ACME_CLOUD_ID, backup_id=JIRA_COMPLETE_BACKUP
    )
    with pytest.raises(RuleViolation) as mismatch:
        await atlassian_client.export_backups([wrong])
    assert mismatch.value.code == "PRODUCT_MISMATCH"
    with pytest.raises(NotFoundError):
        await atlassian_client.get_export(cloud_id=ACME_CLOUD_ID, export_id="exp-nope")


async def test_import_after_export_then_get_it(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """Operations 15 and 16: an exported backup is imported and the import completes."""
    await atlassian_client.export_backups([JIRA_REF])
    finish_operations(simulator)
    [imported] = await atlassian_client.import_backups([JIRA_REF])
    assert imported.status is OperationStatus.IN_PROGRESS
    finish_operations(simulator)
    done = await atlassian_client.get_import(cloud_id=ACME_CLOUD_ID, import_id=imported.import_id)
    assert done.status is OperationStatus.COMPLETE
    assert done.backup_id == JIRA_COMPLETE_BACKUP


async def test_import_of_a_backup_never_exported_is_refused(
    atlassian_client: AtlassianClient,
) -> None:
    """Importing what was never exported is a RuleViolation saying so."""
    with pytest.raises(RuleViolation) as refused:
        await atlassian_client.import_backups([JIRA_REF])
    assert refused.value.code == "BACKUP_NOT_EXPORTED"
    assert "not been exported" in refused.value.message


# -- 17-21: restores -----------------------------------------------------------------------


async def test_restore_onto_the_sandbox_passes_validation_and_completes(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """Operations 17, 20 and 21: a clean restore starts, completes and has a report."""
    restore = await atlassian_client.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )
    assert restore.status is RestoreStatus.IN_PROGRESS
    assert restore.failed_checks == []
    assert restore.migration_id
    finish_operations(simulator)
    done = await atlassian_client.get_restore(restore.restore_id)
    assert done.status is RestoreStatus.COMPLETE
    url = await atlassian_client.get_post_op_report(
        cloud_id=SANDBOX_CLOUD_ID, migration_id=restore.migration_id
    )
    assert url.startswith("https://")
    assert restore.migration_id in url


async def test_post_op_report_before_the_end_is_a_conflict(
    atlassian_client: AtlassianClient,
) -> None:
    """Operation 21 on a running restore is refused with 409 until it ends."""
    restore = await atlassian_client.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=False,
    )
    assert restore.migration_id
    with pytest.raises(ConflictError) as early:
        await atlassian_client.get_post_op_report(
            cloud_id=SANDBOX_CLOUD_ID, migration_id=restore.migration_id
        )
    assert early.value.code == "REPORT_NOT_READY"
    with pytest.raises(NotFoundError):
        await atlassian_client.get_post_op_report(cloud_id=SANDBOX_CLOUD_ID, migration_id="m-x")


async def test_restore_onto_staging_fails_three_checks_and_revalidates(
    atlassian_client: AtlassianClient,
) -> None:
    """Operation 18: consenting to exactly the three failed checks starts the restore."""
    restore = await atlassian_client.create_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )
    assert restore.status is RestoreStatus.VALIDATION_FAILED
    checks = [check.check for check in restore.failed_checks]
    assert set(checks) == {
        ConsentCheck.CONFLICTING_SPACE,
        ConsentCheck.CONFLICTING_GROUP,
        ConsentCheck.PRODUCT_LICENSE,
    }
    assert all(check.message for check in restore.failed_checks)
    started = await atlassian_client.revalidate_restore(
        dest_cloud_id=STAGING_CLOUD_ID, restore_id=restore.restore_id, consents=checks
    )
    assert started.status is RestoreStatus.IN_PROGRESS
    assert started.migration_id


async def test_revalidate_rules_are_refused(atlassian_client: AtlassianClient) -> None:
    """Unknown consents, both custom-group answers, or a restore not waiting are refused."""
    restore = await atlassian_client.create_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        backup_id=CONFLUENCE_INCOMPLETE_BACKUP,
        product=Product.CONFLUENCE,
        include_attachments=True,
        include_users_and_groups=True,
    )
    assert ConsentCheck.ACCEPT_CUSTOM_GROUP in [c.check for c in restore.failed_checks]
    with pytest.raises(RuleViolation) as unknown:
        await atlassian_client.revalidate_restore(
            dest_cloud_id=STAGING_CLOUD_ID, restore_id=restore.restore_id, consents=["Yes_Please"]
        )
    assert unknown.value.code == "UNKNOWN_CONSENT"
    with pytest.raises(RuleViolation) as both:
        await atlassian_client.revalidate_restore(
            dest_cloud_id=STAGING_CLOUD_ID,
            restore_id=restore.restore_id,
            consents=[ConsentCheck.ACCEPT_CUSTOM_GROUP, ConsentCheck.DENY_CUSTOM_GROUP],
        )
    assert both.value.code == "CONFLICTING_CONSENT"
    clean = await atlassian_client.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=False,
    )
    with pytest.raises(ConflictError) as not_waiting:
        await atlassian_client.revalidate_restore(
            dest_cloud_id=SANDBOX_CLOUD_ID,
            restore_id=clean.restore_id,
            consents=[ConsentCheck.PRODUCT_LICENSE],
        )
    assert not_waiting.value.code == "RESTORE_NOT_AWAITING_CONSENT"


async def test_create_restore_rules_are_refused(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """Expired backups, the source site, a busy destination and a recent restore are refused."""
    with pytest.raises(RuleViolation) as expired:
        await atlassian_client.create_restore(
            dest_cloud_id=SANDBOX_CLOUD_ID,
            backup_id=JIRA_EXPIRED_BACKUP,
            product=Product.JIRA,
            include_attachments=True,
            include_users_and_groups=False,
        )
    assert expired.value.code == "BACKUP_EXPIRED"
    with pytest.raises(RuleViolation) as same_site:
        await atlassian_client.create_restore(
            dest_cloud_id=ACME_CLOUD_ID,
            backup_id=JIRA_COMPLETE_BACKUP,
            product=Product.JIRA,
            include_attachments=True,
            include_users_and_groups=False,
        )
    assert same_site.value.code == "SAME_SITE_RESTORE"
    assert "another site" in same_site.value.message
    await atlassian_client.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=False,
    )
    with pytest.raises(ConflictError) as busy:
        await atlassian_client.create_restore(
            dest_cloud_id=SANDBOX_CLOUD_ID,
            backup_id=CONFLUENCE_COMPLETE_BACKUP,
            product=Product.CONFLUENCE,
            include_attachments=True,
            include_users_and_groups=False,
        )
    assert busy.value.code == "RESTORE_IN_PROGRESS"
    finish_operations(simulator)
    with pytest.raises(RuleViolation) as recent:
        await atlassian_client.create_restore(
            dest_cloud_id=STAGING_CLOUD_ID,
            backup_id=JIRA_COMPLETE_BACKUP,
            product=Product.JIRA,
            include_attachments=True,
            include_users_and_groups=False,
        )
    assert recent.value.code == "BACKUP_RESTORED_RECENTLY"
    assert "once in 7 days" in recent.value.message


async def test_list_and_get_restores(atlassian_client: AtlassianClient) -> None:
    """Operations 19 and 20 list restores by destination and product and read one."""
    restore = await atlassian_client.create_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        backup_id=CONFLUENCE_COMPLETE_BACKUP,
        product=Product.CONFLUENCE,
        include_attachments=True,
        include_users_and_groups=False,
    )
    staging = await atlassian_client.list_restores(cloud_id=STAGING_CLOUD_ID)
    assert [r.restore_id for r in staging] == [restore.restore_id]
    assert await atlassian_client.list_restores(cloud_id=SANDBOX_CLOUD_ID) == []
    assert await atlassian_client.list_restores(product=Product.JIRA) == []
    fetched = await atlassian_client.get_restore(restore.restore_id)
    assert fetched.backup_id == CONFLUENCE_COMPLETE_BACKUP
    assert fetched.cloud_id == STAGING_CLOUD_ID
    with pytest.raises(NotFoundError):
        await atlassian_client.get_restore("rst-nope")


# -- each error class ----------------------------------------------------------------------


async def test_wrong_token_is_auth_error_without_the_token_in_it(
    atlassian_client_factory: AtlassianClientFactory,
) -> None:
    """A wrong API token is a 401 AuthError that never repeats the token."""
    client = atlassian_client_factory(api_token="wrong-token-1234")
    with pytest.raises(AuthError) as caught:
        await client.list_policies()
    assert caught.value.status == 401
    assert "wrong-token-1234" not in str(caught.value)
    assert "ATLASSIAN_API_TOKEN" in caught.value.user_message


async def test_wrong_org_is_forbidden(atlassian_client_factory: AtlassianClientFactory) -> None:
    """An org the token's owner does not administer is a 403 ForbiddenError."""
    client = atlassian_client_factory(org_id="someone-elses-org")
    with pytest.raises(ForbiddenError) as caught:
        await client.list_policies()
    assert caught.value.status == 403
    assert caught.value.code == "ORG_ACCESS_DENIED"
    assert "admin" in caught.value.message


async def test_unknown_id_is_not_found(atlassian_client: AtlassianClient) -> None:
    """An unknown backup id is a 404 NotFoundError naming the id."""
    with pytest.raises(NotFoundError) as caught:
        await atlassian_client.get_backup("bkp-nope")
    assert caught.value.status == 404
    assert "bkp-nope" in caught.value.message


async def test_bad_request_is_rule_violation(atlassian_client: AtlassianClient) -> None:
    """A request the service refuses as malformed is a 400 RuleViolation with the code."""
    with pytest.raises(RuleViolation) as caught:
        await atlassian_client.update_policy(ACME_JIRA_POLICY, include_personal_spaces=True)
    assert caught.value.status == 400
    assert caught.value.code == "PERSONAL_SPACES_CONFLUENCE_ONLY"


async def test_rate_limit_that_persists_is_rate_limited(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """429s beyond the attempt budget surface as RateLimited with Retry-After."""
    simulator.world.faults.queue(status=429, count=4, method="GET", retry_after=2)
    with pytest.raises(RateLimited) as caught:
        await atlassian_client.list_policies()
    assert caught.value.retry_after == 2
    assert atlassian_client.retry.recorded_delays == [2, 2, 2]
    assert calls(simulator, "GET", "/policies") == 4


async def test_server_errors_that_persist_are_unavailable(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """5xx on every attempt of a read is Unavailable after max_attempts."""
    simulator.world.faults.queue(status=503, count=4, method="GET")
    with pytest.raises(Unavailable) as caught:
        await atlassian_client.get_policy(ACME_JIRA_POLICY)
    assert caught.value.status == 503
    assert type(caught.value) is Unavailable
    assert calls(simulator, "GET", f"/policies/{ACME_JIRA_POLICY}") == 4


# -- retries against injected faults -------------------------------------------------------


async def test_reads_recover_from_injected_5xx_and_429(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """A 502 then a 429 on a read are retried with backoff, then Retry-After, and succeed."""
    simulator.world.faults.queue(status=502, count=1, path_contains="/backups/")
    simulator.world.faults.queue(status=429, count=1, path_contains="/backups/", retry_after=3)
    backup = await atlassian_client.get_backup(JIRA_COMPLETE_BACKUP)
    assert backup.backup_id == JIRA_COMPLETE_BACKUP
    assert calls(simulator, "GET", f"/backups/{JIRA_COMPLETE_BACKUP}") == 3
    assert atlassian_client.retry.recorded_delays == [0.5, 3]


async def test_reads_tolerate_latency_and_retry_a_timeout(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """Latency under the timeout is fine; an answer held past it is retried as a read."""
    client = atlassian_client_factory(timeout=0.5)
    simulator.world.faults.latency_ms = 50
    assert await client.list_regions()
    simulator.world.faults.latency_ms = 0
    simulator.world.faults.queue(method="GET", path_contains="/restores", delay_after_commit_s=2)
    assert await client.list_restores() == []
    assert calls(simulator, "GET", "/restores") == 2
    assert client.retry.recorded_delays == [0.5]


async def test_create_is_retried_after_429_and_runs_once(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """A 429 on run-backup did nothing, so it is retried and exactly one backup starts."""
    simulator.world.faults.queue(status=429, count=1, method="POST", retry_after=1)
    before = len(backups_of(simulator, ACME_JIRA_POLICY))
    backup = await atlassian_client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=ACME_CLOUD_ID)
    assert backup.status is BackupStatus.IN_PROGRESS
    assert calls(simulator, "POST", "/backups") == 2
    assert len(backups_of(simulator, ACME_JIRA_POLICY)) == before + 1


async def test_create_with_5xx_is_not_retried(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """A 500 on run-backup is not repeated; nothing was created, so the outcome is unknown."""
    simulator.world.faults.queue(status=500, count=1, method="POST")
    before = len(backups_of(simulator, ACME_JIRA_POLICY))
    with pytest.raises(OutcomeUnknown) as caught:
        await atlassian_client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=ACME_CLOUD_ID)
    assert caught.value.status == 500
    assert "check the list command" in caught.value.user_message
    assert calls(simulator, "POST", "/backups") == 1
    assert len(backups_of(simulator, ACME_JIRA_POLICY)) == before


async def test_backup_that_times_out_is_reconciled_not_duplicated(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """A run-backup whose answer is lost returns the backup it created, and only one exists."""
    client = atlassian_client_factory(timeout=0.3)
    simulator.world.faults.queue(method="POST", path_contains="/backups", delay_after_commit_s=2)
    before = {b.backup_id for b in backups_of(simulator, ACME_JIRA_POLICY)}
    backup = await client.run_backup(policy_id=ACME_JIRA_POLICY, cloud_id=ACME_CLOUD_ID)
    after = {b.backup_id for b in backups_of(simulator, ACME_JIRA_POLICY)}
    assert after - before == {backup.backup_id}
    assert backup.status is BackupStatus.IN_PROGRESS
    assert calls(simulator, "POST", "/backups") == 1
    assert calls(simulator, "GET", f"/policies/{ACME_JIRA_POLICY}/backups") == 1


async def test_restore_that_times_out_is_reconciled_not_duplicated(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """A create-restore whose answer is lost returns the restore it created."""
    client = atlassian_client_factory(timeout=0.3)
    simulator.world.faults.queue(method="POST", path_contains="/restores", delay_after_commit_s=2)
    restore = await client.create_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )
    assert list(simulator.world.restores) == [restore.restore_id]
    assert restore.status is RestoreStatus.VALIDATION_FAILED
    assert calls(simulator, "POST", "/restores") == 1


async def test_revalidation_that_times_out_is_reconciled_from_the_restore(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """A revalidation whose answer is lost is confirmed by the restore having started."""
    client = atlassian_client_factory(timeout=0.3)
    restore = await client.create_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )
    simulator.world.faults.queue(method="POST", path_contains="/revalidate", delay_after_commit_s=2)
    started = await client.revalidate_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        restore_id=restore.restore_id,
        consents=[check.check for check in restore.failed_checks],
    )
    assert started.status is RestoreStatus.IN_PROGRESS
    assert calls(simulator, "POST", "/revalidate") == 1


async def test_export_that_times_out_is_reconciled_not_duplicated(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """An export whose answer is lost returns the export it created, once."""
    client = atlassian_client_factory(timeout=0.3)
    simulator.world.faults.queue(method="POST", path_contains="/exports", delay_after_commit_s=2)
    exports = await client.export_backups([JIRA_REF])
    assert [e.export_id for e in exports] == list(simulator.world.exports)
    assert calls(simulator, "POST", "/exports") == 1


async def test_policy_that_times_out_is_reconciled(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """A create-policy whose answer is lost returns the new policy for that site and product."""
    client = atlassian_client_factory(timeout=0.3)
    simulator.world.faults.queue(method="POST", path_contains="/policies", delay_after_commit_s=2)
    policy = await client.create_policy(
        cloud_id=SANDBOX_CLOUD_ID, product=Product.JIRA, include_attachments=True
    )
    assert policy.cloud_id == SANDBOX_CLOUD_ID
    assert policy.policy_id in simulator.world.policies
    assert calls(simulator, "POST", "/policies") == 1


async def test_import_that_times_out_is_outcome_unknown(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """An import whose answer is lost cannot be found (no list), so it is reported unknown."""
    client = atlassian_client_factory(timeout=0.3)
    await client.export_backups([JIRA_REF])
    finish_operations(simulator)
    simulator.world.faults.queue(method="POST", path_contains="/imports", delay_after_commit_s=2)
    with pytest.raises(OutcomeUnknown):
        await client.import_backups([JIRA_REF])
    assert calls(simulator, "POST", "/imports") == 1
    assert len(simulator.world.imports) == 1


async def test_retry_policy_for_tests_never_sleeps_for_real(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """Thirty seconds of Retry-After cost the test no time: the delays are only recorded."""
    client = atlassian_client_factory(retry=RetryPolicy.for_tests(max_delay=60))
    simulator.world.faults.queue(status=429, count=2, method="GET", retry_after=30)
    assert await client.list_policies()
    assert client.retry.recorded_delays == [30, 30]
