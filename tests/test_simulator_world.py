"""The simulated organisation's rules and transitions, driven directly with a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.atlassian.models import (
    Backup,
    BackupStatus,
    ConsentCheck,
    Export,
    OperationStatus,
    Product,
    Restore,
    RestoreStatus,
)
from bot.clock import ManualClock
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_STORAGE,
    CONFLUENCE_COMPLETE_BACKUP,
    CONFLUENCE_EXPIRED_BACKUP,
    CONFLUENCE_INCOMPLETE_BACKUP,
    DEMO_SITES,
    JIRA_COMPLETE_BACKUP,
    JIRA_EXPIRED_BACKUP,
    SANDBOX_CLOUD_ID,
    STAGING_CLOUD_ID,
)
from bot.simulator.world import (
    BackupReference,
    Faults,
    Plan,
    ShiftableClock,
    SimulatedApiError,
    World,
)

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
OP = 5.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def world(clock: ManualClock) -> World:
    return World.demo(clock=clock, op_seconds=OP, rng_seed="demo")


def refusal(excinfo: pytest.ExceptionInfo[SimulatedApiError]) -> tuple[int, str]:
    return excinfo.value.status, excinfo.value.code


def restore_to(
    world: World,
    destination: str,
    backup_id: str = JIRA_COMPLETE_BACKUP,
    *,
    users: bool = True,
    attachments: bool = True,
) -> str:
    product = world.backups[backup_id].product
    restore = world.create_restore(
        destination,
        backup_id=backup_id,
        product=product,
        include_attachments=attachments,
        include_users_and_groups=users,
    )
    return restore.restore_id


def failed_checks(world: World, restore_id: str) -> list[ConsentCheck]:
    return [check.check for check in world.get_restore(restore_id).failed_checks]


# ---- demo seed ---------------------------------------------------------------------------------


def test_demo_sites_have_the_documented_cloud_ids(world: World) -> None:
    """The demo seed plants acme, acme-sandbox and acme-staging under their fixed cloud ids."""
    assert {site.name: site.cloud_id for site in world.sites.values()} == DEMO_SITES
    assert DEMO_SITES["acme"] == "11111111-1111-4111-8111-111111111111"
    assert world.sites[SANDBOX_CLOUD_ID].space_keys == set()
    assert world.sites[SANDBOX_CLOUD_ID].plan is world.sites[ACME_CLOUD_ID].plan


def test_demo_backups_show_their_seeded_statuses(world: World) -> None:
    """The seeded backups read COMPLETE, EXPIRED and INCOMPLETE at their stated ages."""
    assert world.backup_status(JIRA_COMPLETE_BACKUP) is BackupStatus.COMPLETE
    assert world.backup_status(CONFLUENCE_COMPLETE_BACKUP) is BackupStatus.COMPLETE
    assert world.backup_status(JIRA_EXPIRED_BACKUP) is BackupStatus.EXPIRED
    assert world.backup_status(CONFLUENCE_EXPIRED_BACKUP) is BackupStatus.EXPIRED
    assert world.backup_status(CONFLUENCE_INCOMPLETE_BACKUP) is BackupStatus.INCOMPLETE
    assert START - world.backups[JIRA_COMPLETE_BACKUP].created_at == timedelta(days=8)
    assert START - world.backups[JIRA_EXPIRED_BACKUP].created_at == timedelta(days=20)
    incomplete = world.view(world.backups[CONFLUENCE_INCOMPLETE_BACKUP])
    assert "ARCHIVE" in incomplete["statusMessage"]
    assert world.backups[CONFLUENCE_INCOMPLETE_BACKUP].has_custom_groups
    assert not world.backups[JIRA_COMPLETE_BACKUP].has_custom_groups


def test_demo_has_policies_and_a_customer_storage(world: World) -> None:
    """The demo has the two acme policies on Atlassian storage and one S3 storage in us-east-1."""
    assert {p.policy_id: p.storage_id for p in world.list_policies()} == {
        "pol-acme-jira": None,
        "pol-acme-confluence": None,
    }
    storage = world.get_storage(ACME_STORAGE)
    assert (storage.cloud_id, storage.storage_region) == (ACME_CLOUD_ID, "us-east-1")


def test_backup_json_parses_with_the_client_models(world: World) -> None:
    """A backup's JSON is in the shape the client's models read, with sizes and expiry."""
    backup = Backup.model_validate(world.view(world.backups[JIRA_COMPLETE_BACKUP]))
    assert backup.status is BackupStatus.COMPLETE
    assert backup.expiry_time == START - timedelta(days=8) + timedelta(days=14)
    assert backup.backup_size is not None
    assert backup.backup_size.total_backup_size_in_gb


def test_new_ids_are_deterministic_per_seed(clock: ManualClock) -> None:
    """Two worlds with the same seed hand out the same ids; another seed gives others."""

    def first_ids(seed: str) -> list[str]:
        world = World.demo(clock=ManualClock(START), op_seconds=OP, rng_seed=seed)
        backup = world.run_backup("pol-acme-jira", ACME_CLOUD_ID)
        restore_id = restore_to(world, SANDBOX_CLOUD_ID)
        return [backup.backup_id, restore_id, world.get_restore(restore_id).migration_id or ""]

    assert first_ids("demo") == first_ids("demo")
    assert first_ids("demo") != first_ids("other")
    assert first_ids("demo")[0].startswith("bkp-")


# ---- storages ----------------------------------------------------------------------------------


def storage_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "storage_name": "backups",
        "storage_region": "eu-west-1",
        "storage_type": "aws",
        "role_identifier": "arn:aws:iam::111122223333:role/backup",
        "cloud_id": SANDBOX_CLOUD_ID,
    }
    fields.update(overrides)
    return fields


def test_create_storage_lists_it_for_its_site(world: World) -> None:
    """A created storage is ACTIVE and is listed under its site's cloudId."""
    storage = world.create_storage(**storage_fields(), storage_prefix="p/", principal_tag="t")
    assert world.view(storage)["status"] == "ACTIVE"
    assert world.list_storages(cloud_id=SANDBOX_CLOUD_ID) == [storage]
    assert storage in world.list_storages()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"storage_type": "gcs"}, (400, "UNSUPPORTED_STORAGE_TYPE")),
        ({"storage_region": "mars-1"}, (400, "INVALID_STORAGE_REGION")),
        ({"role_identifier": "backup-role"}, (400, "INVALID_ROLE_IDENTIFIER")),
        ({"cloud_id": "99999999-9999-4999-8999-999999999999"}, (404, "SITE_NOT_FOUND")),
    ],
)
def test_create_storage_validates_its_fields(
    world: World, overrides: dict[str, str], expected: tuple[int, str]
) -> None:
    """Storage type, region, role ARN and cloudId are checked, each with its own code."""
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_storage(**storage_fields(**overrides))
    assert refusal(excinfo) == expected


