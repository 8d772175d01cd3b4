"""Slack's side of the conversation: slash commands, clicks and modal submissions.

`SlackDriver` posts to the bot's `/slack/events` exactly what Slack posts: form-encoded
bodies, signed with the signing secret, carrying a fresh `trigger_id` and `response_url`
from the fake Web API so that whatever the bot does next lands on that server. Built with
`SlackDriver.over_socket(api)`, it delivers the same payloads as Socket Mode envelopes on
the connection the bot opened to the fake Web API instead: unsigned, as Slack sends them.
A person can only click what is on their screen, so the driver looks every button, select
and input up in the current state of the message or view on the fake server and refuses
otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import urlencode

import httpx

from bot.clock import Clock, SystemClock
from bot.localslack.signing import sign
from bot.localslack.web_api import (
    SOCKET_ACK_DEADLINE,
    Ephemeral,
    JsonDict,
    Message,
    OpenView,
    SlackWebApi,
    interactive_elements,
)

#: The deprecated verification token Slack still puts in every payload; Bolt ignores it.
VERIFICATION_TOKEN: Final = "localslack-verification-token"
STALE_AGE: Final = timedelta(minutes=6)
DEFAULT_USER: Final = "U1"
#: The status a Socket Mode delivery reports when the app did not acknowledge it in time.
NOT_ACKNOWLEDGED: Final = 408

Transport = Literal["http", "socket"]

Surface = Message | Ephemeral | OpenView
StateKey = str | tuple[str, str]

_SINGLE_OPTION_TYPES: Final = frozenset({"static_select", "radio_buttons", "overflow"})
_MULTI_OPTION_TYPES: Final = frozenset({"multi_static_select", "checkboxes"})
_EXTERNAL_TYPES: Final = frozenset({"external_select"})
_PICKED_FIELDS: Final[Mapping[str, str]] = {
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
_TYPED_TYPES: Final = frozenset(
    {"plain_text_input", "number_input", "email_text_input", "url_text_input"}
)


class Forgery(Enum):
    """Ways a request can fail Slack's signature check."""

    WRONG_SECRET = "wrong_secret"
    STALE_TIMESTAMP = "stale_timestamp"
    TAMPERED_BODY = "tampered_body"
    UNSIGNED = "unsigned"


@dataclass(frozen=True)
class SlackResponse:
    """The bot's answer to one delivery, and what came with the delivery.

    Over Socket Mode, `status` is 200 when the bot acknowledged the envelope in time and
    `NOT_ACKNOWLEDGED` otherwise, and `text` is the acknowledgement's payload as JSON.
    """

    status: int
    headers: Mapping[str, str]
    text: str
    elapsed: float
    trigger_id: str | None = None
    response_url: str | None = None
    envelope_id: str | None = None

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when the bot answered with an empty or plain body."""
        if not self.text.strip():
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None


@dataclass(frozen=True)
class _Found:
    block: JsonDict
    element: JsonDict
    in_input_block: bool


@dataclass
class _ViewInputs:
    """What the user has typed or picked in one modal so far, as Slack's state.values."""

    values: dict[str, dict[str, JsonDict]] = field(default_factory=dict)


