"""What the bot refuses and what it never does: forged requests, roles, channels, injection,
and answering Slack inside its 3-second deadline whatever Atlassian and Redis are doing.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.access import Role
from bot.atlassian.models import OperationStatus, Product, RestoreStatus
from bot.config import SiteDirectory
from bot.localslack.driver import Forgery, SlackResponse
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_CONFLUENCE_POLICY,
    ACME_JIRA_POLICY,
    ACME_STORAGE,
    CONFLUENCE_INCOMPLETE_BACKUP,
    JIRA_COMPLETE_BACKUP,
    SANDBOX_CLOUD_ID,
    STAGING_CLOUD_ID,
)
from bot.simulator.world import FailedCheckRecord
from bot.slack.commands import REGISTRY, parse_command
from tests.fixtures.bot_harness import (
    ADMIN,
    APPROVER,
    CHANNEL,
    VIEWER,
    BotHarness,
    HarnessFactory,
)
from tests.fixtures.simulator import SIMULATOR_OP_SECONDS

# Slack's deadline is 3 s; an ack that needs no I/O should take a small part of it.
ACK_BUDGET_SECONDS = 1.0

CHANGING_COMMANDS = [
    ("/backup", "storage create name=s region=us-east-1 prefix=p role=r tag=t site=acme"),
    ("/backup", "policy create jira site=acme-sandbox"),
    ("/backup", f"policy update {ACME_JIRA_POLICY} attachments=no"),
    ("/backup", f"policy activate {ACME_CONFLUENCE_POLICY}"),
    ("/backup", f"run {ACME_JIRA_POLICY}"),
    ("/backup", f"schedule {ACME_JIRA_POLICY} weekly"),
    ("/backup", f"export {JIRA_COMPLETE_BACKUP}"),
    ("/backup", f"import {JIRA_COMPLETE_BACKUP}"),
    ("/restore", f"start {JIRA_COMPLETE_BACKUP} to=acme-sandbox"),
    ("/restore", ""),
]

READ_ONLY_COMMANDS = [
    ("/backup", "whoami"),
    ("/backup", "sites"),
    ("/backup", "regions"),
    ("/backup", "storage list"),
    ("/backup", f"storage show {ACME_STORAGE}"),
    ("/backup", "policy list"),
    ("/backup", f"policy show {ACME_JIRA_POLICY}"),
    ("/backup", f"list {ACME_JIRA_POLICY}"),
    ("/backup", f"show {JIRA_COMPLETE_BACKUP}"),
    ("/backup", "exports"),
    ("/backup", "schedules"),
    ("/backup", "status"),
    ("/restore", "list"),
]

INJECTIONS = ("<!channel>", "<!here>", "<@U1>", "<https://evil.example|click>")


def ack_text(response: SlackResponse) -> str:
    body = response.json
    assert isinstance(body, dict), response.text
    return str(body["text"])


def _mrkdwn_strings(node: object) -> list[str]:
    """Every string Slack would read as mrkdwn: all but plain_text objects, which show as typed."""
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return []
        return [text for value in node.values() for text in _mrkdwn_strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in _mrkdwn_strings(item)]
    return [node] if isinstance(node, str) else []


def everything_the_bot_sent(harness: BotHarness, acks: list[SlackResponse]) -> str:
    """Every ack, private reply and Web API call the bot made, as mrkdwn Slack would read."""
    parts = [text for response in acks for text in _mrkdwn_strings(response.json)]
    parts.extend(text for call in harness.slack.calls for text in _mrkdwn_strings(call.args))
    return "\n".join(parts)


# -- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("forgery", list(Forgery))
async def test_a_request_failing_the_signature_check_gets_401_and_does_nothing(
    bot_harness: BotHarness, forgery: Forgery
) -> None:
    """Wrong secret, 6-minute-old timestamp, tampered body or no signature: 401, no work."""
    response = await bot_harness.driver.forge(
        forgery, command="/backup", text=f"run {ACME_JIRA_POLICY}", user=ADMIN, channel=CHANNEL
    )
    await bot_harness.settle()
    assert response.status == 401
    assert bot_harness.simulator.world.calls == []
    assert bot_harness.slack.calls == []
    assert await bot_harness.services.operations.active() == []


async def test_a_correctly_signed_request_is_accepted_beside_forged_ones(
    bot_harness: BotHarness,
) -> None:
    """The same command, correctly signed, is acknowledged and carried out."""
    for forgery in Forgery:
        await bot_harness.driver.forge(forgery, text="policy list", user=ADMIN, channel=CHANNEL)
    response = await bot_harness.slash("policy list")
    assert response.status == 200
    assert len(bot_harness.replies(response)) == 1
    assert len(bot_harness.slack.calls) == 1


# -- who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize("user", [VIEWER, APPROVER])
@pytest.mark.parametrize(("command", "text"), CHANGING_COMMANDS)
async def test_a_non_admins_changing_command_is_refused_without_calling_anything(
    bot_harness: BotHarness, user: str, command: str, text: str
) -> None:
    """A viewer or approver who tries to change something is told who grants access; no calls."""
    response = await bot_harness.slash(text, command=command, user=user)
    refusal = ack_text(response)
    assert refusal.startswith("Only bot admins may run commands that change things.")
    assert f"Ask an admin (<@{ADMIN}>)" in refusal
    assert "BOT_ADMINS" in refusal
    assert bot_harness.simulator.world.calls == []
    assert bot_harness.slack.calls == []


def test_the_refusal_cases_cover_every_command_that_needs_an_admin() -> None:
    """A command declared for admins cannot be added without being tried as a non-admin here."""
    sites = SiteDirectory({"acme": ACME_CLOUD_ID, "acme-sandbox": SANDBOX_CLOUD_ID})
    tried = {type(parse_command(c, t, sites)) for c, t in CHANGING_COMMANDS}
    assert tried == {spec.command for spec in REGISTRY if spec.role is Role.ADMIN}


@pytest.mark.parametrize(("command", "text"), READ_ONLY_COMMANDS)
async def test_a_viewer_may_run_every_read_only_command(
    bot_harness: BotHarness, command: str, text: str
) -> None:
    """Read-only commands answer a viewer privately, without a refusal or an error."""
    response = await bot_harness.slash(text, command=command, user=VIEWER)
    assert response.text == ""
    (reply,) = bot_harness.replies(response)
    assert reply.response_type == "ephemeral"
    assert ":warning:" not in str(reply.blocks)


async def test_with_no_admins_configured_the_refusal_names_the_operator(
    make_bot_harness: HarnessFactory,
) -> None:
    """With BOT_ADMINS empty, a changing command is refused and the operator is named."""
    harness = await make_bot_harness(bot_admins="", bot_approvers=APPROVER)
    refusal = ack_text(await harness.slash(f"run {ACME_JIRA_POLICY}", user=ADMIN))
    assert "Nobody is an admin yet: the bot's operator must set BOT_ADMINS." in refusal
    assert harness.simulator.world.calls == []


@pytest.mark.parametrize(
    ("command", "text"), [("/backup", "help"), ("/backup", "policy list"), *CHANGING_COMMANDS[:4]]
)
async def test_outside_the_configured_channels_every_command_is_refused(
    make_bot_harness: HarnessFactory, command: str, text: str
) -> None:
    """With BOT_CHANNELS set, a command elsewhere is refused, names the channel, calls nothing."""
    harness = await make_bot_harness(bot_channels=CHANNEL)
    response = await harness.slash(text, command=command, user=ADMIN, channel="COTHER")
    assert ack_text(response) == f"This bot only answers in <#{CHANNEL}>; run the command there."
    assert harness.simulator.world.calls == []
    assert harness.slack.calls == []


async def test_inside_the_configured_channel_commands_work(
    make_bot_harness: HarnessFactory,
) -> None:
    """With BOT_CHANNELS set, the same commands work in that channel."""
    harness = await make_bot_harness(bot_channels=CHANNEL)
    await harness.slash(f"run {ACME_JIRA_POLICY}", user=ADMIN, channel=CHANNEL)
    assert len(harness.slack.messages(CHANNEL)) == 1


# -- mrkdwn injection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("/backup", "show <!channel>"),
        ("/backup", "&lt;!here&gt;"),
        ("/backup", "storage list site=<@U1>"),
        ("/backup", "help <!channel>"),
        ("/backup", "policy update pol-1 storage=<https://evil.example|click>"),
        ("/restore", "start bkp-1 to=<!here>"),
        ("/restore", "report <@U1>"),
    ],
)
async def test_user_text_echoed_in_an_error_is_escaped(
    bot_harness: BotHarness, command: str, text: str
) -> None:
    """Mentions and links typed as arguments come back escaped, never as live mrkdwn."""
    response = await bot_harness.slash(text, command=command)
    shown = response.text + str(bot_harness.slack.calls)
    assert "&lt;" in shown
    for injection in INJECTIONS:
        assert injection not in shown


async def test_api_strings_are_escaped_everywhere_the_bot_shows_them(
    bot_harness: BotHarness,
) -> None:
    """Names and messages from Atlassian that hold mentions or links are escaped in every reply."""
    world = bot_harness.simulator.world
    world.storages[ACME_STORAGE].storage_name = "<!channel> storage"
    world.storages[ACME_STORAGE].principal_tag = "<@U1>"
    world.backups[CONFLUENCE_INCOMPLETE_BACKUP].status_message = "Lost <!here> and <@U1>."

    acks = [
        await bot_harness.slash("storage list"),
        await bot_harness.slash(f"storage show {ACME_STORAGE}"),
        await bot_harness.slash(f"show {CONFLUENCE_INCOMPLETE_BACKUP}"),
        await bot_harness.slash(f"list {ACME_CONFLUENCE_POLICY}"),
    ]

    world.faults.fail_rate = 1.0
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    (export,) = world.exports.values()
    export.status_message = "Storage <!channel> refused <https://evil.example|this>."
    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    acks.append(await bot_harness.slash(f"export-status {export.transfer_id}"))
    world.faults.fail_rate = 0.0

    incomplete = await bot_harness.services.atlassian.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=CONFLUENCE_INCOMPLETE_BACKUP,
        product=Product.CONFLUENCE,
        include_attachments=True,
        include_users_and_groups=False,
    )
    world.restores[incomplete.restore_id].outcome_message = "Missing <!channel> spaces."
    refused = await bot_harness.services.atlassian.create_restore(
        dest_cloud_id=STAGING_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )
    assert refused.status == RestoreStatus.VALIDATION_FAILED
    record = world.restores[refused.restore_id]
    record.failed_checks = [
        # At the start: the card shows what Atlassian found, its message's first clause.
        FailedCheckRecord(check.check, check.code, f"<@U1> {check.message}")
        for check in record.failed_checks
    ]
    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    for ref in (incomplete.restore_id, refused.restore_id):
        acks.append(await bot_harness.slash(f"show {ref}", command="/restore"))

    sent = everything_the_bot_sent(bot_harness, acks)
    assert "&lt;!channel&gt; storage" in sent
    assert "Lost &lt;!here&gt; and &lt;@U1&gt;." in sent
    assert "Storage &lt;!channel&gt; refused &lt;https://evil.example|this&gt;." in sent
    assert "Missing &lt;!channel&gt; spaces." in sent
    found = record.failed_checks[0].message.removeprefix("<@U1> ").split(";")[0]
    assert f"Atlassian found: &lt;@U1&gt; {found}." in sent
    for injection in INJECTIONS:
        assert injection not in sent
    assert bot_harness.slack.calls
    assert all(call.ok for call in bot_harness.slack.calls)


# -- acknowledgement deadline -------------------------------------------------------------

EVERY_COMMAND = [
    ("/backup", "help"),
    ("/backup", "frobnicate"),
    *READ_ONLY_COMMANDS,
    ("/backup", "export-status exp-x site=acme"),
    ("/backup", "import-status imp-x site=acme"),
    ("/restore", "show rst-x"),
    ("/restore", "report rst-x"),
    *CHANGING_COMMANDS,
]


async def _send_all(harness: BotHarness) -> list[SlackResponse]:
    return list(
        await asyncio.gather(
            *(
                harness.driver.slash(command=command, text=text, user=ADMIN, channel=CHANNEL)
                for command, text in EVERY_COMMAND
            )
        )
    )


async def test_every_command_is_acknowledged_at_once_while_atlassian_takes_5_seconds(
    bot_harness: BotHarness,
) -> None:
    """With 5 s of API latency, every command's ack still arrives well inside Slack's 3 s."""
    bot_harness.simulator.world.faults.latency_ms = 5000
    responses = await _send_all(bot_harness)
    slowest = max(response.elapsed for response in responses)
    assert [response.status for response in responses] == [200] * len(EVERY_COMMAND)
    assert slowest < ACK_BUDGET_SECONDS, [round(r.elapsed, 3) for r in responses]
    # The acks did not wait for Atlassian: nothing it was asked has been answered yet.
    assert bot_harness.simulator.world.calls == []
    assert bot_harness.services.pending.count > 0
    # Cut the slow work short instead of waiting it out; every request still gets an answer.
    await bot_harness.simulator.server.stop()
    await bot_harness.settle()


@pytest.fixture
async def frozen_redis(redis_client: aioredis.Redis) -> AsyncIterator[Any]:
    """Freeze the test Redis server (SIGSTOP) until the test thaws it, or until teardown."""
    pid = int((await redis_client.info("server"))["process_id"])
    thawed = False

    def thaw() -> None:
        nonlocal thawed
        if not thawed:
            os.kill(pid, signal.SIGCONT)
            thawed = True

    os.kill(pid, signal.SIGSTOP)
    try:
        yield thaw
    finally:
        thaw()


async def test_every_command_is_acknowledged_while_redis_does_not_answer(
    bot_harness: BotHarness, frozen_redis: Any
) -> None:
    """With Redis frozen, every ack still arrives at once: no command needs Redis to ack."""
    responses = await _send_all(bot_harness)
    assert [response.status for response in responses] == [200] * len(EVERY_COMMAND)
    slowest = max(response.elapsed for response in responses)
    assert slowest < ACK_BUDGET_SECONDS, [round(r.elapsed, 3) for r in responses]
    frozen_redis()
    await bot_harness.settle()
    tracked = await bot_harness.services.operations.active()
    assert {op.kind.value for op in tracked} >= {"backup", "export"}
    assert all(op.status == OperationStatus.IN_PROGRESS for op in tracked)
