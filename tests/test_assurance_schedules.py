"""Schedules the bot runs: exactly once per slot across replicas, refusals and retries said.

Three bots share one Redis, one simulator (on a manual clock) and one fake Slack, like three
replicas. Each test moves the clock and steps every bot's scheduler and tracker, as their
background loops would.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.assurance.scheduler import LEASE_TTL, Scheduler
from bot.assurance.store import ScheduleAction
from bot.atlassian.models import BackupStatus
from bot.simulator.seed import ACME_CONFLUENCE_POLICY, ACME_JIRA_POLICY
from bot.slack.assurance import scheduler_for
from bot.tracking import Tracker
from tests.fixtures.bot_harness import (
    ADMIN,
    CHANNEL,
    NOTIFY_CHANNEL,
    VIEWER,
    BotHarness,
    HarnessFactory,
)
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.tracking import wired_tracker
from tests.test_assurance_watch import answer_lines

STEP = timedelta(hours=1)


class Replica:
    """One bot process: its scheduler and its tracker, stepped as its loops would."""

    def __init__(self, harness: BotHarness, name: str) -> None:
        self.harness = harness
        self.scheduler: Scheduler = scheduler_for(
            harness.services, harness.bot.gateway, process_id=name
        )
        self.tracker: Tracker = wired_tracker(harness, name)

    async def step(self) -> int:
        started = await self.scheduler.step()
        await self.tracker.poll_once()
        return started


async def replicas(
    make: HarnessFactory, count: int = 3, *, last_through: TcpProxy | None = None
) -> list[Replica]:
    """``count`` bots; the last reaches Redis through ``last_through`` when given."""
    made = []
    for index in range(count):
        url = (
            f"redis://127.0.0.1:{last_through.port}/0"
            if last_through and index == count - 1
            else None
        )
        harness = await make(bot_notify_channel=NOTIFY_CHANNEL, redis_url=url)
        made.append(Replica(harness, f"bot-{index}"))
    return made


async def run_for(bots: Sequence[Replica], span: timedelta, step: timedelta = STEP) -> int:
    """Move the clock by ``step`` until ``span`` has passed, stepping every bot each time."""
    clock = bots[0].harness.simulator.clock
    end = clock.now() + span
    started = 0
    while clock.now() < end:
        clock.advance(step.total_seconds())
        for bot in bots:
            started += await bot.step()
    return started


def policy_backups_since(harness: BotHarness, since: datetime) -> list[str]:
    world = harness.simulator.world
    return sorted(
        b.backup_id
        for b in world.backups.values()
        if b.policy_id == ACME_JIRA_POLICY and b.created_at >= since
    )


def texts(harness: BotHarness, channel: str, needle: str) -> list[str]:
    return [m.text for m in harness.slack.messages(channel) if needle in m.text]


async def test_weekly_schedule_runs_one_backup_per_week_across_three_bots_one_killed(
    make_bot_harness: HarnessFactory, redis_server: RedisServer
) -> None:
    """Five weeks of a weekly schedule: five backups, five cards, though three bots step it
    and one dies while its start call is in flight, after Atlassian started the backup."""
    proxy = TcpProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    bots = await replicas(make_bot_harness, last_through=proxy)
    first = bots[0].harness
    start = first.simulator.clock.now()
    answer = await first.slash(f"schedule {ACME_JIRA_POLICY} weekly day=mon at=02:00")
    assert "Schedule set" in str(first.slack.messages(CHANNEL)[-1].blocks), answer.text

    assert await run_for(bots, timedelta(days=14)) == 2

    # Week three: bot-2 alone reaches the slot; Atlassian starts the backup but its answer
    # is held back, and bot-2 dies waiting for it.
    world = first.simulator.world
    clock = first.simulator.clock
    known = set(world.backups)
    world.faults.queue(method="POST", path_contains="backups", delay_after_commit_s=30)
    while True:
        clock.advance(STEP.total_seconds())
        doomed = asyncio.create_task(bots[2].scheduler.step())
        # A step that returns quickly started nothing (the rules made it wait); one that
        # hangs is waiting for the held-back answer to its start.
        done, _ = await asyncio.wait({doomed}, timeout=5)
        if not done:
            break
    assert set(world.backups) != known
    # Killed: its Redis goes away with it, so it gives back nothing and its lease must lapse.
    await proxy.cut()
    doomed.cancel()
    await asyncio.gather(doomed, return_exceptions=True)
    lease = first.services.schedules.lease_key(ACME_JIRA_POLICY)
    assert str(await first.services.redis.get(lease)).startswith("bot-2|")
    run = await first.services.schedules.run_of(ACME_JIRA_POLICY)
    assert run is not None
    assert run.intent_at is not None
    assert run.backup_id is None
    survivors = bots[:2]
    clock.advance(LEASE_TTL.total_seconds())

    await run_for(survivors, timedelta(days=21))

    made = policy_backups_since(first, start)
    assert len(made) == 5, made
    cards = [
        m for m in first.slack.messages(CHANNEL) if m.thread_ts is None and "Backup of" in m.text
    ]
    assert sorted(text for m in cards for text in made if text in str(m.blocks)) == made
    # Each card was followed to its end: its thread has the backup's final state.
    for card in cards:
        finals = [m.text for m in first.slack.thread(CHANNEL, card.ts)[1:]]
        assert any(text.endswith("finished") for text in finals), finals
    await proxy.stop()


async def test_a_refused_slot_is_announced_once_and_runs_when_the_rules_allow(
    make_bot_harness: HarnessFactory,
) -> None:
    """A backup run by hand two days before the slot makes the slot wait: said once, with
    when the bot will try, and the backup runs at that moment, once."""
    bots = await replicas(make_bot_harness)
    first = bots[0].harness
    clock = first.simulator.clock
    await first.slash(f"run {ACME_JIRA_POLICY}")
    manual = clock.now()
    await first.slash(f"schedule {ACME_JIRA_POLICY} weekly day=tue at=06:00 tz=Europe/Berlin")

    await run_for(bots, timedelta(days=3))
    refusals = texts(first, CHANNEL, "cannot start yet")
    assert len(refusals) == 1, refusals
    assert "7 days" in refusals[0]
    assert policy_backups_since(first, manual + timedelta(minutes=1)) == []

    await run_for(bots, timedelta(days=5))
    ran = policy_backups_since(first, manual + timedelta(minutes=1))
    assert len(ran) == 1, ran
    taken = first.simulator.world.backups[ran[0]].created_at
    allowed = manual + timedelta(days=7)
    assert allowed <= taken <= allowed + STEP + timedelta(minutes=2)
    assert len(texts(first, CHANNEL, "cannot start yet")) == 1


async def test_a_failed_backup_is_retried_with_backoff_each_try_announced_in_its_thread(
    make_bot_harness: HarnessFactory,
) -> None:
    """FAILED, then INCOMPLETE, then COMPLETE: two retries, each said in the thread of the
    card of the backup that did not complete; nothing more is tried for that slot."""
    bots = await replicas(make_bot_harness)
    first = bots[0].harness
    faults = first.simulator.world.faults
    faults.end_next_backup(BackupStatus.FAILED)
    faults.end_next_backup(BackupStatus.INCOMPLETE)
    start = first.simulator.clock.now()
    await first.slash(f"schedule {ACME_JIRA_POLICY} weekly day=mon")

    await run_for(bots, timedelta(days=2), step=timedelta(minutes=10))

    made = policy_backups_since(first, start)
    assert len(made) == 3, made
    world = first.simulator.world
    made.sort(key=lambda b: world.backups[b].created_at)
    ends = [world.backups[b].status_at(first.simulator.clock.now()) for b in made]
    assert ends == [BackupStatus.FAILED, BackupStatus.INCOMPLETE, BackupStatus.COMPLETE]
    gaps = [
        world.backups[later].created_at - world.backups[earlier].created_at
        for earlier, later in itertools.pairwise(made)
    ]
    assert gaps[0] >= timedelta(minutes=30), gaps
    assert gaps[1] >= timedelta(minutes=60), gaps
    for backup_id, attempt in ((made[0], 2), (made[1], 3)):
        operation = await first.services.operations.get_by_key(f"backup:{backup_id}")
        assert operation is not None
        assert operation.card_ts
        thread = first.slack.thread(CHANNEL, operation.card_ts)
        retries = [m.text for m in thread if "runs it again" in m.text]
        assert len(retries) == 1, retries
        assert f"try {attempt} of 3" in retries[0]


async def test_a_slot_gives_up_after_its_tries_and_says_so_once(
    make_bot_harness: HarnessFactory,
) -> None:
    """Three failures in a row: the third card's thread says the bot waits for the next slot."""
    bots = await replicas(make_bot_harness)
    first = bots[0].harness
    for _ in range(3):
        first.simulator.world.faults.end_next_backup(BackupStatus.FAILED)
    start = first.simulator.clock.now()
    await first.slash(f"schedule {ACME_JIRA_POLICY} weekly day=mon")

    await run_for(bots, timedelta(days=3), step=timedelta(minutes=15))

    made = policy_backups_since(first, start)
    assert len(made) == 3, made
    gave_up = [m.text for m in first.slack.messages(CHANNEL) if "after 3 tries" in m.text]
    assert len(gave_up) == 1


