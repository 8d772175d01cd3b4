"""The App Home tab: what an admin wants to see at a glance when opening the bot.

Policies with their latest backup (age and expiry), the operations running now, and the
restore sessions waiting for the viewer's decision. ``home_view`` is a pure builder;
``publish_home`` gathers the facts and publishes the tab. When Atlassian cannot be reached
the tab still opens, with one line saying so in place of the policies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian import rules
from bot.atlassian.models import Backup, BackupStatus, Policy, normalise_product
from bot.clock import ensure_utc
from bot.config import SiteDirectory
from bot.errors import AtlassianError
from bot.messages import assurance as assurance_words
from bot.messages import backups as backups_words
from bot.messages import home as said
from bot.messages.assurance import StatusFacts
from bot.messages.text import code, status_label, when
from bot.restore.session import RestoreSession
from bot.runtime import Services
from bot.slack.blocks import (
    Block,
    context,
    divider,
    header,
    product_label,
    section,
)
from bot.slack.commands import escape_mrkdwn as esc
from bot.store.operations import TrackedOperation

log = logging.getLogger(__name__)

HOME_BLOCK_LIMIT: Final = 100
MAX_POLICIES: Final = 40
MAX_RUNNING: Final = 40
MAX_AWAITING: Final = 20
_SECTION_LIMIT: Final = 2900
_SECTIONS_PER_GROUP: Final = 10
_LIST_CONCURRENCY: Final = 8


@dataclass(frozen=True, slots=True)
class PolicyOverview:
    """A policy and its newest backup; ``problem`` says why its backups could not be read."""

    policy: Policy
    latest: Backup | None
    problem: str | None = None


def _sections(lines: Sequence[str]) -> list[Block]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > _SECTION_LIMIT:
            chunks.append(current)
            current = ""
        current += line + "\n"
    if current:
        chunks.append(current)
    return [section(chunk) for chunk in chunks[:_SECTIONS_PER_GROUP]]


def _more(hidden: int, hint: str) -> list[Block]:
    return [context(backups_words.and_more(hidden, hint))] if hidden > 0 else []


def policy_line(overview: PolicyOverview, sites: SiteDirectory, now: datetime) -> str:
    policy = overview.policy
    lead = (
        f"• *{product_label(policy.product)}* on *{esc(sites.name(policy.cloud_id))}* "
        f"({code(policy.policy_id)})"
    )
    if overview.problem:
        return f"{lead}: backups unavailable ({esc(overview.problem)})"
    backup = overview.latest
    if backup is None:
        return f"{lead}: {said.NO_BACKUPS_YET}"
    status = rules.effective_backup_status(backup, now)
    age = (
        f"{rules.describe_age(backup.created_at, now)} old"
        if backup.created_at is not None
        else "age unknown"
    )
    expiry = rules.backup_expiry(backup)
    expires = (
        f" · expires {when(expiry)}"
        if expiry is not None and status in (BackupStatus.COMPLETE, BackupStatus.INCOMPLETE)
        else ""
    )
    return f"{lead}: last backup {code(backup.backup_id)} {status_label(status)} · {age}{expires}"


def running_line(operation: TrackedOperation, sites: SiteDirectory) -> str:
    product = normalise_product(operation.product) if operation.product else None
    who = (
        f"started by <@{esc(operation.started_by)}>"
        if operation.started_by
        else said.FOUND_AT_START
    )
    where = f" · card in <#{esc(operation.channel)}>" if operation.channel else ""
    return (
        f"• {operation.kind.value.capitalize()} {code(operation.operation_id)} of "
        f"*{product_label(product)}* on *{esc(sites.name(operation.cloud_id))}* · "
        f"{status_label(operation.status or 'IN_PROGRESS')} · {who}{where}"
    )


def awaiting_line(session: RestoreSession, sites: SiteDirectory) -> str:
    step = "consent" if session.unanswered_checks else "start"
    return (
        f"• Restore of {code(session.backup_id)} ({product_label(session.product)}) from "
        f"*{esc(sites.name(session.source_cloud_id))}* to *{esc(session.dest_label)}*, "
        f"requested by <@{esc(session.requester)}> · needs your {step} by "
        f"{when(session.decision_deadline)} · card in <#{esc(session.channel)}>"
    )


def home_view(
    *,
    now: datetime,
    sites: SiteDirectory,
    policies: Sequence[PolicyOverview],
    atlassian_note: str | None,
    running: Sequence[TrackedOperation],
    awaiting: Sequence[RestoreSession],
    status: Sequence[StatusFacts] = (),
) -> dict[str, Any]:
    """The Home tab: at most 100 blocks, every API and user text escaped."""
    blocks: list[Block] = [
        header(said.TITLE),
        context(said.as_of(now)),
    ]
    if status:
        shown_status = list(status[:MAX_POLICIES])
        blocks += [divider(), section(assurance_words.status_heading())]
        blocks += _sections([assurance_words.status_line(line, now) for line in shown_status])
    blocks += [divider(), section(said.WAITING_HEADING)]
    if awaiting:
        shown = list(awaiting[:MAX_AWAITING])
        blocks += _sections([awaiting_line(session, sites) for session in shown])
        blocks += _more(len(awaiting) - len(shown), said.OLDEST_FIRST)
    else:
        blocks.append(context(said.NOTHING_WAITING))
    blocks += [divider(), section(said.RUNNING_HEADING)]
    if running:
        shown_running = list(running[:MAX_RUNNING])
        blocks += _sections([running_line(operation, sites) for operation in shown_running])
        blocks += _more(len(running) - len(shown_running), said.NEWEST_SHOWN)
    else:
        blocks.append(context(said.NOTHING_RUNNING))
    blocks += [divider(), section(said.POLICIES_HEADING)]
    if atlassian_note:
        blocks.append(context(f":warning: {esc(atlassian_note)}"))
    elif policies:
        shown_policies = list(policies[:MAX_POLICIES])
        blocks += _sections([policy_line(item, sites, now) for item in shown_policies])
        blocks += _more(len(policies) - len(shown_policies), said.ALL_POLICIES)
    else:
        blocks.append(context(said.NO_POLICIES))
    return {"type": "home", "blocks": blocks[:HOME_BLOCK_LIMIT]}


def _newest(backups: Sequence[Backup]) -> Backup | None:
    dated = [backup for backup in backups if backup.created_at is not None]
    if dated:
        return max(dated, key=lambda backup: ensure_utc(backup.created_at or datetime.min))
    return backups[0] if backups else None


async def policy_overviews(services: Services) -> tuple[list[PolicyOverview], str | None]:
    """Every policy with its newest backup, or a one-line note when Atlassian fails."""
    try:
        policies = await services.atlassian.list_policies()
    except AtlassianError as exc:
        log.warning("App Home: %s", exc)
        return [], said.policies_unavailable(exc.user_message)
    gate = asyncio.Semaphore(_LIST_CONCURRENCY)

    async def overview(policy: Policy) -> PolicyOverview:
        async with gate:
            try:
                backups = await services.atlassian.list_backups(policy.policy_id)
            except AtlassianError as exc:
                log.warning("App Home: %s", exc)
                return PolicyOverview(policy, None, problem=exc.message)
        return PolicyOverview(policy, _newest(backups))

    shown = sorted(policies, key=lambda p: (services.sites.name(p.cloud_id), str(p.product)))[
        :MAX_POLICIES
    ]
    overviews = list(await asyncio.gather(*(overview(policy) for policy in shown)))
    hidden = [PolicyOverview(policy, None) for policy in policies[len(shown) :]]
    return overviews + hidden, None


async def build_home(services: Services, user_id: str) -> dict[str, Any]:
    policies, note = await policy_overviews(services)
    running = sorted(
        await services.operations.active(), key=lambda op: op.registered_at, reverse=True
    )
    awaiting = await services.sessions.open_sessions_awaiting(
        user_id, services.access.approvers, four_eyes=services.access.four_eyes
    )
    status: list[StatusFacts] = []
    if note is None:
        try:
            status = await services.status_report.lines()
        except AtlassianError as exc:
            log.warning("App Home status: %s", exc)
    return home_view(
        now=services.clock.now(),
        sites=services.sites,
        policies=policies,
        atlassian_note=note,
        running=running,
        awaiting=awaiting,
        status=status,
    )


async def publish_home(client: AsyncWebClient, services: Services, user_id: str) -> None:
    """Build and publish one user's Home tab; failures are logged, never raised to Slack."""
    try:
        view = await build_home(services, user_id)
        await client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        log.warning("could not publish the Home tab of %s: %s", user_id, exc.response.get("error"))
    except Exception:
        log.exception("could not build the Home tab of %s", user_id)


def register_home(app: AsyncApp, services: Services) -> None:
    """Publish the Home tab whenever someone opens it."""

    async def on_app_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        # The same event fires for the Messages tab, which has nothing to publish.
        if event.get("tab", "home") != "home":
            return
        user_id = event.get("user")
        if isinstance(user_id, str) and user_id:
            await publish_home(client, services, user_id)

    app.event("app_home_opened")(on_app_home_opened)


__all__ = [
    "HOME_BLOCK_LIMIT",
    "PolicyOverview",
    "build_home",
    "home_view",
    "policy_overviews",
    "publish_home",
    "register_home",
]
