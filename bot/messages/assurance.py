"""The sentences of backup assurance: schedules, freshness and size alerts, status, digest.

Each function returns Slack mrkdwn. Names and ids passed in are the bot's or Atlassian's,
escaped here; times are shown in each reader's zone with a UTC fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bot.assurance.schedules import BackupSchedule, Cadence

_DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    return f"`{esc(text)}`"


def when(moment: datetime) -> str:
    """A time every reader sees in their own zone, with a UTC fallback."""
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def span(length: timedelta) -> str:
    """ "3 days 4 hours", "5 hours", "12 minutes": the two largest units that matter."""
    minutes = max(int(length.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    shown = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n][:2]
    return " ".join(shown) or "less than a minute"


def gigabytes(size: float) -> str:
    return f"{size:.2f} GB"


@dataclass(frozen=True, slots=True)
class PolicyName:
    """How a policy is named to people: its product, its site and its id."""

    product: str
    site: str
    policy_id: str

    def __str__(self) -> str:
        return f"*{esc(self.product)}* on *{esc(self.site)}* ({code(self.policy_id)})"


# ---- schedules ---------------------------------------------------------------------------


#: The one line that stands for a schedule change where only a short line fits.
def describe_schedule(schedule: BackupSchedule) -> str:
    """ "weekly on Monday at 02:00 Europe/Berlin", "daily at 02:00 UTC"."""
    at = f"{schedule.at:%H:%M} {schedule.tz}"
    if schedule.cadence is Cadence.WEEKLY:
        return f"weekly on {_DAY_NAMES[schedule.day.value]} at {at}"
    return f"daily at {at}"


def schedule_set(policy: PolicyName, schedule: BackupSchedule, next_slot: datetime) -> str:
    return (
        f":calendar: <@{esc(schedule.set_by)}> scheduled backups of {policy} "
        f"{describe_schedule(schedule)}. The first runs {when(next_slot)}; the bot posts its "
        "card here and says so here if a run cannot start or fails."
    )


def schedule_off(policy_id: str, user_id: str, had_one: bool) -> str:
    if not had_one:
        return f"Policy {code(policy_id)} had no schedule; nothing changed."
    return (
        f":calendar: <@{esc(user_id)}> stopped the bot's schedule of policy {code(policy_id)}. "
        "The freshness watch still says when its backups get old."
    )


def schedule_set_line() -> str:
    return "Schedule set."


def schedule_off_line() -> str:
    return "Schedule off."


def not_a_schedulable_policy(policy_id: str) -> str:
    return (
        f"{code(policy_id)} is not a backup policy id the bot can schedule. "
        "`/backup policy list` shows the policies and their ids."
    )


def scheduled_policy_gone(policy_id: str) -> str:
    return (
        f":warning: Atlassian no longer has backup policy {code(policy_id)}: it was deleted, so "
        "the bot has stopped its scheduled backups. Recreate the policy and schedule the new "
        f"one, or clear this schedule with `/backup schedule {esc(policy_id)} off`."
    )


def schedule_line_policy_gone(schedule: BackupSchedule, gone_at: datetime) -> str:
    return (
        f"• {code(schedule.policy_id)}: stopped, Atlassian no longer has this policy "
        f"(found deleted {when(gone_at)}; it was {describe_schedule(schedule)}, set by "
        f"<@{esc(schedule.set_by)}>). Clear it with "
        f"`/backup schedule {esc(schedule.policy_id)} off`, or recreate the policy and "
        "schedule the new one."
    )


def schedules_heading(count: int) -> str:
    return f"Backup schedules ({count})" if count else "No backup schedules yet"


def no_schedules() -> str:
    return (
        "The bot runs no backups on a schedule yet. An admin sets one with "
        "`/backup schedule POLICY_ID weekly`."
    )


def schedule_line(schedule: BackupSchedule, next_slot: datetime) -> str:
    return (
        f"• {code(schedule.policy_id)}: {describe_schedule(schedule)}, next {when(next_slot)} "
        f"(set by <@{esc(schedule.set_by)}> {when(schedule.set_at)}, "
        f"cards in <#{esc(schedule.channel)}>)"
    )


def atlassian_schedule_line(
    policy: PolicyName, described: str | None, upcoming: datetime | None, *, active: bool
) -> str:
    """``described`` is None when Atlassian reports no schedule for the policy."""
    if not active:
        kept = f" (its schedule: {esc(described)})" if described is not None else ""
        return (
            f"• {policy}: saved inactive, so Atlassian runs no backup of it yet{kept}; "
            f"`/backup policy activate {esc(policy.policy_id)}` starts it"
        )
    if described is None:
        return f"• {policy}: active, but Atlassian reports no schedule for it"
    nxt = f", next {when(upcoming)}" if upcoming is not None else ""
    return f"• {policy}: Atlassian runs it {esc(described)}{nxt}"


def atlassian_schedules_heading(api_name: str) -> str:
    return f"Under {esc(api_name)} Atlassian schedules backups itself; its schedules:"


def schedules_refused_on_v2(api_name: str, policy_id: str) -> str:
    return (
        f"Under {esc(api_name)} Atlassian runs each policy's schedule itself, so the bot does "
        f"not add one on top (two schedules would fight over the one backup a policy may run). "
        f"`/backup policy show {esc(policy_id)}` shows Atlassian's schedule."
    )


def scheduled_run_refused(policy: PolicyName, reason: str, retry_at: datetime) -> str:
    return (
        f":hourglass: The scheduled backup of {policy} cannot start yet: {esc(reason)} "
        f"The bot tries again {when(retry_at)}."
    )


def scheduled_run_retry(
    backup_id: str, status: str, attempt: int, tries: int, retry_at: datetime
) -> str:
    return (
        f":repeat: Scheduled backup {code(backup_id)} ended {esc(status)}. The bot runs it "
        f"again {when(retry_at)} (try {attempt} of {tries} for this slot)."
    )


def scheduled_run_gave_up(backup_id: str, status: str, tries: int, next_slot: datetime) -> str:
    return (
        f":warning: Scheduled backup {code(backup_id)} ended {esc(status)} after {tries} tries "
        f"for this slot; the bot tries again at the next slot, {when(next_slot)}. "
        "Check the policy with `/backup status`."
    )


# ---- freshness and size ------------------------------------------------------------------


def _next_step(policy_id: str, atlassian_schedules: bool, scheduled: bool) -> str:
    if atlassian_schedules:
        return (
            f"Check Atlassian's schedule with `/backup policy show {esc(policy_id)}`, "
            f"or run one now with `/backup run {esc(policy_id)}`."
        )
    if scheduled:
        return f"Run one now with `/backup run {esc(policy_id)}`."
    return (
        f"Run one now with `/backup run {esc(policy_id)}`, or let the bot run it every week "
        f"with `/backup schedule {esc(policy_id)} weekly`."
    )


def backup_too_old(
    policy: PolicyName,
    max_age_days: int,
    last: tuple[str, datetime] | None,
    now: datetime,
    *,
    atlassian_schedules: bool,
    scheduled: bool,
) -> str:
    if last is None:
        history = "it has never had one"
    else:
        history = f"the last one, {code(last[0])}, was taken {span(now - last[1])} ago"
    return (
        f":alarm_clock: {policy} has no complete backup from the last {max_age_days} days "
        f"({history}). {_next_step(policy.policy_id, atlassian_schedules, scheduled)}"
    )


def nothing_restorable(policy: PolicyName, *, atlassian_schedules: bool, scheduled: bool) -> str:
    return (
        f":red_circle: {policy} has *no restorable backup*: every backup has expired, "
        f"failed or is still running, so nothing could be restored today. "
        f"{_next_step(policy.policy_id, atlassian_schedules, scheduled)}"
    )


def covered_again(policy: PolicyName, backup_id: str) -> str:
    return f":white_check_mark: {policy} is covered again by {code(backup_id)}."


def size_dropped(policy: PolicyName, backup_id: str, size: float, median: float) -> str:
    drop = round(100 * (1 - size / median)) if median else 100
    return (
        f":chart_with_downwards_trend: Backup {code(backup_id)} of {policy} holds "
        f"{gigabytes(size)}, {drop}% less than the {gigabytes(median)} its earlier complete "
        "backups held (median). A shrinking backup is how silent data loss shows up: check "
        "what changed on the site before the older backups expire."
    )


# ---- status ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What one status line says about one site's product."""

    policy: PolicyName
    last_complete: tuple[str, datetime, datetime | None] | None  # id, taken, expires
    restorable_since: datetime | None  # when the newest restorable backup was taken
    next_run: datetime | None
    next_run_is: str  # "scheduled", "Atlassian's schedule", "allowed"
    open_restores: int
    consents_waiting: int
    # False when Atlassian reports that backup only as EXPIRED, which hides whether it
    # was complete or incomplete before it expired.
    last_is_complete: bool = True
    # The newest restorable backup is INCOMPLETE: a restore from it lacks some content too.
    restorable_is_incomplete: bool = False