# ---- policies ----------------------------------------------------------------------------------


def test_one_policy_per_product_per_site(world: World) -> None:
    """A second policy for the same product on a site is refused; another site may have one."""
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_policy(ACME_CLOUD_ID, product=Product.JIRA)
    assert refusal(excinfo) == (400, "POLICY_ALREADY_EXISTS")
    assert "pol-acme-jira" in excinfo.value.message
    created = world.create_policy(SANDBOX_CLOUD_ID, product=Product.JIRA)
    assert created.policy_id in world.policies


def test_personal_spaces_only_for_confluence(world: World) -> None:
    """includePersonalSpaces is refused for Jira, at creation and on update."""
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_policy(SANDBOX_CLOUD_ID, product=Product.JIRA, include_personal_spaces=True)
    assert refusal(excinfo) == (400, "PERSONAL_SPACES_CONFLUENCE_ONLY")
    with pytest.raises(SimulatedApiError):
        world.update_policy("pol-acme-jira", {"includePersonalSpaces": True})
    policy = world.create_policy(
        SANDBOX_CLOUD_ID, product=Product.CONFLUENCE, include_personal_spaces=True
    )
    assert policy.include_personal_spaces is True


def test_policy_storage_must_exist_and_belong_to_the_site(world: World) -> None:
    """An unknown storageId is 404; a storage of another site is refused."""
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_policy(SANDBOX_CLOUD_ID, product=Product.JIRA, storage_id="sto-nope")
    assert refusal(excinfo) == (404, "STORAGE_NOT_FOUND")
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_policy(SANDBOX_CLOUD_ID, product=Product.JIRA, storage_id=ACME_STORAGE)
    assert refusal(excinfo) == (400, "STORAGE_SITE_MISMATCH")


def test_update_policy_changes_only_given_fields(world: World) -> None:
    """Updating a policy sets the given fields and keeps the others."""
    policy = world.update_policy("pol-acme-jira", {"storageId": ACME_STORAGE})
    assert (policy.storage_id, policy.include_attachments) == (ACME_STORAGE, True)
    policy = world.update_policy("pol-acme-jira", {"includeAttachments": False})
    assert (policy.storage_id, policy.include_attachments) == (ACME_STORAGE, False)
    assert world.update_policy("pol-acme-jira", {"storageId": None}).storage_id is None


# ---- backups -----------------------------------------------------------------------------------


def test_backup_runs_for_op_seconds_then_completes(world: World, clock: ManualClock) -> None:
    """A new backup is IN_PROGRESS until op_seconds have passed, then COMPLETE."""
    backup = world.run_backup("pol-acme-jira", ACME_CLOUD_ID)
    assert world.backup_status(backup.backup_id) is BackupStatus.IN_PROGRESS
    assert "completedAt" not in world.view(backup)
    clock.advance(OP - 0.001)
    assert world.backup_status(backup.backup_id) is BackupStatus.IN_PROGRESS
    clock.advance(0.001)
    assert world.backup_status(backup.backup_id) is BackupStatus.COMPLETE
    assert backup.content_keys == frozenset(world.sites[ACME_CLOUD_ID].project_keys)


