"""Retention: finished operations leave Redis BOT_RETENTION_DAYS after they ended.

Time is the simulator's manual clock, shared by the tracker, the store and the simulated
Atlassian API; Redis's own TTLs never decide anything here.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian.models import BackupStatus
from bot.errors import UsageError
from bot.localslack import SlackWebApi
from bot.runtime import Services
from bot.simulator.seed import ACME_CLOUD_ID, ACME_JIRA_POLICY, JIRA_COMPLETE_BACKUP
from bot.slack import commands as cmd
from bot.slack.blocks import Message
from bot.slack.handlers import CommandHandlers, Invocation
from bot.store.operations import OperationKind, TrackedOperation
from tests.fixtures.services import ADMIN, ServicesFactory
from tests.fixtures.simulator import RunningSimulator
from tests.fixtures.tracking import CHANNEL, make_tracker, register_with_card, start_transfer

WHO = Invocation(user_id=ADMIN, channel_id=CHANNEL)


async def import_status(services: Services, slack: AsyncWebClient, import_id: str) -> str:
    """What ``/backup import-status IMPORT_ID`` answers, without naming the site."""
    answers: list[Message] = []

    async def reply(message: Message) -> None:
        answers.append(message)

    await CommandHandlers(services, slack).import_status(
        cmd.ImportStatus(import_id=import_id), WHO, reply
    )
    return " ".join(answer.text for answer in answers)


async def test_a_finished_operation_is_remembered_for_the_retention_then_forgotten(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """The day before the retention ends the bot still knows the site; the day after, nothing."""
    tracker = make_tracker(services, slack_client)
    export = await start_transfer(
        services, slack_client, OperationKind.EXPORT, JIRA_COMPLETE_BACKUP
    )
    simulator.clock.advance(30)
    await tracker.poll_once()
    imported = await start_transfer(
        services, slack_client, OperationKind.IMPORT, JIRA_COMPLETE_BACKUP
    )
    simulator.clock.advance(30)
    await tracker.poll_once()
    ended = await services.operations.get(OperationKind.IMPORT, imported.operation_id)
    assert ended is not None
    assert ended.final
    retention = timedelta(days=services.settings.bot_retention_days)
    redis, prefix = services.redis, services.operations.key_prefix
    # Redis keeps the keys longer than the retention: its TTL only cleans up.
    assert await redis.pttl(f"{prefix}op:{imported.key}") > retention.total_seconds() * 1000

    simulator.clock.set(ended.last_changed_at + retention - timedelta(days=1))
    await tracker.poll_once()

    assert await services.operations.site_of(OperationKind.EXPORT, export.operation_id)
    assert imported.operation_id in await import_status(
        services, slack_client, imported.operation_id
    )

    simulator.clock.advance(timedelta(days=2).total_seconds())
    await tracker.poll_once()

    assert await services.operations.site_of(OperationKind.EXPORT, export.operation_id) is None
    with pytest.raises(UsageError, match="does not know its site"):
        await import_status(services, slack_client, imported.operation_id)
    assert await redis.keys(f"{prefix}op:*") == []
    assert await redis.keys(f"{prefix}outbox:*") == []
    assert await redis.zcard(f"{prefix}ops:ended") == 0


async def test_operations_finished_before_the_upgrade_are_forgotten_too(
    services: Services, simulator: RunningSimulator, slack_client: AsyncWebClient
) -> None:
    """Finished operations an earlier version stored, never indexed, leave after the retention."""
    now = simulator.clock.now()
    old = TrackedOperation(
        kind=OperationKind.EXPORT,
        operation_id="exp-from-last-year",
        cloud_id=ACME_CLOUD_ID,
        product="JIRA",
        channel=CHANNEL,
        card_ts="1.000001",
        started_by=ADMIN,
        registered_at=(now - timedelta(days=400)).isoformat(),
        status="COMPLETE",
        final=True,
        changed_at=(now - timedelta(days=399)).isoformat(),
    )
    recent = TrackedOperation(
        **{
            **json.loads(old.to_json()),
            "kind": OperationKind.EXPORT,
            "operation_id": "exp-from-last-week",
            "changed_at": (now - timedelta(days=7)).isoformat(),
        }
    )
    prefix = services.operations.key_prefix
    for operation in (old, recent):
        await services.redis.set(f"{prefix}op:{operation.key}", operation.to_json())

    await make_tracker(services, slack_client).poll_once()

    assert await services.operations.get(OperationKind.EXPORT, old.operation_id) is None
    assert await services.operations.get(OperationKind.EXPORT, recent.operation_id) is not None


async def test_a_backup_is_kept_until_the_retention_after_its_expiry_reminder(
    make_services: ServicesFactory,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """With a retention shorter than a backup's life, the reminder still comes, then it goes."""
    services = await make_services(bot_retention_days=2)
    backup = simulator.world.add_backup(ACME_JIRA_POLICY, status=BackupStatus.IN_PROGRESS)
    registered = await register_with_card(
        services,
        slack_client,
        OperationKind.BACKUP,
        backup.backup_id,
        status="IN_PROGRESS",
        policy_id=ACME_JIRA_POLICY,
    )
    tracker = make_tracker(services, slack_client)
    simulator.clock.advance(30)
    await tracker.poll_once()
    ended = await services.operations.get(OperationKind.BACKUP, backup.backup_id)
    assert ended is not None
    assert ended.status == "COMPLETE"

    simulator.clock.advance(timedelta(days=5).total_seconds())
    await tracker.poll_once()
    assert await services.operations.get(OperationKind.BACKUP, backup.backup_id) is not None

    simulator.clock.advance(timedelta(days=7).total_seconds())
    await tracker.poll_once()
    assert registered.card_ts
    thread = fake_slack.thread(CHANNEL, registered.card_ts)
    assert "expires" in thread[-1].text
    simulator.clock.advance(timedelta(days=2, hours=1).total_seconds())
    await tracker.poll_once()

    assert await services.operations.get(OperationKind.BACKUP, backup.backup_id) is None


async def test_entries_set_aside_are_forgotten_after_the_retention(
    services: Services, simulator: RunningSimulator, slack_client: AsyncWebClient
) -> None:
    """What was set aside for an operator is kept for the retention, then dropped."""
    prefix = services.operations.key_prefix
    await services.redis.hset(f"{prefix}outbox:policy:pol-x", "e:0000000001", "{damaged")
    await services.redis.sadd(f"{prefix}outbox:pending", "policy:pol-x")
    tracker = make_tracker(services, slack_client)
    await tracker.poll_once()
    assert len(await services.operations.outboxes.set_aside_entries()) == 1

    retention = timedelta(days=services.settings.bot_retention_days)
    simulator.clock.advance((retention - timedelta(days=1)).total_seconds())
    await tracker.poll_once()
    assert len(await services.operations.outboxes.set_aside_entries()) == 1
    simulator.clock.advance(timedelta(days=2).total_seconds())
    await tracker.poll_once()

    assert await services.operations.outboxes.set_aside_entries() == {}