async def test_schedule_changes_by_a_viewer_are_refused_and_audited(
    make_bot_harness: HarnessFactory,
) -> None:
    """A viewer may list schedules but not set one; a refusal while there is a schedule is on
    its trail beside the admin's changes, with who and when; one before is audited globally."""
    harness = await make_bot_harness()
    answer = await harness.slash(f"schedule {ACME_JIRA_POLICY} weekly", user=VIEWER)
    assert "Only bot admins" in harness.reply_text(answer)
    assert await harness.services.schedules.get(ACME_JIRA_POLICY) is None

    await harness.slash(f"schedule {ACME_JIRA_POLICY} daily at=04:15", user=ADMIN)
    listed = await harness.slash("schedules", user=VIEWER)
    assert "daily at 04:15 UTC" in harness.reply_text(listed)
    await harness.slash(f"schedule {ACME_JIRA_POLICY} off", user=VIEWER)
    await harness.slash(f"schedule {ACME_JIRA_POLICY} off", user=ADMIN)

    trail = await harness.services.schedules.audit_trail(ACME_JIRA_POLICY)
    assert [(e.by, e.action, e.detail) for e in trail] == [
        (ADMIN, ScheduleAction.SET, "daily at=04:15"),
        (VIEWER, ScheduleAction.REFUSED, "off"),
        (ADMIN, ScheduleAction.OFF, "schedule off"),
    ]
    assert all(e.at == harness.simulator.clock.now() for e in trail)
    assert await harness.services.schedules.get(ACME_JIRA_POLICY) is None
    stream = harness.services.sessions.audit_stream_key
    [(_id, before)] = await harness.services.redis.xrange(stream)
    assert (before["policy"], before["actor"], before["outcome"], before["detail"]) == (
        ACME_JIRA_POLICY,
        VIEWER,
        "refused",
        "weekly",
    )