def test_backup_expires_after_14_days(world: World, clock: ManualClock) -> None:
    """A complete backup reads EXPIRED once it is 14 days old."""
    expiry = world.backups[JIRA_COMPLETE_BACKUP].expiry_time
    clock.set(expiry - timedelta(seconds=1))
    assert world.backup_status(JIRA_COMPLETE_BACKUP) is BackupStatus.COMPLETE
    clock.set(expiry)
    assert world.backup_status(JIRA_COMPLETE_BACKUP) is BackupStatus.EXPIRED


def test_run_backup_needs_the_policy_and_its_site(world: World) -> None:
    """An unknown policy is 404 and a cloudId other than the policy's site is refused."""
    with pytest.raises(SimulatedApiError) as excinfo:
        world.run_backup("pol-nope", ACME_CLOUD_ID)
    assert refusal(excinfo) == (404, "POLICY_NOT_FOUND")
    with pytest.raises(SimulatedApiError) as excinfo:
        world.run_backup("pol-acme-jira", SANDBOX_CLOUD_ID)
    assert refusal(excinfo) == (400, "CLOUD_ID_MISMATCH")


def test_run_backup_conflicts_while_one_is_in_progress(world: World, clock: ManualClock) -> None:
    """A second backup of the same product and site while one runs is a 409 conflict."""
    world.run_backup("pol-acme-confluence", ACME_CLOUD_ID)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.run_backup("pol-acme-confluence", ACME_CLOUD_ID)
    assert refusal(excinfo) == (409, "BACKUP_ALREADY_RUNNING")
    world.run_backup("pol-acme-jira", ACME_CLOUD_ID)


def test_next_backup_waits_7_days_after_the_last_complete_one(
    world: World, clock: ManualClock
) -> None:
    """Within 7 days of a complete backup a new one is refused, with the time it is allowed."""
    backup = world.run_backup("pol-acme-jira", ACME_CLOUD_ID)
    clock.advance(OP)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.run_backup("pol-acme-jira", ACME_CLOUD_ID)
    assert refusal(excinfo) == (400, "BACKUP_TOO_SOON")
    allowed = backup.finishes_at + timedelta(days=7)
    assert allowed.strftime("%Y-%m-%d %H:%M") in excinfo.value.message
    clock.set(allowed)
    assert world.run_backup("pol-acme-jira", ACME_CLOUD_ID).backup_id in world.backups


def test_failed_backup_does_not_start_the_7_day_wait(world: World, clock: ManualClock) -> None:
    """With fail_rate 1 a backup ends FAILED with a message, and another may run at once."""
    world.faults.fail_rate = 1.0
    backup = world.run_backup("pol-acme-jira", ACME_CLOUD_ID)
    clock.advance(OP)
    view = world.view(backup)
    assert view["status"] == "FAILED"
    assert view["statusMessage"]
    assert "backupSize" not in view
    world.faults.fail_rate = 0.0
    world.run_backup("pol-acme-jira", ACME_CLOUD_ID)


def test_backup_without_attachments_when_the_policy_excludes_them(world: World) -> None:
    """A backup of a policy that excludes attachments holds none."""
    world.update_policy("pol-acme-jira", {"includeAttachments": False})
    backup = world.run_backup("pol-acme-jira", ACME_CLOUD_ID)
    assert not backup.has_attachments
    assert backup.attachments_size_gb == 0


def test_list_backups_of_a_policy(world: World) -> None:
    """Listing a policy's backups returns only that policy's, and 404 for an unknown policy."""
    ids = {b.backup_id for b in world.list_backups("pol-acme-jira")}
    assert ids == {JIRA_COMPLETE_BACKUP, JIRA_EXPIRED_BACKUP}
    with pytest.raises(SimulatedApiError) as excinfo:
        world.list_backups("pol-nope")
    assert refusal(excinfo) == (404, "POLICY_NOT_FOUND")


# ---- exports and imports -----------------------------------------------------------------------


def ref(backup_id: str, world: World) -> BackupReference:
    backup = world.backups[backup_id]
    return BackupReference(product=backup.product, cloud_id=backup.cloud_id, backup_id=backup_id)


def test_export_runs_then_completes(world: World, clock: ManualClock) -> None:
    """An export is IN_PROGRESS for op_seconds, then COMPLETE, and is found by its site."""
    [export] = world.create_exports([ref(JIRA_COMPLETE_BACKUP, world)])
    assert export.status_at(clock.now()) is OperationStatus.IN_PROGRESS
    clock.advance(OP)
    parsed = Export.model_validate(world.view(export))
    assert parsed.status is OperationStatus.COMPLETE
    assert world.get_export(ACME_CLOUD_ID, export.transfer_id) is export
    with pytest.raises(SimulatedApiError):
        world.get_export(SANDBOX_CLOUD_ID, export.transfer_id)


@pytest.mark.parametrize(
    ("backup_id", "code"),
    [(JIRA_EXPIRED_BACKUP, "BACKUP_EXPIRED")],
)
def test_export_refuses_expired_backups(world: World, backup_id: str, code: str) -> None:
    """An expired backup cannot be exported."""
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_exports([ref(backup_id, world)])
    assert refusal(excinfo) == (400, code)


