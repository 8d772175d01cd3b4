"""What a restore blocks, and the one sentence that says so to whoever asks for another.

A destination site takes one restore at a time. Two things hold it besides a restore that
is running: a restore session of the bot that has not finished (its card is still open),
and a restore that Atlassian validated and that waits for consent. Atlassian documents no
cancel for the latter, so cancelling its card here does not free the site: Atlassian keeps
it pending until it lets it lapse (assumed after ``PENDING_RESTORE_LAPSE``, as the
simulator does). Whoever asks for a restore onto that site is told exactly that: which
restore, that Atlassian still holds it, until when, and what to do meanwhile.

A restore that never started does not restore its backup: it does not count for the
7-day rule on restoring a backup again (bot/atlassian/rules.py).

Pure functions: the workflow passes in what Redis and Atlassian said.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bot.atlassian import rules
from bot.atlassian.models import Backup, Restore, RestoreStatus
from bot.clock import ensure_utc
from bot.messages import endings as said
from bot.restore.session import RestoreSession, SessionState

PENDING_RESTORE_LAPSE: Final = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class PendingAtAtlassian:
    """A validated restore waiting for consent at Atlassian, which keeps its site busy.

    ``until`` is when Atlassian lets it lapse, None when its creation time is unknown.
    """

    restore_id: str
    until: datetime | None


def pending_until(created_at: datetime | None) -> datetime | None:
    """When a restore requested at ``created_at`` and never consented to stops holding its site."""
    return None if created_at is None else ensure_utc(created_at) + PENDING_RESTORE_LAPSE


def pending_of(session: RestoreSession) -> PendingAtAtlassian | None:
    """What a session's restore leaves pending at Atlassian if the session ends now.

    Only a validated restore waiting for consent stays behind: before validation there is
    no restore yet, after consent it runs to its own end.
    """
    if session.restore_id is None or not session.failed_checks:
        return None
    return PendingAtAtlassian(session.restore_id, pending_until(session.restore_created_at))


def pending_problem(
    restore: Restore, dest_label: str, cancelled: bool, now: datetime
) -> rules.Problem:
    """A pending restore holding the destination, as a problem about the destination."""
    until = pending_until(restore.created_at)
    return rules.Problem(
        rules.Concern.DESTINATION,
        said.pending_holds_destination(
            restore.restore_id, dest_label, cancelled=cancelled, until=until, now=now
        ),
        until if until is not None and until > now else None,
    )


def preflight(
    *,
    backup: Backup,
    restores: Sequence[Restore],
    dest_cloud_id: str,
    dest_label: str,
    known_cloud_ids: Collection[str],
    include_attachments: bool | None,
    sessions: Mapping[str, RestoreSession],
    now: datetime,
) -> rules.Verdict:
    """Every check before a restore onto ``dest_cloud_id``, pending restores said as they are.

    ``sessions`` are the bot's sessions of those restores, by restore id. A restore whose
    session is still open is left to the check for the bot's own unfinished sessions
    (``busy_with``), whose card is where to finish or cancel it. Every rule that refuses
    is said, what the user can change at once (destination, options) first.
    """
    dest = dest_cloud_id.lower()
    held = [
        r
        for r in restores
        if (r.cloud_id or "").lower() == dest and r.status == RestoreStatus.VALIDATION_FAILED
    ]
    held_ids = {r.restore_id for r in held}
    held = [r for r in held if r.restore_id not in sessions or sessions[r.restore_id].is_final]
    others = [r for r in restores if r.restore_id not in held_ids]
    destination = rules.destination_problems(
        backup=backup,
        restores=others,
        dest_cloud_id=dest_cloud_id,
        dest_label=dest_label,
        known_cloud_ids=known_cloud_ids,
    )
    if not destination and held:
        first = min(held, key=lambda r: r.restore_id)
        owner = sessions.get(first.restore_id)
        cancelled = owner is not None and owner.state is SessionState.CANCELLED
        destination = [pending_problem(first, dest_label, cancelled, now)]
    return rules.Verdict.of(
        destination
        + rules.option_problems(backup, include_attachments)
        + rules.backup_problems(backup, others, now)
    )


def busy_with(unfinished: Sequence[RestoreSession], dest_cloud_id: str) -> RestoreSession | None:
    """The bot's own unfinished restore onto the destination, if there is one."""
    dest = dest_cloud_id.lower()
    return next((s for s in unfinished if s.dest_cloud_id.lower() == dest), None)


__all__ = [
    "PENDING_RESTORE_LAPSE",
    "PendingAtAtlassian",
    "busy_with",
    "pending_of",
    "pending_problem",
    "pending_until",
    "preflight",
]
