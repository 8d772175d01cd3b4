"""The pure Block Kit builders: every message is valid, inside Slack's limits, and escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.atlassian.models import Backup, Export, Import, Policy, Product, Restore, Storage
from bot.config import SiteDirectory
from bot.messages.text import when
from bot.slack import blocks, policy_blocks
from bot.slack.blocks import Message, OperationCard
from bot.slack.commands import help_text

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ACME = "11111111-1111-4111-8111-111111111111"
SITES = SiteDirectory({"acme": ACME})
HOSTILE = "<!channel> & <@U1> <https://evil.example|click>"
LIVE_MRKDWN = ("<!channel>", "<@U1>", "<https://evil.example")


def mrkdwn_texts(node: object) -> list[str]:
    """Every string Slack reads as mrkdwn (plain_text objects are shown as typed)."""
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return []
        return [text for value in node.values() for text in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [text for item in node for text in mrkdwn_texts(item)]
    return [node] if isinstance(node, str) else []


def assert_slack_accepts(message: Message) -> None:
    """What Slack checks: text beside blocks, at most 50 blocks, and each block's limits."""
    assert message.text
    assert 1 <= len(message.blocks) <= blocks.MAX_BLOCKS
    for raw in message.blocks:
        parsed = Block.parse(raw)
        assert parsed is not None, raw
        parsed.to_dict()
        if raw["type"] == "section":
            if "text" in raw:
                assert 1 <= len(raw["text"]["text"]) <= 3000, raw
            assert len(raw.get("fields", [])) <= 10
            for field in raw.get("fields", []):
                assert 1 <= len(field["text"]) <= 2000
        if raw["type"] == "header":
            assert 1 <= len(raw["text"]["text"]) <= 150
        if raw["type"] == "context":
            assert all(element["text"] for element in raw["elements"])


def storage(**overrides: Any) -> Storage:
    data = {
        "storageId": "sto-1",
        "storageName": "acme-backups",
        "storageRegion": "us-east-1",
        "storagePrefix": "atlassian/",
        "storageType": "aws",
        "roleIdentifier": "arn:aws:iam::1:role/r",
        "principalTag": "tag",
        "cloudId": ACME,
        "status": "ACTIVE",
    }
    return Storage.model_validate({**data, **overrides})


def policy(**overrides: Any) -> Policy:
    data = {
        "policyId": "pol-1",
        "cloudId": ACME,
        "product": "CONFLUENCE",
        "includeAttachments": True,
        "includePersonalSpaces": False,
        "status": "ACTIVE",
        "createdAt": "2026-10-01T09:00:00Z",
    }
    return Policy.model_validate({**data, **overrides})


def backup(**overrides: Any) -> Backup:
    data = {
        "backupId": "bkp-1",
        "policyId": "pol-1",
        "cloudId": ACME,
        "product": "JIRA",
        "status": "COMPLETE",
        "createdAt": "2026-10-30T09:00:00Z",
        "completedAt": "2026-10-30T09:40:00Z",
        "expiryTime": "2026-11-13T09:00:00Z",
        "backupSize": {"totalBackupSizeInGB": 1.5},
    }
    return Backup.model_validate({**data, **overrides})


def export(**overrides: Any) -> Export:
    data = {
        "exportId": "exp-1",
        "backupId": "bkp-1",
        "cloudId": ACME,
        "product": "JIRA",
        "status": "FAILED",
        "statusMessage": "The storage refused it.",
        "createdAt": "2026-10-30T09:00:00Z",
        "completedAt": "2026-10-30T09:05:00Z",
    }
    return Export.model_validate({**data, **overrides})


def restore(**overrides: Any) -> Restore:
    data = {
        "restoreId": "rst-1",
        "backupId": "bkp-1",
        "cloudId": ACME,
        "product": "JIRA",
        "status": "VALIDATION_FAILED",
        "statusMessage": "Waiting for consent.",
        "failedChecks": [
            {"check": "Conflicting_Groups_Check", "code": "C", "message": "Groups clash."}
        ],
        "migrationId": "mig-1",
        "createdAt": "2026-10-30T09:00:00Z",
    }
    return Restore.model_validate({**data, **overrides})


def card(**overrides: Any) -> OperationCard:
    values: dict[str, Any] = {
        "kind": "backup",
        "operation_id": "bkp-1",
        "product": "JIRA",
        "site": "acme",
        "started_by": "UADMIN",
        "status": "IN_PROGRESS",
        "started_at": NOW,
        "status_message": "Halfway.",
        "detail": "policy `pol-1`",
        "updated_at": NOW,
    }
    return OperationCard(**{**values, **overrides})