def test_export_refuses_running_and_failed_backups(world: World, clock: ManualClock) -> None:
    """A backup still in progress, or one that failed, cannot be exported."""
    world.faults.fail_rate = 1.0
    failed = world.run_backup("pol-acme-jira", ACME_CLOUD_ID)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_exports([ref(failed.backup_id, world)])
    assert refusal(excinfo) == (400, "BACKUP_NOT_FINISHED")
    clock.advance(OP)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_exports([ref(failed.backup_id, world)])
    assert refusal(excinfo) == (400, "BACKUP_FAILED")


def test_export_needs_a_customer_storage_on_the_site(world: World) -> None:
    """A site with no customer storage cannot export, and nothing is created."""
    policy = world.create_policy(SANDBOX_CLOUD_ID, product=Product.JIRA)
    backup = world.add_backup(policy.policy_id)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_exports([ref(JIRA_COMPLETE_BACKUP, world), ref(backup.backup_id, world)])
    assert refusal(excinfo) == (400, "NO_CUSTOMER_STORAGE")
    assert world.exports == {}


def test_export_reference_must_match_the_backup(world: World) -> None:
    """The product and cloudId given must be the backup's; an unknown backup is 404."""
    wrong_product = BackupReference(Product.CONFLUENCE, ACME_CLOUD_ID, JIRA_COMPLETE_BACKUP)
    wrong_site = BackupReference(Product.JIRA, SANDBOX_CLOUD_ID, JIRA_COMPLETE_BACKUP)
    unknown = BackupReference(Product.JIRA, ACME_CLOUD_ID, "bkp-nope")
    for reference, expected in (
        (wrong_product, (400, "PRODUCT_MISMATCH")),
        (wrong_site, (400, "CLOUD_ID_MISMATCH")),
        (unknown, (404, "BACKUP_NOT_FOUND")),
    ):
        with pytest.raises(SimulatedApiError) as excinfo:
            world.create_exports([reference])
        assert refusal(excinfo) == expected


def test_second_export_of_a_backup_conflicts_while_one_runs(world: World) -> None:
    """Exporting a backup that is already being exported is a 409 conflict."""
    world.create_exports([ref(JIRA_COMPLETE_BACKUP, world)])
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_exports([ref(JIRA_COMPLETE_BACKUP, world)])
    assert refusal(excinfo) == (409, "EXPORT_IN_PROGRESS")


def test_import_only_of_a_completed_export(world: World, clock: ManualClock) -> None:
    """Import is refused until the backup's export has completed, then runs and completes."""
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_imports([ref(JIRA_COMPLETE_BACKUP, world)])
    assert refusal(excinfo) == (400, "BACKUP_NOT_EXPORTED")
    world.create_exports([ref(JIRA_COMPLETE_BACKUP, world)])
    with pytest.raises(SimulatedApiError):
        world.create_imports([ref(JIRA_COMPLETE_BACKUP, world)])
    clock.advance(OP)
    [imported] = world.create_imports([ref(JIRA_COMPLETE_BACKUP, world)])
    assert world.view(imported)["importId"] == imported.transfer_id
    clock.advance(OP)
    assert (
        world.get_import(ACME_CLOUD_ID, imported.transfer_id).status_at(clock.now())
        is OperationStatus.COMPLETE
    )


def test_failed_export_has_a_message_and_does_not_allow_import(
    world: World, clock: ManualClock
) -> None:
    """With fail_rate 1 an export ends FAILED with a message, and import stays refused."""
    world.faults.fail_rate = 1.0
    [export] = world.create_exports([ref(JIRA_COMPLETE_BACKUP, world)])
    clock.advance(OP)
    view = world.view(export)
    assert view["status"] == "FAILED"
    assert view["statusMessage"]
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_imports([ref(JIRA_COMPLETE_BACKUP, world)])
    assert excinfo.value.code == "BACKUP_NOT_EXPORTED"


def test_list_exports_filters_by_product(world: World) -> None:
    """Listing exports by product returns only that product's exports."""
    world.create_exports([ref(JIRA_COMPLETE_BACKUP, world), ref(CONFLUENCE_COMPLETE_BACKUP, world)])
    assert [e.backup_id for e in world.list_exports(Product.JIRA)] == [JIRA_COMPLETE_BACKUP]
    assert len(world.list_exports()) == 2


# ---- restores: creation and validation ---------------------------------------------------------


def test_restore_to_sandbox_passes_validation_and_completes(
    world: World, clock: ManualClock
) -> None:
    """A complete backup restored to the empty sandbox starts at once and completes."""
    restore_id = restore_to(world, SANDBOX_CLOUD_ID)
    restore = Restore.model_validate(world.view(world.get_restore(restore_id)))
    assert restore.status is RestoreStatus.IN_PROGRESS
    assert restore.failed_checks == []
    assert restore.migration_id
    clock.advance(OP)
    assert world.restore_status(restore_id) is RestoreStatus.COMPLETE
    sandbox = world.sites[SANDBOX_CLOUD_ID]
    assert sandbox.project_keys == set(world.backups[JIRA_COMPLETE_BACKUP].content_keys)
    assert "acme-engineering" in sandbox.groups


