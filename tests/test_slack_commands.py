"""Every slash command end to end: signed HTTP to the bot, the simulator, a real Redis.

Each test types commands the way Slack delivers them and checks what a person would see
(the ack, private replies through response_url, cards in the channel) and what reached the
Atlassian API and Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.atlassian.models import OperationStatus, Product
from bot.localslack.driver import SlackResponse
from bot.localslack.web_api import SlackWebApi
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_CONFLUENCE_POLICY,
    ACME_JIRA_POLICY,
    ACME_STORAGE,
    CONFLUENCE_COMPLETE_BACKUP,
    JIRA_COMPLETE_BACKUP,
    JIRA_EXPIRED_BACKUP,
    SANDBOX_CLOUD_ID,
)
from bot.slack import commands as cmd
from bot.store.operations import OperationKind
from tests.fixtures.bot_harness import (
    ADMIN,
    APPROVER,
    CHANNEL,
    VIEWER,
    BotHarness,
    HarnessFactory,
)
from tests.fixtures.simulator import SIMULATOR_OP_SECONDS

# -- helpers ------------------------------------------------------------------------------


def ack_json(response: SlackResponse) -> dict[str, Any]:
    body = response.json
    assert isinstance(body, dict), f"the ack carried no message: {response.text!r}"
    return body


def assert_valid_blocks(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= 50
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None, raw
        parsed.to_dict()  # runs every nested element's validators


def assert_slack_saw_only_valid_messages(slack: SlackWebApi) -> None:
    bad = [call for call in slack.calls if call.invalid or call.missing_text]
    assert not bad, slack.summary()


def private_texts(harness: BotHarness, response: SlackResponse) -> list[str]:
    """The top-level text of each private reply sent through the command's response_url."""
    return [post.text for post in harness.replies(response)]


def only_private_reply(harness: BotHarness, response: SlackResponse) -> str:
    posts = harness.replies(response)
    assert len(posts) == 1, [post.body for post in posts]
    assert posts[0].response_type == "ephemeral"
    assert_valid_blocks(posts[0].blocks)
    return posts[0].text + "\n" + str(posts[0].blocks)


def api_calls(harness: BotHarness) -> list[tuple[str, str]]:
    return [(call.method, call.path) for call in harness.simulator.world.calls]


def writes(harness: BotHarness) -> list[tuple[str, str]]:
    return [(method, path) for method, path in api_calls(harness) if method != "GET"]


def cards(harness: BotHarness) -> list[Any]:
    return harness.slack.messages(CHANNEL)


# -- help, whoami, sites, regions ---------------------------------------------------------


@pytest.mark.parametrize("text", ["", "help", "HELP"])
async def test_help_in_the_ack_lists_every_backup_and_restore_command(
    bot_harness: BotHarness, text: str
) -> None:
    """`/backup`, `/backup help` and `/backup HELP` answer in the ack with every command's usage."""
    response = await bot_harness.slash(text)
    body = ack_json(response)
    assert body["response_type"] == "ephemeral"
    assert_valid_blocks(body["blocks"])
    shown = "".join(block["text"]["text"] for block in body["blocks"])
    for command in cmd.ALL_COMMANDS:
        assert command.usage in shown, command.usage
    assert bot_harness.simulator.world.calls == []
    assert bot_harness.slack.calls == []


async def test_help_for_one_command_shows_only_that_command(bot_harness: BotHarness) -> None:
    """`/backup help policy` shows the policy commands and not the others."""
    response = await bot_harness.slash("help policy")
    shown = str(ack_json(response)["blocks"])
    assert cmd.PolicyCreate.usage in shown
    assert cmd.PolicyUpdate.usage in shown
    assert cmd.BackupRun.usage not in shown
    assert cmd.RestoreStart.usage not in shown


async def test_restore_help_shows_only_the_restore_commands(bot_harness: BotHarness) -> None:
    """`/restore help` shows the /restore commands and none of /backup's."""
    response = await bot_harness.slash("help", command="/restore")
    shown = str(ack_json(response)["blocks"])
    assert cmd.RestoreStart.usage in shown
    assert cmd.RestoreReport.usage in shown
    assert cmd.BackupRun.usage not in shown


@pytest.mark.parametrize(
    ("user", "role"),
    [(ADMIN, "*admin, approver*"), (APPROVER, "*approver*"), (VIEWER, "*viewer*")],
)
async def test_whoami_names_the_callers_role(bot_harness: BotHarness, user: str, role: str) -> None:
    """`/backup whoami` tells admins, approvers and viewers their own role, privately."""
    response = await bot_harness.slash("whoami", user=user)
    reply = only_private_reply(bot_harness, response)
    assert f"<@{user}>, your role with the backup bot: {role}." in reply


