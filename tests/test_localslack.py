"""The local stand-in for Slack, exercised with the real slack_sdk client and a real Bolt app."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

import bot.localslack
from bot.clock import ManualClock
from bot.localslack import Forgery, SlackDriver, SlackWebApi, sign
from tests.fixtures.slack_api import SlackApiFactory

TOKEN = "xoxb-test"
SECRET = "local-signing-secret"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(action_id: str, text: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": _plain(text), "value": value}


def _actions(*elements: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements)}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def _input(block_id: str, action_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(block_id),
        "element": {"type": "plain_text_input", "action_id": action_id},
        **extra,
    }


def _select(action_id: str, *values: str) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": _plain("Choose"),
        "options": [{"text": _plain(v), "value": v} for v in values],
    }


def client_for(api: SlackWebApi, token: str = TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=api.url)


@asynccontextmanager
async def serving(app: AsyncApp) -> AsyncIterator[str]:
    """Serve a Bolt app over HTTP on a free loopback port; yields its events URL."""
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/slack/events"
    finally:
        await runner.cleanup()


def bolt_app(api: SlackWebApi) -> AsyncApp:
    return AsyncApp(client=client_for(api), signing_secret=SECRET)


# --------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------


def test_sign_produces_headers_slack_sdk_accepts() -> None:
    """The signature and timestamp headers pass slack_sdk's own verifier."""
    body = b"token=x&command=%2Fbackup&text=policy+list"
    now = int(time.time())
    headers = sign(SECRET, body, now)
    verifier = SignatureVerifier(SECRET)
    assert headers["X-Slack-Request-Timestamp"] == str(now)
    assert verifier.is_valid(body, str(now), headers["X-Slack-Signature"])
    assert headers["X-Slack-Signature"] == verifier.generate_signature(
        timestamp=str(now), body=body
    )


def test_sign_depends_on_secret_and_body() -> None:
    """A different secret or a changed body no longer verifies."""
    now = int(time.time())
    headers = sign(SECRET, b"text=a", now)
    verifier = SignatureVerifier(SECRET)
    assert not verifier.is_valid(b"text=b", str(now), headers["X-Slack-Signature"])
    assert not verifier.is_valid(
        b"text=a", str(now), sign("another", b"text=a", now)["X-Slack-Signature"]
    )


def test_public_surface_is_pinned() -> None:
    """The package exports exactly the names other parts of the bot rely on."""
    assert sorted(bot.localslack.__all__) == [
        "ApiCall",
        "Ephemeral",
        "Forgery",
        "Message",
        "MessageEdit",
        "OpenView",
        "ResponsePost",
        "SlackDriver",
        "SlackResponse",
        "SlackWebApi",
        "block_errors",
        "sign",
        "view_errors",
    ]


# --------------------------------------------------------------------------------------
# The fake Web API through the real AsyncWebClient
# --------------------------------------------------------------------------------------


async def test_auth_test_reports_the_bot_identity(slack_api: SlackWebApi) -> None:
    """auth.test answers with the team and bot user the server was built with."""
    answer = await client_for(slack_api).auth_test()
    assert answer["team_id"] == "T0LOCAL"
    assert answer["user_id"] == "UBOT"
    assert answer["bot_id"] == slack_api.bot_id
    assert answer["url"].startswith("https://")


async def test_post_message_is_stored_and_returned(slack_api: SlackWebApi) -> None:
    """chat.postMessage stores the message and answers with its channel, ts and body."""
    answer = await client_for(slack_api).chat_postMessage(
        channel="C1", text="Backup started", blocks=SECTION_BLOCKS
    )
    assert answer["channel"] == "C1"
    [message] = slack_api.messages("C1")
    assert message.ts == answer["ts"] == answer["message"]["ts"]
    assert message.text == "Backup started"
    assert message.blocks[0]["text"]["text"] == "*Backup* of `acme` started"
    assert message.user == "UBOT"
    assert slack_api.messages("C2") == []


async def test_ts_values_are_unique_and_increasing_even_when_time_stands_still(
    make_slack_api: SlackApiFactory,
) -> None:
    """Messages posted at the same instant in different channels still get distinct, ordered ts."""
    api = await make_slack_api(clock=ManualClock(datetime(2026, 11, 1, 9, 0, tzinfo=UTC)))
    client = client_for(api)
    stamps = [
        (await client.chat_postMessage(channel=channel, text="x"))["ts"]
        for channel in ("C1", "C2", "C1", "C3")
    ]
    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="x")
    stamps.append(ephemeral["message_ts"])
    assert len(set(stamps)) == len(stamps)
    assert [float(ts) for ts in stamps] == sorted(float(ts) for ts in stamps)
    assert stamps[0] == "1793523600.000000"


