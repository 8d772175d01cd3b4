"""The restore form trusts nothing the client sends: signed requests over loopback HTTP against
the Bolt app, the simulator and a real Redis.

The form's channel, opener and offer are kept by the bot under the view id; every step checks
who acts, every submitted value is checked against what was offered, and refusals are shown
beside their fields so the form can be fixed and sent again.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.atlassian.models import Product
from bot.localslack.driver import VERIFICATION_TOKEN, SlackResponse
from bot.localslack.web_api import OpenView
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    JIRA_COMPLETE_BACKUP,
    SANDBOX_CLOUD_ID,
    STAGING_CLOUD_ID,
)
from bot.slack import restore_blocks as rb
from bot.slack.restore_form import FORM_LIFETIME
from tests.fixtures.bot_harness import ADMIN, CHANNEL, VIEWER, BotHarness
from tests.test_restore_flow import (
    JIRA_OPTION,
    audit_entries,
    card_text,
    cards,
    request_restore,
    the_card,
)


async def open_form(harness: BotHarness, *, pick_backup: bool = True) -> OpenView:
    """`/restore` as the admin in the channel, Jira picked, and the Jira backup if asked."""
    await harness.slash("", command="/restore")
    [view] = harness.slack.views.values()
    await harness.driver.select(view, rb.MODAL_PRODUCT_ACTION, Product.JIRA.value)
    await harness.settle()
    if pick_backup:
        await harness.driver.select(view.id, rb.ACTION_BACKUP, JIRA_OPTION)
        await harness.settle()
    return harness.slack.views[view.id]


def element(view: OpenView, block_prefix: str) -> dict[str, Any]:
    [block] = [b for b in view.blocks if str(b.get("block_id", "")).startswith(block_prefix)]
    found: dict[str, Any] = block.get("element") or block["accessory"]
    return found


def form_action(harness: BotHarness, view: OpenView, user: str, action: dict[str, Any]) -> bytes:
    """A signed block_actions request on ``view`` as ``user``, whoever's screen it is on."""
    slack = harness.slack
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "team_id": slack.team_id},
        "api_app_id": slack.app_id,
        "token": VERIFICATION_TOKEN,
        "team": {"id": slack.team_id, "domain": slack.team_domain},
        "container": {"type": "view", "view_id": view.id},
        "view": {**view.view, "state": {"values": {}}},
        "trigger_id": slack.issue_trigger_id(user),
        "actions": [{**action, "action_ts": "1.0"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def refusals(harness: BotHarness) -> list[dict[str, str]]:
    return [
        e
        for e in await audit_entries(harness)
        if e["action"] == "restore_form" and e["outcome"] == "refused"
    ]


async def submit(
    harness: BotHarness, view: OpenView, values: dict[Any, Any], user: str = ADMIN
) -> SlackResponse:
    response = await harness.driver.submit_view(view.id, values, user=user)
    assert response.status == 200, response.text
    await harness.settle()
    return response


# -- nothing in the view is trusted ---------------------------------------------------------


@pytest.mark.parametrize("tampered", ["CEVIL", "C" * 10_000], ids=["another-channel", "10-kb"])
async def test_a_tampered_private_metadata_does_not_move_the_card(
    bot_harness: BotHarness, tampered: str
) -> None:
    """`private_metadata` rewritten by the client: the card goes where the form was opened."""
    harness = bot_harness
    view = await open_form(harness)
    view.view["private_metadata"] = tampered
    await submit(harness, view, {rb.ACTION_DEST: STAGING_CLOUD_ID})
    assert harness.slack.messages(tampered) == []
    assert "acme → *acme-staging*" in card_text(the_card(harness))


@pytest.mark.parametrize(
    ("values", "block"),
    [
        ({rb.ACTION_BACKUP: rb.backup_option_value("bkp-not-offered", ACME_CLOUD_ID)}, "backup"),
        ({rb.ACTION_DEST: "44444444-4444-4444-8444-444444444444"}, "destination"),
        ({rb.ACTION_OPTIONS: ["attachments", "wipe-the-site"]}, "options"),
    ],
    ids=["backup", "destination", "option"],
)
async def test_a_value_the_form_did_not_offer_is_a_field_error(
    bot_harness: BotHarness, values: dict[str, Any], block: str
) -> None:
    """A forged backup, site or option is refused beside its own field, and audited."""
    harness = bot_harness
    view = await open_form(harness)
    # What the client sends is the client's: add the forged option to what it can pick.
    for item in view.blocks:
        if item.get("block_id") in (rb.BLOCK_BACKUP, rb.BLOCK_DEST) or str(
            item.get("block_id", "")
        ).startswith(rb.BLOCK_OPTIONS):
            field = item["element"]
            [forged] = [v for v in values.values()]
            for value in forged if isinstance(forged, list) else [forged]:
                if value not in [o["value"] for o in field["options"]]:
                    text = {"type": "plain_text", "text": value}
                    field["options"].append({"text": text, "value": value})
    response = await submit(harness, view, {rb.ACTION_DEST: SANDBOX_CLOUD_ID, **values})
    assert response.json["response_action"] == "errors"
    assert [b.partition("-")[0] for b in response.json["errors"]] == [block]
    assert view.id in harness.slack.views
    assert cards(harness) == []
    assert len(await refusals(harness)) == 1


async def test_a_viewer_acting_on_the_form_is_refused_privately_not_an_error(
    bot_harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """A viewer's product pick on an admin's form: told alone, audited, the form untouched."""
    harness = bot_harness
    view = await open_form(harness, pick_backup=False)
    updates = len(harness.slack.calls_to("views.update"))
    caplog.set_level(logging.WARNING)
    body = form_action(
        harness,
        view,
        VIEWER,
        {
            "action_id": rb.MODAL_PRODUCT_ACTION,
            "block_id": rb.BLOCK_PRODUCT,
            "type": "static_select",
            "selected_option": {"value": Product.CONFLUENCE.value},
        },
    )
    response = await harness.driver.post_signed(body)
    assert response.status == 200
    await harness.settle()
    assert len(harness.slack.calls_to("views.update")) == updates
    [told] = harness.slack.ephemerals(user=VIEWER, channel=CHANNEL)
    assert "Only the person who opened this restore form" in told.text
    assert [e["actor"] for e in await refusals(harness)] == [VIEWER]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_form_sent_as_from_another_workspace_makes_no_card(
    bot_harness: BotHarness,
) -> None:
    """A form is kept with the workspace it was opened in: the same view id sent from any
    other workspace is refused inside the form and audited, and no card is posted."""
    harness = bot_harness
    view = await open_form(harness)
    key = f"{harness.services.operations.key_prefix}restore:form:{view.id}"
    record = await harness.services.redis.get(key)
    assert record is not None
    assert harness.slack.team_id in str(record)
    await harness.services.redis.set(key, str(record).replace(harness.slack.team_id, "T0OTHER"))
    response = await submit(harness, view, {rb.ACTION_DEST: STAGING_CLOUD_ID})
    assert response.json["response_action"] == "update"
    assert cards(harness) == []
    assert [e["actor"] for e in await refusals(harness)] == [ADMIN]


async def test_a_form_the_bot_never_opened_is_refused_inside_it(bot_harness: BotHarness) -> None:
    """A submission for a view id with no record gets the form replaced by one sentence."""
    harness = bot_harness
    view = await open_form(harness)
    await harness.services.redis.delete(
        f"{harness.services.operations.key_prefix}restore:form:{view.id}"
    )
    response = await submit(harness, view, {rb.ACTION_DEST: STAGING_CLOUD_ID})
    assert response.json["response_action"] == "update"
    assert "no longer open" in json.dumps(response.json["view"])
    assert cards(harness) == []
    assert len(await refusals(harness)) == 1


async def test_a_form_older_than_its_lifetime_is_refused(bot_harness: BotHarness) -> None:
    """Age is measured on the bot's clock from the opening, not by the Redis TTL."""
    harness = bot_harness
    view = await open_form(harness)
    harness.simulator.clock.advance(FORM_LIFETIME.total_seconds())
    response = await submit(harness, view, {rb.ACTION_DEST: STAGING_CLOUD_ID})
    assert response.json["response_action"] == "update"
    assert cards(harness) == []


# -- one attachments default --------------------------------------------------------------


async def test_the_form_as_shown_asks_for_what_restore_start_asks_for(
    bot_harness: BotHarness,
) -> None:
    """Submitted as shown, the form includes attachments exactly when `/restore start` does."""
    harness = bot_harness
    view = await open_form(harness)
    ticked = [o["value"] for o in element(view, rb.BLOCK_OPTIONS)["initial_options"]]
    assert ticked == ["attachments", "users"]
    await submit(harness, view, {rb.ACTION_DEST: STAGING_CLOUD_ID})
    [from_form] = await harness.services.sessions.unfinished()

    await harness.slash(f"start {JIRA_COMPLETE_BACKUP} to=acme-sandbox", command="/restore")
    unfinished = await harness.services.sessions.unfinished()
    from_command = [s for s in unfinished if s.dest_cloud_id == SANDBOX_CLOUD_ID]
    assert [s.include_attachments for s in from_command] == [from_form.include_attachments]
    assert from_form.include_attachments is True


# -- refusals inside the form -----------------------------------------------------------


async def test_the_form_never_offers_the_backups_own_site(bot_harness: BotHarness) -> None:
    """Once the acme backup is picked, acme is not among the destinations."""
    view = await open_form(bot_harness)
    offered = [o["value"] for o in element(view, rb.BLOCK_DEST)["options"]]
    assert ACME_CLOUD_ID not in offered
    assert set(offered) == {SANDBOX_CLOUD_ID, STAGING_CLOUD_ID}


async def test_a_rule_refusing_the_submission_is_shown_beside_its_field_and_clears_on_change(
    bot_harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """A destination busy with another restore: an error on the destination, no traceback;
    picking another site redraws the form (which clears the error), and it then goes through."""
    harness = bot_harness
    await request_restore(harness, JIRA_COMPLETE_BACKUP, "acme-staging")
    first_card = the_card(harness)
    caplog.set_level(logging.WARNING)
    view = await open_form(harness)
    await harness.driver.select(view.id, rb.ACTION_DEST, STAGING_CLOUD_ID)
    await harness.settle()

    refused = await submit(harness, view, {})
    assert refused.json["response_action"] == "errors"
    assert list(refused.json["errors"]) == [rb.BLOCK_DEST]
    assert (
        "under way" in refused.json["errors"][rb.BLOCK_DEST]
        or "acme-staging" in (refused.json["errors"][rb.BLOCK_DEST])
    )
    assert view.id in harness.slack.views
    assert cards(harness) == [first_card]

    updates = len(harness.slack.calls_to("views.update"))
    await harness.driver.select(view.id, rb.ACTION_DEST, SANDBOX_CLOUD_ID)
    await harness.settle()
    assert len(harness.slack.calls_to("views.update")) == updates + 1

    accepted = await submit(harness, view, {})
    assert accepted.json is None
    assert len(cards(harness)) == 2
    assert not [r for r in caplog.records if r.exc_info]
    assert "view submissions carry no response_url" not in caplog.text