async def test_sites_lists_the_configured_aliases(bot_harness: BotHarness) -> None:
    """`/backup sites` lists each ATLASSIAN_SITES alias with its cloud id, calling no API."""
    reply = only_private_reply(bot_harness, await bot_harness.slash("sites"))
    assert f"*acme* — `{ACME_CLOUD_ID}`" in reply
    assert f"*acme-sandbox* — `{SANDBOX_CLOUD_ID}`" in reply
    assert bot_harness.simulator.world.calls == []


async def test_regions_lists_the_regions_from_the_api(bot_harness: BotHarness) -> None:
    """`/backup regions` lists every region the API returns."""
    reply = only_private_reply(bot_harness, await bot_harness.slash("regions", user=VIEWER))
    for region in bot_harness.simulator.world.regions:
        assert f"`{region}`" in reply


# -- storages and policies ----------------------------------------------------------------


async def test_storage_create_posts_a_card_and_the_storage_can_be_listed_and_shown(
    bot_harness: BotHarness,
) -> None:
    """`/backup storage create` creates it on the site, announces it, and list/show find it."""
    await bot_harness.slash(
        "storage create name=sandbox-s3 region=eu-west-1 prefix=backups/sandbox/ "
        "role=arn:aws:iam::123456789012:role/backup tag=sandbox site=acme-sandbox"
    )
    created = [
        s for s in bot_harness.simulator.world.storages.values() if s.storage_name == "sandbox-s3"
    ]
    assert len(created) == 1
    storage = created[0]
    assert storage.cloud_id == SANDBOX_CLOUD_ID
    assert storage.storage_region == "eu-west-1"
    (card,) = cards(bot_harness)
    assert f"<@{ADMIN}> created a storage." in card.text
    assert storage.storage_id in str(card.blocks)

    listed = only_private_reply(bot_harness, await bot_harness.slash("storage list", user=VIEWER))
    assert f"`{storage.storage_id}` *sandbox-s3* · eu-west-1 · acme-sandbox" in listed
    assert f"`{ACME_STORAGE}`" in listed
    filtered = only_private_reply(bot_harness, await bot_harness.slash("storage list site=acme"))
    assert storage.storage_id not in filtered
    assert ACME_STORAGE in filtered

    shown = only_private_reply(
        bot_harness, await bot_harness.slash(f"storage show {storage.storage_id}")
    )
    assert "`arn:aws:iam::123456789012:role/backup`" in shown
    assert "`backups/sandbox/`" in shown


async def test_policy_create_on_the_sandbox_posts_a_card(bot_harness: BotHarness) -> None:
    """`/backup policy create jira site=acme-sandbox` creates the policy and announces it."""
    await bot_harness.slash("policy create jira site=acme-sandbox attachments=no")
    created = [
        p for p in bot_harness.simulator.world.policies.values() if p.cloud_id == SANDBOX_CLOUD_ID
    ]
    assert len(created) == 1
    assert created[0].product is Product.JIRA
    assert created[0].include_attachments is False
    (card,) = cards(bot_harness)
    assert f"<@{ADMIN}> created a backup policy." in card.text
    assert f"`{created[0].policy_id}`" in str(card.blocks)
    assert bot_harness.replies(await bot_harness.slash("whoami"))  # the bot still answers


async def test_policy_list_and_show_answer_privately(bot_harness: BotHarness) -> None:
    """`/backup policy list` and `show` list and describe policies to a viewer, privately."""
    listed = only_private_reply(bot_harness, await bot_harness.slash("policy list", user=VIEWER))
    assert f"`{ACME_JIRA_POLICY}` *Jira* on *acme*" in listed
    assert f"`{ACME_CONFLUENCE_POLICY}` *Confluence* on *acme*" in listed
    shown = only_private_reply(
        bot_harness, await bot_harness.slash(f"policy show {ACME_CONFLUENCE_POLICY}", user=VIEWER)
    )
    assert "Confluence backup policy" in shown
    assert "*Personal spaces*" in shown
    assert cards(bot_harness) == []


async def test_policy_update_changes_attachments_and_personal_spaces(
    bot_harness: BotHarness,
) -> None:
    """`/backup policy update` on Confluence changes attachments and personal spaces."""
    await bot_harness.slash(
        f"policy update {ACME_CONFLUENCE_POLICY} attachments=no personal-spaces=yes"
    )
    policy = bot_harness.simulator.world.policies[ACME_CONFLUENCE_POLICY]
    assert policy.include_attachments is False
    assert policy.include_personal_spaces is True
    (card,) = cards(bot_harness)
    assert (
        f"<@{ADMIN}> updated backup policy `{ACME_CONFLUENCE_POLICY}`: attachments yes → no; "
        "personal spaces no → yes." in card.text
    )