async def test_thread_replies_join_the_root_thread(slack_api: SlackWebApi) -> None:
    """Replies list under their parent, and a reply to a reply joins the parent's thread."""
    client = client_for(slack_api)
    parent = await client.chat_postMessage(channel="C1", text="Restore requested")
    first = await client.chat_postMessage(channel="C1", text="step 1", thread_ts=parent["ts"])
    await client.chat_postMessage(channel="C1", text="step 2", thread_ts=first["ts"])
    await client.chat_postMessage(channel="C1", text="unrelated")
    thread = slack_api.thread("C1", parent["ts"])
    assert [m.text for m in thread] == ["Restore requested", "step 1", "step 2"]
    assert {m.thread_ts for m in thread[1:]} == {parent["ts"]}


async def test_reply_to_a_missing_thread_is_refused(slack_api: SlackWebApi) -> None:
    """A thread_ts that names no message in the channel is an error, not a silent orphan."""
    client = client_for(slack_api)
    parent = await client.chat_postMessage(channel="C1", text="root")
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C2", text="reply", thread_ts=parent["ts"])
    assert raised.value.response["error"] == "thread_not_found"


async def test_update_edits_the_message_and_keeps_history(slack_api: SlackWebApi) -> None:
    """chat.update replaces the text, keeps blocks it was not given, and records the old version."""
    client = client_for(slack_api)
    posted = await client.chat_postMessage(channel="C1", text="Running", blocks=SECTION_BLOCKS)
    answer = await client.chat_update(channel="C1", ts=posted["ts"], text="Done")
    [message] = slack_api.messages()
    assert answer["text"] == "Done"
    assert message.text == "Done"
    assert message.blocks[0]["text"]["text"] == "*Backup* of `acme` started"
    assert [edit.text for edit in message.edits] == ["Running"]


async def test_update_of_unknown_or_ephemeral_message_is_refused(slack_api: SlackWebApi) -> None:
    """chat.update of a ts that is no channel message, an ephemeral included, fails."""
    client = client_for(slack_api)
    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    for ts in ("1700000000.000100", ephemeral["message_ts"]):
        with pytest.raises(SlackApiError) as raised:
            await client.chat_update(channel="C1", ts=ts, text="edit")
        assert raised.value.response["error"] == "message_not_found"


async def test_ephemeral_is_stored_apart_with_its_user(slack_api: SlackWebApi) -> None:
    """chat.postEphemeral returns message_ts and is visible only among the user's ephemerals."""
    answer = await client_for(slack_api).chat_postEphemeral(
        channel="C1", user="U7", text="Not allowed", blocks=SECTION_BLOCKS
    )
    assert slack_api.messages() == []
    [ephemeral] = slack_api.ephemerals(user="U7")
    assert ephemeral.message_ts == answer["message_ts"]
    assert ephemeral.channel == "C1"
    assert slack_api.ephemerals(user="U1") == []
    assert slack_api.ephemerals(channel="C2") == []


async def test_blocks_without_text_are_flagged_but_accepted(slack_api: SlackWebApi) -> None:
    """Blocks without a top-level text still post, and the call is marked missing_text."""
    client = client_for(slack_api)
    with pytest.warns(UserWarning, match="top-level `text`"):
        await client.chat_postMessage(channel="C1", blocks=SECTION_BLOCKS)
    await client.chat_postMessage(channel="C1", text="fallback", blocks=SECTION_BLOCKS)
    flags = [call.missing_text for call in slack_api.calls_to("chat.postMessage")]
    assert flags == [True, False]
    assert len(slack_api.messages()) == 2


async def test_wrong_token_is_refused_and_never_recorded(slack_api: SlackWebApi) -> None:
    """A wrong bot token gets invalid_auth, and no recorded call carries a token."""
    with pytest.raises(SlackApiError) as raised:
        await client_for(slack_api, token="xoxb-stolen").chat_postMessage(channel="C1", text="x")
    assert raised.value.response["error"] == "invalid_auth"
    assert slack_api.messages() == []
    await client_for(slack_api).api_call(
        "chat.postMessage", data={"token": TOKEN, "channel": "C1", "text": "token in the form"}
    )
    assert "xoxb" not in repr(slack_api.calls)
    assert "xoxb" not in slack_api.summary()


async def test_form_encoded_calls_are_decoded(slack_api: SlackWebApi) -> None:
    """A form body with blocks as a JSON string is accepted like a JSON body."""
    await client_for(slack_api).api_call(
        "chat.postMessage",
        data={"channel": "C9", "text": "form", "blocks": json.dumps(SECTION_BLOCKS)},
    )
    [message] = slack_api.messages("C9")
    assert message.blocks[0]["type"] == "section"
    assert slack_api.calls[-1].args["channel"] == "C9"


async def test_unknown_method_is_answered_and_recorded(slack_api: SlackWebApi) -> None:
    """A method the fake does not implement fails with unknown_method and is still recorded."""
    with pytest.raises(SlackApiError) as raised:
        await client_for(slack_api).api_call("reactions.add", json={"name": "tada"})
    assert raised.value.response["error"] == "unknown_method"
    assert slack_api.calls_to("reactions.add")[0].ok is False