def test_restore_to_staging_with_users_fails_exactly_three_checks(world: World) -> None:
    """Staging's conflicts and lower plan fail the space, group and product licence checks."""
    for backup_id in (JIRA_COMPLETE_BACKUP, CONFLUENCE_COMPLETE_BACKUP):
        fresh = World.demo(clock=ManualClock(START), op_seconds=OP)
        restore_id = restore_to(fresh, STAGING_CLOUD_ID, backup_id)
        view = fresh.view(fresh.get_restore(restore_id))
        assert view["status"] == "VALIDATION_FAILED"
        assert "migrationId" not in view
        assert failed_checks(fresh, restore_id) == [
            ConsentCheck.CONFLICTING_SPACE,
            ConsentCheck.CONFLICTING_GROUP,
            ConsentCheck.PRODUCT_LICENSE,
        ]
        assert all(check["code"] and check["message"] for check in view["failedChecks"])


def test_group_conflicts_only_matter_with_users_and_groups(world: World) -> None:
    """Without users and groups, staging fails only the space and product licence checks."""
    restore_id = restore_to(world, STAGING_CLOUD_ID, users=False)
    assert failed_checks(world, restore_id) == [
        ConsentCheck.CONFLICTING_SPACE,
        ConsentCheck.PRODUCT_LICENSE,
    ]
    message = world.get_restore(restore_id).failed_checks[0].message
    assert "OPS" in message


def test_trial_and_shard_checks_follow_the_destination(world: World) -> None:
    """A destination on a trial or another shard fails the site licence and shard checks."""
    sandbox = world.sites[SANDBOX_CLOUD_ID]
    sandbox.free_trial = True
    sandbox.shard = "shard-7"
    restore_id = restore_to(world, SANDBOX_CLOUD_ID)
    assert failed_checks(world, restore_id) == [
        ConsentCheck.SITE_LICENSE,
        ConsentCheck.TDP_SHARD,
    ]


def test_product_licence_check_compares_plans(world: World) -> None:
    """A lower plan than the backup's fails the product licence check; a higher one passes."""
    world.sites[SANDBOX_CLOUD_ID].plan = Plan.PREMIUM
    assert failed_checks(world, restore_to(world, SANDBOX_CLOUD_ID)) == []
    other = World.demo(clock=ManualClock(START), op_seconds=OP)
    other.backups[JIRA_COMPLETE_BACKUP].plan = Plan.ENTERPRISE
    other.sites[SANDBOX_CLOUD_ID].plan = Plan.PREMIUM
    assert failed_checks(other, restore_to(other, SANDBOX_CLOUD_ID)) == [
        ConsentCheck.PRODUCT_LICENSE
    ]


def test_custom_groups_raise_the_custom_group_check(world: World) -> None:
    """The incomplete backup's custom groups ask for Accept/Deny, only with users and groups."""
    with_users = restore_to(world, SANDBOX_CLOUD_ID, CONFLUENCE_INCOMPLETE_BACKUP, users=True)
    assert failed_checks(world, with_users) == [ConsentCheck.ACCEPT_CUSTOM_GROUP]
    other = World.demo(clock=ManualClock(START), op_seconds=OP)
    without = restore_to(other, SANDBOX_CLOUD_ID, CONFLUENCE_INCOMPLETE_BACKUP, users=False)
    assert failed_checks(other, without) == []


@pytest.mark.parametrize(
    ("backup_id", "code"),
    [(JIRA_EXPIRED_BACKUP, "BACKUP_EXPIRED")],
)
def test_restore_refuses_expired_backups(world: World, backup_id: str, code: str) -> None:
    """An expired backup cannot be restored."""
    with pytest.raises(SimulatedApiError) as excinfo:
        restore_to(world, SANDBOX_CLOUD_ID, backup_id)
    assert refusal(excinfo) == (400, code)


def test_restore_refuses_running_and_failed_backups(world: World, clock: ManualClock) -> None:
    """A backup in progress, or one that failed, cannot be restored."""
    running = world.add_backup("pol-acme-jira", status=BackupStatus.IN_PROGRESS)
    failed = world.add_backup("pol-acme-jira", status=BackupStatus.FAILED)
    for backup, code in ((running, "BACKUP_NOT_FINISHED"), (failed, "BACKUP_FAILED")):
        with pytest.raises(SimulatedApiError) as excinfo:
            restore_to(world, SANDBOX_CLOUD_ID, backup.backup_id)
        assert refusal(excinfo) == (400, code)