async def test_policy_update_moves_storage_to_customer_storage_and_back(
    bot_harness: BotHarness,
) -> None:
    """`storage=sto-acme-s3` moves a policy to customer storage and `storage=atlassian` back."""
    policies = bot_harness.simulator.world.policies
    await bot_harness.slash(f"policy update {ACME_JIRA_POLICY} storage={ACME_STORAGE}")
    assert policies[ACME_JIRA_POLICY].storage_id == ACME_STORAGE
    assert f"`{ACME_STORAGE}`" in str(cards(bot_harness)[-1].blocks)
    named = f"*acme-backups* (`{ACME_STORAGE}`)"
    assert f"storage Atlassian storage → {named}." in cards(bot_harness)[-1].text
    await bot_harness.slash(f"policy update {ACME_JIRA_POLICY} storage=atlassian")
    assert policies[ACME_JIRA_POLICY].storage_id is None
    assert "Atlassian storage" in str(cards(bot_harness)[-1].blocks)
    assert f"storage {named} → Atlassian storage." in cards(bot_harness)[-1].text


async def test_personal_spaces_on_a_jira_policy_is_refused_before_any_change(
    bot_harness: BotHarness,
) -> None:
    """`personal-spaces=` on a Jira policy gets one sentence and changes nothing."""
    response = await bot_harness.slash(f"policy update {ACME_JIRA_POLICY} personal-spaces=yes")
    assert "personal-spaces applies only to Confluence policies." in only_private_reply(
        bot_harness, response
    )
    assert writes(bot_harness) == []
    assert cards(bot_harness) == []


# -- backups ------------------------------------------------------------------------------


async def test_backup_run_posts_a_card_and_registers_it_with_its_channel_and_ts(
    bot_harness: BotHarness,
) -> None:
    """`/backup run` fills in the policy's site, posts one card and tracks it in Redis."""
    response = await bot_harness.slash(f"run {ACME_JIRA_POLICY}")
    assert bot_harness.replies(response) == []
    (card,) = cards(bot_harness)
    assert card.text == "Backup of Jira on acme: IN PROGRESS"
    (operation,) = await bot_harness.services.operations.active()
    assert operation.kind is OperationKind.BACKUP
    assert (operation.channel, operation.card_ts) == (CHANNEL, card.ts)
    assert operation.cloud_id == ACME_CLOUD_ID
    assert operation.started_by == ADMIN
    assert f"`{operation.operation_id}`" in str(card.blocks)
    run_calls = [c for c in bot_harness.simulator.world.calls if c.path.endswith("/backups")]
    assert run_calls[-1].body == {"policyId": ACME_JIRA_POLICY, "cloudId": ACME_CLOUD_ID}


async def test_running_twice_is_refused_while_running_and_then_by_the_seven_day_rule(
    bot_harness: BotHarness,
) -> None:
    """A second run is refused while the first runs, then until 7 days after it, naming when."""
    await bot_harness.slash(f"run {ACME_JIRA_POLICY}")
    (first,) = await bot_harness.services.operations.active()

    running = only_private_reply(bot_harness, await bot_harness.slash(f"run {ACME_JIRA_POLICY}"))
    assert f"Backup {first.operation_id} of this policy is still in progress" in running

    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    too_soon = only_private_reply(bot_harness, await bot_harness.slash(f"run {ACME_JIRA_POLICY}"))
    assert "so the next one can run from 2026-11-08 09:00 UTC (one backup every 7 days)" in too_soon
    assert len(cards(bot_harness)) == 1
    assert writes(bot_harness) == [("POST", "/orgs/demo-org/backups")]


async def test_backup_list_and_show_describe_the_backups(bot_harness: BotHarness) -> None:
    """`/backup list` lists a policy's backups with status and expiry; `show` details one."""
    listed = only_private_reply(
        bot_harness, await bot_harness.slash(f"list {ACME_JIRA_POLICY}", user=VIEWER)
    )
    assert f"`{JIRA_COMPLETE_BACKUP}` :white_check_mark: COMPLETE · 8 days old · expires" in listed
    assert "EXPIRED · 20 days old" in listed
    shown = only_private_reply(
        bot_harness, await bot_harness.slash(f"show {JIRA_COMPLETE_BACKUP}", user=VIEWER)
    )
    assert "*Status*\\n:white_check_mark: COMPLETE" in shown
    assert "*Size*" in shown


