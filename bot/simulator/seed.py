"""The ``demo`` seed: the organisation the console, the README and the tests talk to.

acme is the source site with Jira and Confluence data. acme-sandbox is empty on the same
plan and shard, so restores of acme's complete backups pass validation. acme-staging holds
conflicting projects, spaces and groups on a lower plan, so a restore with users and groups
fails exactly three checks: conflicting spaces or projects, conflicting groups, product
licence. Ages are relative to the world's clock when the seed is planted; the expired
backups are six days past the world's retention (14 days in v1, 30 in v2).

In v2 the policies have names and weekly schedules (slot 02:00 UTC): the Jira one is
active, so a CREATED backup waits for its next slot; the Confluence one is saved but not
activated yet, so activation can be shown.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bot.atlassian.models import BackupStatus, Product, Schedule, ScheduleInterval
from bot.simulator.world import Plan, StorageRecord, World

DEMO_ORG_ID = "demo-org"
DEMO_TOKEN = "demo-token"

ACME_CLOUD_ID = "11111111-1111-4111-8111-111111111111"
SANDBOX_CLOUD_ID = "22222222-2222-4222-8222-222222222222"
STAGING_CLOUD_ID = "33333333-3333-4333-8333-333333333333"

DEMO_SITES: dict[str, str] = {
    "acme": ACME_CLOUD_ID,
    "acme-sandbox": SANDBOX_CLOUD_ID,
    "acme-staging": STAGING_CLOUD_ID,
}

ACME_JIRA_POLICY = "pol-acme-jira"
ACME_CONFLUENCE_POLICY = "pol-acme-confluence"
ACME_STORAGE = "sto-acme-s3"

JIRA_COMPLETE_BACKUP = "bkp-acme-jira-complete"
JIRA_EXPIRED_BACKUP = "bkp-acme-jira-expired"
CONFLUENCE_COMPLETE_BACKUP = "bkp-acme-confluence-complete"
CONFLUENCE_EXPIRED_BACKUP = "bkp-acme-confluence-expired"
CONFLUENCE_INCOMPLETE_BACKUP = "bkp-acme-confluence-incomplete"

ACME_PROJECTS = ("OPS", "WEB", "HR", "SUP")
ACME_SPACES = ("ENG", "MKT", "DOCS", "ARCHIVE", "LEGACY")
ACME_GROUPS = ("acme-engineering", "acme-marketing", "acme-admins")
# Created after the older backups were taken, which is why only the newest backup has them.
ACME_CUSTOM_GROUPS = ("acme-contractors",)
MISSING_SPACES = ("ARCHIVE", "LEGACY")

# How long the seeded backups took; only their finishing times depend on it.
_SEEDED_BACKUP_DURATION = timedelta(minutes=42)
DEMO_SCHEDULE_SLOT = "02:00"
DEMO_ADMIN_ACCOUNT_ID = "5b10ac8d82e05b22cc7d4ef5"


def populate_demo(world: World) -> None:
    """Plant the demo organisation into an empty world."""
    now = world.now()
    world.add_site(
        "acme",
        ACME_CLOUD_ID,
        plan=Plan.STANDARD,
        shard="shard-1",
        project_keys=ACME_PROJECTS,
        space_keys=ACME_SPACES,
        groups=ACME_GROUPS,
        custom_groups=ACME_CUSTOM_GROUPS,
    )
    world.add_site("acme-sandbox", SANDBOX_CLOUD_ID, plan=Plan.STANDARD, shard="shard-1")
    world.add_site(
        "acme-staging",
        STAGING_CLOUD_ID,
        plan=Plan.FREE,
        shard="shard-1",
        project_keys=("OPS", "QA"),
        space_keys=("ENG", "TEST"),
        groups=("acme-engineering", "staging-testers"),
    )

    created = now - timedelta(days=30)
    scheduled = world.schedules_run
    world.add_policy(
        ACME_CLOUD_ID,
        Product.JIRA,
        policy_id=ACME_JIRA_POLICY,
        created_at=created,
        **(_v2_policy("Acme Jira weekly", created.date(), active=True) if scheduled else {}),
    )
    world.add_policy(
        ACME_CLOUD_ID,
        Product.CONFLUENCE,
        policy_id=ACME_CONFLUENCE_POLICY,
        include_personal_spaces=False,
        created_at=created,
        **(
            _v2_policy("Acme Confluence weekly", (now + timedelta(days=1)).date(), active=False)
            if scheduled
            else {}
        ),
    )

    for policy_id, complete_id, expired_id in (
        (ACME_JIRA_POLICY, JIRA_COMPLETE_BACKUP, JIRA_EXPIRED_BACKUP),
        (ACME_CONFLUENCE_POLICY, CONFLUENCE_COMPLETE_BACKUP, CONFLUENCE_EXPIRED_BACKUP),
    ):
        expired_age = world.rules.retention + timedelta(days=6)
        for backup_id, age in ((complete_id, timedelta(days=8)), (expired_id, expired_age)):
            backup = world.add_backup(
                policy_id,
                backup_id=backup_id,
                status=BackupStatus.COMPLETE,
                created_at=now - age,
                has_attachments=True,
                custom_groups=(),
                groups=ACME_GROUPS,
            )
            backup.finishes_at = backup.created_at + _SEEDED_BACKUP_DURATION

    incomplete = world.add_backup(
        ACME_CONFLUENCE_POLICY,
        backup_id=CONFLUENCE_INCOMPLETE_BACKUP,
        status=BackupStatus.INCOMPLETE,
        created_at=now - timedelta(days=2),
        status_message=(
            f"Spaces {' and '.join(MISSING_SPACES)} could not be backed up and are missing "
            "from this backup."
        ),
        has_attachments=True,
        content_keys=[key for key in ACME_SPACES if key not in MISSING_SPACES],
        groups=ACME_GROUPS + ACME_CUSTOM_GROUPS,
        custom_groups=ACME_CUSTOM_GROUPS,
    )
    incomplete.finishes_at = incomplete.created_at + _SEEDED_BACKUP_DURATION

    storage_created = now - timedelta(days=25)
    world.storages[ACME_STORAGE] = _acme_storage(storage_created)


def _v2_policy(name: str, start: date, *, active: bool) -> dict[str, Any]:
    schedule = Schedule(
        interval=ScheduleInterval.WEEKLY, start_date=start, schedule_slot=DEMO_SCHEDULE_SLOT
    )
    return {
        "name": name,
        "schedule": schedule,
        "active": active,
        "created_by": DEMO_ADMIN_ACCOUNT_ID,
    }


def _acme_storage(created_at: datetime) -> StorageRecord:
    return StorageRecord(
        storage_id=ACME_STORAGE,
        storage_name="acme-backups",
        storage_region="us-east-1",
        storage_prefix="atlassian/acme/",
        storage_type="aws",
        role_identifier="arn:aws:iam::123456789012:role/atlassian-backup-export",
        principal_tag="acme-backup",
        cloud_id=ACME_CLOUD_ID,
        created_at=created_at,
    )


__all__ = [
    "ACME_CLOUD_ID",
    "ACME_CONFLUENCE_POLICY",
    "ACME_JIRA_POLICY",
    "ACME_STORAGE",
    "CONFLUENCE_COMPLETE_BACKUP",
    "CONFLUENCE_EXPIRED_BACKUP",
    "CONFLUENCE_INCOMPLETE_BACKUP",
    "DEMO_ADMIN_ACCOUNT_ID",
    "DEMO_ORG_ID",
    "DEMO_SCHEDULE_SLOT",
    "DEMO_SITES",
    "DEMO_TOKEN",
    "JIRA_COMPLETE_BACKUP",
    "JIRA_EXPIRED_BACKUP",
    "SANDBOX_CLOUD_ID",
    "STAGING_CLOUD_ID",
    "populate_demo",
]