def test_incomplete_backup_may_be_restored_and_ends_incomplete(
    world: World, clock: ManualClock
) -> None:
    """An INCOMPLETE backup is allowed, and its restore ends INCOMPLETE with a message."""
    restore_id = restore_to(world, SANDBOX_CLOUD_ID, CONFLUENCE_INCOMPLETE_BACKUP, users=False)
    clock.advance(OP)
    view = world.view(world.get_restore(restore_id))
    assert view["status"] == "INCOMPLETE"
    assert view["statusMessage"]


def test_restore_refuses_the_backups_own_site(world: World) -> None:
    """A backup cannot be restored onto the site it was taken from."""
    with pytest.raises(SimulatedApiError) as excinfo:
        restore_to(world, ACME_CLOUD_ID)
    assert refusal(excinfo) == (400, "SAME_SITE_RESTORE")


def test_restore_refuses_unknown_site_backup_and_wrong_product(world: World) -> None:
    """An unknown destination or backup is 404; a product other than the backup's is refused."""
    with pytest.raises(SimulatedApiError) as excinfo:
        restore_to(world, "99999999-9999-4999-8999-999999999999")
    assert refusal(excinfo) == (404, "SITE_NOT_FOUND")
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_restore(
            SANDBOX_CLOUD_ID,
            backup_id="bkp-nope",
            product=Product.JIRA,
            include_attachments=False,
            include_users_and_groups=False,
        )
    assert refusal(excinfo) == (404, "BACKUP_NOT_FOUND")
    with pytest.raises(SimulatedApiError) as excinfo:
        world.create_restore(
            SANDBOX_CLOUD_ID,
            backup_id=JIRA_COMPLETE_BACKUP,
            product=Product.CONFLUENCE,
            include_attachments=False,
            include_users_and_groups=False,
        )
    assert refusal(excinfo) == (400, "PRODUCT_MISMATCH")


def test_attachments_refused_when_the_backup_has_none(world: World) -> None:
    """includeAttachments is refused for a backup taken without attachments, allowed off."""
    world.update_policy("pol-acme-jira", {"includeAttachments": False})
    backup = world.add_backup("pol-acme-jira")
    with pytest.raises(SimulatedApiError) as excinfo:
        restore_to(world, SANDBOX_CLOUD_ID, backup.backup_id, attachments=True)
    assert refusal(excinfo) == (400, "ATTACHMENTS_NOT_IN_BACKUP")
    restore_to(world, SANDBOX_CLOUD_ID, backup.backup_id, attachments=False)


def test_a_backup_is_restored_at_most_once_in_7_days(world: World, clock: ManualClock) -> None:
    """A second restore of the same backup within 7 days is refused, saying from when."""
    backup = world.add_backup("pol-acme-jira", custom_groups=())
    restore_id = restore_to(world, SANDBOX_CLOUD_ID, backup.backup_id)
    clock.advance(OP)
    with pytest.raises(SimulatedApiError) as excinfo:
        restore_to(world, STAGING_CLOUD_ID, backup.backup_id)
    assert refusal(excinfo) == (400, "BACKUP_RESTORED_RECENTLY")
    again = world.get_restore(restore_id).created_at + timedelta(days=7)
    assert again.strftime("%Y-%m-%d %H:%M") in excinfo.value.message
    clock.set(again)
    assert restore_to(world, STAGING_CLOUD_ID, backup.backup_id)


def test_a_restore_awaiting_consent_blocks_its_destination(
    world: World, clock: ManualClock
) -> None:
    """While a restore onto a site waits for consent or runs, another one there is a 409."""
    restore_to(world, STAGING_CLOUD_ID, JIRA_COMPLETE_BACKUP)
    with pytest.raises(SimulatedApiError) as excinfo:
        restore_to(world, STAGING_CLOUD_ID, CONFLUENCE_COMPLETE_BACKUP)
    assert refusal(excinfo) == (409, "RESTORE_IN_PROGRESS")
    restore_to(world, SANDBOX_CLOUD_ID, CONFLUENCE_COMPLETE_BACKUP)
    with pytest.raises(SimulatedApiError) as excinfo:
        restore_to(world, SANDBOX_CLOUD_ID, CONFLUENCE_INCOMPLETE_BACKUP)
    assert refusal(excinfo) == (409, "RESTORE_IN_PROGRESS")


def test_unanswered_validation_lapses_after_the_consent_window(
    world: World, clock: ManualClock
) -> None:
    """A restore left waiting for consent for 24 hours ends FAILED and frees its destination."""
    restore_id = restore_to(world, STAGING_CLOUD_ID)
    clock.advance(hours=24)
    view = world.view(world.get_restore(restore_id))
    assert view["status"] == "FAILED"
    assert "24 hours" in view["statusMessage"]
    restore_to(world, STAGING_CLOUD_ID, CONFLUENCE_COMPLETE_BACKUP)


def test_completed_restore_makes_the_next_one_conflict(world: World, clock: ManualClock) -> None:
    """Once a restore completes, the destination holds its keys, so a later restore conflicts."""
    restore_to(world, SANDBOX_CLOUD_ID)
    clock.advance(OP)
    newer = world.add_backup("pol-acme-jira", groups=(), custom_groups=())
    restore_id = restore_to(world, SANDBOX_CLOUD_ID, newer.backup_id)
    assert failed_checks(world, restore_id) == [ConsentCheck.CONFLICTING_SPACE]


