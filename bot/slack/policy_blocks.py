"""Block Kit builders for backup policies: pure functions from ``Policy`` to messages.

A policy shows its name, whether it is active, its schedule in words ("weekly from
2026-12-07, slot 02:00 UTC") and its last backup, whichever API version it came from;
fields a version does not send are shown as "—".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.atlassian.models import Policy, Product
from bot.atlassian.schedules import describe_schedule, next_run
from bot.config import SiteDirectory
from bot.messages import labels
from bot.messages import policies as policy_words
from bot.messages.policies import storage_named
from bot.messages.text import code, count, esc, when, yes_no
from bot.slack.blocks import (
    Message,
    context,
    cut,
    fields,
    header,
    info_message,
    list_sections,
    more,
    product_label,
)

NO_NAMES: Mapping[str, str] = {}


def _active(policy: Policy) -> str:
    return "active" if policy.is_active else "inactive"


def policy_line(
    policy: Policy, sites: SiteDirectory, storage_names: Mapping[str, str] = NO_NAMES
) -> str:
    storage = storage_named(policy.storage_id, storage_names)
    name = f" “{esc(policy.policy_name)}”" if policy.policy_name else ""
    schedule = f" · {esc(describe_schedule(policy.schedule))}" if policy.schedule else ""
    return (
        f"{code(policy.policy_id)}{name} *{product_label(policy.product)}* on "
        f"*{esc(sites.name(policy.cloud_id))}* · {_active(policy)}{schedule} · {storage} · "
        f"attachments {yes_no(policy.include_attachments)}"
    )


def next_scheduled(policy: Policy, now: datetime) -> datetime | None:
    """When the policy's schedule runs next; None when inactive, unscheduled or unknown."""
    return next_run(policy.schedule, now) if policy.is_active else None


def policies_message(
    policies: Sequence[Policy], sites: SiteDirectory, storage_names: Mapping[str, str] = NO_NAMES
) -> Message:
    if not policies:
        return info_message(policy_words.NO_POLICIES)
    shown, hidden = cut(policies)
    lines = [f"• {policy_line(policy, sites, storage_names)}" for policy in shown]
    return Message(
        text=count(len(policies), labels.POLICY_NOUN, labels.POLICIES_NOUN),
        blocks=[header(labels.POLICIES_HEADER), *list_sections(lines), *more(hidden, "")],
    )


def policy_message(
    policy: Policy,
    sites: SiteDirectory,
    now: datetime | None = None,
    storage_names: Mapping[str, str] = NO_NAMES,
) -> Message:
    pairs = [
        (labels.ID, code(policy.policy_id)),
        (labels.PRODUCT, product_label(policy.product)),
        (labels.SITE, esc(sites.name(policy.cloud_id))),
        (labels.STORAGE, storage_named(policy.storage_id, storage_names)),
        (labels.ATTACHMENTS, yes_no(policy.include_attachments)),
        (labels.STATUS, _active(policy) if policy.status is not None else "—"),
        (labels.CREATED, when(policy.created_at)),
    ]
    if policy.product == Product.CONFLUENCE:
        pairs.insert(5, (labels.PERSONAL_SPACES, yes_no(policy.include_personal_spaces)))
    # v1 sends neither, so its cards stay as they were.
    if policy.schedule is not None:
        pairs.append((labels.SCHEDULE, esc(describe_schedule(policy.schedule))))
    if policy.details is not None:
        pairs.append((labels.LAST_BACKUP, when(policy.last_backup_time)))
    hints = [policy_words.run_a_backup(policy.policy_id)]
    upcoming = next_scheduled(policy, now) if now is not None else None
    if upcoming is not None:
        hints.insert(0, policy_words.next_scheduled_backup(upcoming))
    title = policy.policy_name or labels.product_policy(product_label(policy.product))
    return Message(
        text=labels.policy_header(esc(policy.policy_id)),
        blocks=[header(title), fields(pairs), context(" · ".join(hints))],
    )


def schedule_note(policy: Policy, now: datetime) -> Message | None:
    """After a manual backup of a scheduled policy: what the schedule does next."""
    if policy.schedule is None:
        return None
    upcoming = next_scheduled(policy, now)
    schedule = describe_schedule(policy.schedule)
    if upcoming is None:
        sentence = policy_words.schedule_stopped(policy.policy_id, schedule, policy.is_active)
    else:
        sentence = policy_words.schedule_runs_next(policy.policy_id, schedule, upcoming)
    return info_message(sentence)


__all__ = ["next_scheduled", "policies_message", "policy_line", "policy_message", "schedule_note"]
