"""What the bot says in its lists and reminders: sites, storages, backups, exports, restores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.messages.text import code, esc, when

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


def expires_soon(backup_id: str, product: str, site: str, expiry: datetime, hours: int) -> str:
    return (
        f":hourglass: Backup {code(backup_id)} of *{product}* on *{esc(site)}* expires "
        f"{when(expiry)} (in about {hours} hours). Export it with `/backup export "
        f"{esc(backup_id)}` or restore it with `/restore start {esc(backup_id)} to=SITE` "
        "before then if you still need it."
    )


def no_recent_backup(product: str, site: str, policy_id: str, last_age: str | None) -> str:
    last = f"the last one was taken {last_age} ago" if last_age else "it has never had one"
    return (
        f":alarm_clock: *{product}* on *{esc(site)}* has no complete backup from the last 7 "
        f"days ({last}). Run one with `/backup run {esc(policy_id)}`."
    )


__all__ = [
    "FOUND_RUNNING",
    "NO_EXPORTS",
    "NO_REGIONS",
    "NO_RESTORES",
    "NO_SITES",
    "NO_STORAGES",
    "and_more",
    "card_is_in",
    "expires_soon",
    "no_backups_yet",
    "no_recent_backup",
    "nothing_matching",
    "report_link",
    "your_role",
]