# -- exports and imports ------------------------------------------------------------------


async def test_export_of_one_backup_fills_in_product_and_site(bot_harness: BotHarness) -> None:
    """`/backup export ID` sends the backup's own product and site and tracks one card."""
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    (post,) = [c for c in bot_harness.simulator.world.calls if c.method == "POST"]
    assert post.body == [
        {"product": "JIRA", "cloudId": ACME_CLOUD_ID, "backupId": JIRA_COMPLETE_BACKUP}
    ]
    (card,) = cards(bot_harness)
    (operation,) = await bot_harness.services.operations.active()
    assert operation.kind is OperationKind.EXPORT
    assert operation.card_ts == card.ts
    assert card.text == "Export of Jira on acme: IN PROGRESS"


async def test_export_of_several_backups_posts_one_card_each(bot_harness: BotHarness) -> None:
    """Exporting two backups makes one API call, two cards and two tracked operations."""
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP} {CONFLUENCE_COMPLETE_BACKUP}")
    assert writes(bot_harness) == [("POST", "/orgs/demo-org/exports")]
    posted = cards(bot_harness)
    assert sorted(card.text for card in posted) == [
        "Export of Confluence on acme: IN PROGRESS",
        "Export of Jira on acme: IN PROGRESS",
    ]
    operations = await bot_harness.services.operations.active()
    assert {op.backup_id: op.card_ts for op in operations} == {
        JIRA_COMPLETE_BACKUP: next(c.ts for c in posted if "Jira" in c.text),
        CONFLUENCE_COMPLETE_BACKUP: next(c.ts for c in posted if "Confluence" in c.text),
    }

    exports = only_private_reply(bot_harness, await bot_harness.slash("exports product=jira"))
    jira_export = next(op for op in operations if op.backup_id == JIRA_COMPLETE_BACKUP)
    assert f"`{jira_export.operation_id}`" in exports
    assert CONFLUENCE_COMPLETE_BACKUP not in exports


async def test_export_status_uses_the_site_the_bot_remembers_or_the_one_given(
    bot_harness: BotHarness,
) -> None:
    """`export-status` needs no site= for an export the bot started, and accepts one too."""
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    (operation,) = await bot_harness.services.operations.active()
    export_path = f"/orgs/demo-org/cloud/{ACME_CLOUD_ID}/exports/{operation.operation_id}"
    bot_harness.simulator.world.calls.clear()

    remembered = await bot_harness.slash(f"export-status {operation.operation_id}", user=VIEWER)
    assert ":hourglass_flowing_sand: IN PROGRESS" in only_private_reply(bot_harness, remembered)
    assert api_calls(bot_harness) == [("GET", export_path)]

    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    given = await bot_harness.slash(f"export-status {operation.operation_id} site=acme")
    assert ":white_check_mark: COMPLETE" in only_private_reply(bot_harness, given)


async def test_export_status_of_an_unknown_export_says_what_to_do(bot_harness: BotHarness) -> None:
    """An unknown export id gets one sentence, with or without site=."""
    without_site = only_private_reply(bot_harness, await bot_harness.slash("export-status exp-x"))
    assert (
        "does not know which site export `exp-x` belongs to; add site=ALIAS (`/backup sites` "
        "lists them)." in without_site
    )
    with_site = only_private_reply(
        bot_harness, await bot_harness.slash("export-status exp-x site=acme")
    )
    assert "Atlassian has no export `exp-x` on site acme; `/backup exports` shows" in with_site


async def test_import_of_an_exported_backup_and_its_status(bot_harness: BotHarness) -> None:
    """Once an export has finished, `/backup import` starts an import that `import-status` finds."""
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    await bot_harness.slash(f"import {JIRA_COMPLETE_BACKUP}")
    imports = [
        op
        for op in await bot_harness.services.operations.active()
        if op.kind is OperationKind.IMPORT
    ]
    assert len(imports) == 1
    assert imports[0].backup_id == JIRA_COMPLETE_BACKUP
    assert cards(bot_harness)[-1].text == "Import of Jira on acme: IN PROGRESS"
    assert cards(bot_harness)[-1].ts == imports[0].card_ts

    status = await bot_harness.slash(f"import-status {imports[0].operation_id}", user=VIEWER)
    reply = only_private_reply(bot_harness, status)
    assert f"Import {imports[0].operation_id}" in reply
    assert "IN PROGRESS" in reply


