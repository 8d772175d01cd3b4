"""The restore card and the restore form as pure Block Kit: valid, within limits, escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.atlassian.models import Backup, ConsentCheck, Product
from bot.localslack.web_api import block_errors, view_errors
from bot.messages.restore import check_text
from bot.restore.facts import BackupFacts
from bot.restore.session import OPEN_STATES, RestoreSession, SessionState
from bot.slack import restore_blocks as rb
from bot.slack.blocks import Message

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SESSION_ID = "k3Jd9Qm2VxL0pT7sYb1wEg"
STAGING = "33333333-3333-4333-8333-333333333333"
ACME = "11111111-1111-4111-8111-111111111111"

FACTS = BackupFacts(
    created_at=NOW - timedelta(days=8),
    expiry=NOW + timedelta(days=6),
    status="COMPLETE",
    warning=None,
)
EVERY_CHECK = [check.value for check in ConsentCheck if check is not ConsentCheck.DENY_CUSTOM_GROUP]
INJECTION = "<!channel> <https://evil.example|click> & <@U0BOSS>"


def make_session(
    state: SessionState = SessionState.AWAITING_START, **changes: Any
) -> RestoreSession:
    values: dict[str, Any] = {
        "session_id": SESSION_ID,
        "state": state,
        "version": 1,
        "backup_id": "bkp-acme-jira-complete",
        "product": Product.JIRA,
        "source_cloud_id": ACME,
        "dest_cloud_id": STAGING,
        "dest_label": "acme-staging",
        "include_attachments": True,
        "include_users_and_groups": True,
        "requester": "UADMIN",
        "channel": "CBACKUPS",
        "card_ts": "1.0",
        "created_at": NOW,
        "updated_at": NOW,
        "decision_deadline": NOW + timedelta(hours=24),
    }
    values.update(changes)
    return RestoreSession(**values)


def card(session: RestoreSession, **kw: Any) -> Message:
    return rb.restore_card(session, kw.pop("facts", FACTS), source="acme", now=NOW, **kw)


def assert_valid_message(message: Message) -> None:
    """Slack would accept these blocks: slack_sdk parses each, and every limit holds."""
    assert message.text
    assert len(message.blocks) <= 50
    for raw in message.blocks:
        parsed = Block.parse(raw)
        assert parsed is not None, raw
        parsed.validate_json()
    assert block_errors(message.blocks, limit=50) == []


def assert_valid_view(view: dict[str, Any]) -> None:
    View(**view).validate_json()
    assert view_errors(view) == []


def buttons(message: Message) -> list[dict[str, Any]]:
    return [
        element
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def everything(message: Message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def mrkdwn(message: Message) -> str:
    """Every text Slack parses for mentions and links: the top-level text and mrkdwn objects."""
    found = [message.text]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(str(node.get("text")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.blocks)
    return "\n".join(found)


def checks(*names: str) -> list[dict[str, str | None]]:
    return [{"check": name, "code": "CODE", "message": f"Atlassian says {name}."} for name in names]


# -- the card in every state ------------------------------------------------------------------


@pytest.mark.parametrize("state", list(SessionState))
def test_card_is_valid_block_kit_in_every_state(state: SessionState) -> None:
    """Every state renders a valid card whose buttons all carry only the session id."""
    session = make_session(
        state,
        failed_checks=checks(*EVERY_CHECK) if state is not SessionState.AWAITING_START else [],
        started_by=None if state is SessionState.AWAITING_START else "UAPPROVER",
        restore_id=None if state is SessionState.AWAITING_START else "rst-1",
        outcome="Atlassian reports complete." if state is SessionState.DONE else None,
    )
    message = card(session)
    assert_valid_message(message)
    assert rb.STATE_LINES[state] in everything(message)
    assert {button["value"] for button in buttons(message)} <= {SESSION_ID}


@pytest.mark.parametrize("state", list(SessionState))
def test_only_states_waiting_for_a_person_offer_buttons(state: SessionState) -> None:
    """Start only while awaiting start, consent only while awaiting consent, Cancel while open."""
    session = make_session(state, failed_checks=checks(ConsentCheck.CONFLICTING_SPACE.value))
    ids = [button["action_id"] for button in buttons(card(session))]
    assert (rb.ACTION_START in ids) is (state is SessionState.AWAITING_START)
    assert (rb.ACTION_CANCEL in ids) is (state in OPEN_STATES)
    has_consent = any(action.startswith(rb.ACTION_ANSWER_PREFIX) for action in ids)
    assert has_consent is (state is SessionState.AWAITING_CONSENT)


def test_awaiting_start_shows_what_will_be_restored_and_by_whom() -> None:
    """The card names backup, product, age, expiry, source, destination, options, requester."""
    shown = everything(card(make_session(include_attachments=False)))
    for expected in (
        "`bkp-acme-jira-complete`",
        "Jira",
        "8 days",
        "expires",
        "acme → *acme-staging*",
        "attachments no",
        "users and groups yes",
        "<@UADMIN>",
        "Decide before",
    ):
        assert expected in shown, expected


def test_start_button_asks_for_confirmation_as_a_danger() -> None:
    """Start is styled as danger and confirms first, naming the backup and the destination."""
    [start] = [b for b in buttons(card(make_session())) if b["action_id"] == rb.ACTION_START]
    assert start["style"] == "danger"
    assert "bkp-acme-jira-complete" in start["confirm"]["text"]["text"]
    assert "acme-staging" in start["confirm"]["text"]["text"]


def test_each_failed_check_has_its_meaning_and_its_own_buttons() -> None:
    """Every kind of failed check is explained in plain words with buttons that answer it."""
    session = make_session(SessionState.AWAITING_CONSENT, failed_checks=checks(*EVERY_CHECK))
    message = card(session)
    assert_valid_message(message)
    shown = everything(message)
    for check in EVERY_CHECK:
        # Atlassian's message names only the API's identifier: the bot says it in words.
        said = check_text(check, f"Atlassian says {check}.", "acme-staging", session.product)
        assert said in shown
        assert f"Atlassian says {check}" not in shown
    ids = [button["action_id"] for button in buttons(message)]
    expected = [rb.answer_action_id(check, check) for check in EVERY_CHECK[:-1]] + [
        rb.answer_action_id(ConsentCheck.ACCEPT_CUSTOM_GROUP.value, consent.value)
        for consent in (ConsentCheck.ACCEPT_CUSTOM_GROUP, ConsentCheck.DENY_CUSTOM_GROUP)
    ]
    assert ids == [*expected, rb.ACTION_CANCEL]
    labels = [button["text"]["text"] for button in buttons(message)]
    assert labels.count("Consent") == len(EVERY_CHECK) - 1
    assert "Accept custom groups" in labels
    assert "Deny custom groups" in labels


def test_an_answered_check_names_who_answered_and_loses_its_buttons() -> None:
    """An answer replaces the check's buttons with who gave it; the others stay clickable."""
    space, groups = ConsentCheck.CONFLICTING_SPACE.value, ConsentCheck.ACCEPT_CUSTOM_GROUP.value
    session = make_session(
        SessionState.AWAITING_CONSENT,
        failed_checks=checks(space, groups, ConsentCheck.PRODUCT_LICENSE.value),
        answers={
            space: {"consent": space, "by": "UAPPROVER", "at": NOW.isoformat()},
            groups: {
                "consent": ConsentCheck.DENY_CUSTOM_GROUP.value,
                "by": "UADMIN",
                "at": NOW.isoformat(),
            },
        },
    )
    message = card(session)
    shown = everything(message)
    assert "<@UAPPROVER> gave consent." in shown
    assert "<@UADMIN> denied the custom groups: they are left out." in shown
    ids = [button["action_id"] for button in buttons(message)]
    assert ids == [rb.answer_action_id(*[ConsentCheck.PRODUCT_LICENSE.value] * 2), rb.ACTION_CANCEL]