EVERY_BUILDER = {
    "error": lambda: blocks.error_message("Something failed."),
    "info": lambda: blocks.info_message("Nothing to show."),
    "help": lambda: blocks.help_message(help_text()),
    "whoami": lambda: blocks.whoami_message("U1", ["admin", "approver"]),
    "sites": lambda: blocks.sites_message(SITES),
    "no sites": lambda: blocks.sites_message(SiteDirectory({})),
    "regions": lambda: blocks.regions_message(["us-east-1", "eu-west-1"]),
    "storages": lambda: blocks.storages_message([storage()], SITES),
    "no storages": lambda: blocks.storages_message([], SITES),
    "storage": lambda: blocks.storage_message(storage(), SITES),
    "policies": lambda: policy_blocks.policies_message([policy(), policy(product="JIRA")], SITES),
    "no policies": lambda: policy_blocks.policies_message([], SITES),
    "policy": lambda: policy_blocks.policy_message(policy(), SITES),
    "backups": lambda: blocks.backups_message("pol-1", [backup(), backup(status="FAILED")], NOW),
    "no backups": lambda: blocks.backups_message("pol-1", [], NOW),
    "backup": lambda: blocks.backup_message(backup(statusMessage="Partly."), SITES, NOW),
    "exports": lambda: blocks.exports_message([export()], SITES),
    "no exports": lambda: blocks.exports_message([], SITES),
    "export": lambda: blocks.transfer_message("export", export(), SITES),
    "import": lambda: blocks.transfer_message(
        "import", Import.model_validate({"importId": "imp-1", "status": "IN_PROGRESS"}), SITES
    ),
    "restores": lambda: blocks.restores_message([restore()], SITES),
    "no restores": lambda: blocks.restores_message([], SITES),
    "restore": lambda: blocks.restore_message(restore(), SITES, ["• decided"]),
    "report": lambda: blocks.report_message("rst-1", "https://admin.example/report/1"),
    "card": lambda: blocks.operation_card(card()),
    "bare card": lambda: blocks.operation_card(
        card(started_by=None, started_at=None, status_message=None, detail=None, updated_at=None)
    ),
}


@pytest.mark.parametrize("name", list(EVERY_BUILDER))
def test_every_builder_makes_a_message_slack_accepts(name: str) -> None:
    """Each builder's message parses as Block Kit and keeps inside Slack's limits."""
    assert_slack_accepts(EVERY_BUILDER[name]())


# -- long lists and long text -------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda n: blocks.storages_message(
            [storage(storageId=f"sto-{i}", storageName="n" * 80) for i in range(n)], SITES
        ),
        lambda n: policy_blocks.policies_message(
            [policy(policyId=f"pol-{i}") for i in range(n)], SITES
        ),
        lambda n: blocks.backups_message(
            "pol-1", [backup(backupId=f"bkp-{i}") for i in range(n)], NOW
        ),
        lambda n: blocks.exports_message([export(exportId=f"exp-{i}") for i in range(n)], SITES),
        lambda n: blocks.restores_message([restore(restoreId=f"rst-{i}") for i in range(n)], SITES),
    ],
    ids=["storages", "policies", "backups", "exports", "restores"],
)
def test_a_long_list_is_cut_to_fit_and_says_how_many_are_hidden(build: Any) -> None:
    """A thousand items still make one valid message of at most 50 blocks, naming the rest."""
    message = build(1000)
    assert_slack_accepts(message)
    assert message.text.startswith("1000 ")
    assert f"…and {1000 - blocks.MAX_LIST_ITEMS} more." in str(message.blocks[-1])


def test_one_item_is_counted_in_the_singular() -> None:
    """A list of one says "1 export", not "1 exports"."""
    assert blocks.exports_message([export()], SITES).text == "1 export"
    assert policy_blocks.policies_message([policy()], SITES).text == "1 backup policy"
    assert policy_blocks.policies_message([policy(), policy()], SITES).text == "2 backup policies"


def test_long_text_is_cut_to_3000_characters() -> None:
    """A 10 000-character status message is cut to fit one section, ending in an ellipsis."""
    message = blocks.backup_message(backup(statusMessage="x" * 10_000), SITES, NOW)
    assert_slack_accepts(message)
    status_section = next(
        b for b in message.blocks if "x" * 100 in b.get("text", {}).get("text", "")
    )
    assert len(status_section["text"]["text"]) == 3000
    assert status_section["text"]["text"].endswith("…")


def test_a_single_line_longer_than_a_section_makes_no_empty_section() -> None:
    """A list whose first line is over 3000 characters still has no empty section."""
    message = blocks.storages_message([storage(storageName="n" * 4000)], SITES)
    assert_slack_accepts(message)


def test_help_longer_than_one_section_is_split_at_line_ends() -> None:
    """The whole help is split into sections of whole lines that together keep every line."""
    source = help_text()
    longer = "\n".join([source] * 3)
    message = blocks.help_message(longer)
    assert_slack_accepts(message)
    assert len(message.blocks) > 1
    joined = "".join(block["text"]["text"] for block in message.blocks)
    assert joined.splitlines() == longer.splitlines()


def test_fields_are_cut_to_ten_and_2000_characters() -> None:
    """A fields section never holds more than ten fields or a field over 2000 characters."""
    block = blocks.fields([(f"label {i}", "v" * 5000) for i in range(15)])
    assert len(block["fields"]) == 10
    assert all(len(field["text"]) == 2000 for field in block["fields"])
    assert Block.parse(block) is not None


