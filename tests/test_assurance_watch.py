"""The freshness watch, the size alert and the daily digest: each said once across replicas.

Three bots share one Redis, the simulator and the fake Slack; their trackers poll as their
loops would while the test moves the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from bot.atlassian.models import BackupStatus
from bot.localslack.driver import SlackResponse
from bot.simulator.seed import ACME_JIRA_POLICY
from bot.tracking import Tracker
from tests.fixtures.bot_harness import CHANNEL, NOTIFY_CHANNEL, BotHarness, HarnessFactory
from tests.fixtures.tracking import wired_tracker


async def three_bots(make: HarnessFactory, **settings: object) -> list[tuple[BotHarness, Tracker]]:
    bots = []
    for index in range(3):
        harness = await make(bot_notify_channel=NOTIFY_CHANNEL, **settings)
        bots.append((harness, wired_tracker(harness, f"bot-{index}")))
    return bots


async def poll_for(
    bots: Sequence[tuple[BotHarness, Tracker]], span: timedelta, step: timedelta
) -> None:
    clock = bots[0][0].simulator.clock
    end = clock.now() + span
    while clock.now() < end:
        clock.advance(step.total_seconds())
        for _, tracker in bots:
            await tracker.poll_once()


def said(harness: BotHarness, needle: str, policy: str = ACME_JIRA_POLICY) -> list[str]:
    return [
        m.text
        for m in harness.slack.messages(NOTIFY_CHANNEL)
        if needle in m.text and policy in m.text
    ]


def answer_lines(harness: BotHarness, response: SlackResponse) -> list[str]:
    """Each line of the sections the bot answered with privately."""
    return [
        line
        for post in harness.replies(response)
        for block in post.blocks
        for line in block["text"]["text"].split("\n")
    ]


async def test_a_freshness_breach_and_its_end_are_announced_once_each(
    make_bot_harness: HarnessFactory,
) -> None:
    """A fresh backup ages past 8 days (alert), expires with nothing else restorable (red
    alert), and a new backup covers the policy again: three messages, each once."""
    bots = await three_bots(make_bot_harness)
    first = bots[0][0]
    await first.slash(f"run {ACME_JIRA_POLICY}")
    await poll_for(bots, timedelta(days=7, hours=12), timedelta(hours=3))
    assert said(first, "no complete backup from the last") == []

    await poll_for(bots, timedelta(days=2), timedelta(hours=1))
    stale = said(first, "no complete backup from the last 8 days")
    assert len(stale) == 1, stale
    assert f"/backup schedule {ACME_JIRA_POLICY} weekly" in stale[0]

    await poll_for(bots, timedelta(days=6), timedelta(hours=2))
    red = said(first, "no restorable backup")
    assert len(red) == 1, red

    answer = await first.slash(f"run {ACME_JIRA_POLICY}")
    assert answer.status == 200
    await poll_for(bots, timedelta(days=1), timedelta(hours=1))
    covered = said(first, "is covered again by")
    assert len(covered) == 1, covered
    newest = max(
        (b for b in first.simulator.world.backups.values() if b.policy_id == ACME_JIRA_POLICY),
        key=lambda b: b.created_at,
    )
    assert newest.backup_id in covered[0]
    assert len(said(first, "no complete backup from the last 8 days")) == 1
    assert len(said(first, "no restorable backup")) == 1


async def test_a_backup_that_shrank_alerts_naming_both_sizes_and_a_normal_one_does_not(
    make_bot_harness: HarnessFactory,
) -> None:
    """The next backup holds as much as the earlier ones: silence. The one after holds a
    fifth of that: one alert with its size and the median of the earlier ones."""
    bots = await three_bots(make_bot_harness)
    first = bots[0][0]
    await first.slash(f"run {ACME_JIRA_POLICY}")
    await poll_for(bots, timedelta(days=7, hours=2), timedelta(hours=2))
    assert said(first, "less than the") == []

    world = first.simulator.world
    earlier = sorted(
        round(b.data_size_gb + b.attachments_size_gb, 2)
        for b in world.backups.values()
        if b.policy_id == ACME_JIRA_POLICY
    )
    world.faults.end_next_backup(BackupStatus.COMPLETE, data_size_gb=0.5)
    await first.slash(f"run {ACME_JIRA_POLICY}")
    await poll_for(bots, timedelta(hours=3), timedelta(minutes=30))

    alerts = said(first, "less than the")
    assert len(alerts) == 1, alerts
    median = (
        earlier[len(earlier) // 2]
        if len(earlier) % 2
        else sum(earlier[len(earlier) // 2 - 1 : len(earlier) // 2 + 1]) / 2
    )
    assert "0.50 GB" in alerts[0]
    assert f"{median:.2f} GB" in alerts[0]


async def test_the_daily_digest_posts_once_a_day_with_three_bots(
    make_bot_harness: HarnessFactory,
) -> None:
    """BOT_DIGEST_AT=07:00, from 09:00 on day one to 09:00 on day four: one digest a day,
    day two's at 07:00 and not at 06:30."""
    bots = await three_bots(make_bot_harness, bot_digest_at="07:00")
    first = bots[0][0]
    clock = first.simulator.clock
    start = clock.now()
    await poll_for(bots, timedelta(hours=21, minutes=30), timedelta(minutes=30))
    assert len(digests(first)) == 1
    await poll_for(bots, timedelta(minutes=30), timedelta(minutes=30))
    assert len(digests(first)) == 2
    await poll_for(bots, start + timedelta(days=3) - clock.now(), timedelta(minutes=30))

    days = [(start + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(4)]
    assert [next(d for d in days if d in m) for m in digests(first)] == days
    assert "pol-acme-jira" in str(first.slack.messages(NOTIFY_CHANNEL)[-1].blocks)


def digests(harness: BotHarness) -> list[str]:
    return [
        m.text for m in harness.slack.messages(NOTIFY_CHANNEL) if "Daily backup digest" in m.text
    ]


@pytest.mark.parametrize("api_version", ["v1", "v2"])
async def test_status_answers_could_we_restore_today_in_one_message(
    make_bot_harness: HarnessFactory,
) -> None:
    """One line per site and product with last complete backup, loss window and next run."""
    harness = await make_bot_harness()
    answer = await harness.slash("status")
    text = harness.reply_text(answer)
    assert "Could we restore today?" in text
    assert "pol-acme-jira" in text
    assert "restoring now loses" in text
    assert "last complete" in text
    assert CHANNEL not in text


@pytest.mark.parametrize(
    ("api_version", "next_step"),
    [
        ("v1", f"/backup schedule {ACME_JIRA_POLICY} weekly"),
        ("v2", f"Check Atlassian's schedule with `/backup policy show {ACME_JIRA_POLICY}`"),
    ],
)
async def test_the_freshness_alert_says_what_to_do_under_each_api_version(
    make_bot_harness: HarnessFactory, next_step: str
) -> None:
    """The demo's 8-day-old backups: on v1 the bot offers its schedule, on v2 it points at
    Atlassian's (the idle-policy nudge is this alert now: one rule, one message)."""
    harness = await make_bot_harness(bot_notify_channel=NOTIFY_CHANNEL)
    await wired_tracker(harness, "bot-0").poll_once()
    alerts = said(harness, "no complete backup from the last 8 days")
    assert len(alerts) == 1, alerts
    assert next_step in alerts[0]


async def test_status_names_the_next_scheduled_run(
    make_bot_harness: HarnessFactory,
) -> None:
    """With a schedule set, the Jira line gives the data a restore now would lose and the
    schedule's next slot."""
    harness = await make_bot_harness()
    await harness.slash(f"schedule {ACME_JIRA_POLICY} weekly day=wed at=05:00")
    text = harness.reply_text(await harness.slash("status"))
    jira = next(line for line in text.splitlines() if ACME_JIRA_POLICY in line)
    assert "restoring now loses 8 days" in jira
    assert "next scheduled run" in jira
    assert "2026-11-04 05:00 UTC" in jira


async def test_status_never_calls_an_expired_incomplete_backup_complete(
    make_bot_harness: HarnessFactory,
) -> None:
    """Once every backup has expired, Atlassian reports each only as EXPIRED, which hides
    whether it was complete: the Confluence line, whose newest was INCOMPLETE, says no
    complete backup is left instead of calling that one complete."""
    harness = await make_bot_harness()
    harness.simulator.clock.advance(timedelta(days=20).total_seconds())
    text = harness.reply_text(await harness.slash("status"))
    confluence = next(line for line in text.splitlines() if "pol-acme-confluence" in line)
    assert "last complete" not in confluence
    assert "no complete backup left" in confluence
    assert "nothing to restore" in confluence


async def test_status_says_when_the_loss_window_comes_from_an_incomplete_backup(
    make_bot_harness: HarnessFactory,
) -> None:
    """The demo's newest restorable Confluence backup is INCOMPLETE: the 2 days a restore
    would lose are measured from it, and the line adds what it lacks, so the answer is
    not read as "everything but the last 2 days"."""
    harness = await make_bot_harness()
    lines = answer_lines(harness, await harness.slash("status"))
    [confluence] = [line for line in lines if "pol-acme-confluence" in line]
    assert "restoring now loses 2 days, and what that incomplete backup lacks" in confluence
    [jira] = [line for line in lines if ACME_JIRA_POLICY in line]
    assert "incomplete" not in jira