@pytest.mark.parametrize("api_version", ["v2"])
async def test_under_v2_the_bot_shows_atlassians_schedule_and_refuses_its_own(
    make_bot_harness: HarnessFactory,
) -> None:
    """Atlassian schedules v2 backups: adding the bot's schedule is refused, saying why."""
    harness = await make_bot_harness()
    answer = await harness.slash(f"schedule {ACME_JIRA_POLICY} weekly")
    said = harness.reply_text(answer)
    assert "Atlassian runs each policy's schedule itself" in said
    assert await harness.services.schedules.get(ACME_JIRA_POLICY) is None
    listed = harness.reply_text(await harness.slash("schedules"))
    assert "Atlassian schedules backups itself" in listed
    assert "weekly from" in listed


@pytest.mark.parametrize("api_version", ["v2"])
async def test_under_v2_an_inactive_policy_is_not_listed_as_running_on_its_schedule(
    make_bot_harness: HarnessFactory,
) -> None:
    """The demo's Confluence policy is saved inactive: Atlassian runs nothing for it, so its
    line says so and how to start it, while the active Jira policy shows its next run."""
    harness = await make_bot_harness()
    listed = answer_lines(harness, await harness.slash("schedules"))
    [confluence] = [line for line in listed if ACME_CONFLUENCE_POLICY in line]
    assert "inactive" in confluence
    assert f"/backup policy activate {ACME_CONFLUENCE_POLICY}" in confluence
    assert "Atlassian runs it" not in confluence
    [jira] = [line for line in listed if ACME_JIRA_POLICY in line]
    assert "Atlassian runs it weekly from" in jira
    assert ", next " in jira


