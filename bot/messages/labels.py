"""The short words on cards and forms: headers, field labels, button texts, modal titles.

They are read at a glance rather than as sentences, but a user reads them all the same, so
they are reviewed here with the rest of what the bot says.
"""

from __future__ import annotations

from typing import Final

# -- field labels, shared by every card that shows the fact --------------------------------
ID: Final = "Id"
STATUS: Final = "Status"
PRODUCT: Final = "Product"
SITE: Final = "Site"
POLICY: Final = "Policy"
BACKUP: Final = "Backup"
RESTORE: Final = "Restore"
STORAGE: Final = "Storage"
CREATED: Final = "Created"
STARTED: Final = "Started"
STARTED_BY: Final = "Started by"
FINISHED: Final = "Finished"
EXPIRES: Final = "Expires"
SIZE: Final = "Size"
CONTENTS: Final = "Contents"
DETAIL: Final = "Detail"
DESTINATION: Final = "Destination"
REGION: Final = "Region"
PREFIX: Final = "Prefix"
TYPE: Final = "Type"
ROLE: Final = "Role"
PRINCIPAL_TAG: Final = "Principal tag"
ATTACHMENTS: Final = "Attachments"
PERSONAL_SPACES: Final = "Personal spaces"
SCHEDULE: Final = "Schedule"
LAST_BACKUP: Final = "Last backup"
AGE: Final = "Age"
FROM_TO: Final = "From → to"
OPTIONS: Final = "Options"
REQUESTED_BY: Final = "Requested by"
THE_BOT: Final = "the bot"

# -- headers of lists and cards -------------------------------------------------------------
HELP_HEADER: Final = "Backup bot help"
SITES_HEADER: Final = "Configured sites"
SITES: Final = "Sites"
REGIONS_HEADER: Final = "Storage regions"
STORAGES_HEADER: Final = "Customer storages"
STORAGES_NOUN: Final = "customer storages"
BACKUPS_HEADER: Final = "Backups"
EXPORTS_HEADER: Final = "Exports to customer storage"
RESTORES_HEADER: Final = "Restores"
POLICIES_HEADER: Final = "Backup policies"
POLICY_NOUN: Final = "backup policy"
POLICIES_NOUN: Final = "backup policies"
EARLIER_PART: Final = "earlier part"
VALIDATION_CHECKS: Final = "*Validation checks*"


def your_role(role: str) -> str:
    return f"Your role: {role}"


def storage_header(name: str) -> str:
    return f"Storage {name}"


def policy_header(policy_id: str) -> str:
    return f"Policy {policy_id}"


def product_policy(product: str) -> str:
    return f"{product} backup policy"


def backups_of_policy(counted: str, policy_id: str) -> str:
    return f"{counted} of policy {policy_id}"


def backup_header(backup_id: str, status: str) -> str:
    return f"Backup {backup_id}: {status}"


def restore_header(restore_id: str, status: str) -> str:
    return f"Restore {restore_id}: {status}"


def report_header(restore_ref: str, url: str) -> str:
    return f"Post-restore report for {restore_ref}: {url}"


def report_link(url: str) -> str:
    return f":page_facing_up: <{url}|Post-restore report>"


def export_line(backup_id: str, site: str, at: str) -> str:
    return f"backup {backup_id} · {site} · {at}"


def restore_line(backup_id: str, dest: str, at: str) -> str:
    return f"backup {backup_id} → *{dest}* · {at}"


def failed_checks(checks: str) -> str:
    return f"*Failed checks*\n{checks}"


def operation_header(kind: str, product: str, site: str) -> str:
    return f"{kind} of {product} on {site}"


def operation_status_text(kind: str, product: str, site: str, status: str) -> str:
    return f"{kind} of {product} on {site}: {status}"


def report_suffix(url: str) -> str:
    return f" Report: {url}"


def updated(at: str) -> str:
    return f"Updated {at}"


def no_recent_backup(product: str, site: str) -> str:
    return f"No complete {product} backup of {site} in the last 7 days"


def done(text: str) -> str:
    return f"Done: {text}"


# -- the restore card and form --------------------------------------------------------------
CANCEL: Final = "Cancel"
NOT_NOW: Final = "Not now"
CONSENT: Final = "Consent"
CLOSE: Final = "Close"
BOT_NAME: Final = "Backup bot"
RESTORE_FORM_TITLE: Final = "Restore a backup"
REQUEST_RESTORE: Final = "Request restore"
LOOKING_UP_BACKUPS: Final = ":hourglass_flowing_sand: Looking up restorable backups…"
PRODUCT_HEADING: Final = "*Product*"
JIRA_OR_CONFLUENCE: Final = "Jira or Confluence"
JIRA: Final = "Jira"
CONFLUENCE: Final = "Confluence"
A_RESTORABLE_BACKUP: Final = "A restorable backup"
INCLUDE_ATTACHMENTS: Final = "Include attachments"
INCLUDE_USERS_AND_GROUPS: Final = "Include users and groups"
DESTINATION_SITE: Final = "Destination site"
WHERE_TO_RESTORE: Final = "Where to restore"


def restore_card_header(product: str, dest: str) -> str:
    return f"Restore of {product} backup onto {dest}"


def atlassian_status(status: str) -> str:
    return f" · Atlassian status {status}"


def age_and_expiry(age: str, expiry: str) -> str:
    return f"{age} · expires {expiry}"


def restore_options(attachments: str, users_and_groups: str) -> str:
    return f"attachments {attachments} · users and groups {users_and_groups}"