def test_answers_stay_on_the_card_once_the_restore_runs() -> None:
    """A running card still shows who consented to what, without any button."""
    space = ConsentCheck.CONFLICTING_SPACE.value
    session = make_session(
        SessionState.RUNNING,
        failed_checks=checks(space),
        answers={space: {"consent": space, "by": "UAPPROVER", "at": NOW.isoformat()}},
        started_by="UAPPROVER",
        restore_id="rst-1",
        migration_id="mig-1",
    )
    message = card(session, restore_status="IN_PROGRESS")
    shown = everything(message)
    assert "<@UAPPROVER> gave consent." in shown
    assert "Started by <@UAPPROVER> · restore `rst-1`" in shown
    assert "mig-1" not in shown
    assert "IN PROGRESS" in shown
    assert buttons(message) == []


def test_a_finished_card_shows_the_outcome_and_the_report_link() -> None:
    """DONE shows Atlassian's outcome and the post-restore report as a link."""
    session = make_session(
        SessionState.DONE,
        started_by="UAPPROVER",
        restore_id="rst-1",
        outcome="Atlassian reports incomplete: spaces ARCHIVE and LEGACY were missing.",
        report_url="https://admin.atlassian.com/report/1",
    )
    message = card(session, restore_status="INCOMPLETE")
    assert_valid_message(message)
    shown = everything(message)
    assert "spaces ARCHIVE and LEGACY were missing" in shown
    assert "<https://admin.atlassian.com/report/1|Post-restore report>" in shown