async def test_import_status_of_an_import_the_bot_did_not_start_asks_for_the_site(
    bot_harness: BotHarness,
) -> None:
    """Without site=, an import the bot did not start gets a sentence asking for the site."""
    reply = only_private_reply(bot_harness, await bot_harness.slash("import-status imp-x"))
    assert "The bot did not start import `imp-x`, so it does not know its site" in reply
    assert bot_harness.simulator.world.calls == []


async def test_import_of_a_backup_never_exported_is_refused_privately_before_any_card(
    bot_harness: BotHarness,
) -> None:
    """Importing a backup that was never exported is refused privately; no card, no create."""
    response = await bot_harness.slash(f"import {JIRA_COMPLETE_BACKUP}")
    reply = only_private_reply(bot_harness, response)
    assert f"Backup `{JIRA_COMPLETE_BACKUP}` was never exported to customer storage" in reply
    assert f"`/backup export {JIRA_COMPLETE_BACKUP}`" in reply
    assert cards(bot_harness) == []
    assert ("POST", f"/orgs/{bot_harness.simulator.org_id}/imports") not in api_calls(bot_harness)
    assert await bot_harness.services.operations.active() == []


async def test_exporting_an_expired_backup_is_refused_privately_naming_the_date(
    bot_harness: BotHarness,
) -> None:
    """An expired backup is refused by the bot itself: one private sentence, nothing posted."""
    response = await bot_harness.slash(f"export {JIRA_EXPIRED_BACKUP}")
    reply = only_private_reply(bot_harness, response)
    assert f"Backup `{JIRA_EXPIRED_BACKUP}` expired on" in reply
    # The reason is escaped as text that may come from Atlassian: a Slack date token in it
    # would show as its raw markup, so the date is written out.
    assert "&lt;" not in reply
    assert " UTC, so there is nothing left to export;" in reply
    assert "`/backup list POLICY_ID` shows the backups still kept." in reply
    assert cards(bot_harness) == []
    assert not [call for call in bot_harness.simulator.world.calls if call.method == "POST"]


async def test_exporting_from_a_site_without_customer_storage_names_the_site_and_the_fix(
    bot_harness: BotHarness,
) -> None:
    """No storage on the backup's site: the alias and the storage create command, privately."""
    bot_harness.simulator.world.storages.clear()
    reply = only_private_reply(
        bot_harness, await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    )
    assert "Site acme has no customer storage to export to" in reply
    assert (
        "`/backup storage create name=NAME region=REGION prefix=PREFIX role=ROLE_ARN "
        "tag=PRINCIPAL_TAG site=acme`" in reply
    )
    assert ACME_CLOUD_ID not in reply
    assert cards(bot_harness) == []


async def test_an_export_card_names_the_storage_it_goes_to(bot_harness: BotHarness) -> None:
    """The card of a started export shows the site's customer storage by name."""
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    (card,) = cards(bot_harness)
    storage = bot_harness.simulator.world.storages[ACME_STORAGE]
    assert f"storage {storage.storage_name}" in str(card.blocks)
    assert card.text.endswith("IN PROGRESS")


# -- restores -----------------------------------------------------------------------------


async def _finished_restore(harness: BotHarness) -> tuple[str, str]:
    restore = await harness.services.atlassian.create_restore(
        dest_cloud_id=SANDBOX_CLOUD_ID,
        backup_id=JIRA_COMPLETE_BACKUP,
        product=Product.JIRA,
        include_attachments=True,
        include_users_and_groups=True,
    )
    assert restore.migration_id is not None
    return restore.restore_id, restore.migration_id


async def test_restore_list_and_show(bot_harness: BotHarness) -> None:
    """`/restore list` filters by site and `/restore show` describes one restore."""
    restore_id, migration_id = await _finished_restore(bot_harness)
    listed = only_private_reply(
        bot_harness, await bot_harness.slash("list site=acme-sandbox", command="/restore")
    )
    assert f"`{restore_id}`" in listed
    assert "*acme-sandbox*" in listed
    elsewhere = only_private_reply(
        bot_harness, await bot_harness.slash("list site=acme-staging", command="/restore")
    )
    assert "No restores match `site=acme-staging`" in elsewhere
    shown = only_private_reply(
        bot_harness, await bot_harness.slash(f"show {restore_id}", command="/restore", user=VIEWER)
    )
    # Atlassian's migration id is a UUID nobody reads; the restore id is the one to use.
    assert migration_id not in shown
    assert f"`{restore_id}`" in shown
    assert "IN PROGRESS" in shown