def test_restore_fails_by_fail_rate(world: World, clock: ManualClock) -> None:
    """With fail_rate 1 a started restore ends FAILED and leaves the destination unchanged."""
    world.faults.fail_rate = 1.0
    restore_id = restore_to(world, SANDBOX_CLOUD_ID)
    clock.advance(OP)
    view = world.view(world.get_restore(restore_id))
    assert view["status"] == "FAILED"
    assert view["statusMessage"]
    assert world.sites[SANDBOX_CLOUD_ID].project_keys == set()


def test_list_restores_filters_by_site_and_product(world: World) -> None:
    """Restores are listed by destination cloudId and by product."""
    jira = restore_to(world, STAGING_CLOUD_ID, JIRA_COMPLETE_BACKUP)
    confluence = restore_to(world, SANDBOX_CLOUD_ID, CONFLUENCE_COMPLETE_BACKUP)
    assert [r.restore_id for r in world.list_restores(cloud_id=STAGING_CLOUD_ID)] == [jira]
    assert [r.restore_id for r in world.list_restores(product=Product.CONFLUENCE)] == [confluence]
    assert len(world.list_restores()) == 2


# ---- restores: revalidation --------------------------------------------------------------------


def test_partial_consent_leaves_the_unanswered_checks(world: World) -> None:
    """Answering some checks keeps the restore VALIDATION_FAILED with only the others."""
    restore_id = restore_to(world, STAGING_CLOUD_ID)
    restore = world.revalidate_restore(
        STAGING_CLOUD_ID, restore_id, [ConsentCheck.CONFLICTING_SPACE.value]
    )
    assert restore.status_at(world.now()) is RestoreStatus.VALIDATION_FAILED
    assert [c.check for c in restore.failed_checks] == [
        ConsentCheck.CONFLICTING_GROUP,
        ConsentCheck.PRODUCT_LICENSE,
    ]
    assert restore.consents == [ConsentCheck.CONFLICTING_SPACE.value]


def test_full_consent_starts_the_restore(world: World, clock: ManualClock) -> None:
    """Answering every check starts the restore with a migrationId; it completes later."""
    restore_id = restore_to(world, STAGING_CLOUD_ID)
    consent = [
        ConsentCheck.CONFLICTING_SPACE.value,
        ConsentCheck.CONFLICTING_GROUP.value,
        ConsentCheck.PRODUCT_LICENSE.value,
    ]
    restore = world.revalidate_restore(STAGING_CLOUD_ID, restore_id, consent)
    view = world.view(restore)
    assert view["status"] == "IN_PROGRESS"
    assert view["migrationId"]
    assert view["failedChecks"] == []
    assert view["consents"] == consent
    clock.advance(OP)
    assert world.restore_status(restore_id) is RestoreStatus.COMPLETE
    assert "WEB" in world.sites[STAGING_CLOUD_ID].project_keys


@pytest.mark.parametrize(
    ("consent", "code"),
    [
        (["Consent_Site_License_Check"], "CONSENT_NOT_NEEDED"),
        (["Consent_Everything"], "UNKNOWN_CONSENT"),
        (["Accept_Custom_Group_Check"], "CONSENT_NOT_NEEDED"),
    ],
)
def test_revalidate_refuses_consent_that_answers_nothing(
    world: World, consent: list[str], code: str
) -> None:
    """A consent value that answers no failed check, or is not a consent value, is a 400."""
    restore_id = restore_to(world, STAGING_CLOUD_ID)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.revalidate_restore(STAGING_CLOUD_ID, restore_id, consent)
    assert refusal(excinfo) == (400, code)
    assert len(world.get_restore(restore_id).failed_checks) == 3


def test_revalidate_refuses_accept_and_deny_together(world: World) -> None:
    """Accept_ and Deny_Custom_Group_Check together are refused."""
    restore_id = restore_to(world, SANDBOX_CLOUD_ID, CONFLUENCE_INCOMPLETE_BACKUP)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.revalidate_restore(
            SANDBOX_CLOUD_ID,
            restore_id,
            [ConsentCheck.ACCEPT_CUSTOM_GROUP.value, ConsentCheck.DENY_CUSTOM_GROUP.value],
        )
    assert refusal(excinfo) == (400, "CONFLICTING_CONSENT")


def test_revalidate_needs_a_restore_awaiting_consent(world: World) -> None:
    """Revalidating a running restore is a 409; an unknown or other site's restore is 404."""
    running = restore_to(world, SANDBOX_CLOUD_ID)
    with pytest.raises(SimulatedApiError) as excinfo:
        world.revalidate_restore(SANDBOX_CLOUD_ID, running, [])
    assert refusal(excinfo) == (409, "RESTORE_NOT_AWAITING_CONSENT")
    with pytest.raises(SimulatedApiError) as excinfo:
        world.revalidate_restore(SANDBOX_CLOUD_ID, "rst-nope", [])
    assert refusal(excinfo) == (404, "RESTORE_NOT_FOUND")
    with pytest.raises(SimulatedApiError) as excinfo:
        world.revalidate_restore(STAGING_CLOUD_ID, running, [])
    assert refusal(excinfo) == (404, "RESTORE_NOT_FOUND")


