"""The bot's decoding of Slack's request bodies gives Bolt exactly what Bolt's own would."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from hypothesis import given
from hypothesis import strategies as st
from slack_bolt.request.internals import parse_body as bolt_parse_body

from bot.slack.bolt_request import ParsedBoltRequest, parse_body

FORM = "application/x-www-form-urlencoded"
# What makes form decoding go wrong: escapes (valid, truncated, not UTF-8), separators,
# plus signs, and characters beyond ASCII, sent raw or escaped.
_TRICKY = st.text(alphabet="%&=+;#?/ abcAF0129\u00e9\u2014\U0001f600", max_size=40)
_ESCAPED = st.text(max_size=40).map(lambda text: quote(text, safe=""))


@given(st.lists(st.tuples(_TRICKY | _ESCAPED, _TRICKY | _ESCAPED), max_size=6))
def test_any_form_decodes_as_bolt_decodes_it(fields: list[tuple[str, str]]) -> None:
    body = "&".join(f"{key}={value}" for key, value in fields)
    assert parse_body(body, FORM) == bolt_parse_body(body, FORM)


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=30) | st.integers(), max_size=8))
def test_a_payload_form_decodes_as_bolt_decodes_it(payload: dict[str, object]) -> None:
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
    assert parse_body(body, FORM) == bolt_parse_body(body, FORM) == payload


def test_json_bodies_and_slash_commands_decode_as_bolt_decodes_them() -> None:
    command = urlencode({"command": "/backup", "text": "policy show pol-1 & more", "x": "+"})
    event = json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}})
    for body, content_type in (
        (command, FORM),
        (command + "&text=payload", FORM),  # Bolt's own quirk: the word alone decides
        (event, "application/json"),
        (event, FORM),
        ("", FORM),
    ):
        assert parse_body(body, content_type) == bolt_parse_body(body, content_type)


def test_the_request_keeps_its_raw_body_and_builds_its_context_from_the_parsed_one() -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "channel": {"id": "C1"},
        "response_url": "https://hooks.example/1",
        "actions": [{"action_id": "restore_start", "value": "s1"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    request = ParsedBoltRequest(body=body, query="a=1", headers={"Content-Type": FORM})
    assert request.raw_body == body
    assert request.body == payload
    assert request.mode == "http"
    assert (request.context.team_id, request.context.user_id) == ("T1", "U1")
    assert request.context.channel_id == "C1"
    assert request.context.response_url == "https://hooks.example/1"
    assert request.query == {"a": ["1"]}
