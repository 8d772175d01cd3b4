"""What the bot says in its lists and reminders: sites, storages, backups, exports, restores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.messages.text import code, count, esc, plain_time, status_words, when

NO_SITES = (
    "No site aliases are configured; set ATLASSIAN_SITES (alias=cloudId,...) or use cloud ids."
)
NO_REGIONS = "Atlassian returned no storage regions."
NO_STORAGES = "No customer storages yet. Create one with `/backup storage create`."
NO_EXPORTS = "No exports yet. Export a backup with `/backup export BACKUP_ID`."
NO_RESTORES = (
    "No restores yet. Restore a backup with `/restore start BACKUP_ID to=SITE` or `/restore`."
)
FOUND_RUNNING = "Found running when the bot started; tracked from here."


def your_role(user: str, roles: str) -> str:
    return f"<@{esc(user)}>, your role with the backup bot: *{esc(roles)}*."


def nothing_matching(noun: str, filters: Sequence[str], everything: str) -> str:
    """An empty filtered list: say what was filtered, so it does not read as "none exist"."""
    shown = " and ".join(f"`{esc(item)}`" for item in filters)
    return f"No {noun} match {shown}; `{everything}` lists all of them."


def no_backups_yet(policy_id: str) -> str:
    return (
        f"Policy {code(policy_id)} has no backups yet. Start one with "
        f"`/backup run {esc(policy_id)}`."
    )


def and_more(hidden: int, hint: str) -> str:
    return f"…and {hidden} more. {hint}".rstrip()


def card_is_in(channel: str) -> str:
    return f"Its card is in <#{esc(channel)}>."


def report_link(url: str, restore_ref: str) -> str:
    return f":page_facing_up: <{esc(url)}|Post-restore report> for {code(restore_ref)}"


def expires_in_about(backup_id: str, product: str, site: str, hours: int) -> str:
    """The notification text of an expiry reminder."""
    return (
        f"Backup {esc(backup_id)} of {product} on {esc(site)} expires in about "
        f"{count(hours, 'hour')}"
    )


def expires_soon(backup_id: str, product: str, site: str, expiry: datetime, hours: int) -> str:
    return (
        f":hourglass: Backup {code(backup_id)} of *{product}* on *{esc(site)}* expires "
        f"{when(expiry)} (in about {count(hours, 'hour')}). Export or restore it before then "
        f"if you still need it: `/backup export {esc(backup_id)}` or `/restore start "
        f"{esc(backup_id)} to=SITE`."
    )


def no_recent_backup(product: str, site: str, policy_id: str, last_age: str | None) -> str:
    last = f"the last one was taken {last_age} ago" if last_age else "it has never had one"
    return (
        f":alarm_clock: *{product}* on *{esc(site)}* has no complete backup from the last 7 "
        f"days ({last}). Run one with `/backup run {esc(policy_id)}`."
    )


# -- exports and imports: plain text, escaped by whoever shows it -------------------------


def no_such_backup(backup_id: str) -> str:
    return f"Backup {backup_id} does not exist; `/backup list POLICY_ID` shows a policy's backups."


def backup_without_site(backup_id: str) -> str:
    return (
        f"Atlassian did not say which product and site backup {backup_id} belongs to, so the "
        "bot cannot fill them in; `/backup show` tells what Atlassian says about it."
    )


def unanswered_transfer(kind: str, backup_ids: Sequence[str], where: str) -> str:
    listed = ", ".join(f"`{backup_id}`" for backup_id in backup_ids)
    return (
        f"Atlassian's answer did not mention backup {listed}, so the bot cannot tell whether "
        f"its {kind} started; check {where} before trying again."
    )


def nothing_left_to_export(backup_id: str, expiry: datetime | None) -> str:
    on = f" on {plain_time(expiry)}" if expiry is not None else ""
    return (
        f"Backup `{backup_id}` expired{on}, so there is nothing left to export; "
        "`/backup list POLICY_ID` shows the backups still kept."
    )


def not_finished_for_export(backup_id: str, status: object) -> str:
    return (
        f"Backup `{backup_id}` is {status_words(status)}; only a finished backup can be exported."
    )


def no_storage_to_export_to(site: str) -> str:
    return (
        f"Site {site} has no customer storage to export to; register one with `/backup storage "
        f"create name=NAME region=REGION prefix=PREFIX role=ROLE_ARN tag=PRINCIPAL_TAG "
        f"site={site}`."
    )


def never_exported(backup_id: str) -> str:
    return (
        f"Backup `{backup_id}` was never exported to customer storage, so there is nothing to "
        f"import; export it first with `/backup export {backup_id}`."
    )


__all__ = [
    "FOUND_RUNNING",
    "NO_EXPORTS",
    "NO_REGIONS",
    "NO_RESTORES",
    "NO_SITES",
    "NO_STORAGES",
    "and_more",
    "backup_without_site",
    "card_is_in",
    "expires_in_about",
    "expires_soon",
    "never_exported",
    "no_backups_yet",
    "no_recent_backup",
    "no_storage_to_export_to",
    "no_such_backup",
    "not_finished_for_export",
    "nothing_left_to_export",
    "nothing_matching",
    "report_link",
    "unanswered_transfer",
    "your_role",
]