def test_a_header_is_cut_to_150_characters() -> None:
    """A storage with a very long name gets a header Slack accepts."""
    message = blocks.storage_message(storage(storageName="n" * 500), SITES)
    assert_slack_accepts(message)
    assert len(message.blocks[0]["text"]["text"]) == 150


# -- escaping -----------------------------------------------------------------------------

HOSTILE_MESSAGES = {
    "storages": lambda: blocks.storages_message(
        [storage(storageName=HOSTILE, storageRegion=HOSTILE, storageId=HOSTILE)], SITES
    ),
    "storage": lambda: blocks.storage_message(
        storage(storageId=HOSTILE, storageName=HOSTILE, principalTag=HOSTILE, status=HOSTILE),
        SITES,
    ),
    "policy": lambda: policy_blocks.policy_message(policy(policyId=HOSTILE, status=HOSTILE), SITES),
    "policies": lambda: policy_blocks.policies_message([policy(policyId=HOSTILE)], SITES),
    "backup": lambda: blocks.backup_message(
        backup(backupId=HOSTILE, statusMessage=HOSTILE, status=HOSTILE, product=HOSTILE),
        SITES,
        NOW,
    ),
    "backups": lambda: blocks.backups_message("pol-1", [backup(backupId=HOSTILE)], NOW),
    "export": lambda: blocks.transfer_message(
        "export", export(exportId=HOSTILE, statusMessage=HOSTILE, status=HOSTILE), SITES
    ),
    "exports": lambda: blocks.exports_message([export(exportId=HOSTILE)], SITES),
    "restore": lambda: blocks.restore_message(
        restore(
            restoreId=HOSTILE,
            statusMessage=HOSTILE,
            failedChecks=[{"check": HOSTILE, "message": HOSTILE}],
        ),
        SITES,
    ),
    "restores": lambda: blocks.restores_message([restore(restoreId=HOSTILE)], SITES),
    "report": lambda: blocks.report_message(HOSTILE, f"https://x.example/{HOSTILE}"),
    "card": lambda: blocks.operation_card(
        card(operation_id=HOSTILE, site=HOSTILE, status=HOSTILE, status_message=HOSTILE)
    ),
    "error": lambda: blocks.error_message(HOSTILE),
    "sites": lambda: blocks.sites_message(SiteDirectory({"acme": HOSTILE})),
    "regions": lambda: blocks.regions_message([HOSTILE]),
}


@pytest.mark.parametrize("name", list(HOSTILE_MESSAGES))
def test_api_and_user_strings_are_escaped_in_blocks_and_text(name: str) -> None:
    """Mentions and links inside API values never reach Slack as live mrkdwn, text included."""
    message = HOSTILE_MESSAGES[name]()
    assert_slack_accepts(message)
    shown = "\n".join([message.text, *mrkdwn_texts(message.blocks)])
    assert "&lt;" in shown
    for live in LIVE_MRKDWN:
        assert live not in shown, (name, shown)


def test_a_trusted_error_keeps_the_bots_own_mentions() -> None:
    """A refusal written by the bot keeps its mention of the admin; an untrusted one does not."""
    trusted = blocks.error_message("Ask <@UADMIN>.", trusted=True)
    untrusted = blocks.error_message("Ask <@UADMIN>.")
    assert "<@UADMIN>" in trusted.blocks[0]["text"]["text"]
    assert "&lt;@UADMIN&gt;" in untrusted.blocks[0]["text"]["text"]


def test_times_show_in_the_readers_zone_with_a_utc_fallback() -> None:
    """`when` renders a Slack date token with a UTC fallback; None shows a dash."""
    moment = NOW + timedelta(minutes=5)
    assert when(moment) == (
        f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-01 09:05 UTC>"
    )
    assert when(None) == "—"


def test_restore_message_keeps_the_latest_decisions_within_the_block_limit() -> None:
    """A restore with a very long decision history still fits Slack's 50 blocks, newest kept."""
    restore = Restore.model_validate(
        {"restoreId": "r-1", "status": "IN_PROGRESS", "cloudId": "c", "backupId": "b"}
    )
    decisions = [f"• decision number {n:05d} " + "x" * 200 for n in range(2000)]
    message = blocks.restore_message(restore, SiteDirectory({}), decisions)
    assert len(message.blocks) <= 50
    rendered = str(message.blocks)
    assert "decision number 01999" in rendered
    assert "decision number 00000" not in rendered
    assert re.search(r"\d+ earlier parts left out\.", rendered)
    for block in message.blocks:
        Block.parse(block).validate_json()


def test_an_expiry_reminder_counts_its_hours_in_words() -> None:
    """One hour left is "1 hour", in the card and in the notification text alike."""
    expiry = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    message = blocks.expiry_reminder_message(
        backup_id="bkp-1",
        product=Product.JIRA,
        site="acme",
        expiry=expiry,
        now=expiry - timedelta(minutes=90),
    )
    assert message.text == "Backup bkp-1 of Jira on acme expires in about 1 hour"
    assert "(in about 1 hour)." in str(message.blocks)
