"""A press of a restore card's button, read out of Slack's payload into what the bot keeps.

A click's payload carries the whole message it was made on, blocks included: kilobytes of
which the restore flow needs six strings (the button, its session, the clicker, where the
card is, and where to answer). ``card_click`` reads them; the click then waits for its turn
as a ``CardClick`` of a few hundred bytes instead of holding its request, so a storm of
acknowledged clicks costs little memory and the cycle collector little time.

Over HTTP the click is read right after its signature is checked and acknowledged without
Bolt's dispatch (``bot.slack.serve``): a restore card in a busy channel is the one place
hundreds of identical requests arrive at once, and Bolt's generic matching, middleware and
per-request task were most of what each cost. Only a payload of the exact shape a card
sends (one action with a card button's id and a value, the clicker's id, all strings) is
read here; anything else (no action, several, other types) returns None and goes through
Bolt, to its listeners or the refusals of ``bot.slack.unhandled``. Socket Mode delivers
clicks through Bolt, whose listener reads the same fields with ``from_bolt``. Either way a
field that is not a string reads as empty: an empty session id, user or place is refused
(and audited) by the restore flow like any other click on no card of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.restore.clicks import ClickOrigin
from bot.slack import restore_blocks as rb

CARD_ACTIONS = frozenset({rb.ACTION_START, rb.ACTION_CANCEL})


@dataclass(frozen=True, slots=True)
class CardClick:
    """One acknowledged press of a restore card's button."""

    action_id: str
    session_id: str
    user: str
    origin: ClickOrigin
    #: The channel Slack says the click came from, for an answer by chat.postEphemeral.
    channel: str
    #: Where the clicker is answered privately; empty when Slack sent none. It works for
    #: half an hour, so it stays out of the record's repr (and any log line made of it).
    response_url: str = field(repr=False)


def is_card_action(action_id: str) -> bool:
    return action_id in CARD_ACTIONS or action_id.startswith(rb.ACTION_ANSWER_PREFIX)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def from_bolt(body: dict[str, Any], action: dict[str, Any]) -> CardClick:
    """The click a Bolt listener for a card button was given (``body``, its ``action``)."""
    container = _dict(body.get("container"))
    channel = _dict(body.get("channel"))
    message = _dict(body.get("message"))
    channel_id = _str(channel.get("id"))
    return CardClick(
        action_id=_str(action.get("action_id")),
        session_id=_str(action.get("value")),
        user=_str(_dict(body.get("user")).get("id")),
        origin=ClickOrigin(
            team_id=_str(_dict(body.get("team")).get("id")),
            channel=_str(container.get("channel_id")) or channel_id,
            message_ts=_str(container.get("message_ts")) or _str(message.get("ts")),
        ),
        channel=channel_id,
        response_url=_str(body.get("response_url")),
    )


def card_click(payload: object) -> CardClick | None:
    """The card button ``payload`` presses, when it is exactly a card's click; else None."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        return None
    action = actions[0]
    action_id, value = action.get("action_id"), action.get("value")
    if not isinstance(action_id, str) or not isinstance(value, str):
        return None
    if not is_card_action(action_id):
        return None
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return None
    return from_bolt(payload, action)


__all__ = ["CARD_ACTIONS", "CardClick", "card_click", "from_bolt", "is_card_action"]