async def test_restore_report_by_restore_id_and_by_migration_id(bot_harness: BotHarness) -> None:
    """Once a restore has ended its report link is found by restore id and by migration id."""
    restore_id, migration_id = await _finished_restore(bot_harness)
    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    for ref in (restore_id, migration_id):
        reply = only_private_reply(
            bot_harness, await bot_harness.slash(f"report {ref}", command="/restore")
        )
        assert f"report/{migration_id}|Post-restore report> for `{ref}`" in reply


async def test_restore_report_before_the_restore_ends_says_when_it_exists(
    bot_harness: BotHarness,
) -> None:
    """Asking for the report of a running restore gets one sentence saying to wait."""
    restore_id, _ = await _finished_restore(bot_harness)
    reply = only_private_reply(
        bot_harness, await bot_harness.slash(f"report {restore_id}", command="/restore")
    )
    assert "its report is available once it has ended" in reply


# -- bad input ----------------------------------------------------------------------------


async def test_a_misspelt_command_is_answered_with_the_command_meant_and_its_usage(
    bot_harness: BotHarness,
) -> None:
    """`/backup polcy list` asks whether `/backup policy list` was meant, and does nothing."""
    body = ack_json(await bot_harness.slash("polcy list"))
    assert body["response_type"] == "ephemeral"
    assert (
        "Unknown command `polcy`. Did you mean `/backup policy list`? "
        f"Usage: `{cmd.PolicyList.usage}`"
    ) in body["text"]
    assert bot_harness.simulator.world.calls == []
    assert bot_harness.slack.calls == []


@pytest.mark.parametrize(
    ("command", "text", "sentence"),
    [
        ("/backup", "frobnicate", "Unknown command `frobnicate`."),
        ("/backup", "policy frobnicate", "Unknown command `policy frobnicate`."),
        ("/restore", "frobnicate", "Unknown command `frobnicate`."),
        ("/backup", "policy create jira", "Missing option `site=`."),
        ("/backup", "list", "Missing the policy id."),
        ("/backup", "run pol-acme-jira now=yes", "Unknown option `now`"),
        ("/backup", "policy update pol-acme-jira attachments=maybe", "must be yes or no"),
        ("/backup", "storage list site=narnia", "Unknown site `narnia`."),
        ("/restore", "start bkp-1 to=narnia", "Unknown site `narnia`."),
        ("/backup", "help frobnicate", "There is no command `frobnicate` to explain."),
    ],
)
async def test_a_mistyped_command_gets_one_sentence_in_the_ack_and_calls_nothing(
    bot_harness: BotHarness, command: str, text: str, sentence: str
) -> None:
    """Unknown commands and options, missing or bad values get one sentence and no work."""
    response = await bot_harness.slash(text, command=command)
    body = ack_json(response)
    assert sentence in body["text"]
    assert "Usage: `" in body["text"]
    assert_valid_blocks(body["blocks"])
    assert bot_harness.simulator.world.calls == []
    assert bot_harness.slack.calls == []


@pytest.mark.parametrize(
    ("command", "text", "sentence"),
    [
        ("/backup", "policy show pol-x", "Atlassian has no backup policy `pol-x`;"),
        ("/backup", "run pol-x", "Atlassian has no backup policy `pol-x`;"),
        ("/backup", "list pol-x", "Atlassian has no backup policy `pol-x`;"),
        ("/backup", "show bkp-x", "Atlassian has no backup `bkp-x`;"),
        ("/backup", "storage show sto-x", "Atlassian has no storage `sto-x`;"),
        ("/backup", "export bkp-x", "Backup bkp-x does not exist;"),
        ("/backup", "import bkp-x", "Backup bkp-x does not exist;"),
        ("/backup", "import-status imp-x site=acme", "Atlassian has no import `imp-x` on site"),
        ("/restore", "show rst-x", "Atlassian has no restore `rst-x`;"),
        ("/restore", "report rst-x", "No restore or migration has the id `rst-x`;"),
    ],
)
async def test_an_unknown_id_gets_one_sentence_naming_it_and_starts_nothing(
    bot_harness: BotHarness, command: str, text: str, sentence: str
) -> None:
    """An id Atlassian does not know gets one private sentence naming it; no card, no write."""
    response = await bot_harness.slash(text, command=command)
    assert sentence in only_private_reply(bot_harness, response)
    assert cards(bot_harness) == []
    assert writes(bot_harness) == []


# -- API errors ---------------------------------------------------------------------------


async def test_a_server_error_on_a_read_gets_one_sentence(bot_harness: BotHarness) -> None:
    """When Atlassian keeps answering 500, `/backup policy list` says it is not answering."""
    bot_harness.simulator.world.faults.queue(status=500, count=10, path_contains="/policies")
    reply = only_private_reply(bot_harness, await bot_harness.slash("policy list"))
    assert "The Atlassian backup API is not answering right now" in reply