async def test_users_and_conversations_info(slack_api: SlackWebApi) -> None:
    """users.info and conversations.info answer with the id asked for and a name."""
    slack_api.add_user("U5", "dana")
    client = client_for(slack_api)
    user = (await client.users_info(user="U5"))["user"]
    channel = (await client.conversations_info(channel="C5"))["channel"]
    assert (user["id"], user["name"]) == ("U5", "dana")
    assert channel["id"] == "C5"
    assert channel["name"]


# -- modals and Home ------------------------------------------------------------------


async def test_views_open_needs_a_fresh_unused_trigger(make_slack_api: SlackApiFactory) -> None:
    """A trigger works once within 3 s; reuse, age or an unknown id give expired_trigger_id."""
    clock = ManualClock()
    api = await make_slack_api(clock=clock)
    client = client_for(api)
    trigger = api.issue_trigger_id("U1")
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    assert opened["view"]["id"] in api.views
    assert api.views[opened["view"]["id"]].user == "U1"

    late = api.issue_trigger_id("U1")
    clock.advance(3.5)
    for bad in (trigger, late, "1.2.never-issued"):
        with pytest.raises(SlackApiError) as raised:
            await client.views_open(trigger_id=bad, view=MODAL)
        assert raised.value.response["error"] == "expired_trigger_id"
    assert len(api.views) == 1


async def test_view_ids_are_unique(slack_api: SlackWebApi) -> None:
    """Every opened view gets an id of its own."""
    client = client_for(slack_api)
    ids = {
        (await client.views_open(trigger_id=slack_api.issue_trigger_id("U1"), view=MODAL))["view"][
            "id"
        ]
        for _ in range(5)
    }
    assert len(ids) == 5


async def test_views_update_checks_the_hash(slack_api: SlackWebApi) -> None:
    """views.update replaces the view by id; an outdated hash gets hash_conflict."""
    client = client_for(slack_api)
    opened = (await client.views_open(trigger_id=slack_api.issue_trigger_id("U1"), view=MODAL))[
        "view"
    ]
    updated = await client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**MODAL, "title": _plain("Updated")}
    )
    assert slack_api.views[opened["id"]].view["title"]["text"] == "Updated"
    assert updated["view"]["hash"] != opened["hash"]
    with pytest.raises(SlackApiError) as raised:
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL)
    assert raised.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as missing:
        await client.views_update(view_id="VNOPE", view=MODAL)
    assert missing.value.response["error"] == "not_found"


async def test_views_push_stacks_on_the_modal_the_trigger_came_from(
    slack_api: SlackWebApi,
) -> None:
    """views.push needs a trigger from inside a modal and stacks the new view on it."""
    client = client_for(slack_api)
    root = (await client.views_open(trigger_id=slack_api.issue_trigger_id("U1"), view=MODAL))[
        "view"
    ]
    pushed = await client.views_push(
        trigger_id=slack_api.issue_trigger_id("U1", view_id=root["id"]), view=MODAL
    )
    assert pushed["view"]["previous_view_id"] == root["id"]
    assert pushed["view"]["root_view_id"] == root["id"]
    with pytest.raises(SlackApiError) as raised:
        await client.views_push(trigger_id=slack_api.issue_trigger_id("U1"), view=MODAL)
    assert raised.value.response["error"] == "not_found"


async def test_views_publish_keeps_one_home_per_user(slack_api: SlackWebApi) -> None:
    """views.publish sets a user's Home tab, and publishing again replaces it under the same id."""
    client = client_for(slack_api)
    first = await client.views_publish(user_id="U1", view=HOME)
    second = await client.views_publish(
        user_id="U1", view={**HOME, "blocks": [_section("Two backups")]}
    )
    home = slack_api.home("U1")
    assert home is not None
    assert first["view"]["id"] == second["view"]["id"] == home.id
    assert home.blocks[0]["text"]["text"] == "Two backups"
    assert slack_api.home("U2") is None
    assert slack_api.views == {}


# -- Block Kit validation -------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "51-blocks",
        "button-text-76",
        "button-value-2001",
        "action-id-256",
        "block-id-256",
        "section-3001",
        "unknown-type",
        "duplicate-block-id",
        "unknown-property",
    ],
)
async def test_invalid_message_blocks_are_refused(slack_api: SlackWebApi, case: str) -> None:
    """Blocks over a documented limit or unknown to Block Kit get invalid_blocks and are marked."""
    blocks, fragment = INVALID_MESSAGE_BLOCKS[case]
    with pytest.raises(SlackApiError) as raised:
        await client_for(slack_api).chat_postMessage(channel="C1", text="x", blocks=blocks)
    assert raised.value.response["error"] == "invalid_blocks"
    assert any(fragment in error for error in raised.value.response["errors"])
    [call] = slack_api.calls_to("chat.postMessage")
    assert call.invalid
    assert slack_api.messages() == []


