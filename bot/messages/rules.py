"""The sentences of the backup and restore rules (bot/atlassian/rules.py), in plain text.

Plain text, not mrkdwn: a refusal is escaped by whoever shows it. Times are given in the
one format used wherever Slack cannot localise them (``2026-11-20 09:00 UTC``).
"""

from __future__ import annotations

from datetime import datetime

from bot.messages.text import plain_time, status_words


def backup_still_running(backup_id: str) -> str:
    return (
        f"Backup {backup_id} of this policy is still in progress, so a new one can start only "
        "after it finishes."
    )


def backup_too_soon(last_id: str, taken: datetime, possible_from: datetime, cadence: str) -> str:
    return (
        f"The last complete backup of this policy, {last_id}, was taken on "
        f"{plain_time(taken)}, so the next one can run from {plain_time(possible_from)} "
        f"({cadence})."
    )


def backup_not_started(backup_id: str) -> str:
    return f"Backup {backup_id} has not finished yet and can be restored once it completes."


def backup_in_progress(backup_id: str) -> str:
    return f"Backup {backup_id} is still in progress and can be restored once it completes."


def backup_expired_on(backup_id: str, expiry: datetime, kept: str) -> str:
    return f"Backup {backup_id} expired on {plain_time(expiry)} ({kept})."


def backup_expired(backup_id: str, kept: str) -> str:
    return f"Backup {backup_id} has expired ({kept})."


def backup_failed(backup_id: str, reason: str | None) -> str:
    detail = f" ({reason})" if reason else ""
    return f"Backup {backup_id} failed{detail} and cannot be restored."


def backup_status_unknown(backup_id: str, status: object) -> str:
    return (
        f"Backup {backup_id} is {status_words(status)}, a status the bot does not recognise, "
        "so it will not restore it; `/backup show` tells what Atlassian says about it."
    )


def restored_recently(
    backup_id: str, restore_id: str, started: datetime, possible_from: datetime
) -> str:
    return (
        f"Backup {backup_id} was already restored on {plain_time(started)} (restore "
        f"{restore_id}), so it can be restored again from {plain_time(possible_from)} (once "
        "every 7 days)."
    )


def being_restored(backup_id: str, restore_id: str) -> str:
    return (
        f"Backup {backup_id} is already being restored (restore {restore_id}), and a backup "
        "can be restored only once every 7 days."
    )


def incomplete_backup(backup_id: str, missing: str, reason: str | None) -> str:
    detail = f" ({reason})" if reason else ""
    return f"Backup {backup_id} is incomplete, {missing}{detail}."


INCOMPLETE_JIRA = "Jira: attachments are missing"
INCOMPLETE_CONFLUENCE = "Confluence: some spaces are missing"
INCOMPLETE_OTHER = "some content is missing"


def unknown_destination(dest: str) -> str:
    return (
        f"The destination {dest} is not a site the bot knows; use one of the configured site "
        "aliases (`/backup sites` lists them)."
    )


def destination_is_source(backup_id: str, dest: str) -> str:
    return (
        f"Backup {backup_id} was taken from {dest} itself; restore it onto another site of the "
        "organisation."
    )


def destination_running(restore_id: str, dest: str) -> str:
    return (
        f"Restore {restore_id} is already running on {dest}; wait for it to finish or cancel it "
        "before starting another."
    )


def no_attachments(backup_id: str) -> str:
    return (
        f"Backup {backup_id} contains no attachments; start the restore again without attachments."
    )


def over_size_limit(product: str, what: str, size: float, limit: float) -> str:
    verb = "are" if what.endswith("s") else "is"
    return f"{product} {what} {verb} {size:g} GB, over the {limit:g} GB limit of Atlassian storage."


def plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


LESS_THAN_A_MINUTE = "less than a minute"