async def test_a_failed_run_leaves_a_card_saying_it_could_not_start_and_tracks_nothing(
    bot_harness: BotHarness,
) -> None:
    """A 500 on create-backup edits the card to say it did not start; nothing is registered."""
    bot_harness.simulator.world.faults.queue(status=500, method="POST", path_contains="/backups")
    response = await bot_harness.slash(f"run {ACME_JIRA_POLICY}")
    assert "check the list command before trying again" in only_private_reply(bot_harness, response)
    (card,) = cards(bot_harness)
    assert card.text == "Backup of Jira on acme: FAILED"
    assert "Could not start" in str(card.blocks)
    assert "(not started)" in str(card.blocks)
    assert await bot_harness.services.operations.active() == []
    assert all(b.startswith("bkp-acme-") for b in bot_harness.simulator.world.backups)


async def test_a_conflict_from_the_api_reaches_the_user_privately_and_posts_no_card(
    bot_harness: BotHarness,
) -> None:
    """Exporting a backup whose export is running gets Atlassian's 409 as one sentence."""
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    response = await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    reply = only_private_reply(bot_harness, response)
    assert "An export of backup bkp-acme-jira-complete is already in progress" in reply
    assert "Wait for the running operation to finish" in reply
    (first,) = cards(bot_harness)
    assert first.text.endswith("IN PROGRESS")
    assert len(await bot_harness.services.operations.active()) == 1


async def test_a_forbidden_answer_gets_one_sentence_about_org_admin_rights(
    make_bot_harness: HarnessFactory,
) -> None:
    """A 403 (the bot's org is not the token's) says the token owner must be an org admin."""
    harness = await make_bot_harness(atlassian_org_id="someone-elses-org")
    reply = only_private_reply(harness, await harness.slash("policy list"))
    assert "Atlassian refused the request as not permitted or not entitled." in reply
    assert "must be an org admin of ATLASSIAN_ORG_ID" in reply


async def test_rejected_credentials_get_one_sentence_without_the_token(
    make_bot_harness: HarnessFactory,
) -> None:
    """A wrong API token gets one sentence naming the settings, never the token itself."""
    harness = await make_bot_harness(atlassian_api_token="not-the-demo-token-1234")
    response = await harness.slash(f"run {ACME_JIRA_POLICY}")
    reply = only_private_reply(harness, response)
    assert "Atlassian refused the bot's credentials." in reply
    assert "ATLASSIAN_API_TOKEN" in reply
    everything = str([call.args for call in harness.slack.calls])
    assert "not-the-demo-token-1234" not in everything
    assert harness.slack.messages(CHANNEL) == []


# -- Slack refusing the bot's cards -------------------------------------------------------


async def test_a_change_the_channel_never_saw_is_confirmed_privately(
    make_bot_harness: HarnessFactory,
) -> None:
    """When Slack refuses the card of a policy already created, the caller hears it was done."""
    harness = await make_bot_harness(slack_bot_token="xoxb-revoked")
    response = await harness.slash("policy create jira site=acme-sandbox")
    created = [
        p for p in harness.simulator.world.policies.values() if p.cloud_id == SANDBOX_CLOUD_ID
    ]
    assert len(created) == 1
    reply = only_private_reply(harness, response)
    assert reply.startswith("Done: ")
    assert "do not run the command again" in reply
    assert created[0].policy_id in reply
    assert "nothing was started" not in reply


async def test_a_run_whose_card_slack_refuses_starts_nothing(
    make_bot_harness: HarnessFactory,
) -> None:
    """When Slack refuses the card, no backup is started and the caller is told why."""
    harness = await make_bot_harness(slack_bot_token="xoxb-revoked")
    response = await harness.slash(f"run {ACME_JIRA_POLICY}")
    assert "Slack refused the bot's status card (invalid_auth); nothing was started" in (
        only_private_reply(harness, response)
    )
    assert writes(harness) == []


# -- everything the bot sent is valid Block Kit -------------------------------------------

