"""The v2 JSON shapes of policies and backups, with the field names of Atlassian's reference.

Policies: ``policyId``, ``policyName``, ``cloudInfo {cloudId, cloudUrl, cloudName,
encryptionType}``, ``productType``, ``status`` (ACTIVE or INACTIVE), the three ``include…``
flags, ``details {storageId, backupDetails {lastBackupTime, totalAvailableBackups},
scheduleDetails {interval, startDate, scheduleSlot}}``, ``createdAt``, ``createdBy``.
Backups: ``backupId``, ``name``, ``cloudId``, ``product``, ``status``, ``statusMessage``,
``accountId``, ``expiryTime``, ``selections``, ``backupSize {usersSize, dataSize,
attachmentsSize, totalBackupSizeInGB}``, ``createdAt``, ``lastUpdatedAt``, ``storageId``,
``encryptionType``; no ``policyId``. Every other record keeps its v1 shape, as the client
assumes for the operations the reference does not show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.atlassian.models import BackupStatus, Product
from bot.simulator.world import BackupRecord, PolicyRecord, iso

if TYPE_CHECKING:
    from bot.simulator.world import Record, World

ENCRYPTION_TYPE = "ATLASSIAN_MANAGED"
_SIZED = (BackupStatus.COMPLETE, BackupStatus.INCOMPLETE, BackupStatus.EXPIRED)
_SELECTIONS = {Product.JIRA: "JIRA_DATA", Product.CONFLUENCE: "CONFLUENCE_DATA"}


def view(world: World, record: Record) -> dict[str, Any]:
    if isinstance(record, PolicyRecord):
        return policy_json(world, record)
    if isinstance(record, BackupRecord):
        return backup_json(world, record)
    return record.to_json(world.now())


def policy_json(world: World, policy: PolicyRecord) -> dict[str, Any]:
    now = world.now()
    site = world.sites.get(policy.cloud_id)
    finished = [
        backup
        for backup in world.backups.values()
        if backup.policy_id == policy.policy_id and backup.status_at(now) in _SIZED
    ]
    available = [b for b in finished if b.status_at(now) is not BackupStatus.EXPIRED]
    last = max((b.finishes_at for b in finished), default=None)
    schedule = policy.schedule
    return {
        "policyId": policy.policy_id,
        "policyName": policy.name or f"{policy.product.label} backup of {_site_name(site)}",
        "cloudInfo": {
            "cloudId": policy.cloud_id,
            "cloudUrl": f"https://{_site_name(site)}.atlassian.net",
            "cloudName": _site_name(site),
            "encryptionType": ENCRYPTION_TYPE,
        },
        "productType": policy.product.value,
        "status": "ACTIVE" if policy.active else "INACTIVE",
        "includeAttachments": policy.include_attachments,
        "includePersonalSpaces": bool(policy.include_personal_spaces),
        "includeUsersAndGroups": True,
        "details": {
            "storageId": policy.storage_id,
            "backupDetails": {
                "lastBackupTime": iso(last) if last is not None else None,
                "totalAvailableBackups": len(available),
            },
            "scheduleDetails": (
                {
                    "interval": str(schedule.interval) if schedule.interval else None,
                    "startDate": str(schedule.start_date) if schedule.start_date else None,
                    "scheduleSlot": schedule.schedule_slot,
                }
                if schedule is not None
                else None
            ),
        },
        "createdAt": iso(policy.created_at),
        "createdBy": policy.created_by,
    }


def backup_json(world: World, backup: BackupRecord) -> dict[str, Any]:
    now = world.now()
    status = backup.status_at(now)
    body: dict[str, Any] = {
        "backupId": backup.backup_id,
        "name": f"{backup.product.label} backup {backup.started_at:%Y-%m-%d %H:%M}",
        "cloudId": backup.cloud_id,
        "product": backup.product.value,
        "status": status.value,
        "statusMessage": None,
        "accountId": backup.account_id,
        "selections": [_SELECTIONS[backup.product], "USERS"],
        "createdAt": iso(backup.created_at),
        "lastUpdatedAt": iso(_last_change(backup, now)),
        "storageId": world.policies[backup.policy_id].storage_id,
        "encryptionType": ENCRYPTION_TYPE,
    }
    if status is BackupStatus.EXPIRED:
        body["statusMessage"] = backup.expired_message
    elif status in (BackupStatus.COMPLETE, BackupStatus.INCOMPLETE, BackupStatus.FAILED):
        body["statusMessage"] = backup.status_message
    if status is not BackupStatus.CREATED:
        body["expiryTime"] = iso(backup.expiry_time)
    if status in _SIZED:
        body["backupSize"] = {
            "usersSize": backup.users_size_gb,
            "dataSize": backup.data_size_gb,
            "attachmentsSize": backup.attachments_size_gb,
            "totalBackupSizeInGB": round(
                backup.users_size_gb + backup.data_size_gb + backup.attachments_size_gb, 2
            ),
        }
    return body


def _last_change(backup: BackupRecord, now: Any) -> Any:
    for moment in (backup.finishes_at, backup.started_at):
        if moment <= now:
            return moment
    return backup.created_at


def _site_name(site: Any) -> str:
    return site.name if site is not None else "unknown"


__all__ = ["ENCRYPTION_TYPE", "backup_json", "policy_json", "view"]