async def test_slots_follow_the_schedules_time_zone_across_daylight_saving() -> None:
    """06:00 Europe/Berlin is 05:00 UTC in winter and 04:00 UTC in summer."""
    from datetime import time

    from bot.assurance.schedules import BackupSchedule, Cadence, Weekday

    schedule = BackupSchedule(
        policy_id="pol-1",
        cadence=Cadence.WEEKLY,
        at=time(6, 0),
        tz="Europe/Berlin",
        channel="C1",
        set_by="U1",
        set_at=datetime(2026, 3, 1, tzinfo=UTC),
        day=Weekday.MON,
    )
    winter = schedule.next_slot(datetime(2026, 3, 20, tzinfo=UTC))
    summer = schedule.next_slot(winter)
    assert winter == datetime(2026, 3, 23, 5, 0, tzinfo=UTC)
    assert summer == datetime(2026, 3, 30, 4, 0, tzinfo=UTC)
    assert schedule.latest_slot(summer + timedelta(hours=1)) == summer
    assert schedule.latest_slot(datetime(2026, 3, 1, 12, tzinfo=UTC)) is None


async def test_a_start_atlassian_refuses_is_said_once_per_slot_and_tried_again(
    make_bot_harness: HarnessFactory,
) -> None:
    """Atlassian answers the first three starts with a conflict: one message for the slot,
    then the backup runs when Atlassian takes it."""
    bots = await replicas(make_bot_harness)
    first = bots[0].harness
    start = first.simulator.clock.now()
    first.simulator.world.faults.queue(status=409, count=3, method="POST", path_contains="backups")
    await first.slash(f"schedule {ACME_JIRA_POLICY} weekly day=mon")

    await run_for(bots, timedelta(days=1), step=timedelta(minutes=10))

    refusals = texts(first, CHANNEL, "cannot start yet")
    assert len(refusals) == 1, refusals
    assert len(policy_backups_since(first, start)) == 1


async def schedule_keys(harness: BotHarness) -> list[str]:
    return sorted([str(k) async for k in harness.services.redis.scan_iter(match="*schedule:*")])


async def test_a_refusal_for_a_policy_with_no_schedule_makes_no_key_and_is_audited_globally(
    make_bot_harness: HarnessFactory,
) -> None:
    """Any id a viewer types goes to the capped global audit stream, fields bounded; no key
    of a schedule is made for it, and an id no key can hold is refused in words."""
    harness = await make_bot_harness()
    for index in range(5):
        answer = await harness.slash(f"schedule pol-made-up-{index} weekly", user=VIEWER)
        assert "Only bot admins" in harness.reply_text(answer)
    await harness.slash(f"schedule {ACME_JIRA_POLICY} daily at=04:15", user=VIEWER)
    assert await schedule_keys(harness) == []

    stream = harness.services.sessions.audit_stream_key
    entries = [fields for _id, fields in await harness.services.redis.xrange(stream)]
    assert [(e["policy"], e["actor"], e["outcome"], e["detail"]) for e in entries] == [
        *((f"pol-made-up-{i}", VIEWER, "refused", "weekly") for i in range(5)),
        (ACME_JIRA_POLICY, VIEWER, "refused", "daily at=04:15"),
    ]

    answer = await harness.slash("schedule pol:acme:audit weekly", user=ADMIN)
    assert "is not a backup policy id the bot can schedule" in harness.reply_text(answer)
    assert await schedule_keys(harness) == []