BROAD_RUN = [
    ("/backup", "whoami"),
    ("/backup", "sites"),
    ("/backup", "regions"),
    ("/backup", "storage list"),
    ("/backup", f"storage show {ACME_STORAGE}"),
    (
        "/backup",
        "storage create name=s1 region=us-east-1 prefix=p/ role=arn:aws:iam::1:role/r tag=t "
        "site=acme-staging",
    ),
    ("/backup", "policy create confluence site=acme-sandbox personal-spaces=no"),
    ("/backup", "policy list"),
    ("/backup", f"policy show {ACME_CONFLUENCE_POLICY}"),
    ("/backup", f"policy update {ACME_CONFLUENCE_POLICY} attachments=no"),
    ("/backup", f"run {ACME_JIRA_POLICY}"),
    ("/backup", f"run {ACME_JIRA_POLICY}"),
    ("/backup", f"list {ACME_CONFLUENCE_POLICY}"),
    ("/backup", f"show {CONFLUENCE_COMPLETE_BACKUP}"),
    ("/backup", f"export {JIRA_COMPLETE_BACKUP} {CONFLUENCE_COMPLETE_BACKUP}"),
    ("/backup", "exports"),
    ("/backup", "export-status exp-x"),
    ("/backup", f"import {JIRA_COMPLETE_BACKUP}"),
    ("/backup", "import-status imp-x site=acme"),
    ("/backup", "show bkp-x"),
    ("/restore", "list"),
    ("/restore", "show rst-x"),
    ("/restore", "report rst-x"),
    ("/restore", f"start {CONFLUENCE_COMPLETE_BACKUP} to=acme-staging"),
    ("/restore", ""),
    ("/backup", f"run {ACME_JIRA_POLICY}"),
]


async def test_every_message_of_a_broad_run_is_valid_block_kit_with_text(
    bot_harness: BotHarness,
) -> None:
    """Across every command, fake Slack saw no invalid blocks and no message without text."""
    bot_harness.simulator.world.faults.queue(status=409, method="POST", path_contains="/imports")
    for command, text in BROAD_RUN:
        response = await bot_harness.slash(text, command=command, user=ADMIN)
        if response.json:
            assert_valid_blocks(ack_json(response)["blocks"])
    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    restore_id, migration_id = await _finished_restore(bot_harness)
    bot_harness.simulator.clock.advance(SIMULATOR_OP_SECONDS + 1)
    for text in (f"show {restore_id}", f"report {migration_id}", "list product=jira"):
        await bot_harness.slash(text, command="/restore")
    assert len(bot_harness.slack.calls) > 30
    assert bot_harness.slack.calls_to("views.open")
    assert any("Start restore" in str(card.blocks) for card in cards(bot_harness))
    assert_slack_saw_only_valid_messages(bot_harness.slack)
    for post in bot_harness.slack.responses():
        assert post.text, post.body
        assert_valid_blocks(post.blocks)
    statuses = {str(op.status) for op in await bot_harness.services.operations.active()}
    assert statuses <= {OperationStatus.IN_PROGRESS.value}


# -- which id, and what was filtered --------------------------------------------------------


async def test_a_policy_update_naming_an_unknown_policy_says_which_id(
    bot_harness: BotHarness,
) -> None:
    """`policy update pol-nope` names the policy it cannot find, not "that id"."""
    reply = only_private_reply(
        bot_harness, await bot_harness.slash("policy update pol-nope attachments=no")
    )
    assert "Atlassian has no backup policy `pol-nope`" in reply
    assert "`/backup policy list`" in reply


async def test_a_policy_update_naming_an_unknown_storage_says_which_id(
    bot_harness: BotHarness,
) -> None:
    """`storage=sto-nope` names the storage and where the policy's site's storages are."""
    reply = only_private_reply(
        bot_harness, await bot_harness.slash(f"policy update {ACME_JIRA_POLICY} storage=sto-nope")
    )
    assert "Atlassian has no storage `sto-nope`" in reply
    assert "`/backup storage list site=acme`" in reply
    assert not [c for c in bot_harness.simulator.world.calls if c.method == "PUT"]


async def test_a_report_for_an_unknown_id_names_it_and_the_site(bot_harness: BotHarness) -> None:
    """`/restore report rst-x site=acme` names the id and the site it looked on."""
    reply = only_private_reply(
        bot_harness, await bot_harness.slash("report rst-x site=acme", command="/restore")
    )
    assert "No restore or migration has the id `rst-x` on site acme" in reply


async def test_an_empty_filtered_list_says_what_was_filtered(bot_harness: BotHarness) -> None:
    """With only a Jira export, `exports product=confluence` does not say "No exports yet"."""
    await bot_harness.slash(f"export {JIRA_COMPLETE_BACKUP}")
    reply = only_private_reply(bot_harness, await bot_harness.slash("exports product=confluence"))
    assert "No exports match `product=confluence`" in reply
    assert "`/backup exports` lists all of them" in reply
    assert "yet" not in reply
    restores = only_private_reply(
        bot_harness, await bot_harness.slash("list site=acme-sandbox", command="/restore")
    )
    assert "No restores match `site=acme-sandbox`" in restores
