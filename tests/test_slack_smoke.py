"""End-to-end smoke: signed slash commands over HTTP reach the simulator and answer in Slack."""

from __future__ import annotations

import logging

import pytest

from bot.localslack.driver import Forgery
from tests.fixtures.bot_harness import ADMIN, CHANNEL, VIEWER, BotHarness, HarnessFactory


async def test_help_is_answered_in_the_ack(bot_harness: BotHarness) -> None:
    """`/backup help` is answered in the acknowledgement itself, listing the commands."""
    response = await bot_harness.slash("help")
    assert "/backup policy list" in response.text
    assert bot_harness.simulator.world.calls == []


async def test_policy_list_answers_privately_with_the_demo_policies(
    bot_harness: BotHarness,
) -> None:
    """`/backup policy list` answers through response_url with both demo policies."""
    response = await bot_harness.slash("policy list", user=VIEWER)
    text = bot_harness.reply_text(response)
    assert "pol-acme-jira" in text
    assert "pol-acme-confluence" in text
    assert all(post.response_type == "ephemeral" for post in bot_harness.replies(response))


async def test_forged_signature_is_refused_with_401(bot_harness: BotHarness) -> None:
    """A request signed with the wrong secret gets 401 and calls nothing."""
    response = await bot_harness.driver.forge(
        Forgery.WRONG_SECRET,
        command="/backup",
        text="run pol-acme-jira",
        user=ADMIN,
        channel=CHANNEL,
    )
    assert response.status == 401
    assert bot_harness.simulator.world.calls == []


async def test_backup_run_posts_a_card_and_registers_the_operation(bot_harness: BotHarness) -> None:
    """`/backup run` posts a status card in the channel and tracks the new backup in Redis."""
    await bot_harness.slash("run pol-acme-jira")
    cards = bot_harness.slack.messages(CHANNEL)
    assert len(cards) == 1
    assert "IN PROGRESS" in cards[0].text
    active = await bot_harness.services.operations.active()
    assert [op.policy_id for op in active] == ["pol-acme-jira"]
    assert active[0].card_ts == cards[0].ts


async def test_building_the_app_logs_no_warning_about_an_ignored_token(
    make_bot_harness: HarnessFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No start logs that a token "will be ignored", with SLACK_BOT_TOKEN set as `serve` has it.

    Bolt reads that variable itself even when given a client and ``authorize``.
    """
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    caplog.set_level(logging.WARNING)
    harness = await make_bot_harness()
    response = await harness.slash("help")
    assert response.status == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")] == []