async def test_blocks_at_the_limits_are_accepted(slack_api: SlackWebApi) -> None:
    """Exactly 50 blocks, a 75-character button and a 3000-character section all pass."""
    blocks = [_section(str(n)) for n in range(48)]
    blocks.append(_section("x" * 3000))
    blocks.append(_actions(_button("a" * 255, "b" * 75, "v" * 2000)))
    await client_for(slack_api).chat_postMessage(channel="C1", text="x", blocks=blocks)
    assert len(slack_api.messages()[0].blocks) == 50


@pytest.mark.parametrize("case", ["title-25", "101-blocks", "input-without-submit"])
async def test_invalid_views_are_refused(slack_api: SlackWebApi, case: str) -> None:
    """A modal over the view limits is refused with invalid_blocks and the trigger stays unused."""
    view, fragment = INVALID_VIEWS[case]
    client = client_for(slack_api)
    trigger = slack_api.issue_trigger_id("U1")
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=trigger, view=view)
    assert raised.value.response["error"] == "invalid_blocks"
    assert any(fragment in error for error in raised.value.response["errors"])
    assert slack_api.calls_to("views.open")[0].invalid
    await client.views_open(trigger_id=trigger, view=MODAL)


# -- rate limits ----------------------------------------------------------------------


async def test_injected_429_surfaces_as_slack_api_error(slack_api: SlackWebApi) -> None:
    """An injected rate limit answers HTTP 429 with Retry-After, then the method works again."""
    slack_api.rate_limit("chat.update", count=1, retry_after=7)
    client = client_for(slack_api)
    posted = await client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C1", ts=posted["ts"], text="y")
    assert raised.value.response.status_code == 429
    assert raised.value.response["error"] == "ratelimited"
    assert raised.value.response.headers["Retry-After"] == "7"
    await client.chat_update(channel="C1", ts=posted["ts"], text="y")
    assert [c.status for c in slack_api.calls_to("chat.update")] == [429, 200]


