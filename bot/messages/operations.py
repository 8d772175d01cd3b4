"""What a backup, export or import card says: how long it ran, and what to do next.

Atlassian's API gives no progress for a running operation, so the card says how long it has
been running; a finished one says when it ended, how long it took and the command that
comes next.
"""

from __future__ import annotations

from datetime import datetime

from bot.messages.text import ago, code, duration, esc, mention, when

FINISHED_STATUSES = frozenset({"COMPLETE", "INCOMPLETE", "FAILED", "EXPIRED"})


def running_since(started: datetime) -> str:
    return f"Started {ago(started)}; Atlassian reports no progress until it ends."


def finished_at(finished: datetime, started: datetime | None) -> str:
    took = f", after {duration(finished - started)}" if started is not None else ""
    return f"{when(finished)}{took}"


def could_not_start(why: str) -> str:
    return f"Could not start: {why}"


def who_to_tell(requested_by: str | None, started_by: str | None) -> str:
    """The people an ending is announced to: who asked for it and who started (approved) it."""
    if requested_by and started_by and requested_by != started_by:
        return f" Requested by {mention(requested_by)}, approved by {mention(started_by)}."
    if requested_by or started_by:
        return f" {mention(requested_by or started_by)}"
    return ""


def next_step(
    kind: str,
    status: str,
    *,
    operation_id: str,
    backup_id: str | None = None,
    policy_id: str | None = None,
) -> str | None:
    """The command that comes next once an operation has ended; None while it runs."""
    if status not in FINISHED_STATUSES:
        return None
    if status == "FAILED":
        retry = {
            "backup": f"`/backup run {esc(policy_id)}`" if policy_id else "`/backup run POLICY_ID`",
            "export": f"`/backup export {esc(backup_id or 'BACKUP_ID')}`",
            "import": f"`/backup import {esc(backup_id or 'BACKUP_ID')}`",
        }.get(kind)
        again = f"; {retry} tries again" if retry else ""
        return f"Next: read the reason above{again}."
    if kind == "backup" and status in ("COMPLETE", "INCOMPLETE"):
        return (
            f"Next: `/restore start {esc(operation_id)} to=SITE` restores it onto another site; "
            f"`/backup export {esc(operation_id)}` keeps a copy in your own storage."
        )
    if kind == "export" and status == "COMPLETE" and backup_id:
        return (
            f"Next: backup {code(backup_id)} is in the site's customer storage; "
            f"`/backup import {esc(backup_id)}` brings it back when it is needed."
        )
    if kind == "import" and status == "COMPLETE" and backup_id:
        return f"Next: `/restore start {esc(backup_id)} to=SITE` restores it."
    return None


def parts_left_out(how_many: str) -> str:
    """How many earlier parts of a long decision log a card leaves out."""
    return f"{how_many} left out."


def ended(emoji: str, kind: str, op: str, product: str, site: str, verb: str, who: str) -> str:
    """The first line of a finished operation's message (its parts already in mrkdwn)."""
    return f"{emoji} {kind} {op} of *{product}* on *{site}* {verb}.{who}"


def ended_text(kind: str, op: str, product: str, site: str, verb: str) -> str:
    """The notification text of a finished operation's message."""
    return f"{kind} {op} of {product} on {site} {verb}"


__all__ = [
    "FINISHED_STATUSES",
    "could_not_start",
    "ended",
    "ended_text",
    "finished_at",
    "next_step",
    "parts_left_out",
    "running_since",
    "who_to_tell",
]