# -- escaping and limits ------------------------------------------------------------------------


def test_labels_ids_and_api_text_cannot_mention_or_link() -> None:
    """A hostile destination label, backup id, check message or outcome is shown escaped."""
    session = make_session(
        SessionState.AWAITING_CONSENT,
        dest_label=INJECTION,
        backup_id=f"bkp-{INJECTION}",
        failed_checks=[
            {"check": ConsentCheck.CONFLICTING_SPACE.value, "code": "X", "message": INJECTION},
            {"check": f"Strange_{INJECTION}", "code": None, "message": None},
        ],
    )
    for message in (
        card(session),
        card(make_session(SessionState.FAILED, dest_label=INJECTION, outcome=INJECTION)),
        card(make_session(dest_label=INJECTION, backup_id=INJECTION), facts=FACTS),
        card(make_session(), facts=BackupFacts(None, None, INJECTION, INJECTION)),
    ):
        assert_valid_message(message)
        shown = mrkdwn(message)
        assert "<!channel>" not in shown
        assert "<https://evil" not in shown
        assert "<@U0BOSS>" not in shown
        assert "&lt;!channel&gt;" in shown


def test_very_long_labels_and_messages_stay_inside_slacks_limits() -> None:
    """A 500-character label and 5000-character API messages are cut to fit, never refused."""
    session = make_session(
        SessionState.AWAITING_CONSENT,
        dest_label="d" * 500,
        failed_checks=[
            {"check": check, "code": "C" * 300, "message": "m" * 5000} for check in EVERY_CHECK
        ],
    )
    message = card(session, facts=BackupFacts(None, None, "COMPLETE", "w" * 5000))
    assert_valid_message(message)
    header = message.blocks[0]
    assert header["type"] == "header"
    assert len(header["text"]["text"]) <= 150


def test_answer_action_ids_round_trip() -> None:
    """The action id of an answer gives back its check and consent; other ids give None."""
    check, consent = ConsentCheck.ACCEPT_CUSTOM_GROUP.value, ConsentCheck.DENY_CUSTOM_GROUP.value
    assert rb.parse_answer_action_id(rb.answer_action_id(check, consent)) == (check, consent)
    assert rb.parse_answer_action_id(rb.ACTION_START) is None
    assert rb.parse_answer_action_id(rb.ACTION_ANSWER_PREFIX + "only-a-check") is None
    assert len(rb.answer_action_id(check, consent)) <= 255


def test_thread_lines_are_valid_messages() -> None:
    """A line in the card's thread is a valid message with the same text for notifications."""
    line = ":rocket: Restore `rst-1` is running on acme-staging."
    message = rb.restore_thread_line(make_session(), line)
    assert_valid_message(message)
    assert message.text == line


# -- the form -------------------------------------------------------------------------------------


def restorable(count: int, *, site: str = "acme") -> list[rb.RestorableBackup]:
    return [
        rb.RestorableBackup(
            backup=Backup(
                backupId=f"bkp-{n:03d}",
                cloudId=ACME,
                product="JIRA",
                status="COMPLETE",
                createdAt=NOW - timedelta(days=n % 14),
                expiryTime=NOW + timedelta(days=14 - n % 14),
            ),
            site=site,
            age=f"{n % 14} days",
            expiry=NOW + timedelta(days=14 - n % 14),
        )
        for n in range(count)
    ]


DESTINATIONS = [("acme", ACME), ("acme-sandbox", "2" * 8), ("acme-staging", STAGING)]


def test_the_form_opens_with_only_the_product_picker() -> None:
    """Before a product is picked the form asks for nothing else and cannot be submitted."""
    view = rb.restore_modal(product=None, backups=[], destinations=[])
    assert_valid_view(view)
    assert "private_metadata" not in view
    assert "submit" not in view
    assert [block["block_id"] for block in view["blocks"]] == [rb.BLOCK_PRODUCT]


