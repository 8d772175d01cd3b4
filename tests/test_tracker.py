"""The tracker against the simulator, the fake Slack Web API and a real Redis.

Time only moves when a test advances the simulator's manual clock, which the tracker, the
simulated Atlassian API and the fake Slack all share: operations finish, leases lapse and
rate windows pass without real waiting.
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian.models import (
    BackupStatus,
    OperationStatus,
    Product,
    RestoreStatus,
)
from bot.localslack import Message as SlackMessage
from bot.localslack import SlackWebApi
from bot.restore.session import SessionState
from bot.runtime import Services
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_CONFLUENCE_POLICY,
    ACME_JIRA_POLICY,
    CONFLUENCE_COMPLETE_BACKUP,
    JIRA_COMPLETE_BACKUP,
    JIRA_EXPIRED_BACKUP,
    SANDBOX_CLOUD_ID,
)
from bot.simulator.world import RestoreRecord, TransferRecord
from bot.slack import restore_blocks as rb
from bot.slack.gateway import CARD_EDIT_RATE
from bot.store.operations import OperationKind, TrackedOperation
from bot.store.throttle import SendRate
from bot.tracking import CycleStats, Tracker, ends_operation
from tests.fixtures import bot_harness as harness_fixture
from tests.fixtures.bot_harness import BotHarness
from tests.fixtures.services import ADMIN, NOTIFY_CHANNEL, ServicesFactory
from tests.fixtures.simulator import RunningSimulator
from tests.fixtures.tracking import (
    CHANNEL,
    RecordingHooks,
    make_tracker,
    start_backup,
    start_transfer,
    wired_tracker,
)

POLL = 30.0


def count_chat_update_per_workspace(api: SlackWebApi) -> None:
    """Make the fake Slack count chat.update as Slack does: one budget for the workspace."""
    per_minute, _per_channel = api.rate_budgets["chat.update"]
    api.rate_budgets["chat.update"] = (per_minute, False)
    api.enforce_rate_limits = True


class UndocumentedStatus(enum.StrEnum):
    """A status Atlassian does not document, as the simulator would report it."""

    CANCELLED = "CANCELLED"


async def track_export(
    services: Services,
    simulator: RunningSimulator,
    slack: AsyncWebClient,
    export_id: str,
    *,
    finishes_in: float,
    outcome: Any = OperationStatus.COMPLETE,
) -> TrackedOperation:
    """An export in the world, registered as STARTING with a card in CHANNEL."""
    posted = await slack.chat_postMessage(channel=CHANNEL, text=f"export {export_id}")
    now = simulator.clock.now()
    simulator.world.exports[export_id] = TransferRecord(
        kind="export",
        transfer_id=export_id,
        backup_id=JIRA_COMPLETE_BACKUP,
        cloud_id=ACME_CLOUD_ID,
        product=Product.JIRA,
        created_at=now,
        finishes_at=now + timedelta(seconds=finishes_in),
        outcome=outcome,
    )
    return await services.operations.register(
        OperationKind.EXPORT,
        export_id,
        cloud_id=ACME_CLOUD_ID,
        product="JIRA",
        channel=CHANNEL,
        card_ts=str(posted["ts"]),
        started_by=ADMIN,
        status="STARTING",
    )


async def start_restore(
    services: Services, slack: AsyncWebClient, *, channel: str = CHANNEL
) -> TrackedOperation:
    """A running restore of acme's Jira backup onto the sandbox, registered with a card."""
    restore = await services.atlassian.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=False,
    )
    assert restore.status == RestoreStatus.IN_PROGRESS
    posted = await slack.chat_postMessage(channel=channel, text=f"Restore {restore.restore_id}")
    return await services.operations.register(
        OperationKind.RESTORE,
        restore.restore_id,
        cloud_id=SANDBOX_CLOUD_ID,
        product="JIRA",
        channel=channel,
        card_ts=str(posted["ts"]),
        started_by=ADMIN,
        status=str(restore.status),
        backup_id=JIRA_COMPLETE_BACKUP,
        session_id="session-1",
    )


def replies(api: SlackWebApi, operation: TrackedOperation) -> list[SlackMessage]:
    assert operation.channel
    assert operation.card_ts
    return api.thread(operation.channel, operation.card_ts)[1:]


def mentions(messages: Iterable[SlackMessage], needle: str) -> list[SlackMessage]:
    return [m for m in messages if needle in m.text]


def card(api: SlackWebApi, operation: TrackedOperation) -> SlackMessage:
    assert operation.channel
    assert operation.card_ts
    found = api.message(operation.channel, operation.card_ts)
    assert found is not None
    return found


def card_text(api: SlackWebApi, operation: TrackedOperation) -> str:
    return str(card(api, operation).blocks)


async def finish(
    simulator: RunningSimulator, tracker: Tracker, seconds: float = POLL
) -> CycleStats:
    simulator.clock.advance(seconds)
    return await tracker.poll_once()


# --------------------------------------------------------------------------------------
# Cards and threads for each kind and final state
# --------------------------------------------------------------------------------------


