"""The typed outbox: its stored form, entries queued by earlier versions, unreadable entries.

The tracker runs against the simulator, the fake Slack Web API and a real Redis; the
entries of earlier versions are written into Redis exactly as those versions wrote them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian.models import BackupStatus
from bot.localslack import SlackWebApi
from bot.runtime import Services
from bot.simulator.seed import ACME_CLOUD_ID, ACME_JIRA_POLICY, SANDBOX_CLOUD_ID
from bot.store import outbox
from bot.store.operations import OperationKind, TrackedOperation
from bot.store.outbox import (
    Announce,
    Destination,
    ExpiryReminder,
    FinalPost,
    NoticePost,
    Notification,
    PolicyNudge,
    ReportPost,
    RestoreHook,
    UnreadableNotification,
)
from bot.tracking import Tracker
from tests.fixtures.services import NOTIFY_CHANNEL
from tests.fixtures.simulator import RunningSimulator
from tests.fixtures.tracking import RecordingHooks, make_tracker, register_with_card

EXPIRY = datetime(2026, 11, 14, 9, 0, tzinfo=UTC)
REPORT = "https://admin.atlassian.com/report/legacy"

# Every kind of notification, and the JSON object earlier versions stored for it.
STORED_FORMS: list[tuple[Notification, dict[str, Any]]] = [
    (RestoreHook(), {"type": "hook"}),
    (Announce(), {"type": "announce"}),
    (
        FinalPost(to=Destination.THREAD, status="COMPLETE", message=None, report_url=REPORT),
        {
            "type": "post",
            "to": "thread",
            "what": "final",
            "status": "COMPLETE",
            "message": None,
            "report_url": REPORT,
        },
    ),
    (
        FinalPost(to=Destination.NOTIFY, status="FAILED", message="disk full"),
        {
            "type": "post",
            "to": "notify",
            "what": "final",
            "status": "FAILED",
            "message": "disk full",
            "report_url": None,
        },
    ),
    (
        ReportPost(to=Destination.THREAD, report_url=REPORT),
        {"type": "post", "to": "thread", "what": "report", "report_url": REPORT},
    ),
    (
        ExpiryReminder(to=Destination.NOTIFY, expiry=EXPIRY),
        {"type": "post", "what": "reminder", "expiry": EXPIRY.isoformat(), "to": "notify"},
    ),
    (
        PolicyNudge(policy_id="pol-1", product="JIRA", cloud_id=ACME_CLOUD_ID, last_complete=None),
        {
            "type": "post",
            "to": "notify",
            "what": "nudge",
            "policy_id": "pol-1",
            "product": "JIRA",
            "cloud_id": ACME_CLOUD_ID,
            "last_complete": None,
        },
    ),
    (
        NoticePost(to=Destination.NOTIFY, text="covered again", channel="CSCHEDULE"),
        {
            "type": "post",
            "to": "notify",
            "what": "notice",
            "text": "covered again",
            "channel": "CSCHEDULE",
        },
    ),
]


@pytest.mark.parametrize(("notification", "stored"), STORED_FORMS)
def test_each_notification_is_stored_as_earlier_versions_stored_it(
    notification: Notification, stored: dict[str, Any]
) -> None:
    """The stored form is the JSON earlier versions wrote, and it reads back as the same value."""
    assert json.loads(outbox.encode(notification)) == stored
    assert outbox.decode(json.dumps(stored, sort_keys=True)) == notification


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"type": "carrier-pigeon"}',
        '{"type": "post", "what": "haiku", "to": "thread"}',
        '{"type": "post", "what": "final", "to": "the moon", "status": "COMPLETE"}',
        '{"type": "post", "what": "final", "to": "thread"}',
        '{"type": "post", "what": "reminder", "to": "thread", "expiry": "soon"}',
        '{"type": "post", "what": "report", "to": "thread", "report_url": null}',
        '{"type": "post", "what": "nudge", "to": "thread", "policy_id": "p", "product": "JIRA"}',
        '{"type": "post", "what": "notice", "to": "thread", "text": ""}',
    ],
)
def test_anything_else_is_unreadable(raw: str) -> None:
    """Unknown kinds, damaged values and impossible destinations are refused with a reason."""
    with pytest.raises(UnreadableNotification) as refused:
        outbox.decode(raw)
    assert str(refused.value)


async def put_legacy_entries(
    services: Services, owner: str, entries: list[dict[str, Any] | str]
) -> None:
    """Queue ``entries`` for ``owner`` exactly as earlier versions did (raw strings as given)."""
    redis = services.redis
    key = f"{services.operations.key_prefix}outbox:{owner}"
    last = await redis.hincrby(key, "#seq", len(entries))
    for number, entry in enumerate(entries, start=last - len(entries) + 1):
        value = entry if isinstance(entry, str) else json.dumps(entry, sort_keys=True)
        await redis.hset(key, f"e:{number:010d}", value)
    await redis.sadd(f"{services.operations.key_prefix}outbox:pending", owner)


async def tracked_with_card(
    services: Services,
    slack: AsyncWebClient,
    kind: OperationKind,
    operation_id: str,
    *,
    status: str,
    final: bool,
    **details: Any,
) -> TrackedOperation:
    operation = await register_with_card(
        services, slack, kind, operation_id, status=status, **details
    )
    if final:
        updated = await services.operations.update(kind, operation_id, {"final": True})
        assert updated is not None
        return updated
    return operation


async def send_what_is_due(simulator: RunningSimulator, tracker: Tracker) -> None:
    """Wake the tracker whenever a held-back send may go, as its loop does, until none is left."""
    for _ in range(100):
        due = tracker.next_send_at
        if due is None:
            return
        simulator.clock.set(max(due, simulator.clock.now()))
        await tracker.flush()
    raise AssertionError("the tracker kept deferring sends")


def thread_texts(api: SlackWebApi, operation: TrackedOperation) -> list[str]:
    assert operation.channel
    assert operation.card_ts
    return [m.text for m in api.thread(operation.channel, operation.card_ts)[1:]]


async def test_entries_queued_by_an_earlier_version_are_delivered_after_an_upgrade(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
) -> None:
    """Every kind of entry an earlier version left in Redis reaches Slack once, in order."""
    restore = await tracked_with_card(
        services,
        slack_client,
        OperationKind.RESTORE,
        "rst-legacy",
        status="COMPLETE",
        final=True,
        cloud_id=SANDBOX_CLOUD_ID,
        session_id="session-legacy",
    )
    final = {"what": "final", "status": "COMPLETE", "message": None, "report_url": REPORT}
    await put_legacy_entries(
        services,
        restore.key,
        [
            {"type": "hook"},
            {"type": "post", "to": "thread", **final},
            {"type": "post", "to": "notify", **final},
            {"type": "post", "to": "thread", "what": "report", "report_url": REPORT},
        ],
    )
    backup = await tracked_with_card(
        services,
        slack_client,
        OperationKind.BACKUP,
        "bkp-acme-jira-complete",
        status="COMPLETE",
        final=True,
        policy_id=ACME_JIRA_POLICY,
    )
    reminder = {"type": "post", "what": "reminder", "expiry": EXPIRY.isoformat()}
    await put_legacy_entries(
        services, backup.key, [{**reminder, "to": "thread"}, {**reminder, "to": "notify"}]
    )
    running = simulator.world.add_backup(ACME_JIRA_POLICY, status=BackupStatus.IN_PROGRESS)
    adopted = await services.operations.register(
        OperationKind.BACKUP,
        running.backup_id,
        cloud_id=ACME_CLOUD_ID,
        product="JIRA",
        status="IN_PROGRESS",
        adopted=True,
        policy_id=ACME_JIRA_POLICY,
    )
    await put_legacy_entries(services, adopted.key, [{"type": "announce"}])
    nudge = {
        "type": "post",
        "to": "notify",
        "what": "nudge",
        "policy_id": "pol-legacy",
        "product": "JIRA",
        "cloud_id": ACME_CLOUD_ID,
        "last_complete": "2026-10-20T09:00:00+00:00",
    }
    await put_legacy_entries(services, "policy:pol-legacy", [nudge])
    hooks = RecordingHooks(fake_slack)
    tracker = make_tracker(services, slack_client, restore=hooks)

    await tracker.poll_once()
    await send_what_is_due(simulator, tracker)

    assert [call[0] for call in hooks.calls if call[0] != "card_for"] == ["finished"]
    texts = thread_texts(fake_slack, restore)
    assert len(texts) == 2
    assert texts[0] == "Restore rst-legacy of Jira on acme-sandbox finished Report: " + REPORT
    assert texts[1].startswith("Post-restore report for")
    reminder_text = "Backup bkp-acme-jira-complete of Jira on acme expires in about"
    (reminded,) = thread_texts(fake_slack, backup)
    assert reminded.startswith(reminder_text)
    notified = [m.text for m in fake_slack.messages(NOTIFY_CHANNEL)]
    assert notified.count(texts[0]) == 1
    assert sum(text.startswith(reminder_text) for text in notified) == 1
    cards = [m for m in fake_slack.messages(NOTIFY_CHANNEL) if m.thread_ts is None]
    assert sum(running.backup_id in str(m.blocks) for m in cards) == 1
    nudges = [m for m in fake_slack.messages(NOTIFY_CHANNEL) if "pol-legacy" in str(m.blocks)]
    assert len(nudges) == 1
    announced = await services.operations.get(OperationKind.BACKUP, running.backup_id)
    assert announced is not None
    assert announced.channel == NOTIFY_CHANNEL
    assert announced.card_ts
    assert await services.operations.outboxes.pending_owners() == []


async def test_an_unreadable_entry_is_set_aside_once_and_blocks_nothing(
    services: Services,
    simulator: RunningSimulator,
    fake_slack: SlackWebApi,
    slack_client: AsyncWebClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entries nobody can read are logged once and kept aside; those around them still go."""
    first = await tracked_with_card(
        services, slack_client, OperationKind.EXPORT, "exp-one", status="COMPLETE", final=True
    )
    second = await tracked_with_card(
        services, slack_client, OperationKind.EXPORT, "exp-two", status="FAILED", final=True
    )
    final = {"type": "post", "to": "thread", "what": "final", "message": None, "report_url": None}
    await put_legacy_entries(
        services,
        first.key,
        [
            {"type": "carrier-pigeon", "to": "thread"},
            {**final, "status": "COMPLETE"},
            "{not json",
        ],
    )
    await put_legacy_entries(services, second.key, [{**final, "status": "FAILED"}])
    tracker = make_tracker(services, slack_client)

    with caplog.at_level(logging.ERROR, logger="bot"):
        for _ in range(3):
            simulator.clock.advance(30)
            stats = await tracker.poll_once()

    assert stats.errors == 0
    assert thread_texts(fake_slack, first) == ["Export exp-one of Jira on acme finished"]
    assert thread_texts(fake_slack, second) == ["Export exp-two of Jira on acme failed"]
    set_aside = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(set_aside) == 2
    kept = await services.operations.outboxes.set_aside_entries()
    assert sorted(kept) == [f"{first.key} e:0000000001", f"{first.key} e:0000000003"]
    assert kept[f"{first.key} e:0000000003"]["entry"] == "{not json"
    assert "carrier-pigeon" in kept[f"{first.key} e:0000000001"]["reason"]
    assert await services.operations.outboxes.pending_owners() == []