async def test_rate_limit_retry_handler_waits_retry_after_then_succeeds(
    slack_api: SlackWebApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """slack_sdk's rate-limit retry handler honours Retry-After and the retried call succeeds."""
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(builtin_async_handlers, "asyncio", SimpleNamespace(sleep=record_sleep))
    slack_api.rate_limit("chat.postMessage", count=2, retry_after=2)
    client = client_for(slack_api)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    answer = await client.chat_postMessage(channel="C1", text="eventually")
    assert answer["ok"]
    assert [int(w) for w in waits] == [2, 2]
    assert [c.status for c in slack_api.calls_to("chat.postMessage")] == [429, 429, 200]


async def test_enforced_budget_limits_chat_update_per_channel(
    make_slack_api: SlackApiFactory,
) -> None:
    """With enforcement on, the 51st chat.update in a minute in one channel gets a 429."""
    clock = ManualClock()
    api = await make_slack_api(clock=clock)
    api.enforce_rate_limits = True
    client = client_for(api)
    card = await client.chat_postMessage(channel="C1", text="card")
    other = await client.chat_postMessage(channel="C2", text="card")
    for n in range(50):
        await client.chat_update(channel="C1", ts=card["ts"], text=f"v{n}")
        clock.advance(0.5)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C1", ts=card["ts"], text="too many")
    assert raised.value.response.headers["Retry-After"] == "35"
    await client.chat_update(channel="C2", ts=other["ts"], text="another channel")
    clock.advance(35)
    await client.chat_update(channel="C1", ts=card["ts"], text="later")


# -- response_url ---------------------------------------------------------------------


async def test_response_url_takes_five_posts_then_404(slack_api: SlackWebApi) -> None:
    """A response_url accepts five posts, records them, and answers 404 afterwards."""
    url = slack_api.new_response_url(channel="C1", user="U1")
    async with httpx.AsyncClient() as http:
        statuses = [
            (await http.post(url, json={"text": f"reply {n}"})).status_code for n in range(6)
        ]
    assert statuses == [200] * 5 + [404]
    assert [post.text for post in slack_api.responses(url)] == [f"reply {n}" for n in range(5)]
    assert [e.text for e in slack_api.ephemerals(user="U1")] == [f"reply {n}" for n in range(5)]


async def test_response_url_expires_after_thirty_minutes(make_slack_api: SlackApiFactory) -> None:
    """A response_url older than 30 minutes by the server's clock answers 404."""
    clock = ManualClock()
    api = await make_slack_api(clock=clock)
    url = api.new_response_url()
    clock.advance(minutes=31)
    async with httpx.AsyncClient() as http:
        answer = await http.post(url, json={"text": "too late"})
    assert answer.status_code == 404
    assert api.responses() == []


async def test_response_url_replaces_and_deletes_the_original(slack_api: SlackWebApi) -> None:
    """replace_original edits the message the URL came with, delete_original removes it."""
    posted = await client_for(slack_api).chat_postMessage(channel="C1", text="Confirm?")
    url = slack_api.new_response_url(channel="C1", user="U1", message_ts=posted["ts"])
    async with httpx.AsyncClient() as http:
        await http.post(url, json={"replace_original": True, "text": "Confirmed"})
        [message] = slack_api.messages()
        assert (message.text, [e.text for e in message.edits]) == ("Confirmed", ["Confirm?"])
        await http.post(url, json={"delete_original": True})
    assert slack_api.messages() == []


# -- waiting --------------------------------------------------------------------------


async def test_wait_for_wakes_when_the_call_arrives(slack_api: SlackWebApi) -> None:
    """wait_for returns once a later call makes the predicate true."""

    async def post_later() -> None:
        await asyncio.sleep(0)
        await client_for(slack_api).chat_postMessage(channel="C1", text="arrived")

    task = asyncio.create_task(post_later())
    await slack_api.wait_for(lambda api: bool(api.messages("C1")), timeout=5)
    await task
    assert slack_api.messages("C1")[0].text == "arrived"


async def test_wait_for_times_out_with_a_summary(slack_api: SlackWebApi) -> None:
    """wait_for raises AssertionError listing the recorded calls when the state never comes."""
    await client_for(slack_api).chat_postMessage(channel="C1", text="something else")
    with pytest.raises(AssertionError, match=r"chat\.postMessage ok"):
        await slack_api.wait_for(lambda api: bool(api.messages("C2")), timeout=0.05)


# --------------------------------------------------------------------------------------
# The driver against a real Bolt app over HTTP
# --------------------------------------------------------------------------------------


@pytest.fixture
async def bolt(slack_api: SlackWebApi) -> AsyncApp:
    """A Bolt app whose Web API client points at the fake server."""
    return bolt_app(slack_api)


@asynccontextmanager
async def driving(app: AsyncApp, api: SlackWebApi) -> AsyncIterator[SlackDriver]:
    async with serving(app) as events_url, SlackDriver(events_url, SECRET, api) as driver:
        yield driver


async def test_slash_command_reaches_bolt_signed_and_complete(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """A slash command passes Bolt's signature check and carries Slack's fields."""
    received: list[dict[str, Any]] = []

    @bolt.command("/backup")
    async def on_backup(ack: Any, command: dict[str, Any]) -> None:
        received.append(command)
        await ack(f"Working on `{command['text']}`")

    async with driving(bolt, slack_api) as driver:
        response = await driver.slash("/backup", "policy list", user="U9", channel="C3")
    assert response.status == 200
    assert response.text == "Working on `policy list`"
    assert response.elapsed < 3
    [command] = received
    assert command["user_id"] == "U9"
    assert command["channel_id"] == "C3"
    assert command["team_id"] == "T0LOCAL"
    assert command["response_url"] == response.response_url
    assert command["trigger_id"] == response.trigger_id
    assert set(SLASH_FIELDS) <= set(command)


async def test_slash_trigger_opens_a_modal_and_response_url_replies(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """The trigger_id and response_url a slash command carries work against the fake server."""

    @bolt.command("/backup")
    async def on_backup(ack: Any, body: dict[str, Any], client: Any, respond: Any) -> None:
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        await ack()
        await respond("Opened the restore form")

    async with driving(bolt, slack_api) as driver:
        response = await driver.slash("/backup", "restore")
        await slack_api.wait_for(lambda api: bool(api.responses(response.response_url)))
    [view] = slack_api.views.values()
    assert view.user == "U1"
    assert slack_api.responses(response.response_url)[0].text == "Opened the restore form"


async def test_forged_requests_are_rejected_by_bolt(slack_api: SlackWebApi, bolt: AsyncApp) -> None:
    """Wrong secret, stale timestamp, tampered body and no signature all get 401 from Bolt."""
    handled: list[str] = []

    @bolt.command("/backup")
    async def on_backup(ack: Any) -> None:
        handled.append("called")
        await ack()

    async with driving(bolt, slack_api) as driver:
        statuses = {forgery: (await driver.forge(forgery)).status for forgery in Forgery}
        genuine = await driver.slash()
    assert statuses == dict.fromkeys(Forgery, 401)
    assert genuine.status == 200
    assert handled == ["called"]


async def test_click_sends_block_actions_and_respond_replaces_the_card(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """Clicking a card's button reaches the action listener, whose respond() edits the card."""
    actions: list[dict[str, Any]] = []

    @bolt.action("approve")
    async def on_approve(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        actions.append(body)
        await respond(replace_original=True, text="Approved by <@U2>")

    posted = await client_for(slack_api).chat_postMessage(
        channel="C1", text="Approve restore?", blocks=APPROVAL_BLOCKS
    )
    [card] = slack_api.messages()
    async with driving(bolt, slack_api) as driver:
        response = await driver.click(card, "approve", user="U2")
        await slack_api.wait_for(lambda api: api.messages()[0].text == "Approved by <@U2>")
    assert response.status == 200
    [body] = actions
    assert body["type"] == "block_actions"
    assert body["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C1",
        "is_ephemeral": False,
    }
    assert body["message"]["ts"] == posted["ts"]
    assert body["user"]["id"] == "U2"
    assert body["actions"][0]["value"] == "restore-42"
    assert body["actions"][0]["block_id"] == "decision"
    assert body["trigger_id"]


async def test_clicking_a_button_that_is_not_on_the_card_is_impossible(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """A missing action_id, or a button the card lost in an update, raises and sends nothing."""
    received: list[str] = []

    @bolt.action("approve")
    async def on_approve(ack: Any) -> None:
        received.append("approve")
        await ack()

    client = client_for(slack_api)
    posted = await client.chat_postMessage(channel="C1", text="?", blocks=APPROVAL_BLOCKS)
    [card] = slack_api.messages()
    async with driving(bolt, slack_api) as driver:
        with pytest.raises(LookupError, match="no button with action_id 'cancel-everything'"):
            await driver.click(card, "cancel-everything")
        await client.chat_update(
            channel="C1", ts=posted["ts"], text="done", blocks=[_section("Done")]
        )
        with pytest.raises(LookupError):
            await driver.click(card, "approve")
    assert received == []


async def test_click_on_an_ephemeral_is_for_its_user_only(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """An ephemeral's button is clickable by its recipient, with is_ephemeral in the container."""
    containers: list[dict[str, Any]] = []

    @bolt.action("approve")
    async def on_approve(ack: Any, body: dict[str, Any]) -> None:
        containers.append(body["container"])
        await ack()

    await client_for(slack_api).chat_postEphemeral(
        channel="C1", user="U4", text="Approve?", blocks=APPROVAL_BLOCKS
    )
    [ephemeral] = slack_api.ephemerals(user="U4")
    async with driving(bolt, slack_api) as driver:
        with pytest.raises(LookupError):
            await driver.click(ephemeral, "approve", user="U1")
        await driver.click(ephemeral, "approve", user="U4")
    assert containers[0]["is_ephemeral"] is True


async def test_submit_view_delivers_state_and_closes_on_plain_ack(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """A submission carries state.values in Slack's shape, and a plain ack closes the modal."""
    submitted: list[dict[str, Any]] = []

    @bolt.view("restore-form")
    async def on_submit(ack: Any, view: dict[str, Any]) -> None:
        submitted.append(view["state"]["values"])
        await ack()

    opened = await client_for(slack_api).views_open(
        trigger_id=slack_api.issue_trigger_id("U1"), view=FORM
    )
    async with driving(bolt, slack_api) as driver:
        response = await driver.submit_view(
            opened["view"]["id"], {"site": "acme", "product": "jira", "reason": "oops"}
        )
    assert response.status == 200
    [values] = submitted
    assert values["site_block"]["site"] == {"type": "plain_text_input", "value": "acme"}
    assert values["product_block"]["product"]["selected_option"]["value"] == "jira"
    assert values["reason_block"]["reason"]["value"] == "oops"
    assert slack_api.views == {}


async def test_submit_view_with_errors_keeps_the_modal_open(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """response_action errors leaves the modal open for the user to correct."""

    @bolt.view("restore-form")
    async def on_submit(ack: Any) -> None:
        await ack(response_action="errors", errors={"site_block": "Unknown site"})

    opened = await client_for(slack_api).views_open(
        trigger_id=slack_api.issue_trigger_id("U1"), view=FORM
    )
    async with driving(bolt, slack_api) as driver:
        response = await driver.submit_view(opened["view"]["id"], {"site": "x", "product": "jira"})
    assert response.json == {"response_action": "errors", "errors": {"site_block": "Unknown site"}}
    assert opened["view"]["id"] in slack_api.views


async def test_submit_view_refuses_empty_required_inputs_and_foreign_users(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """No submission with a required input empty, without a submit button, or by another user."""
    opened = await client_for(slack_api).views_open(
        trigger_id=slack_api.issue_trigger_id("U1"), view=FORM
    )
    async with driving(bolt, slack_api) as driver:
        with pytest.raises(ValueError, match="product"):
            await driver.submit_view(opened["view"]["id"], {"site": "acme"})
        with pytest.raises(LookupError):
            await driver.submit_view(opened["view"]["id"], {"site": "a", "product": "jira"}, "U2")
        with pytest.raises(LookupError, match="no option 'bamboo'"):
            await driver.submit_view(opened["view"]["id"], {"site": "a", "product": "bamboo"})
    no_submit = await client_for(slack_api).views_open(
        trigger_id=slack_api.issue_trigger_id("U1"), view=MODAL
    )
    async with driving(bolt, slack_api) as driver:
        with pytest.raises(LookupError, match="no submit button"):
            await driver.submit_view(no_submit["view"]["id"])


async def test_select_in_a_modal_dispatches_and_the_bot_updates_the_view(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """A dispatching select sends block_actions from the view; the bot's views.update lands."""

    @bolt.action("product")
    async def on_product(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        chosen = body["actions"][0]["selected_option"]["value"]
        state = body["view"]["state"]["values"]
        site = state["site_block"]["site"]["value"]
        await client.views_update(
            view_id=body["view"]["id"],
            hash=body["view"]["hash"],
            view={**FORM, "blocks": [*FORM["blocks"], _section(f"{chosen} on {site}")]},
        )

    opened = await client_for(slack_api).views_open(
        trigger_id=slack_api.issue_trigger_id("U1"), view=FORM
    )
    view_id = opened["view"]["id"]
    async with driving(bolt, slack_api) as driver:
        silent = await driver.select(view_id, "site", "acme")
        response = await driver.select(view_id, "product", "confluence")
        await slack_api.wait_for(lambda api: len(api.views[view_id].blocks) == 4)
    assert silent is None
    assert response is not None
    assert response.status == 200
    assert slack_api.views[view_id].blocks[-1]["text"]["text"] == "confluence on acme"


async def test_click_inside_a_modal_carries_the_view_and_its_state(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """A button in a modal sends a view container, the view with its state, and no response_url."""
    bodies: list[dict[str, Any]] = []

    @bolt.action("approve")
    async def on_approve(ack: Any, body: dict[str, Any]) -> None:
        bodies.append(body)
        await ack()

    opened = await client_for(slack_api).views_open(
        trigger_id=slack_api.issue_trigger_id("U1"),
        view={**FORM, "blocks": [*FORM["blocks"], *APPROVAL_BLOCKS]},
    )
    view_id = opened["view"]["id"]
    async with driving(bolt, slack_api) as driver:
        assert await driver.select(view_id, "site", "acme") is None
        await driver.click(slack_api.views[view_id], "approve")
    [body] = bodies
    assert body["container"] == {"type": "view", "view_id": view_id}
    assert body["view"]["id"] == view_id
    assert body["view"]["state"]["values"]["site_block"]["site"]["value"] == "acme"
    assert "response_url" not in body


@pytest.mark.parametrize(
    ("action", "stacked", "open_after"),
    [("update", False, 1), ("push", False, 2), ("clear", True, 0), ("close", True, 1)],
)
async def test_submission_answers_shape_the_modal_stack(
    slack_api: SlackWebApi, bolt: AsyncApp, action: str, stacked: bool, open_after: int
) -> None:
    """Update replaces the modal, push stacks one, clear closes the stack, a plain ack the top."""
    answer: dict[str, Any] = {} if action == "close" else {"response_action": action}
    if action in ("update", "push"):
        answer["view"] = {**MODAL, "title": _plain("Step 2")}

    @bolt.view("restore-form")
    async def on_submit(ack: Any) -> None:
        await ack(**answer)

    client = client_for(slack_api)
    root = (await client.views_open(trigger_id=slack_api.issue_trigger_id("U1"), view=FORM))["view"]
    top = root
    if stacked:
        from_root = slack_api.issue_trigger_id("U1", view_id=root["id"])
        top = (await client.views_push(trigger_id=from_root, view=FORM))["view"]
    async with driving(bolt, slack_api) as driver:
        if stacked:
            with pytest.raises(LookupError, match="hidden under"):
                await driver.submit_view(root["id"], {"site": "acme", "product": "jira"})
        await driver.submit_view(top["id"], {"site": "acme", "product": "jira"})
    assert len(slack_api.views) == open_after
    if action == "update":
        assert slack_api.views[top["id"]].view["title"]["text"] == "Step 2"
        assert len(slack_api.views[top["id"]].history) == 1
    if action == "push":
        [pushed] = [v for v in slack_api.views.values() if v.id != top["id"]]
        assert pushed.previous_view_id == top["id"]
    if action == "close":
        assert list(slack_api.views) == [root["id"]]


async def test_invalid_view_in_a_response_action_is_recorded_as_invalid(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """A response_action update with a broken view leaves the modal as it was and is marked."""

    @bolt.view("restore-form")
    async def on_submit(ack: Any) -> None:
        await ack(response_action="update", view={**MODAL, "title": _plain("t" * 30)})

    opened = await client_for(slack_api).views_open(
        trigger_id=slack_api.issue_trigger_id("U1"), view=FORM
    )
    async with driving(bolt, slack_api) as driver:
        await driver.submit_view(opened["view"]["id"], {"site": "acme", "product": "jira"})
    [call] = slack_api.calls_to("response_action.update")
    assert call.invalid
    assert slack_api.views[opened["view"]["id"]].view["title"]["text"] == "Restore"


async def test_closing_a_modal_notifies_only_when_asked(
    slack_api: SlackWebApi, bolt: AsyncApp
) -> None:
    """Closing sends view_closed only for views with notify_on_close, and always closes."""
    closed: list[str] = []

    @bolt.view_closed("restore-form")
    async def on_closed(ack: Any, view: dict[str, Any]) -> None:
        closed.append(view["id"])
        await ack()

    client = client_for(slack_api)
    quiet = await client.views_open(trigger_id=slack_api.issue_trigger_id("U1"), view=MODAL)
    loud = await client.views_open(
        trigger_id=slack_api.issue_trigger_id("U1"), view={**MODAL, "notify_on_close": True}
    )
    async with driving(bolt, slack_api) as driver:
        assert await driver.close_view(quiet["view"]["id"]) is None
        response = await driver.close_view(loud["view"]["id"])
    assert response is not None
    assert response.status == 200
    assert closed == [loud["view"]["id"]]
    assert slack_api.views == {}


async def test_driver_and_server_reprs_hide_secrets(slack_api: SlackWebApi) -> None:
    """Neither the signing secret nor the bot token shows in a repr."""
    async with SlackDriver("http://127.0.0.1:9/slack/events", SECRET, slack_api) as driver:
        shown = repr(driver) + repr(slack_api)
    assert SECRET not in shown
    assert TOKEN not in shown


async def test_driver_payloads_are_form_encoded_json(slack_api: SlackWebApi) -> None:
    """Interactions arrive as a form field `payload` holding JSON, signed over the raw body."""
    seen: list[tuple[dict[str, str], bytes]] = []

    async def capture(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/slack/events", capture)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    await client_for(slack_api).chat_postMessage(channel="C1", text="?", blocks=APPROVAL_BLOCKS)
    try:
        async with SlackDriver(f"http://{host}:{port}/slack/events", SECRET, slack_api) as driver:
            await driver.click(slack_api.messages()[0], "approve")
    finally:
        await runner.cleanup()
    [(headers, body)] = seen
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["actions"][0]["action_id"] == "approve"
    assert payload["response_url"].startswith(slack_api.base_url)


# --------------------------------------------------------------------------------------
# Canned Block Kit
# --------------------------------------------------------------------------------------


SECTION_BLOCKS = [_section("*Backup* of `acme` started")]

APPROVAL_BLOCKS = [
    _section("Restore *acme* Jira from yesterday?"),
    _actions(
        _button("approve", "Approve", "restore-42"),
        _button("reject", "Reject", "restore-42"),
        block_id="decision",
    ),
]

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "restore-form",
    "title": _plain("Restore"),
    "close": _plain("Cancel"),
    "blocks": [_section("Pick a backup")],
}

HOME: dict[str, Any] = {"type": "home", "blocks": [_section("One backup")]}

FORM: dict[str, Any] = {
    "type": "modal",
    "callback_id": "restore-form",
    "title": _plain("Restore"),
    "submit": _plain("Restore"),
    "close": _plain("Cancel"),
    "blocks": [
        _input("site_block", "site"),
        {
            "type": "input",
            "block_id": "product_block",
            "label": _plain("Product"),
            "dispatch_action": True,
            "element": _select("product", "jira", "confluence"),
        },
        _input("reason_block", "reason", optional=True),
    ],
}

SLASH_FIELDS = (
    "token",
    "team_id",
    "team_domain",
    "channel_id",
    "channel_name",
    "user_id",
    "user_name",
    "command",
    "text",
    "api_app_id",
    "response_url",
    "trigger_id",
)

INVALID_MESSAGE_BLOCKS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "51-blocks": ([_section(str(n)) for n in range(51)], "50 or fewer"),
    "button-text-76": ([_actions(_button("go", "x" * 76, "v"))], "button text"),
    "button-value-2001": ([_actions(_button("go", "Go", "v" * 2001))], "button value"),
    "action-id-256": ([_actions(_button("a" * 256, "Go", "v"))], "action_id must be at most"),
    "block-id-256": ([{**_section("x"), "block_id": "b" * 256}], "block_id must be at most"),
    "section-3001": ([_section("x" * 3001)], "section text"),
    "unknown-type": ([{"type": "carousel-of-doom", "text": "x"}], "unsupported block type"),
    "duplicate-block-id": (
        [{**_section("a"), "block_id": "same"}, {**_section("b"), "block_id": "same"}],
        "duplicate block_id",
    ),
    "unknown-property": ([{**_section("x"), "colour": "red"}], "unsupported property"),
}

INVALID_VIEWS: dict[str, tuple[dict[str, Any], str]] = {
    "title-25": ({**MODAL, "title": _plain("t" * 25)}, "title"),
    "101-blocks": ({**MODAL, "blocks": [_section(str(n)) for n in range(101)]}, "100 or fewer"),
    "input-without-submit": (
        {"type": "modal", "title": _plain("Input"), "blocks": [_input("when", "pick")]},
        "needs submit",
    ),
}