def status_line(facts: StatusFacts, now: datetime) -> str:
    if facts.last_complete is None:
        last = "no complete backup"
    else:
        backup_id, taken, expires = facts.last_complete
        expiry = ""
        if expires is not None:
            expiry = f", {'expired' if expires <= now else 'expires'} {when(expires)}"
        if facts.last_is_complete:
            last = f"last complete {code(backup_id)} {span(now - taken)} old{expiry}"
        else:
            age = span(now - taken)
            last = f"no complete backup left (newest {code(backup_id)}, {age} old{expiry})"
    if facts.restorable_since is None:
        loss = ":red_circle: nothing to restore"
    else:
        loss = f"restoring now loses {span(now - facts.restorable_since)}"
        if facts.restorable_is_incomplete:
            loss += ", and what that incomplete backup lacks"
    if facts.next_run is None:
        upcoming = "no run planned"
    elif facts.next_run <= now:
        upcoming = "a backup may run now"
    else:
        upcoming = f"next {facts.next_run_is} run {when(facts.next_run)}"
    restores = []
    if facts.open_restores:
        plural = "s" if facts.open_restores > 1 else ""
        restores.append(f"{facts.open_restores} restore{plural} open")
    if facts.consents_waiting:
        restores.append(f"{facts.consents_waiting} waiting for consent")
    tail = f" · {', '.join(restores)}" if restores else ""
    return f"• {facts.policy}: {last} · {loss} · {upcoming}{tail}"


def status_heading() -> str:
    return "*Could we restore today?* One line per site and product:"


def no_policies() -> str:
    return "No backup policies yet, so nothing is covered. Create one with `/backup policy create`."


def status_text(lines: Sequence[StatusFacts], now: datetime) -> str:
    if not lines:
        return no_policies()
    return "\n".join([status_heading(), *(status_line(line, now) for line in lines)])


def digest_text(lines: Sequence[StatusFacts], now: datetime) -> str:
    return f":sunrise: Daily backup digest, {now:%A %Y-%m-%d}\n{status_text(lines, now)}"


__all__ = [
    "PolicyName",
    "StatusFacts",
    "atlassian_schedule_line",
    "atlassian_schedules_heading",
    "backup_too_old",
    "covered_again",
    "describe_schedule",
    "digest_text",
    "no_schedules",
    "nothing_restorable",
    "schedule_line",
    "schedule_off",
    "schedule_set",
    "scheduled_run_gave_up",
    "scheduled_run_refused",
    "scheduled_run_retry",
    "schedules_heading",
    "schedules_refused_on_v2",
    "size_dropped",
    "span",
    "status_line",
    "status_text",
]