async def test_complete_backup_edits_card_and_announces_once_in_thread_and_notify(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A completed backup: card edited, one final message in its thread and the notify channel."""
    operation = await start_backup(services, slack_client)
    tracker = make_tracker(services, slack_client)
    first = await tracker.poll_once()
    assert first.transitions == 0
    assert "IN PROGRESS" in card_text(fake_slack, operation)

    stats = await finish(simulator, tracker)
    await finish(simulator, tracker)

    assert stats.transitions == 1
    assert "COMPLETE" in card_text(fake_slack, operation)
    assert [m.text for m in replies(fake_slack, operation)] == [
        f"Backup {operation.operation_id} of Jira on acme finished"
    ]
    mirrored = mentions(fake_slack.messages(NOTIFY_CHANNEL), operation.operation_id)
    assert len(mirrored) == 1
    assert f"<#{CHANNEL}>" in str(mirrored[0].blocks)
    stored = await services.operations.get(OperationKind.BACKUP, operation.operation_id)
    assert stored is not None
    assert stored.final
    assert stored.status == "COMPLETE"
    assert operation.key not in await services.operations.active_keys()


async def test_failed_backup_reports_the_service_message(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A backup that fails is announced as failed, with Atlassian's reason, on card and thread."""
    simulator.world.faults.fail_rate = 1.0
    operation = await start_backup(services, slack_client)
    tracker = make_tracker(services, slack_client)

    await finish(simulator, tracker)

    reason = "internal error"
    assert "FAILED" in card_text(fake_slack, operation)
    assert reason in card_text(fake_slack, operation)
    (reply,) = replies(fake_slack, operation)
    assert "failed" in reply.text
    assert reason in reply.text


async def test_export_then_import_cards_follow_each_to_completion(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Exports are found through the export list and imports one by one; both end announced."""
    export = await start_transfer(
        services, slack_client, OperationKind.EXPORT, JIRA_COMPLETE_BACKUP
    )
    tracker = make_tracker(services, slack_client)
    await finish(simulator, tracker)
    assert "COMPLETE" in card_text(fake_slack, export)
    assert [m.text for m in replies(fake_slack, export)] == [
        f"Export {export.operation_id} of Jira on acme finished"
    ]

    imported = await start_transfer(
        services, slack_client, OperationKind.IMPORT, JIRA_COMPLETE_BACKUP
    )
    calls_before = len(simulator.world.calls)
    await finish(simulator, tracker)
    paths = [call.path for call in simulator.world.calls[calls_before:]]
    assert any(f"/imports/{imported.operation_id}" in path for path in paths)
    assert "COMPLETE" in card_text(fake_slack, imported)
    assert len(replies(fake_slack, imported)) == 1


async def test_incomplete_backup_says_what_is_missing(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """An INCOMPLETE backup's final message carries Atlassian's note on what is missing."""
    operation = await start_backup(services, slack_client, ACME_CONFLUENCE_POLICY)
    record = simulator.world.backups[operation.operation_id]
    record.outcome = BackupStatus.INCOMPLETE
    record.status_message = "Spaces ARCHIVE and LEGACY are missing from this backup."
    tracker = make_tracker(services, slack_client)

    await finish(simulator, tracker)

    (reply,) = replies(fake_slack, operation)
    assert "finished incomplete" in reply.text
    assert "ARCHIVE and LEGACY" in reply.text
    assert "INCOMPLETE" in card_text(fake_slack, operation)


async def test_backup_found_expired_is_announced_as_expired(
    services: Services, fake_slack: SlackWebApi, slack_client: AsyncWebClient
) -> None:
    """A tracked backup that Atlassian reports as EXPIRED ends with an expired notice."""
    posted = await slack_client.chat_postMessage(channel=CHANNEL, text="old backup")
    operation = await services.operations.register(
        OperationKind.BACKUP,
        JIRA_EXPIRED_BACKUP,
        cloud_id=ACME_CLOUD_ID,
        product="JIRA",
        channel=CHANNEL,
        card_ts=str(posted["ts"]),
        started_by=ADMIN,
        status="IN_PROGRESS",
        policy_id=ACME_JIRA_POLICY,
    )
    tracker = make_tracker(services, slack_client)

    await tracker.poll_once()

    (reply,) = replies(fake_slack, operation)
    assert reply.text.endswith("expired: This backup is more than 14 days old and has expired.")
    assert "EXPIRED" in card_text(fake_slack, operation)


async def test_restore_without_hooks_gets_report_link_on_card_and_in_thread(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A finished restore's generic card and final message carry the post-restore report link."""
    operation = await start_restore(services, slack_client)
    tracker = make_tracker(services, slack_client)

    await finish(simulator, tracker)

    (reply,) = replies(fake_slack, operation)
    assert "finished" in reply.text
    assert "/report/" in reply.text
    assert "Post-restore report" in card_text(fake_slack, operation)
    assert "COMPLETE" in card_text(fake_slack, operation)


async def test_restore_hooks_draw_the_card_and_finish_once_before_the_announcement(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """With hooks the restore flow draws the card and finished() runs before the thread post."""
    hooks = RecordingHooks(fake_slack, fail_finished=1)
    operation = await start_restore(services, slack_client)
    tracker = make_tracker(services, slack_client, restore=hooks)

    await finish(simulator, tracker)
    assert replies(fake_slack, operation) == []
    await finish(simulator, tracker)
    await finish(simulator, tracker)

    finished = [call for call in hooks.calls if call[0] == "finished"]
    assert len(finished) == 2  # one failure retried, then done
    assert finished[-1][1] == "COMPLETE"
    assert finished[-1][2]
    assert "/report/" in finished[-1][2]
    assert finished[-1][3] == 0
    assert len(replies(fake_slack, operation)) == 1
    assert card(fake_slack, operation).text == "restore card: COMPLETE"


async def test_report_not_ready_is_posted_later_without_repeating_the_final_state(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A report not ready yet is posted on a later cycle; the final message is not repeated."""
    operation = await start_restore(services, slack_client)
    simulator.world.faults.queue(status=409, count=2, path_contains="postOpReport")
    tracker = make_tracker(services, slack_client)

    await finish(simulator, tracker)
    assert next(m.text for m in replies(fake_slack, operation)).endswith("finished")
    await finish(simulator, tracker)
    assert len(replies(fake_slack, operation)) == 1
    await finish(simulator, tracker)
    await finish(simulator, tracker)

    texts = [m.text for m in replies(fake_slack, operation)]
    assert len(texts) == 2
    assert texts[1].startswith("Post-restore report for")
    assert "Post-restore report" in card_text(fake_slack, operation)
    assert operation.key not in await services.operations.active_keys()


# --------------------------------------------------------------------------------------
# Restarts, replicas and failures
# --------------------------------------------------------------------------------------


async def test_restart_mid_operation_gives_exactly_one_final_notification(
    make_services: ServicesFactory,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A new tracker process on the same Redis picks the operation up and announces its end once."""
    first_services = await make_services()
    operation = await start_backup(first_services, slack_client)
    first = make_tracker(first_services, slack_client, "before-restart")
    await first.poll_once()
    del first  # the process dies without releasing anything

    second = make_tracker(await make_services(), slack_client, "after-restart")
    simulator.clock.advance(second.lease_seconds + 1)
    for _ in range(3):
        await finish(simulator, second)

    assert len(replies(fake_slack, operation)) == 1
    assert len(mentions(fake_slack.messages(NOTIFY_CHANNEL), operation.operation_id)) == 1


async def test_a_change_made_elsewhere_between_cycles_is_respected(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """When another writer moves the card after a cycle, the final state goes to the new card."""
    operation = await start_backup(services, slack_client)
    tracker = make_tracker(services, slack_client)
    await tracker.poll_once()
    moved = await slack_client.chat_postMessage(channel="CMOVED", text="the card, reposted")
    await services.operations.update(
        OperationKind.BACKUP, operation.operation_id, {"channel": "CMOVED", "card_ts": moved["ts"]}
    )

    stats = await finish(simulator, tracker)

    current = await services.operations.get(OperationKind.BACKUP, operation.operation_id)
    assert current is not None
    assert stats.transitions == 1
    assert current.status == "COMPLETE"
    assert current.channel == "CMOVED"
    assert len(replies(fake_slack, current)) == 1
    assert "COMPLETE" in card_text(fake_slack, current)
    assert replies(fake_slack, operation) == []


def _add_load(
    simulator: RunningSimulator, count: int, *, seed: int = 7, start: int = 0
) -> list[tuple[OperationKind, str, str | None]]:
    """Put ``count`` running backups, exports and restores into the world, finishing at random."""
    world = simulator.world
    rng = random.Random(seed)
    now = simulator.clock.now()
    created: list[tuple[OperationKind, str, str | None]] = []
    for index in range(start, start + count):
        finishes = now + timedelta(seconds=rng.uniform(5, 240))
        choice = index % 10
        if choice < 6:
            policy = ACME_JIRA_POLICY if index % 2 else ACME_CONFLUENCE_POLICY
            backup = world.add_backup(
                policy, status=BackupStatus.IN_PROGRESS, backup_id=f"bkp-load-{index:04d}"
            )
            backup.finishes_at = finishes
            if rng.random() < 0.2:
                backup.outcome = BackupStatus.FAILED
                backup.status_message = "The backup could not be completed."
            created.append((OperationKind.BACKUP, backup.backup_id, policy))
        elif choice < 9:
            export = TransferRecord(
                kind="export",
                transfer_id=f"exp-load-{index:04d}",
                backup_id=JIRA_COMPLETE_BACKUP,
                cloud_id=ACME_CLOUD_ID,
                product=Product.JIRA,
                created_at=now,
                finishes_at=finishes,
                outcome=OperationStatus.COMPLETE,
            )
            world.exports[export.transfer_id] = export
            created.append((OperationKind.EXPORT, export.transfer_id, None))
        else:
            restore = RestoreRecord(
                restore_id=f"rst-load-{index:04d}",
                backup_id=JIRA_COMPLETE_BACKUP,
                cloud_id=SANDBOX_CLOUD_ID,
                source_cloud_id=ACME_CLOUD_ID,
                product=Product.JIRA,
                include_attachments=False,
                include_users_and_groups=False,
                created_at=now,
                outcome=RestoreStatus.COMPLETE,
                migration_id=f"mig-load-{index:04d}",
                started_at=now,
                finishes_at=finishes,
            )
            world.restores[restore.restore_id] = restore
            created.append((OperationKind.RESTORE, restore.restore_id, None))
    return created


async def _register_load(
    services: Services,
    slack: AsyncWebClient,
    load: Sequence[tuple[OperationKind, str, str | None]],
    channels: int,
) -> list[TrackedOperation]:
    operations = []
    for index, (kind, operation_id, policy_id) in enumerate(load):
        channel = f"CLOAD{index % channels:02d}"
        posted = await slack.chat_postMessage(channel=channel, text=f"{kind.value} {operation_id}")
        operations.append(
            await services.operations.register(
                kind,
                operation_id,
                cloud_id=SANDBOX_CLOUD_ID if kind is OperationKind.RESTORE else ACME_CLOUD_ID,
                product="JIRA",
                channel=channel,
                card_ts=str(posted["ts"]),
                started_by=ADMIN,
                status="IN_PROGRESS",
                policy_id=policy_id,
                backup_id=JIRA_COMPLETE_BACKUP if kind is not OperationKind.BACKUP else None,
            )
        )
    return operations


async def send_until(
    simulator: RunningSimulator, trackers: Sequence[Tracker], until: datetime
) -> None:
    """Between polls, wake each tracker when its throttled notifications may go, as run() does."""
    while True:
        due = [t.next_send_at for t in trackers if t.next_send_at is not None]
        moment = min(due, default=None)
        if moment is None or moment > until:
            simulator.clock.set(until)
            return
        simulator.clock.set(max(moment, simulator.clock.now()))
        now = simulator.clock.now()
        await asyncio.gather(
            *(t.flush() for t in trackers if t.next_send_at is not None and t.next_send_at <= now)
        )


def _final_replies(api: SlackWebApi, operation: TrackedOperation) -> list[SlackMessage]:
    return [m for m in replies(api, operation) if " finished" in m.text or " failed" in m.text]


async def test_three_processes_announce_each_of_200_operations_once_even_when_one_dies(
    make_services: ServicesFactory,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Three concurrent trackers tell each of 200 endings once, even when one of them dies."""
    count_chat_update_per_workspace(fake_slack)
    processes = [await make_services() for _ in range(3)]
    trackers = [
        make_tracker(services, slack_client, f"p{n}", lease_seconds=60)
        for n, services in enumerate(processes, start=1)
    ]
    operations = await _register_load(
        processes[0], slack_client, _add_load(simulator, 200), channels=10
    )
    live = list(trackers)
    for round_number in range(40):
        await asyncio.gather(*(tracker.poll_once() for tracker in live))
        held = [tracker.held_shards for tracker in live]
        for index, shards in enumerate(held):
            for other in held[index + 1 :]:
                assert not shards & other, "two processes polled the same shard"
        if round_number == 3:
            live = live[:2]  # p3 is killed: it never polls or renews again
        await send_until(simulator, live, simulator.clock.now() + timedelta(seconds=POLL))
        if round_number > 8 and not await processes[0].operations.outboxes.pending_owners():
            break

    for operation in operations:
        assert len(_final_replies(fake_slack, operation)) == 1, operation.key
    notified = fake_slack.messages(NOTIFY_CHANNEL)
    for operation in operations:
        assert len(mentions(notified, f"{operation.operation_id} of")) == 1, operation.key
    assert not [call for call in fake_slack.calls if call.status == 429]
    assert {len(tracker.held_shards) for tracker in live} == {16}


async def test_slack_rate_limits_lose_nothing_and_coalesce_card_edits(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """After 429s the card gets one edit with the latest state and the final posts still arrive."""
    posted = await slack_client.chat_postMessage(channel=CHANNEL, text="export starting")
    record = TransferRecord(
        kind="export",
        transfer_id="exp-coalesce",
        backup_id=JIRA_COMPLETE_BACKUP,
        cloud_id=ACME_CLOUD_ID,
        product=Product.JIRA,
        created_at=simulator.clock.now(),
        finishes_at=simulator.clock.now() + timedelta(seconds=20),
        outcome=OperationStatus.COMPLETE,
    )
    simulator.world.exports[record.transfer_id] = record
    operation = await services.operations.register(
        OperationKind.EXPORT,
        record.transfer_id,
        cloud_id=ACME_CLOUD_ID,
        product="JIRA",
        channel=CHANNEL,
        card_ts=str(posted["ts"]),
        started_by=ADMIN,
        status="STARTING",
    )
    tracker = make_tracker(services, slack_client)
    fake_slack.rate_limit("chat.update", count=1, retry_after=60)

    first = await tracker.poll_once()  # STARTING -> IN_PROGRESS; the edit gets a 429
    assert first.transitions == 1
    assert first.deferred >= 1
    fake_slack.rate_limit("chat.postMessage", count=2, retry_after=3)
    second = await finish(simulator, tracker)  # -> COMPLETE, still inside Retry-After
    assert second.transitions == 1
    assert card(fake_slack, operation).edits == ()
    for _ in range(4):
        await finish(simulator, tracker, 20)

    updates = [c for c in fake_slack.calls_to("chat.update") if c.ok]
    assert len(updates) == 1
    assert "COMPLETE" in card_text(fake_slack, operation)
    assert len(replies(fake_slack, operation)) == 1
    assert len(mentions(fake_slack.messages(NOTIFY_CHANNEL), operation.operation_id)) == 1


async def test_card_edits_share_one_budget_for_the_whole_workspace(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Cards finishing at once in ten channels are edited within one workspace-wide rate."""
    count_chat_update_per_workspace(fake_slack)
    load = [(k, i, p) for k, i, p in _add_load(simulator, 50, seed=3) if k is OperationKind.BACKUP]
    operations = await _register_load(services, slack_client, load, channels=10)
    tracker = make_tracker(services, slack_client)

    simulator.clock.advance(300)
    await tracker.poll_once()
    burst, interval = CARD_EDIT_RATE.burst, CARD_EDIT_RATE.interval
    assert len([c for c in fake_slack.calls_to("chat.update") if c.ok]) == burst
    # Every final state is in its thread at once, whatever the edit budget.
    assert all(len(_final_replies(fake_slack, op)) == 1 for op in operations)
    await send_until(simulator, [tracker], simulator.clock.now() + timedelta(seconds=15))
    assert len([c for c in fake_slack.calls_to("chat.update") if c.ok]) == burst + int(
        15 / interval
    )
    # Headroom under Slack's ~50 a minute for the edits people cause on restore cards.
    assert 60 / interval + burst - 1 <= 45

    await send_until(simulator, [tracker], simulator.clock.now() + timedelta(seconds=60))
    edits = [c for c in fake_slack.calls_to("chat.update") if c.ok]
    assert len(edits) == len(operations)
    assert {c.args["ts"] for c in edits} == {op.card_ts for op in operations}
    assert not [c for c in fake_slack.calls if c.status == 429]


async def test_slacks_own_429_is_waited_out_on_the_bots_clock_and_posted_once(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A 429 from Slack itself holds the post until Retry-After passes on the bot's clock.

    The client is the one the bot runs with: no real sleep happens, and no second attempt
    goes to Slack before the bot's own clock says so.
    """
    operation = await start_backup(services, slack_client)
    fake_slack.rate_budgets["chat.postMessage"] = (1, True)
    fake_slack.enforce_rate_limits = True
    await slack_client.chat_postMessage(channel=CHANNEL, text="the channel's one post a minute")
    tracker = make_tracker(services, slack_client)
    simulator.clock.advance(POLL)

    started = time.monotonic()
    stats = await asyncio.wait_for(tracker.poll_once(), timeout=10)
    assert time.monotonic() - started < 10
    assert stats.transitions == 1
    assert replies(fake_slack, operation) == []
    (limited,) = [c for c in fake_slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert limited.status == 429
    retry_at = tracker.next_send_at
    assert retry_at is not None
    assert retry_at - simulator.clock.now() == timedelta(seconds=30)

    await send_until(simulator, [tracker], retry_at - timedelta(seconds=1))
    assert replies(fake_slack, operation) == []
    await send_until(simulator, [tracker], retry_at + timedelta(seconds=1))

    thread_posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert [c.status for c in thread_posts] == [429, 200]
    assert thread_posts[1].time >= limited.time + timedelta(seconds=30)
    assert len(replies(fake_slack, operation)) == 1
    assert time.monotonic() - started < 10


async def test_a_429_on_a_card_edit_holds_every_card_but_no_thread_post(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Retry-After on chat.update stops edits in every channel; final posts still go at once."""
    load = [(k, i, p) for k, i, p in _add_load(simulator, 10, seed=5) if k is OperationKind.BACKUP]
    first, second = await _register_load(services, slack_client, load[:2], channels=2)
    assert first.channel != second.channel
    tracker = make_tracker(services, slack_client)
    fake_slack.rate_limit("chat.update", count=1, retry_after=20)

    simulator.clock.advance(300)
    await tracker.poll_once()
    await send_until(simulator, [tracker], simulator.clock.now() + timedelta(seconds=19))

    assert [c.status for c in fake_slack.calls_to("chat.update")] == [429]
    for operation in (first, second):
        assert len(_final_replies(fake_slack, operation)) == 1
        assert card(fake_slack, operation).edits == ()

    await send_until(simulator, [tracker], simulator.clock.now() + timedelta(seconds=10))
    edited = [c.args["ts"] for c in fake_slack.calls_to("chat.update") if c.ok]
    assert sorted(edited) == sorted([first.card_ts, second.card_ts])


async def test_cards_of_ended_operations_go_first_then_the_longest_stale(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """With one edit a minute, a finished card overtakes older changes; older beats newer."""
    tracker = make_tracker(services, slack_client, card_edit_rate=SendRate(interval=60, burst=1))
    early_b = await track_export(services, simulator, slack_client, "exp-b-early", finishes_in=900)
    early_c = await track_export(services, simulator, slack_client, "exp-c-early", finishes_in=900)
    await tracker.poll_once()  # both now IN_PROGRESS; the minute's one edit goes to b
    simulator.clock.advance(POLL)
    late_a = await track_export(services, simulator, slack_client, "exp-a-late", finishes_in=900)
    final_z = await track_export(services, simulator, slack_client, "exp-z-final", finishes_in=5)
    await tracker.poll_once()  # a and z now IN_PROGRESS, no budget left
    await finish(simulator, tracker)  # z COMPLETE; the budget is back
    assert len(_final_replies(fake_slack, final_z)) == 1
    for _ in range(4):
        await finish(simulator, tracker)

    by_ts = {op.card_ts: op.operation_id for op in (early_b, early_c, late_a, final_z)}
    order = [by_ts[c.args["ts"]] for c in fake_slack.calls_to("chat.update") if c.ok]
    assert order == ["exp-b-early", "exp-z-final", "exp-c-early", "exp-a-late"]
    # z changed twice before its turn: one edit, showing how it ended.
    assert len(card(fake_slack, final_z).edits) == 1
    assert "COMPLETE" in card_text(fake_slack, final_z)


async def test_an_undocumented_end_status_ends_tracking_and_is_announced_verbatim(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """An export Atlassian reports CANCELLED is announced once with that status, then left."""
    operation = await track_export(
        services,
        simulator,
        slack_client,
        "exp-cancelled",
        finishes_in=5,
        outcome=UndocumentedStatus.CANCELLED,
    )
    tracker = make_tracker(services, slack_client)

    await finish(simulator, tracker)
    calls_after_end = len(simulator.world.calls)
    await finish(simulator, tracker)

    (reply,) = replies(fake_slack, operation)
    assert "ended with the status CANCELLED" in reply.text
    assert "CANCELLED" in card_text(fake_slack, operation)
    stored = await services.operations.get(OperationKind.EXPORT, operation.operation_id)
    assert stored is not None
    assert stored.final
    assert stored.status == "CANCELLED"
    assert operation.key not in await services.operations.active_keys()
    assert not [c for c in simulator.world.calls[calls_after_end:] if "exp-cancelled" in c.path]


def test_only_known_end_spellings_count_as_final() -> None:
    """Cancelled, aborted and timed-out spellings end an operation; other unknowns do not."""
    for status in ("CANCELLED", "Canceled", "aborted", "timed-out", "TIMED OUT", "TERMINATED"):
        assert ends_operation(OperationKind.BACKUP, status), status
    for status in ("PAUSED", "QUEUED", "PENDING", "VALIDATION_FAILED", "IN_PROGRESS"):
        assert not ends_operation(OperationKind.RESTORE, status), status
    assert ends_operation(OperationKind.RESTORE, "INCOMPLETE")


async def test_a_cancelled_restore_reaches_the_restore_flow_as_failed_naming_the_status(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """The restore flow, which knows only documented ends, is told the restore failed and why."""
    hooks = RecordingHooks(fake_slack)
    operation = await start_restore(services, slack_client)
    simulator.world.restores[operation.operation_id].outcome = UndocumentedStatus.CANCELLED
    tracker = make_tracker(services, slack_client, restore=hooks)

    await finish(simulator, tracker)

    finished = [call for call in hooks.calls if call[0] == "finished"]
    assert [call[1] for call in finished] == ["FAILED"]
    assert hooks.messages[-1] is not None
    assert "CANCELLED" in hooks.messages[-1]
    assert "ended with the status CANCELLED" in replies(fake_slack, operation)[0].text


async def test_a_restore_atlassian_stops_reporting_is_handed_to_the_gone_hook_once(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A restore answering 404 calls gone() once, before its thread post, and never finished()."""
    hooks = RecordingHooks(fake_slack)
    operation = await start_restore(services, slack_client)
    tracker = make_tracker(services, slack_client, restore=hooks)
    await tracker.poll_once()
    del simulator.world.restores[operation.operation_id]

    for _ in range(3):
        await finish(simulator, tracker)

    assert [call for call in hooks.calls if call[0] in ("gone", "finished")] == [
        ("gone", "GONE", None, 0)
    ]
    (reply,) = replies(fake_slack, operation)
    assert "no longer reported by Atlassian" in reply.text
    assert operation.key not in await services.operations.active_keys()


async def test_an_adopted_restore_without_a_session_gets_its_card_edited(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """When the restore flow has no card for a restore, the tracker edits the generic card."""
    hooks = RecordingHooks(fake_slack, sessionless=True)
    restore = simulator.world.create_restore(
        SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=False,
    )
    tracker = make_tracker(services, slack_client, restore=hooks)
    (adopted,) = await tracker.adopt_running()
    await tracker.poll_once()
    stored = await services.operations.get(OperationKind.RESTORE, restore.restore_id)
    assert stored is not None
    assert stored.card_ts is not None

    await finish(simulator, tracker)

    shown = card(fake_slack, stored)
    assert len(shown.edits) == 1
    assert "COMPLETE" in str(shown.blocks)
    assert "Post-restore report" in str(shown.blocks)
    assert adopted.operation_id == restore.restore_id


async def outbox_reads(services: Services) -> int:
    """How many outboxes were read (HGETALL) since the Redis statistics were last reset."""
    stats = await services.redis.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


async def test_waiting_for_the_edit_budget_does_not_reread_every_outbox(
    make_services: ServicesFactory,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Each freed edit costs a read or two, and a quiet cycle rereads few of the waiting cards."""
    services = await make_services(bot_notify_channel=None)
    load = [(k, i, p) for k, i, p in _add_load(simulator, 60, seed=3) if k is OperationKind.BACKUP]
    operations = await _register_load(services, slack_client, load, channels=12)
    tracker = make_tracker(services, slack_client)
    simulator.clock.advance(300)
    await tracker.poll_once()
    await send_until(simulator, [tracker], simulator.clock.now() + timedelta(seconds=5))
    assert all(len(_final_replies(fake_slack, op)) == 1 for op in operations)
    edited_before = len([c for c in fake_slack.calls_to("chat.update") if c.ok])
    await services.redis.config_resetstat()

    await send_until(simulator, [tracker], simulator.clock.now() + timedelta(seconds=15))

    edits = len([c for c in fake_slack.calls_to("chat.update") if c.ok]) - edited_before
    assert edits >= 9
    assert await outbox_reads(services) <= 2 * edits + 2
    waiting = len(operations) - edits - edited_before
    await services.redis.config_resetstat()
    await tracker.poll_once()
    assert await outbox_reads(services) < waiting / 2


async def test_a_post_queued_for_a_card_waiting_on_the_edit_budget_is_sent(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """An expiry reminder for a backup whose card still waits for an edit goes out at once."""
    blocker = await start_backup(services, slack_client, ACME_CONFLUENCE_POLICY)
    operation = await start_backup(services, slack_client)
    tracker = make_tracker(
        services, slack_client, card_edit_rate=SendRate(interval=30 * 24 * 3600, burst=1)
    )
    await finish(simulator, tracker)
    shown_final = [op for op in (blocker, operation) if "COMPLETE" in card_text(fake_slack, op)]
    assert len(shown_final) == 1
    (waiting,) = [op for op in (blocker, operation) if op not in shown_final]
    edits_before = len(card(fake_slack, waiting).edits)

    simulator.clock.advance(timedelta(days=12, hours=1).total_seconds())
    await tracker.poll_once()

    thread = replies(fake_slack, waiting)
    assert len(thread) == 2
    assert "expires" in thread[1].text
    assert len(card(fake_slack, waiting).edits) == edits_before


async def test_atlassian_outage_loses_no_transition(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A cycle that meets 503s records nothing; the change is announced once the API is back."""
    operation = await start_backup(services, slack_client)
    tracker = make_tracker(services, slack_client)
    simulator.world.faults.queue(status=503, count=8, method="GET")

    failed = await finish(simulator, tracker)
    assert failed.service_trouble
    assert failed.errors >= 1
    assert failed.transitions == 0
    recovered = await finish(simulator, tracker)

    assert recovered.transitions == 1
    assert len(replies(fake_slack, operation)) == 1


async def test_run_loop_backs_off_during_an_outage_and_keeps_going(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """The loop survives a failing API, backs off, then delivers and stops on request."""
    operation = await start_backup(services, slack_client)
    pauses: list[float] = []
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        simulator.clock.advance(seconds)
        if len(pauses) >= 8:
            stop.set()
        await asyncio.sleep(0)

    tracker = make_tracker(services, slack_client, sleep=sleep)
    simulator.world.faults.queue(status=503, count=12, method="GET")
    await asyncio.wait_for(tracker.run(stop, adopt=False), timeout=10)

    assert pauses[0] == POLL * 2
    assert pauses[1] == POLL * 4
    assert len(replies(fake_slack, operation)) == 1
    assert tracker.held_shards == frozenset()


# --------------------------------------------------------------------------------------
# Reminders and nudges
# --------------------------------------------------------------------------------------


async def test_expiry_reminder_is_posted_once_48_hours_before_expiry(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A completed backup gets one reminder in thread and notify channel as expiry nears."""
    operation = await start_backup(services, slack_client)
    tracker = make_tracker(services, slack_client)
    await finish(simulator, tracker)

    simulator.clock.advance(timedelta(days=11).total_seconds())
    await tracker.poll_once()
    assert len(replies(fake_slack, operation)) == 1
    simulator.clock.advance(timedelta(days=1, hours=1).total_seconds())
    await tracker.poll_once()
    await finish(simulator, tracker)
    await make_tracker(services, slack_client, "p2").poll_once()

    thread = replies(fake_slack, operation)
    assert len(thread) == 2
    assert "expires" in thread[1].text
    assert len(mentions(fake_slack.messages(NOTIFY_CHANNEL), "expires in about")) == 1


async def test_a_stale_policy_is_alerted_once_by_the_freshness_watch(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """The demo policies' complete backups are 8 days old: one alert each, however often polled
    (the freshness watch took over the idle-policy nudge: one rule, one message)."""
    tracker = make_tracker(services, slack_client)
    await tracker.poll_once()
    for _ in range(3):
        simulator.clock.advance(timedelta(hours=2).total_seconds())
        await tracker.poll_once()

    alerts = mentions(fake_slack.messages(NOTIFY_CHANNEL), "no complete backup from the last 8")
    assert sorted(a.text.split(" has ")[0] for a in alerts) == [
        ":alarm_clock: *Confluence* on *acme* (`pol-acme-confluence`)",
        ":alarm_clock: *Jira* on *acme* (`pol-acme-jira`)",
    ]
    assert f"/backup run {ACME_JIRA_POLICY}" in str(alerts)


# --------------------------------------------------------------------------------------
# Adoption at start-up
# --------------------------------------------------------------------------------------


async def test_two_processes_starting_together_adopt_each_running_operation_once(
    make_services: ServicesFactory,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Untracked running backups and restores get one card each in the notify channel."""
    world = simulator.world
    backup = world.add_backup(ACME_JIRA_POLICY, status=BackupStatus.IN_PROGRESS)
    restore = world.create_restore(
        SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=False,
    )
    first_services = await make_services()
    first = make_tracker(first_services, slack_client, "p1")
    second = make_tracker(await make_services(), slack_client, "p2")

    adopted = await asyncio.gather(first.adopt_running(), second.adopt_running())
    assert sorted(op.operation_id for ops in adopted for op in ops) == sorted(
        [backup.backup_id, restore.restore_id]
    )
    await asyncio.gather(first.poll_once(), second.poll_once())
    await asyncio.gather(first.adopt_running(), second.adopt_running())
    await asyncio.gather(first.poll_once(), second.poll_once())

    cards = [m for m in fake_slack.messages(NOTIFY_CHANNEL) if m.thread_ts is None]
    for operation_id in (backup.backup_id, restore.restore_id):
        own = [m for m in cards if operation_id in str(m.blocks)]
        assert len(own) == 1, operation_id
        assert "Found running when the bot started" in str(own[0].blocks)
    for _ in range(2):
        simulator.clock.advance(POLL)
        await asyncio.gather(first.poll_once(), second.poll_once())
    stored = await first_services.operations.get(OperationKind.BACKUP, backup.backup_id)
    assert stored is not None
    assert stored.adopted
    assert stored.final
    assert len(replies(fake_slack, stored)) == 1
    assert "COMPLETE" in card_text(fake_slack, stored)


async def test_a_restore_its_session_claims_is_left_to_the_session(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """A running restore the restore workflow claims gets no adopted card and no second owner."""
    restore = simulator.world.create_restore(
        SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=False,
    )
    hooks = RecordingHooks(fake_slack, claims=True)
    tracker = make_tracker(services, slack_client, restore=hooks)

    adopted = await tracker.adopt_running()
    await tracker.poll_once()

    assert adopted == []
    assert ("claim", restore.restore_id, None, 0) in hooks.calls
    assert await services.operations.get(OperationKind.RESTORE, restore.restore_id) is None
    assert not [m for m in fake_slack.messages(NOTIFY_CHANNEL) if restore.restore_id in str(m)]


async def test_adoption_without_a_notify_channel_tracks_without_a_card(
    make_services: ServicesFactory,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Without BOT_NOTIFY_CHANNEL an adopted backup is tracked to its end but nothing is posted."""
    services = await make_services(bot_notify_channel=None)
    backup = simulator.world.add_backup(ACME_JIRA_POLICY, status=BackupStatus.IN_PROGRESS)
    tracker = make_tracker(services, slack_client)

    (adopted,) = await tracker.adopt_running()
    await finish(simulator, tracker)

    stored = await services.operations.get(OperationKind.BACKUP, backup.backup_id)
    assert adopted.card_ts is None
    assert stored is not None
    assert stored.final
    assert stored.status == "COMPLETE"
    assert fake_slack.calls_to("chat.postMessage") == []


# --------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------


async def test_atlassian_calls_per_cycle_grow_with_policies_not_operations(
    services: Services, simulator: RunningSimulator, slack_client: AsyncWebClient
) -> None:
    """Polling 10 or 100 backups, exports and restores costs the same number of list calls."""
    tracker = make_tracker(services, slack_client)
    await tracker.poll_once()  # the hourly policy check happens here, not in the cycles measured
    small = await _register_load(services, slack_client, _add_load(simulator, 10, seed=1), 2)
    before = len(simulator.world.calls)
    await tracker.poll_once()
    small_calls = len(simulator.world.calls) - before

    await _register_load(services, slack_client, _add_load(simulator, 90, seed=2, start=10), 2)
    before = len(simulator.world.calls)
    stats = await tracker.poll_once()
    large_calls = len(simulator.world.calls) - before

    assert stats.operations_polled > 5 * len(small)
    assert large_calls == small_calls == 4  # two policies, the export list, the restore list


# --------------------------------------------------------------------------------------
# With the restore flow itself
# --------------------------------------------------------------------------------------


def _restore_card(harness: BotHarness) -> SlackMessage:
    (found,) = [
        m
        for m in harness.slack.messages(harness_fixture.CHANNEL)
        if m.thread_ts is None and m.text.startswith("Restore of")
    ]
    return found


async def test_a_restore_atlassian_stops_reporting_fails_its_session_and_frees_the_site(
    bot_harness: BotHarness,
) -> None:
    """A running restore gone from Atlassian ends FAILED, and its site takes a new request."""
    harness = bot_harness
    await harness.slash(f"start {JIRA_COMPLETE_BACKUP} to=acme-sandbox", command="/restore")
    restore_card = _restore_card(harness)
    clicked = await harness.driver.click(
        restore_card, rb.ACTION_START, user=harness_fixture.APPROVER
    )
    assert clicked.status == 200
    await harness.settle()
    (session,) = await harness.services.sessions.unfinished()
    assert session.state is SessionState.RUNNING
    assert session.restore_id
    del harness.simulator.world.restores[session.restore_id]
    tracker = wired_tracker(harness, "tracker")

    await tracker.poll_once()

    ended = await harness.services.sessions.get(session.session_id)
    assert ended is not None
    assert ended.state is SessionState.FAILED
    assert ended.outcome == (
        f"Atlassian no longer reports restore {session.restore_id}; check "
        "admin.atlassian.com before restoring onto this site again."
    )
    shown = harness.slack.message(harness_fixture.CHANNEL, restore_card.ts)
    assert shown is not None
    assert "no longer reports" in json.dumps(shown.blocks)
    response = await harness.slash(
        f"start {CONFLUENCE_COMPLETE_BACKUP} to=acme-sandbox", command="/restore"
    )
    assert "under way" not in harness.reply_text(response)
    assert len(await harness.services.sessions.unfinished()) == 1