async def test_refusals_never_push_an_admins_changes_out_of_a_schedules_trail(
    make_bot_harness: HarnessFactory,
) -> None:
    """More refusals than the trail holds: the admin's change stays, the refusals kept are
    capped on their own (the latest), and the trail reads in the order things happened."""
    from bot.assurance.store import AUDIT_KEPT

    harness = await make_bot_harness()
    await harness.slash(f"schedule {ACME_JIRA_POLICY} weekly day=tue", user=ADMIN)
    for index in range(AUDIT_KEPT + 10):
        await harness.slash(f"schedule {ACME_JIRA_POLICY} daily at=0{index % 10}:00", user=VIEWER)
    await harness.slash(f"schedule {ACME_JIRA_POLICY} off", user=ADMIN)

    trail = await harness.services.schedules.audit_trail(ACME_JIRA_POLICY)
    changes = [(e.by, e.action, e.detail) for e in trail if e.by == ADMIN]
    assert changes == [
        (ADMIN, ScheduleAction.SET, "weekly day=tue"),
        (ADMIN, ScheduleAction.OFF, "schedule off"),
    ]
    from bot.assurance.store import REFUSALS_KEPT

    refusals = [e for e in trail if e.action is ScheduleAction.REFUSED]
    assert len(refusals) == REFUSALS_KEPT
    assert refusals[-1].detail == f"daily at=0{(AUDIT_KEPT + 9) % 10}:00"
    assert trail[0].action is ScheduleAction.SET
    assert trail[-1].action is ScheduleAction.OFF
    assert [e.seq for e in trail] == sorted(e.seq for e in trail)


async def test_a_schedule_whose_policy_was_deleted_says_so_once_and_stops(
    make_bot_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Atlassian deletes the policy: the schedule's channel is told once, in words, what to
    do; the bot stops asking; the listing shows it stopped; `off` clears it."""
    bots = await replicas(make_bot_harness, count=2)
    first = bots[0].harness
    await first.slash(f"schedule {ACME_JIRA_POLICY} daily at=03:00")
    del first.simulator.world.policies[ACME_JIRA_POLICY]

    with caplog.at_level("WARNING", logger="bot.assurance.scheduler"):
        assert await run_for(bots, timedelta(days=3)) == 0
    warned = [r for r in caplog.records if r.name == "bot.assurance.scheduler"]
    assert len(warned) == 1, [r.getMessage() for r in warned]

    told = [m.text for m in first.slack.messages(CHANNEL) if "no longer has" in m.text]
    assert len(told) == 1, told
    assert "was deleted" in told[0]
    assert f"/backup schedule {ACME_JIRA_POLICY} off" in told[0]
    assert "Recreate the policy" in told[0]

    listed = answer_lines(first, await first.slash("schedules", user=VIEWER))
    [line] = [line for line in listed if ACME_JIRA_POLICY in line]
    assert "stopped, Atlassian no longer has this policy" in line
    assert "daily at 03:00 UTC" in line

    off = await first.slash(f"schedule {ACME_JIRA_POLICY} off")
    assert "Atlassian does not know" not in first.reply_text(off)
    assert await first.services.schedules.get(ACME_JIRA_POLICY) is None
    assert await first.services.schedules.gone([ACME_JIRA_POLICY]) == {}