@pytest.mark.parametrize(
    ("answer", "contractors_restored"),
    [(ConsentCheck.ACCEPT_CUSTOM_GROUP, True), (ConsentCheck.DENY_CUSTOM_GROUP, False)],
)
def test_custom_group_answer_decides_whether_custom_groups_arrive(
    world: World, clock: ManualClock, answer: ConsentCheck, contractors_restored: bool
) -> None:
    """Accept restores the backup's custom groups; Deny leaves them out but keeps the others."""
    restore_id = restore_to(world, SANDBOX_CLOUD_ID, CONFLUENCE_INCOMPLETE_BACKUP)
    restore = world.revalidate_restore(SANDBOX_CLOUD_ID, restore_id, [answer.value])
    assert restore.consents == [answer.value]
    clock.advance(OP)
    groups = world.sites[SANDBOX_CLOUD_ID].groups
    assert ("acme-contractors" in groups) is contractors_restored
    assert "acme-engineering" in groups


# ---- post-operation report ---------------------------------------------------------------------


def test_post_op_report_once_the_restore_has_ended(world: World, clock: ManualClock) -> None:
    """The report is refused while the restore runs, given after, and 404 for unknown ids."""
    restore = world.get_restore(restore_to(world, SANDBOX_CLOUD_ID))
    assert restore.migration_id is not None
    with pytest.raises(SimulatedApiError) as excinfo:
        world.post_op_report(SANDBOX_CLOUD_ID, restore.migration_id)
    assert refusal(excinfo) == (409, "REPORT_NOT_READY")
    clock.advance(OP)
    assert world.post_op_report(SANDBOX_CLOUD_ID, restore.migration_id) is restore
    with pytest.raises(SimulatedApiError) as excinfo:
        world.post_op_report(STAGING_CLOUD_ID, restore.migration_id)
    assert refusal(excinfo) == (404, "MIGRATION_NOT_FOUND")


# ---- faults, clocks, helpers -------------------------------------------------------------------


def test_queued_fault_matches_method_and_path_and_counts_down() -> None:
    """A queued fault answers only matching requests, as many times as asked."""
    faults = Faults()
    faults.queue(status=503, count=2, method="POST", path_contains="/restores")
    assert faults.take("GET", "/orgs/o/restores") is None
    assert faults.take("POST", "/orgs/o/backups") is None
    first = faults.take("POST", "/orgs/o/cloud/c/restores")
    assert first is not None
    assert first.status == 503
    assert faults.take("POST", "/orgs/o/cloud/c/restores") is not None
    assert faults.take("POST", "/orgs/o/cloud/c/restores") is None


def test_queued_faults_are_validated() -> None:
    """A queued fault needs an error status and a positive count, unless it only delays."""
    faults = Faults()
    with pytest.raises(ValueError, match="count"):
        faults.queue(count=0)
    with pytest.raises(ValueError, match="status"):
        faults.queue(status=200)
    assert faults.queue(status=200, delay_after_commit_s=1).delay_after_commit_s == 1


def test_random_rate_limits_are_deterministic_per_seed() -> None:
    """The same seed and rate give the same pattern of rate-limited requests."""

    def pattern(seed: str) -> list[bool]:
        faults = Faults(rng_seed=seed)
        faults.rate_limit_rate = 0.5
        return [faults.roll_rate_limit() for _ in range(40)]

    assert pattern("a") == pattern("a")
    assert pattern("a") != pattern("b")
    assert 5 < sum(pattern("a")) < 35


def test_shiftable_clock_skips_ahead_of_its_base() -> None:
    """A shiftable clock follows its base clock plus every advance."""
    base = ManualClock(START)
    clock = ShiftableClock(base)
    clock.advance(60)
    base.advance(5)
    assert clock.now() == START + timedelta(seconds=65)


def test_empty_world_has_regions_but_no_sites(clock: ManualClock) -> None:
    """An empty world has the region list and nothing else until a test adds it."""
    world = World.empty(clock=clock)
    assert "us-east-1" in world.list_regions()
    assert world.sites == {}
    assert world.list_policies() == []
    site = world.add_site("solo", "44444444-4444-4444-8444-444444444444", plan=Plan.PREMIUM)
    assert world.site_named("solo") is site


def test_state_summarises_everything(world: World) -> None:
    """The state summary lists sites, policies and backups with their current statuses."""
    state = world.state()
    assert state["now"] == "2026-11-01T09:00:00.000Z"
    assert {site["name"] for site in state["sites"]} == set(DEMO_SITES)
    statuses = {b["backupId"]: b["status"] for b in state["backups"]}
    assert statuses[JIRA_EXPIRED_BACKUP] == "EXPIRED"
    assert len(state["policies"]) == 2