class SlackDriver:
    """Plays Slack toward the bot: signed HTTP posts to its events URL, or Socket Mode."""

    def __init__(
        self,
        events_url: str,
        signing_secret: str,
        api: SlackWebApi,
        team_id: str | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.transport: Transport = "http"
        self.events_url = events_url
        self._signing_secret = signing_secret
        self.api = api
        self.team_id = team_id or api.team_id
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._owns_http = http is None
        self._clock: Clock = clock or SystemClock()
        self._inputs: dict[str, _ViewInputs] = {}
        self.ack_timeout = SOCKET_ACK_DEADLINE

    @classmethod
    def over_socket(
        cls,
        api: SlackWebApi,
        team_id: str | None = None,
        clock: Clock | None = None,
        ack_timeout: float = SOCKET_ACK_DEADLINE,
    ) -> SlackDriver:
        """A driver that delivers through the bot's Socket Mode connection to `api`.

        `ack_timeout` is how long a delivery waits for the bot's acknowledgement; Slack
        itself waits `SOCKET_ACK_DEADLINE` seconds.
        """
        driver = cls("", "", api, team_id=team_id, clock=clock)
        driver.transport = "socket"
        driver.ack_timeout = ack_timeout
        return driver

    def __repr__(self) -> str:
        where = self.events_url if self.transport == "http" else "socket mode"
        return f"SlackDriver({where!r}, team_id={self.team_id!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- deliveries ---------------------------------------------------------------------

    async def slash(
        self,
        command: str = "/backup",
        text: str = "",
        user: str = "U1",
        channel: str = "C1",
    ) -> SlackResponse:
        """Type `command text` in `channel` as `user`."""
        form = self._slash_form(command, text, user, channel)
        if self.transport == "socket":
            # Over Socket Mode a slash command is the form's fields as one JSON object.
            return await self._deliver_over_socket(
                "slash_commands",
                dict(form),
                trigger_id=form["trigger_id"],
                response_url=form["response_url"],
            )
        return await self.post_signed(
            urlencode(form).encode(),
            trigger_id=form["trigger_id"],
            response_url=form["response_url"],
        )

    async def click(
        self,
        surface: Surface,
        action_id: str,
        value: str | None = None,
        user: str = "U1",
        block_id: str | None = None,
    ) -> SlackResponse:
        """Click a button that is on `surface` right now; raises LookupError if there is none."""
        current = self._current(surface, user)
        found = self._find_one(current, action_id, block_id, value, kinds={"button"})
        action: JsonDict = {
            "action_id": action_id,
            "block_id": found.block["block_id"],
            "text": found.element.get("text"),
            "type": "button",
            "action_ts": self._action_ts(),
        }
        if "value" in found.element:
            action["value"] = found.element["value"]
        if "style" in found.element:
            action["style"] = found.element["style"]
        return await self._block_actions(current, user, action)

    async def select(
        self,
        surface: Surface | str,
        action_id: str,
        value: str | Sequence[str],
        user: str | None = None,
        block_id: str | None = None,
    ) -> SlackResponse | None:
        """Pick `value` in a select, radio group, picker or input on a message or modal.

        Returns None when Slack would send nothing: a choice inside an input block without
        `dispatch_action` only lands in the view's state, to arrive with the submission.
        """
        current = self._current(self._surface(surface), user)
        actor = user or _owner(current)
        found = self._find_one(current, action_id, block_id, None, kinds=None)
        entry = _state_entry(found.element, value)
        if isinstance(current, OpenView):
            self._remember(current, str(found.block["block_id"]), action_id, entry)
        if found.in_input_block and not found.block.get("dispatch_action"):
            return None
        action: JsonDict = {
            "action_id": action_id,
            "block_id": found.block["block_id"],
            **entry,
            "action_ts": self._action_ts(),
        }
        return await self._block_actions(current, actor, action)

    async def submit_view(
        self,
        view: OpenView | str,
        values: Mapping[StateKey, str | Sequence[str] | None] | None = None,
        user: str | None = None,
    ) -> SlackResponse:
        """Fill in `values` (by action_id, or (block_id, action_id)) and press the submit button.

        The view then closes, updates or stays open according to the bot's answer, as in Slack.
        """
        current = self._current(self._surface(view), user)
        if not isinstance(current, OpenView) or current.type != "modal":
            raise LookupError("only an open modal can be submitted")
        if current.view.get("submit") is None:
            raise LookupError(f"view {current.id} has no submit button")
        actor = user or current.user
        for key, value in (values or {}).items():
            block_id, action_id = key if isinstance(key, tuple) else (None, key)
            found = self._find_one(current, action_id, block_id, None, kinds=None)
            entry = _state_entry(found.element, value)
            self._remember(current, str(found.block["block_id"]), action_id, entry)
        state = self._state(current, require_complete=True)
        view_json = {**current.view, "state": {"values": state}}
        payload: JsonDict = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(actor),
            "api_app_id": self.api.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.api.issue_trigger_id(actor, view_id=current.id),
            "view": view_json,
            "response_urls": self._response_urls(current, state, actor),
            "is_enterprise_install": False,
            "enterprise": None,
        }
        response = await self._post_payload(payload, trigger_id=payload["trigger_id"])
        if response.status == 200:
            await self.api.resolve_view_submission(current.id, response.json)
            if current.id not in self.api.views:
                self._inputs.pop(current.id, None)
        return response

    async def close_view(
        self, view: OpenView | str, user: str | None = None
    ) -> SlackResponse | None:
        """Press Close on a modal; the bot hears of it only if the view set notify_on_close."""
        current = self._current(self._surface(view), user)
        if not isinstance(current, OpenView) or current.type != "modal":
            raise LookupError("only an open modal can be closed")
        actor = user or current.user
        state = self._state(current, require_complete=False)
        await self.api.close_view(current.id)
        self._inputs.pop(current.id, None)
        if not current.view.get("notify_on_close"):
            return None
        payload: JsonDict = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(actor),
            "api_app_id": self.api.app_id,
            "token": VERIFICATION_TOKEN,
            "view": {**current.view, "state": {"values": state}},
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._post_payload(payload)

    async def forge(
        self,
        forgery: Forgery,
        command: str = "/backup",
        text: str = "",
        user: str = "U1",
        channel: str = "C1",
    ) -> SlackResponse:
        """Send a slash command that fails Slack's signature check in the given way."""
        self._require_http("forged signatures")
        form = self._slash_form(command, text, user, channel)
        body = urlencode(form).encode()
        now = int(self._clock.now().timestamp())
        if forgery is Forgery.WRONG_SECRET:
            headers = sign(self._signing_secret + "-wrong", body, now)
        elif forgery is Forgery.STALE_TIMESTAMP:
            headers = sign(self._signing_secret, body, now - int(STALE_AGE.total_seconds()))
        elif forgery is Forgery.TAMPERED_BODY:
            headers = sign(self._signing_secret, body, now)
            body = urlencode({**form, "user_id": "UINTRUDER"}).encode()
        else:
            headers = {}
        return await self._send(body, headers, form["trigger_id"], form["response_url"])

    async def post_signed(
        self,
        body: bytes,
        trigger_id: str | None = None,
        response_url: str | None = None,
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SlackResponse:
        """POST a body to the events URL, signed as Slack signs it now.

        ``extra_headers`` adds what Slack sends beside the signature, e.g. the
        ``X-Slack-Retry-Num`` of a resent event.
        """
        self._require_http("signed posts")
        headers = sign(self._signing_secret, body, int(self._clock.now().timestamp()))
        return await self._send(
            body, {**headers, **(extra_headers or {})}, trigger_id, response_url
        )

    # -- payloads -----------------------------------------------------------------------

    def _slash_form(self, command: str, text: str, user: str, channel: str) -> dict[str, str]:
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.api.team_domain,
            "channel_id": channel,
            "channel_name": self.api.channel_name(channel),
            "user_id": user,
            "user_name": self.api.user_name(user),
            "command": command,
            "text": text,
            "api_app_id": self.api.app_id,
            "is_enterprise_install": "false",
            "response_url": self.api.new_response_url(channel=channel, user=user),
            "trigger_id": self.api.issue_trigger_id(user),
        }

    async def _block_actions(self, current: Surface, user: str, action: JsonDict) -> SlackResponse:
        payload: JsonDict = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.api.app_id,
            "token": VERIFICATION_TOKEN,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [action],
        }
        response_url: str | None = None
        if isinstance(current, OpenView):
            payload["container"] = {"type": "view", "view_id": current.id}
            payload["view"] = {
                **current.view,
                "state": {"values": self._state(current, require_complete=False)},
            }
            payload["trigger_id"] = self.api.issue_trigger_id(user, view_id=current.id)
        else:
            if isinstance(current, Message):
                channel, message_ts, is_ephemeral = current.channel, current.ts, False
                payload["message"] = self.api.message_json(current)
            else:
                channel, message_ts, is_ephemeral = current.channel, current.message_ts, True
            response_url = self.api.new_response_url(
                channel=channel, user=user, message_ts=message_ts
            )
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": is_ephemeral,
            }
            payload["channel"] = {"id": channel, "name": self.api.channel_name(channel)}
            payload["state"] = {"values": {}}
            payload["response_url"] = response_url
            payload["trigger_id"] = self.api.issue_trigger_id(user)
        return await self._post_payload(
            payload, trigger_id=payload["trigger_id"], response_url=response_url
        )

    async def _post_payload(
        self,
        payload: JsonDict,
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> SlackResponse:
        if self.transport == "socket":
            return await self._deliver_over_socket(
                "interactive", payload, trigger_id=trigger_id, response_url=response_url
            )
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post_signed(body, trigger_id=trigger_id, response_url=response_url)

    async def _deliver_over_socket(
        self,
        payload_type: str,
        payload: JsonDict,
        trigger_id: str | None,
        response_url: str | None,
    ) -> SlackResponse:
        delivery = await self.api.socket_send(payload_type, payload, timeout=self.ack_timeout)
        return SlackResponse(
            status=200 if delivery.acked else NOT_ACKNOWLEDGED,
            headers={},
            text=json.dumps(delivery.ack_payload) if delivery.ack_payload is not None else "",
            elapsed=delivery.elapsed,
            trigger_id=trigger_id,
            response_url=response_url,
            envelope_id=delivery.envelope_id,
        )

    def _require_http(self, what: str) -> None:
        if self.transport != "http":
            raise RuntimeError(f"Socket Mode requests carry no signature: {what} need HTTP")

    async def _send(
        self,
        body: bytes,
        signature_headers: Mapping[str, str],
        trigger_id: str | None,
        response_url: str | None,
    ) -> SlackResponse:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **signature_headers,
        }
        started = time.perf_counter()
        response = await self._http.post(self.events_url, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        return SlackResponse(
            status=response.status_code,
            headers=dict(response.headers),
            text=response.text,
            elapsed=elapsed,
            trigger_id=trigger_id,
            response_url=response_url,
        )

    def _team(self) -> JsonDict:
        return {"id": self.team_id, "domain": self.api.team_domain}

    def _user(self, user: str) -> JsonDict:
        name = self.api.user_name(user)
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _action_ts(self) -> str:
        return f"{self._clock.now().timestamp():.6f}"

    def _response_urls(self, view: OpenView, state: JsonDict, user: str) -> list[JsonDict]:
        """One response_url per conversation picked in a `response_url_enabled` input."""
        urls: list[JsonDict] = []
        for block in view.blocks:
            for element in interactive_elements(block):
                if not element.get("response_url_enabled"):
                    continue
                picked = state.get(block["block_id"], {}).get(element["action_id"], {})
                channel = picked.get("selected_conversation") or picked.get("selected_channel")
                if channel:
                    urls.append(
                        {
                            "block_id": block["block_id"],
                            "action_id": element["action_id"],
                            "channel_id": channel,
                            "response_url": self.api.new_response_url(channel=channel, user=user),
                        }
                    )
        return urls

    # -- what is on the screen ------------------------------------------------------------

    def _surface(self, surface: Surface | str) -> Surface:
        if isinstance(surface, str):
            found = self.api.view(surface)
            if found is None:
                raise LookupError(f"no open view {surface!r}")
            return found
        return surface

    def _current(self, surface: Surface, user: str | None) -> Surface:
        """The surface as it stands on the server now; a stale copy cannot be clicked."""
        if isinstance(surface, Message):
            message = self.api.message(surface.channel, surface.ts)
            if message is None:
                raise LookupError(f"message {surface.ts} in {surface.channel} no longer exists")
            return message
        if isinstance(surface, Ephemeral):
            ephemeral = self.api.ephemeral(surface.message_ts)
            if ephemeral is None:
                raise LookupError(f"ephemeral message {surface.message_ts} no longer exists")
            if user is not None and user != ephemeral.user:
                raise LookupError(f"only {ephemeral.user} can see ephemeral {surface.message_ts}")
            return ephemeral
        view = self.api.view(surface.id)
        if view is None:
            raise LookupError(f"view {surface.id} is not open")
        if user is not None and user != view.user:
            raise LookupError(f"view {surface.id} is on {view.user}'s screen, not {user}'s")
        if any(other.previous_view_id == view.id for other in self.api.views.values()):
            raise LookupError(f"view {surface.id} is hidden under a view pushed on top of it")
        return view

    def _find_one(
        self,
        surface: Surface,
        action_id: str,
        block_id: str | None,
        value: str | None,
        kinds: set[str] | None,
    ) -> _Found:
        matches: list[_Found] = []
        available: list[str] = []
        for block in surface.blocks:
            for element in interactive_elements(block):
                available.append(f"{element.get('action_id')}({element.get('type')})")
                if element.get("action_id") != action_id:
                    continue
                if block_id is not None and block.get("block_id") != block_id:
                    continue
                if kinds is not None and element.get("type") not in kinds:
                    continue
                if value is not None and element.get("value") != value:
                    continue
                matches.append(_Found(block, element, block.get("type") == "input"))
        if not matches:
            raise LookupError(
                f"no {'/'.join(sorted(kinds)) if kinds else 'element'} with action_id "
                f"{action_id!r}"
                + (f" and value {value!r}" if value is not None else "")
                + f" on this surface; it has: {', '.join(available) or 'nothing to click'}"
            )
        if len(matches) > 1:
            raise LookupError(
                f"{len(matches)} elements match action_id {action_id!r}; "
                "pass value or block_id to say which"
            )
        return matches[0]

    def _remember(self, view: OpenView, block_id: str, action_id: str, entry: JsonDict) -> None:
        inputs = self._inputs.setdefault(view.id, _ViewInputs())
        inputs.values.setdefault(block_id, {})[action_id] = entry

    def _state(self, view: OpenView, *, require_complete: bool) -> dict[str, dict[str, JsonDict]]:
        """state.values for every input in the view, blank where the user entered nothing."""
        remembered = self._inputs.get(view.id, _ViewInputs()).values
        state: dict[str, dict[str, JsonDict]] = {}
        for block in view.blocks:
            block_id = str(block["block_id"])
            for element in interactive_elements(block):
                action_id = str(element["action_id"])
                entry = remembered.get(block_id, {}).get(action_id)
                if entry is None:
                    if block.get("type") != "input":
                        continue
                    entry = _state_entry(element, None)
                    if require_complete and not block.get("optional") and not _initial(element):
                        raise ValueError(
                            f"required input {block_id}/{action_id} is empty; "
                            "Slack would not let the user submit"
                        )
                state.setdefault(block_id, {})[action_id] = entry
        return state


def _owner(surface: Surface) -> str:
    """Who acts when the caller names nobody: the person whose screen the surface is on."""
    # A channel message's `user` is the bot that posted it, never the one who clicks.
    return DEFAULT_USER if isinstance(surface, Message) else surface.user


def _initial(element: JsonDict) -> bool:
    return any(key.startswith("initial_") for key in element)


def _state_entry(element: JsonDict, value: str | Sequence[str] | None) -> JsonDict:
    """What Slack reports for `element` once the user chose `value` (None: left blank)."""
    element_type = str(element.get("type"))
    entry: JsonDict = {"type": element_type}
    if element_type in _SINGLE_OPTION_TYPES:
        entry["selected_option"] = (
            None if value is None else _option(element, _single(value, element_type))
        )
        if value is None and "initial_option" in element:
            entry["selected_option"] = element["initial_option"]
    elif element_type in _MULTI_OPTION_TYPES:
        picked = [] if value is None else _many(value)
        entry["selected_options"] = [_option(element, choice) for choice in picked]
        if value is None and "initial_options" in element:
            entry["selected_options"] = element["initial_options"]
    elif element_type in _EXTERNAL_TYPES:
        choice = None if value is None else _single(value, element_type)
        entry["selected_option"] = (
            None
            if choice is None
            else {"text": {"type": "plain_text", "text": choice}, "value": choice}
        )
    elif element_type in _PICKED_FIELDS:
        name = _PICKED_FIELDS[element_type]
        if element_type.startswith("multi_"):
            entry[name] = [] if value is None else _many(value)
        else:
            entry[name] = None if value is None else _single(value, element_type)
    elif element_type in _TYPED_TYPES:
        initial = element.get("initial_value")
        entry["value"] = initial if value is None else _single(value, element_type)
    elif element_type == "button":
        raise LookupError("a button is clicked, not selected: use click()")
    else:
        raise LookupError(f"cannot fill in a {element_type!r} element")
    return entry


def _option(element: JsonDict, value: str) -> JsonDict:
    options: list[JsonDict] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    for option in options:
        if option.get("value") == value:
            return option
    offered = ", ".join(str(option.get("value")) for option in options)
    raise LookupError(f"{element.get('action_id')!r} offers no option {value!r} (has: {offered})")


def _single(value: str | Sequence[str], element_type: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a {element_type} takes one value, not {value!r}")
    return value


def _many(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
