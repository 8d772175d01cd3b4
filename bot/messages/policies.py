"""What the bot says about backup policies: where they store backups, and what a change did."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.atlassian.models import Policy, Product
from bot.messages.text import code, esc, mention, when, yes_no

ATLASSIAN_STORAGE = "Atlassian storage"


def storage_named(storage_id: str | None, names: Mapping[str, str]) -> str:
    """A policy's storage by its name (and id), or Atlassian's own storage."""
    if not storage_id:
        return ATLASSIAN_STORAGE
    name = names.get(storage_id)
    return f"*{esc(name)}* ({code(storage_id)})" if name else code(storage_id)


def policy_changes(before: Policy, after: Policy, names: Mapping[str, str]) -> list[str]:
    """Each option the update changed, as ``option before → after``."""
    changes = []
    if before.include_attachments != after.include_attachments:
        changes.append(
            f"attachments {yes_no(before.include_attachments)} → "
            f"{yes_no(after.include_attachments)}"
        )
    if after.product == Product.CONFLUENCE and (
        before.include_personal_spaces != after.include_personal_spaces
    ):
        changes.append(
            f"personal spaces {yes_no(before.include_personal_spaces)} → "
            f"{yes_no(after.include_personal_spaces)}"
        )
    if (before.storage_id or None) != (after.storage_id or None):
        changes.append(
            f"storage {storage_named(before.storage_id, names)} → "
            f"{storage_named(after.storage_id, names)}"
        )
    return changes


def policy_updated(user: str, policy_id: str, changes: list[str]) -> str:
    if not changes:
        return (
            f"{mention(user)} updated backup policy {code(policy_id)}: nothing changed, it "
            "already had those settings."
        )
    return f"{mention(user)} updated backup policy {code(policy_id)}: {'; '.join(changes)}."


def policy_created(user: str) -> str:
    return f"{mention(user)} created a backup policy."


def policy_activated(user: str) -> str:
    return f"{mention(user)} activated a backup policy."


def storage_created(user: str) -> str:
    return f"{mention(user)} created a storage."


def no_such_policy(policy_id: str) -> str:
    return (
        f"Atlassian has no backup policy `{policy_id}`; `/backup policy list` shows the policies."
    )


def no_such_storage(storage_id: str, site: str) -> str:
    return (
        f"Atlassian has no storage `{storage_id}`; `/backup storage list site={site}` shows "
        "that site's storages."
    )


def storage_of_another_site(storage: str, its_site: str, site: str, what: str) -> str:
    return (
        f"Storage {storage} belongs to site {its_site}, not to {site} where {what} backs up; "
        f"`/backup storage list site={site}` shows that site's storages."
    )


NO_POLICIES = "No backup policies yet. Create one with `/backup policy create`."


def run_a_backup(policy_id: str) -> str:
    return f"Run a backup: `/backup run {esc(policy_id)}`"


def next_scheduled_backup(at: datetime) -> str:
    return f"Next scheduled backup {when(at)}"


def schedule_stopped(policy_id: str, schedule: str, active: bool) -> str:
    activate = "" if active else f": activate it with `/backup policy activate {esc(policy_id)}`"
    return (
        f"Policy {code(policy_id)} is scheduled {esc(schedule)}, but Atlassian will not run it "
        f"again on its own{activate}."
    )


def schedule_runs_next(policy_id: str, schedule: str, at: datetime) -> str:
    return (
        f"Policy {code(policy_id)} also runs on its schedule ({esc(schedule)}): Atlassian "
        f"starts the next backup {when(at)}."
    )


__all__ = [
    "ATLASSIAN_STORAGE",
    "NO_POLICIES",
    "next_scheduled_backup",
    "no_such_policy",
    "no_such_storage",
    "policy_activated",
    "policy_changes",
    "policy_created",
    "policy_updated",
    "run_a_backup",
    "schedule_runs_next",
    "schedule_stopped",
    "storage_created",
    "storage_named",
    "storage_of_another_site",
]