def test_the_form_lists_backups_destinations_and_options_once_a_product_is_picked() -> None:
    """With restorable backups the form offers them, every site, the options and Submit."""
    view = rb.restore_modal(
        product=Product.JIRA,
        backups=restorable(3),
        destinations=DESTINATIONS,
    )
    assert_valid_view(view)
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    options = by_id[rb.BLOCK_BACKUP]["element"]["options"]
    assert [rb.parse_backup_option_value(o["value"]) for o in options] == [
        (f"bkp-{n:03d}", ACME) for n in range(3)
    ]
    assert [o["value"] for o in by_id[rb.BLOCK_DEST]["element"]["options"]] == [
        cloud_id for _alias, cloud_id in DESTINATIONS
    ]
    assert by_id[rb.BLOCK_OPTIONS]["optional"] is True
    assert view["submit"]["text"] == "Request restore"


def test_the_form_says_when_nothing_can_be_restored() -> None:
    """No restorable backup: the form says so and offers no Submit."""
    view = rb.restore_modal(product=Product.CONFLUENCE, backups=[], destinations=DESTINATIONS)
    assert_valid_view(view)
    assert "No Confluence backup can be restored right now." in json.dumps(view)
    assert "submit" not in view


def test_the_form_stays_inside_slacks_limits_with_many_backups_and_long_names() -> None:
    """150 backups and long site names still give a valid form of at most 100 options."""
    view = rb.restore_modal(
        product=Product.JIRA,
        backups=restorable(150, site="s" * 200),
        destinations=[(f"site-{n}-" + "x" * 200, f"{n:08d}") for n in range(120)],
        note=INJECTION,
    )
    assert_valid_view(view)
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    assert len(by_id[rb.BLOCK_BACKUP]["element"]["options"]) == 100
    assert len(by_id[rb.BLOCK_DEST]["element"]["options"]) == 100
    assert "<!channel>" not in json.dumps(view)


def test_the_loading_form_carries_nothing_the_bot_trusts() -> None:
    """The interim "looking up" form has no metadata: the bot keeps the form's channel."""
    view = rb.loading_modal()
    assert_valid_view(view)
    assert "private_metadata" not in view


def test_a_picked_backup_leaves_its_site_out_and_sets_its_attachments_default() -> None:
    """With a backup picked, the options block is that backup's, attachments as it has them."""
    view = rb.restore_modal(
        product=Product.JIRA,
        backups=restorable(2),
        destinations=DESTINATIONS[1:],
        picked=1,
        attachments=False,
    )
    assert_valid_view(view)
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    options = by_id[rb.options_block_id(1)]["element"]
    assert [o["value"] for o in options["initial_options"]] == ["users"]
    assert all(by_id[b]["dispatch_action"] for b in (rb.BLOCK_BACKUP, rb.BLOCK_DEST))


@pytest.mark.parametrize(
    ("backup_id", "source"),
    [("bkp-1", ACME), ("bkp@odd@id", ACME), ("bkp-2", None)],
)
def test_backup_choices_round_trip_with_their_source_site(
    backup_id: str, source: str | None
) -> None:
    """A backup choice gives back its id and source site, even for an id containing '@'."""
    value = rb.backup_option_value(backup_id, source)
    assert rb.parse_backup_option_value(value) == (backup_id, source)


def test_each_backup_in_the_form_shows_its_id_status_age_and_expiry() -> None:
    """An option names the backup's id and age, marks an incomplete one, and gives its site
    and expiry in the one plain date format below it."""
    complete, incomplete = restorable(2)
    incomplete = rb.RestorableBackup(
        backup=incomplete.backup.model_copy(update={"status": "INCOMPLETE"}),
        site=incomplete.site,
        age=incomplete.age,
        expiry=incomplete.expiry,
    )
    view = rb.restore_modal(
        product=Product.JIRA, backups=[complete, incomplete], destinations=DESTINATIONS
    )
    assert_valid_view(view)
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    first, second = by_id[rb.BLOCK_BACKUP]["element"]["options"]
    assert first["text"]["text"] == "bkp-000 · 0 days old"
    assert first["description"]["text"] == "from acme · expires 2026-11-15 09:00 UTC"
    assert second["text"]["text"] == "⚠ INCOMPLETE · bkp-001 · 1 days old"
    assert second["description"]["text"] == "from acme · expires 2026-11-14 09:00 UTC"
