"""A fake Slack Web API served over real loopback HTTP.

The bot's `AsyncWebClient(base_url=api.url)` talks to this server exactly as it talks to
Slack: same paths, same JSON envelopes, same HTTP 429 with `Retry-After`. The server keeps
the state a person would see (channel messages, ephemerals, open modals, App Home tabs),
records every call, and enforces the platform rules the bot must respect: Block Kit limits,
single-use `trigger_id`s that expire after 3 s, `response_url`s good for 5 posts in
30 minutes, and optional per-method rate limits, all measured by an injectable clock.

It also plays Slack's side of Socket Mode: `apps.connections.open` (app-level token only)
hands out a single-use WebSocket URL on the same server, the socket greets the app with
`hello`, and `socket_send()` delivers an envelope and waits for the app's acknowledgement.

Where Slack is lenient in ways that hide bugs (a reply to a thread that does not exist),
this server answers with an error instead, and says so in the method's docstring.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import itertools
import json
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import WSMsgType, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.clock import Clock, SystemClock

JsonDict = dict[str, Any]

TRIGGER_LIFETIME: Final = timedelta(seconds=3)
RESPONSE_URL_LIFETIME: Final = timedelta(minutes=30)
RESPONSE_URL_USES: Final = 5
MESSAGE_BLOCK_LIMIT: Final = 50
VIEW_BLOCK_LIMIT: Final = 100
SECTION_TEXT_LIMIT: Final = 3000
SECTION_FIELDS_LIMIT: Final = 10
HEADER_TEXT_LIMIT: Final = 150
ACTIONS_ELEMENTS_LIMIT: Final = 25
BUTTON_TEXT_LIMIT: Final = 75
BUTTON_VALUE_LIMIT: Final = 2000
IDENTIFIER_LIMIT: Final = 255
VIEW_TITLE_LIMIT: Final = 24
PRIVATE_METADATA_LIMIT: Final = 3000
VIEW_STACK_LIMIT: Final = 3
#: Slack gives the app this long to acknowledge an envelope before it counts it as failed.
SOCKET_ACK_DEADLINE: Final = 3.0
SOCKET_PAYLOAD_TYPES: Final = frozenset({"slash_commands", "interactive", "events_api"})

#: Per-minute budgets used when `enforce_rate_limits` is on: (calls per minute, per channel?).
DEFAULT_RATE_BUDGETS: Final[Mapping[str, tuple[int, bool]]] = {
    "chat.postMessage": (60, True),
    "chat.update": (50, True),
    "chat.delete": (50, True),
    "chat.postEphemeral": (100, False),
    "views.open": (100, False),
    "views.update": (100, False),
    "views.push": (100, False),
    "views.publish": (100, False),
}

_MESSAGE_METHODS: Final = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
_VIEW_METHODS: Final = frozenset({"views.open", "views.update", "views.push", "views.publish"})
_JSON_ARGUMENTS: Final = ("blocks", "view", "attachments", "metadata")
_INPUT_BLOCK_TYPES: Final = frozenset({"input"})


# --------------------------------------------------------------------------------------
# What the server records and exposes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """One request the server answered, as the bot made it (tokens removed)."""

    method: str
    args: JsonDict
    time: datetime
    ok: bool
    error: str | None = None
    invalid: bool = False
    missing_text: bool = False
    errors: tuple[str, ...] = ()
    status: int = 200


@dataclass(frozen=True)
class MessageEdit:
    """A version of a message that a later edit replaced."""

    time: datetime
    text: str
    blocks: list[JsonDict]


@dataclass(frozen=True)
class Message:
    """A channel message as it currently stands; `edits` holds the versions it replaced."""

    channel: str
    ts: str
    text: str
    blocks: list[JsonDict]
    thread_ts: str | None
    user: str
    posted_at: datetime
    edits: tuple[MessageEdit, ...] = ()
    reply_broadcast: bool = False
    metadata: JsonDict | None = None


@dataclass(frozen=True)
class Ephemeral:
    """A message only `user` can see; Slack never lets it be edited with chat.update."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[JsonDict]
    thread_ts: str | None
    posted_at: datetime
    replaced: tuple[MessageEdit, ...] = ()


@dataclass(frozen=True)
class OpenView:
    """A modal on someone's screen, or a user's App Home tab, with its current content."""

    id: str
    user: str
    view: JsonDict
    root_view_id: str
    previous_view_id: str | None
    history: tuple[JsonDict, ...] = ()

    @property
    def hash(self) -> str:
        return str(self.view["hash"])

    @property
    def type(self) -> str:
        return str(self.view["type"])

    @property
    def blocks(self) -> list[JsonDict]:
        blocks: list[JsonDict] = self.view.get("blocks") or []
        return blocks


@dataclass(frozen=True)
class ResponsePost:
    """One accepted POST to a `response_url`."""

    url_id: str
    time: datetime
    body: JsonDict
    channel: str | None
    user: str | None

    @property
    def response_type(self) -> str:
        return str(self.body.get("response_type") or "ephemeral")

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")

    @property
    def blocks(self) -> list[JsonDict]:
        blocks: list[JsonDict] = self.body.get("blocks") or []
        return blocks

    @property
    def replace_original(self) -> bool:
        return _flag(self.body.get("replace_original"))

    @property
    def delete_original(self) -> bool:
        return _flag(self.body.get("delete_original"))


@dataclass(frozen=True)
class SocketResponse:
    """One envelope delivered over Socket Mode and the app's acknowledgement of it.

    `acked` is False when no acknowledgement came within the deadline; `ack_payload` is the
    body the app put in its acknowledgement (the slash command reply, a view's
    `response_action`), None when it acknowledged with nothing.
    """

    envelope_id: str
    type: str
    payload: JsonDict
    acked: bool
    ack_payload: JsonDict | None
    elapsed: float


@dataclass
class _SocketConnection:
    serial: int
    socket: web.WebSocketResponse
    opened_at: datetime
    sending: asyncio.Lock


@dataclass
class _Trigger:
    user: str
    issued: datetime
    view_id: str | None
    used: bool = False


@dataclass
class _ResponseUrl:
    id: str
    issued: datetime
    channel: str | None
    user: str | None
    message_ts: str | None
    uses: int = 0


@dataclass
class _Refusal(Exception):
    """A Slack error answer (`ok: false`) raised from inside a method handler."""

    error: str
    errors: tuple[str, ...] = ()
    invalid: bool = False


@dataclass
class _Rejected:
    retry_after: int


# --------------------------------------------------------------------------------------
# Block Kit validation: slack_sdk's models plus the documented limits they do not cover
# --------------------------------------------------------------------------------------


def block_errors(blocks: object, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Every reason Slack would refuse these blocks, in Slack's `[json-pointer:…]` style."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"must be {limit} or fewer items [json-pointer:{pointer}]")
    seen_block_ids: set[str] = set()
    for index, raw in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(raw, dict):
            errors.append(f"must be an object [json-pointer:{where}]")
            continue
        block_id = raw.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen_block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            seen_block_ids.add(block_id)
        errors.extend(_single_block_errors(raw, where))
    return errors


def view_errors(view: object, *, pointer: str = "/view") -> list[str]:
    """Every reason Slack would refuse this modal or Home tab definition."""
    if not isinstance(view, dict):
        return [f"must be an object [json-pointer:{pointer}]"]
    errors: list[str] = []
    view_type = view.get("type")
    if view_type not in ("modal", "home"):
        errors.append(f"type must be 'modal' or 'home' [json-pointer:{pointer}/type]")
    if view_type == "modal":
        title = _plain_text(view.get("title"))
        if title is None:
            errors.append(f"modal needs a title [json-pointer:{pointer}/title]")
        elif not 1 <= len(title) <= VIEW_TITLE_LIMIT:
            errors.append(
                f"title must be 1 to {VIEW_TITLE_LIMIT} characters [json-pointer:{pointer}/title]"
            )
        for label in ("submit", "close"):
            text = _plain_text(view.get(label))
            if text is not None and len(text) > VIEW_TITLE_LIMIT:
                errors.append(
                    f"{label} must be at most {VIEW_TITLE_LIMIT} characters "
                    f"[json-pointer:{pointer}/{label}]"
                )
        has_input = any(
            isinstance(block, dict) and block.get("type") in _INPUT_BLOCK_TYPES
            for block in view.get("blocks") or []
        )
        if has_input and view.get("submit") is None:
            errors.append(f"a modal with input blocks needs submit [json-pointer:{pointer}/submit]")
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > PRIVATE_METADATA_LIMIT:
        errors.append(
            f"private_metadata must be at most {PRIVATE_METADATA_LIMIT} characters "
            f"[json-pointer:{pointer}/private_metadata]"
        )
    callback_id = view.get("callback_id")
    if isinstance(callback_id, str) and len(callback_id) > IDENTIFIER_LIMIT:
        errors.append(
            f"callback_id must be at most {IDENTIFIER_LIMIT} characters "
            f"[json-pointer:{pointer}/callback_id]"
        )
    if "blocks" not in view:
        errors.append(f"must provide blocks [json-pointer:{pointer}/blocks]")
    else:
        errors.extend(
            block_errors(view["blocks"], limit=VIEW_BLOCK_LIMIT, pointer=f"{pointer}/blocks")
        )
    if not errors:
        # The SDK model catches the remaining cross-field rules (home views have no submit…).
        try:
            View(**view).validate_json()
        except (SlackObjectFormationError, TypeError, ValueError) as problem:
            errors.append(f"{problem} [json-pointer:{pointer}]")
    return errors


def _single_block_errors(raw: JsonDict, where: str) -> list[str]:
    errors = _limit_errors(raw, where)
    errors.extend(_duplicate_action_ids(raw, where))
    try:
        parsed = Block.parse(raw)
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as problem:
        return [*errors, f"{problem} [json-pointer:{where}]"]
    if parsed is None:
        return [*errors, f"unsupported block type {raw.get('type')!r} [json-pointer:{where}/type]"]
    try:
        # to_dict() runs every nested element's validators, validate_json() only the block's.
        rendered = parsed.to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, AttributeError) as problem:
        if not errors:
            errors.append(f"{problem} [json-pointer:{where}]")
        return errors
    errors.extend(_dropped_properties(raw, rendered, where))
    return errors


def _limit_errors(node: object, where: str) -> list[str]:
    """The documented size limits, checked on the raw JSON so each error has an exact path."""
    errors: list[str] = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            errors.extend(_limit_errors(item, f"{where}/{index}"))
        return errors
    if not isinstance(node, dict):
        return errors
    for key in ("action_id", "block_id"):
        value = node.get(key)
        if isinstance(value, str) and len(value) > IDENTIFIER_LIMIT:
            errors.append(
                f"{key} must be at most {IDENTIFIER_LIMIT} characters [json-pointer:{where}/{key}]"
            )
    node_type = node.get("type")
    if node_type == "button":
        text = _plain_text(node.get("text"))
        if text is not None and len(text) > BUTTON_TEXT_LIMIT:
            errors.append(
                f"button text must be at most {BUTTON_TEXT_LIMIT} characters "
                f"[json-pointer:{where}/text]"
            )
        value = node.get("value")
        if isinstance(value, str) and len(value) > BUTTON_VALUE_LIMIT:
            errors.append(
                f"button value must be at most {BUTTON_VALUE_LIMIT} characters "
                f"[json-pointer:{where}/value]"
            )
    elif node_type == "section":
        text = _plain_text(node.get("text"))
        if text is not None and len(text) > SECTION_TEXT_LIMIT:
            errors.append(
                f"section text must be at most {SECTION_TEXT_LIMIT} characters "
                f"[json-pointer:{where}/text]"
            )
        fields = node.get("fields")
        if isinstance(fields, list) and len(fields) > SECTION_FIELDS_LIMIT:
            errors.append(
                f"section must have at most {SECTION_FIELDS_LIMIT} fields "
                f"[json-pointer:{where}/fields]"
            )
    elif node_type == "header":
        text = _plain_text(node.get("text"))
        if text is not None and len(text) > HEADER_TEXT_LIMIT:
            errors.append(
                f"header text must be at most {HEADER_TEXT_LIMIT} characters "
                f"[json-pointer:{where}/text]"
            )
    elif node_type == "actions":
        elements = node.get("elements")
        if isinstance(elements, list) and len(elements) > ACTIONS_ELEMENTS_LIMIT:
            errors.append(
                f"actions must have at most {ACTIONS_ELEMENTS_LIMIT} elements "
                f"[json-pointer:{where}/elements]"
            )
    for key, value in node.items():
        if isinstance(value, dict | list):
            errors.extend(_limit_errors(value, f"{where}/{key}"))
    return errors


def _duplicate_action_ids(block: JsonDict, where: str) -> list[str]:
    seen: set[str] = set()
    errors: list[str] = []
    for element in interactive_elements(block):
        action_id = element.get("action_id")
        if isinstance(action_id, str):
            if action_id in seen:
                errors.append(f"duplicate action_id {action_id!r} [json-pointer:{where}]")
            seen.add(action_id)
    return errors


def _dropped_properties(raw: object, rendered: object, where: str) -> list[str]:
    """What the SDK model silently dropped: properties and element types Slack does not know."""
    errors: list[str] = []
    if isinstance(raw, dict) and isinstance(rendered, dict):
        for key, value in raw.items():
            if value is None or value in ("", [], {}):
                continue
            if key not in rendered:
                errors.append(f"unsupported property {key!r} [json-pointer:{where}/{key}]")
            else:
                errors.extend(_dropped_properties(value, rendered[key], f"{where}/{key}"))
    elif isinstance(raw, list) and isinstance(rendered, list):
        for index, (raw_item, rendered_item) in enumerate(zip(raw, rendered, strict=False)):
            if rendered_item is None and raw_item is not None:
                kind = raw_item.get("type") if isinstance(raw_item, dict) else raw_item
                errors.append(f"unsupported element {kind!r} [json-pointer:{where}/{index}]")
            else:
                errors.extend(_dropped_properties(raw_item, rendered_item, f"{where}/{index}"))
    return errors


def interactive_elements(block: Mapping[str, Any]) -> Iterator[JsonDict]:
    """The elements of one block a person can click, pick or type into."""
    block_type = block.get("type")
    if block_type == "actions":
        for element in block.get("elements") or []:
            if isinstance(element, dict):
                yield element
    elif block_type == "section":
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") != "image":
            yield accessory
    elif block_type == "input":
        element = block.get("element")
        if isinstance(element, dict):
            yield element


def _plain_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    return None


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------

_Handler = Callable[[JsonDict], JsonDict]


class SlackWebApi:
    """A fake Slack Web API on a loopback port, with the state and rules tests check against."""

    app_id: Final = "A0LOCAL"
    bot_id: Final = "B0LOCAL"
    team_domain: Final = "localslack"
    team_name: Final = "Local Slack"

    def __init__(
        self,
        bot_token: str = "xoxb-test",  # noqa: S107 - the fake's own token, not a credential
        team_id: str = "T0LOCAL",
        bot_user_id: str = "UBOT",
        clock: Clock | None = None,
        app_token: str = "xapp-test",  # noqa: S107 - the fake's own token, not a credential
    ) -> None:
        self._bot_token = bot_token
        self._app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.clock: Clock = clock or SystemClock()
        self.calls: list[ApiCall] = []
        self.enforce_rate_limits = False
        self.rate_budgets: dict[str, tuple[int, bool]] = dict(DEFAULT_RATE_BUDGETS)
        self._budget_windows: dict[tuple[str, str], deque[datetime]] = {}
        self._injected_limits: dict[str, deque[int]] = {}
        self._messages: dict[tuple[str, str], Message] = {}
        self._ephemerals: dict[str, Ephemeral] = {}
        self._modals: dict[str, OpenView] = {}
        self._homes: dict[str, OpenView] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._responses: list[ResponsePost] = []
        self._user_names: dict[str, str] = {}
        self._channel_names: dict[str, str] = {}
        self._last_ts_micros = 0
        self._serial = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._socket_tickets: set[str] = set()
        self._sockets: list[_SocketConnection] = []
        self._socket_serial = itertools.count(1)
        self._ack_waiters: dict[str, asyncio.Future[JsonDict]] = {}
        self._accepting_sockets = False
        #: Every envelope delivered with `socket_send`, in order.
        self.socket_deliveries: list[SocketResponse] = []
        #: Acknowledgements for no envelope still awaited: unknown ids, or later than the deadline.
        self.stray_acks: list[JsonDict] = []
        #: Socket Mode connections accepted since the server started (open or since closed).
        self.socket_connections_opened = 0
        #: Socket connections refused: a spent or unknown URL, or the server stopping.
        self.socket_connections_refused = 0
        self._methods: dict[str, _Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
        }

    def __repr__(self) -> str:
        return (
            f"SlackWebApi(url={self._base_url!r}, team_id={self.team_id!r}, "
            f"calls={len(self.calls)})"
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on `host:port` (0 picks a free port) until `stop()`."""
        if self._runner is not None:
            raise RuntimeError("the fake Slack Web API is already running")
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_method)
        app.router.add_post("/response/{url_id}", self._handle_response_url)
        app.router.add_get("/socket-mode/{ticket}", self._handle_socket)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://{bound_host}:{bound_port}/"
        self._accepting_sockets = True

    async def stop(self) -> None:
        # Refuse new sockets first: a client whose socket closes reconnects at once.
        self._accepting_sockets = False
        self._socket_tickets.clear()
        for connection in list(self._sockets):
            await connection.socket.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackWebApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the fake Slack Web API has not been started")
        return self._base_url

    @property
    def url(self) -> str:
        """What `AsyncWebClient(base_url=...)` takes: the server's `/api/` prefix."""
        return f"{self.base_url}api/"

    # -- test controls ------------------------------------------------------------------

    def rate_limit(self, method: str, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next `count` calls to `method` with HTTP 429 and this `Retry-After`."""
        self._injected_limits.setdefault(method, deque()).extend([retry_after] * count)

    def add_user(self, user_id: str, name: str) -> None:
        self._user_names[user_id] = name

    def add_channel(self, channel_id: str, name: str) -> None:
        self._channel_names[channel_id] = name

    def user_name(self, user_id: str) -> str:
        return self._user_names.get(user_id, f"user-{user_id.lower()}")

    def channel_name(self, channel_id: str) -> str:
        return self._channel_names.get(channel_id, f"channel-{channel_id.lower()}")

    def issue_trigger_id(self, user: str, view_id: str | None = None) -> str:
        """A trigger_id as Slack puts in an interaction: one use, within 3 s of now."""
        now = self.clock.now()
        trigger_id = f"{int(now.timestamp())}.{next(self._serial)}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(user=user, issued=now, view_id=view_id)
        return trigger_id

    def new_response_url(
        self, channel: str | None = None, user: str | None = None, message_ts: str | None = None
    ) -> str:
        """A `response_url` on this server; `message_ts` names the message it may replace."""
        url_id = f"{next(self._serial)}-{secrets.token_hex(8)}"
        self._response_urls[url_id] = _ResponseUrl(
            id=url_id, issued=self.clock.now(), channel=channel, user=user, message_ts=message_ts
        )
        return f"{self.base_url}response/{url_id}"

    # -- Socket Mode ----------------------------------------------------------------------

    @property
    def socket_connections(self) -> int:
        """Socket Mode connections open right now."""
        return len(self._sockets)

    async def wait_for_socket(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline on the state, not on one await
        count: int = 1,
    ) -> None:
        """Return once at least `count` Socket Mode connections are open."""
        try:
            await self.wait_for(lambda api: api.socket_connections >= count, timeout)
        except AssertionError:
            raise AssertionError(
                f"no app connected in Socket Mode within {timeout}s "
                f"({self.socket_connections} open); recorded calls:\n{self.summary()}"
            ) from None

    async def socket_send(
        self,
        payload_type: str,
        payload: JsonDict,
        *,
        timeout: float = SOCKET_ACK_DEADLINE,  # noqa: ASYNC109 - Slack's ack deadline
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> SocketResponse:
        """Deliver `payload` in an envelope on the newest open socket and await its ack.

        Without an acknowledgement within `timeout` seconds the result has `acked` False,
        as Slack would count the delivery failed; a later ack lands in `stray_acks`.
        """
        if payload_type not in SOCKET_PAYLOAD_TYPES:
            raise ValueError(f"Slack sends no {payload_type!r} envelopes")
        if not self._sockets:
            raise RuntimeError("no app is connected in Socket Mode")
        connection = self._sockets[-1]
        envelope_id = str(uuid.uuid4())
        envelope: JsonDict = {
            "envelope_id": envelope_id,
            "type": payload_type,
            "payload": payload,
            "accepts_response_payload": payload_type != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        waiter: asyncio.Future[JsonDict] = asyncio.get_running_loop().create_future()
        self._ack_waiters[envelope_id] = waiter
        started = time.perf_counter()
        try:
            async with connection.sending:
                await connection.socket.send_str(json.dumps(envelope))
            ack: JsonDict | None = await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            ack = None
        finally:
            self._ack_waiters.pop(envelope_id, None)
        elapsed = time.perf_counter() - started
        ack_payload = ack.get("payload") if ack is not None else None
        delivery = SocketResponse(
            envelope_id=envelope_id,
            type=payload_type,
            payload=payload,
            acked=ack is not None,
            ack_payload=ack_payload if isinstance(ack_payload, dict) else None,
            elapsed=elapsed,
        )
        self.socket_deliveries.append(delivery)
        await self._notify()
        return delivery

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every connected app to move to a new socket, as Slack does every few hours.

        Like Slack, the old socket stays open until the app closes it.
        """
        message = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": f"{self.team_domain}-socket"},
        }
        for connection in list(self._sockets):
            async with connection.sending:
                await connection.socket.send_str(json.dumps(message))

    # -- queries ------------------------------------------------------------------------

    def messages(self, channel: str | None = None) -> list[Message]:
        """Channel messages as they stand now, oldest first (thread replies included)."""
        return [m for m in self._messages.values() if channel is None or m.channel == channel]

    def message(self, channel: str, ts: str) -> Message | None:
        return self._messages.get((channel, ts))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The thread's parent followed by its replies, like conversations.replies."""
        parent = self._messages.get((channel, ts))
        replies = [m for m in self.messages(channel) if m.thread_ts == ts and m.ts != ts]
        return ([parent] if parent is not None else []) + replies

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages (chat.postEphemeral and ephemeral `response_url` replies)."""
        return [
            e
            for e in self._ephemerals.values()
            if (user is None or e.user == user) and (channel is None or e.channel == channel)
        ]

    def ephemeral(self, message_ts: str) -> Ephemeral | None:
        return self._ephemerals.get(message_ts)

    @property
    def views(self) -> dict[str, OpenView]:
        """Modals open right now, by view id."""
        return dict(self._modals)

    def view(self, view_id: str) -> OpenView | None:
        """An open modal or a published Home tab."""
        found = self._modals.get(view_id)
        if found is not None:
            return found
        return next((home for home in self._homes.values() if home.id == view_id), None)

    def home(self, user_id: str) -> OpenView | None:
        return self._homes.get(user_id)

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def responses(self, response_url: str | None = None) -> list[ResponsePost]:
        """Accepted `response_url` posts, for one URL (or its id) or for all."""
        if response_url is None:
            return list(self._responses)
        url_id = response_url.rsplit("/", 1)[-1]
        return [post for post in self._responses if post.url_id == url_id]

    def summary(self) -> str:
        """One line per recorded call, for failure messages."""
        if not self.calls:
            return "(no calls recorded)"
        lines = []
        for call in self.calls:
            outcome = "ok" if call.ok else f"error={call.error}"
            flags = "".join(
                [" invalid" if call.invalid else "", " missing_text" if call.missing_text else ""]
            )
            args = json.dumps(call.args, default=str)
            if len(args) > 200:
                args = args[:197] + "..."
            lines.append(f"{call.time:%H:%M:%S.%f} {call.method} {outcome}{flags} {args}")
        return "\n".join(lines)

    async def wait_for(
        self,
        predicate: Callable[[SlackWebApi], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline on the state, not on one await
    ) -> None:
        """Return once `predicate(api)` holds, re-checking it whenever a call is recorded."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self)), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"the fake Slack Web API did not reach the expected state within {timeout}s; "
                    f"recorded calls:\n{self.summary()}"
                ) from None

    # -- view lifecycle driven by the user's side -----------------------------------------

    def message_json(self, message: Message) -> JsonDict:
        """The message object Slack returns from the API and puts in interaction payloads."""
        body: JsonDict = {
            "type": "message",
            "text": message.text,
            "user": message.user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": message.ts,
            "blocks": copy.deepcopy(message.blocks),
        }
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
        if message.edits:
            body["edited"] = {"user": message.user, "ts": message.ts}
        if message.metadata is not None:
            body["metadata"] = copy.deepcopy(message.metadata)
        return body

    async def resolve_view_submission(self, view_id: str, ack_body: object) -> None:
        """Do what Slack does with the app's answer to a view_submission.

        An empty ack closes the view; `response_action` "errors" keeps it open, "update"
        replaces it, "push" stacks a new one and "clear" closes the whole stack.
        """
        record = self._modals.get(view_id)
        if record is None:
            return
        action = ack_body.get("response_action") if isinstance(ack_body, dict) else None
        if action == "errors":
            return
        if action in ("update", "push"):
            assert isinstance(ack_body, dict)
            errors = view_errors(ack_body.get("view"))
            call = ApiCall(
                method=f"response_action.{action}",
                args={"view_id": view_id, "view": ack_body.get("view")},
                time=self.clock.now(),
                ok=not errors,
                error="invalid_blocks" if errors else None,
                invalid=bool(errors),
                errors=tuple(errors),
            )
            if not errors:
                spec: JsonDict = ack_body["view"]
                if action == "update":
                    self._modals[view_id] = self._revise(record, spec)
                else:
                    self._push(record, spec)
            await self._record(call)
            return
        if action == "clear":
            stack = [v for v, o in self._modals.items() if o.root_view_id == record.root_view_id]
            for open_id in stack:
                del self._modals[open_id]
        else:
            del self._modals[view_id]
        await self._notify()

    async def close_view(self, view_id: str) -> None:
        """The user pressed Close (or Esc) on a modal."""
        if self._modals.pop(view_id, None) is not None:
            await self._notify()

    # -- HTTP -----------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await _read_args(request)
        except ValueError:
            return await self._answer(method, {}, _Refusal("invalid_json"))
        bearer = _bearer_token(request)
        token = bearer or str(args.pop("token", "") or "")
        args.pop("token", None)
        if method == "apps.connections.open":
            return await self._answer(method, args, self._open_connection(bearer))
        if not token:
            return await self._answer(method, args, _Refusal("not_authed"))
        if _same_token(token, self._app_token):
            return await self._answer(method, args, _Refusal("not_allowed_token_type"))
        if not _same_token(token, self._bot_token):
            return await self._answer(method, args, _Refusal("invalid_auth"))
        rejected = self._rate_limited(method, args)
        if rejected is not None:
            return await self._answer(method, args, rejected)
        handler = self._methods.get(method)
        if handler is None:
            return await self._answer(method, args, _Refusal("unknown_method"))
        missing_text = False
        try:
            _decode_json_arguments(method, args)
            if method in _MESSAGE_METHODS:
                missing_text = bool(args.get("blocks")) and not args.get("text")
                if "blocks" in args:
                    errors = block_errors(args["blocks"], limit=MESSAGE_BLOCK_LIMIT)
                    if errors:
                        raise _Refusal("invalid_blocks", tuple(errors), invalid=True)
            if method in _VIEW_METHODS:
                errors = view_errors(args.get("view"))
                if errors:
                    raise _Refusal("invalid_blocks", tuple(errors), invalid=True)
            body = handler(args)
        except _Refusal as refusal:
            return await self._answer(method, args, refusal, missing_text=missing_text)
        return await self._answer(method, args, body, missing_text=missing_text)

    async def _answer(
        self,
        method: str,
        args: JsonDict,
        outcome: JsonDict | _Refusal | _Rejected,
        *,
        missing_text: bool = False,
    ) -> web.Response:
        now = self.clock.now()
        if isinstance(outcome, _Rejected):
            await self._record(
                ApiCall(method, args, now, ok=False, error="ratelimited", status=429)
            )
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(outcome.retry_after)},
            )
        if isinstance(outcome, _Refusal):
            await self._record(
                ApiCall(
                    method,
                    args,
                    now,
                    ok=False,
                    error=outcome.error,
                    invalid=outcome.invalid,
                    missing_text=missing_text,
                    errors=outcome.errors,
                )
            )
            body: JsonDict = {"ok": False, "error": outcome.error}
            if outcome.errors:
                body["errors"] = list(outcome.errors)
                body["response_metadata"] = {"messages": list(outcome.errors)}
            return web.json_response(body)
        await self._record(ApiCall(method, args, now, ok=True, missing_text=missing_text))
        return web.json_response({"ok": True, **outcome})

    def _open_connection(self, bearer: str | None) -> JsonDict | _Refusal:
        """apps.connections.open: a single-use socket URL, for the app-level token only.

        Slack reads this token from the Authorization header alone; one sent as a form field
        counts as no token at all.
        """
        if not bearer:
            return _Refusal("not_authed")
        if _same_token(bearer, self._bot_token):
            return _Refusal("not_allowed_token_type")
        if not _same_token(bearer, self._app_token):
            return _Refusal("invalid_auth")
        if not self._accepting_sockets:
            return _Refusal("service_unavailable")
        ticket = secrets.token_urlsafe(16)
        self._socket_tickets.add(ticket)
        ws_base = "ws" + self.base_url.removeprefix("http")
        return {"url": f"{ws_base}socket-mode/{ticket}"}

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.match_info["ticket"]
        if not self._accepting_sockets or ticket not in self._socket_tickets:
            self.socket_connections_refused += 1
            await self._notify()
            return web.Response(status=401, text="invalid_ticket")
        self._socket_tickets.discard(ticket)
        # autoping answers the client's pings, which it uses to notice a dead connection.
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        connection = _SocketConnection(
            serial=next(self._socket_serial),
            socket=socket,
            opened_at=self.clock.now(),
            sending=asyncio.Lock(),
        )
        hello = {
            "type": "hello",
            "num_connections": len(self._sockets) + 1,
            "debug_info": {
                "host": f"{self.team_domain}-socket",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await socket.send_str(json.dumps(hello))
        self._sockets.append(connection)
        self.socket_connections_opened += 1
        await self._notify()
        try:
            async for frame in socket:
                if frame.type is WSMsgType.TEXT:
                    await self._receive_ack(frame.data)
        finally:
            self._sockets.remove(connection)
            await self._notify()
        return socket

    async def _receive_ack(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            ack = {"unparsed": text}
        if not isinstance(ack, dict):
            ack = {"unparsed": text}
        waiter = self._ack_waiters.get(str(ack.get("envelope_id") or ""))
        if waiter is None or waiter.done():
            self.stray_acks.append(ack)
            await self._notify()
            return
        waiter.set_result(ack)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        url_id = request.match_info["url_id"]
        now = self.clock.now()
        hook = self._response_urls.get(url_id)
        try:
            body = await request.json()
        except ValueError:
            body = None
        args: JsonDict = {"url_id": url_id, "body": body}
        refusal: str | None = None
        if hook is None:
            refusal = "no_such_url"
        elif now - hook.issued > RESPONSE_URL_LIFETIME:
            refusal = "expired_url"
        elif hook.uses >= RESPONSE_URL_USES:
            refusal = "used_url"
        if hook is None or refusal is not None:
            await self._record(
                ApiCall("response_url", args, now, ok=False, error=refusal, status=404)
            )
            return web.Response(status=404, text=refusal)
        if not isinstance(body, dict):
            await self._record(
                ApiCall("response_url", args, now, ok=False, error="invalid_payload", status=400)
            )
            return web.Response(status=400, text="invalid_payload")
        missing_text = bool(body.get("blocks")) and not body.get("text")
        if "blocks" in body:
            errors = block_errors(body["blocks"], limit=MESSAGE_BLOCK_LIMIT)
            if errors:
                await self._record(
                    ApiCall(
                        "response_url",
                        args,
                        now,
                        ok=False,
                        error="invalid_blocks",
                        invalid=True,
                        missing_text=missing_text,
                        errors=tuple(errors),
                        status=400,
                    )
                )
                return web.Response(status=400, text="invalid_blocks")
        hook.uses += 1
        self._responses.append(
            ResponsePost(url_id=url_id, time=now, body=body, channel=hook.channel, user=hook.user)
        )
        self._apply_response(hook, body)
        await self._record(ApiCall("response_url", args, now, ok=True, missing_text=missing_text))
        return web.Response(status=200, text="ok")

    def _apply_response(self, hook: _ResponseUrl, body: JsonDict) -> None:
        """Show a `response_url` post the way Slack would, when the hook knows where."""
        now = self.clock.now()
        text = str(body.get("text") or "")
        blocks = self._with_generated_ids(body.get("blocks") or [])
        if _flag(body.get("delete_original")) or _flag(body.get("replace_original")):
            if hook.message_ts is None:
                return
            replacing = not _flag(body.get("delete_original"))
            if hook.channel is not None and (hook.channel, hook.message_ts) in self._messages:
                key = (hook.channel, hook.message_ts)
                if replacing:
                    self._messages[key] = self._edited(self._messages[key], text, blocks)
                else:
                    del self._messages[key]
            elif hook.message_ts in self._ephemerals:
                if replacing:
                    old = self._ephemerals[hook.message_ts]
                    self._ephemerals[hook.message_ts] = replace(
                        old,
                        text=text,
                        blocks=blocks,
                        replaced=(*old.replaced, MessageEdit(now, old.text, old.blocks)),
                    )
                else:
                    del self._ephemerals[hook.message_ts]
            return
        if hook.channel is None:
            return
        thread_ts = body.get("thread_ts") or None
        if body.get("response_type") == "in_channel":
            ts = self._next_ts()
            self._messages[(hook.channel, ts)] = Message(
                channel=hook.channel,
                ts=ts,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                user=self.bot_user_id,
                posted_at=now,
            )
        elif hook.user is not None:
            ts = self._next_ts()
            self._ephemerals[ts] = Ephemeral(
                channel=hook.channel,
                user=hook.user,
                message_ts=ts,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                posted_at=now,
            )

    async def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _rate_limited(self, method: str, args: JsonDict) -> _Rejected | None:
        injected = self._injected_limits.get(method)
        if injected:
            return _Rejected(injected.popleft())
        if not self.enforce_rate_limits or method not in self.rate_budgets:
            return None
        per_minute, per_channel = self.rate_budgets[method]
        key = (method, str(args.get("channel") or "") if per_channel else "")
        window = self._budget_windows.setdefault(key, deque())
        now = self.clock.now()
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        if len(window) >= per_minute:
            wait = (window[0] + timedelta(minutes=1) - now).total_seconds()
            return _Rejected(max(1, math.ceil(wait)))
        window.append(now)
        return None

    # -- methods --------------------------------------------------------------------------

    def _api_test(self, args: JsonDict) -> JsonDict:
        return {"args": {k: v for k, v in args.items() if isinstance(v, str)}}

    def _auth_test(self, args: JsonDict) -> JsonDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.user_name(self.bot_user_id),
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JsonDict) -> JsonDict:
        """chat.postMessage; unlike Slack, a reply to a thread that does not exist is refused."""
        channel = _required(args, "channel", "channel_not_found")
        text = str(args.get("text") or "")
        if not text and not args.get("blocks") and not args.get("attachments"):
            raise _Refusal("no_text")
        thread_ts = str(args.get("thread_ts") or "") or None
        if thread_ts is not None:
            parent = self._messages.get((channel, thread_ts))
            if parent is None:
                raise _Refusal("thread_not_found")
            # Slack threads are one level deep: a reply to a reply joins the parent's thread.
            thread_ts = parent.thread_ts or parent.ts
        ts = self._next_ts()
        message = Message(
            channel=channel,
            ts=ts,
            text=text,
            blocks=self._with_generated_ids(args.get("blocks") or []),
            thread_ts=thread_ts,
            user=self.bot_user_id,
            posted_at=self.clock.now(),
            reply_broadcast=_flag(args.get("reply_broadcast")),
            metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
        )
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": self.message_json(message)}

    def _chat_update(self, args: JsonDict) -> JsonDict:
        channel = _required(args, "channel", "channel_not_found")
        ts = _required(args, "ts", "message_not_found")
        current = self._messages.get((channel, ts))
        if current is None:
            raise _Refusal("message_not_found")
        # Slack keeps whatever the update leaves out: text without blocks keeps the blocks.
        text = str(args["text"]) if args.get("text") is not None else current.text
        blocks = (
            self._with_generated_ids(args["blocks"])
            if args.get("blocks") is not None
            else current.blocks
        )
        if not text and not blocks:
            raise _Refusal("no_text")
        updated = self._edited(current, text, blocks)
        self._messages[(channel, ts)] = updated
        return {"channel": channel, "ts": ts, "text": text, "message": self.message_json(updated)}

    def _chat_delete(self, args: JsonDict) -> JsonDict:
        channel = _required(args, "channel", "channel_not_found")
        ts = _required(args, "ts", "message_not_found")
        if self._messages.pop((channel, ts), None) is None:
            raise _Refusal("message_not_found")
        return {"channel": channel, "ts": ts}

    def _chat_get_permalink(self, args: JsonDict) -> JsonDict:
        """chat.getPermalink: a link to a message that exists, as Slack shapes one."""
        channel = _required(args, "channel", "channel_not_found")
        ts = _required(args, "message_ts", "message_not_found")
        if (channel, ts) not in self._messages:
            raise _Refusal("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _chat_post_ephemeral(self, args: JsonDict) -> JsonDict:
        channel = _required(args, "channel", "channel_not_found")
        user = _required(args, "user", "user_not_in_channel")
        text = str(args.get("text") or "")
        if not text and not args.get("blocks") and not args.get("attachments"):
            raise _Refusal("no_text")
        ts = self._next_ts()
        self._ephemerals[ts] = Ephemeral(
            channel=channel,
            user=user,
            message_ts=ts,
            text=text,
            blocks=self._with_generated_ids(args.get("blocks") or []),
            thread_ts=str(args.get("thread_ts") or "") or None,
            posted_at=self.clock.now(),
        )
        return {"message_ts": ts}

    def _views_open(self, args: JsonDict) -> JsonDict:
        spec: JsonDict = args["view"]
        if spec.get("type") != "modal":
            raise _Refusal("invalid_arguments", ("views.open takes a modal view",))
        trigger = self._redeem_trigger(args.get("trigger_id"))
        view_id = self._new_view_id()
        record = OpenView(
            id=view_id,
            user=trigger.user,
            view=self._view_json(view_id, spec, root_view_id=view_id, previous_view_id=None),
            root_view_id=view_id,
            previous_view_id=None,
        )
        self._modals[view_id] = record
        return {"view": copy.deepcopy(record.view)}

    def _views_update(self, args: JsonDict) -> JsonDict:
        spec: JsonDict = args["view"]
        record = self._find_view(args)
        if spec.get("type") != record.type:
            raise _Refusal("invalid_arguments", (f"the view is a {record.type}",))
        expected_hash = args.get("hash")
        if expected_hash and expected_hash != record.hash:
            raise _Refusal("hash_conflict")
        revised = self._revise(record, spec)
        if record.type == "home":
            self._homes[record.user] = revised
        else:
            self._modals[record.id] = revised
        return {"view": copy.deepcopy(revised.view)}

    def _views_push(self, args: JsonDict) -> JsonDict:
        spec: JsonDict = args["view"]
        if spec.get("type") != "modal":
            raise _Refusal("invalid_arguments", ("views.push takes a modal view",))
        trigger = self._redeem_trigger(args.get("trigger_id"))
        below = self._modals.get(trigger.view_id or "")
        if below is None:
            raise _Refusal("not_found", ("views.push needs a trigger from inside an open modal",))
        record = self._push(below, spec)
        return {"view": copy.deepcopy(record.view)}

    def _views_publish(self, args: JsonDict) -> JsonDict:
        spec: JsonDict = args["view"]
        user_id = _required(args, "user_id", "user_not_found")
        if spec.get("type") != "home":
            raise _Refusal("invalid_arguments", ("views.publish takes a home view",))
        current = self._homes.get(user_id)
        expected_hash = args.get("hash")
        if current is not None and expected_hash and expected_hash != current.hash:
            raise _Refusal("hash_conflict")
        if current is None:
            view_id = self._new_view_id()
            published = OpenView(
                id=view_id,
                user=user_id,
                view=self._view_json(view_id, spec, root_view_id=view_id, previous_view_id=None),
                root_view_id=view_id,
                previous_view_id=None,
            )
        else:
            published = self._revise(current, spec)
        self._homes[user_id] = published
        return {"view": copy.deepcopy(published.view)}

    def _users_info(self, args: JsonDict) -> JsonDict:
        user_id = _required(args, "user", "user_not_found")
        name = self.user_name(user_id)
        return {
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "real_name": name,
                "deleted": False,
                "is_bot": user_id == self.bot_user_id,
                "is_admin": False,
                "tz": "Etc/UTC",
                "profile": {"display_name": name, "real_name": name},
            }
        }

    def _conversations_info(self, args: JsonDict) -> JsonDict:
        channel_id = _required(args, "channel", "channel_not_found")
        return {
            "channel": {
                "id": channel_id,
                "name": self.channel_name(channel_id),
                "is_channel": True,
                "is_private": False,
                "is_archived": False,
                "is_member": True,
                "context_team_id": self.team_id,
            }
        }

    # -- helpers --------------------------------------------------------------------------

    def _next_ts(self) -> str:
        """A message ts from the clock, nudged forward so no two are ever equal."""
        micros = int(self.clock.now().timestamp() * 1_000_000)
        self._last_ts_micros = max(micros, self._last_ts_micros + 1)
        seconds, fraction = divmod(self._last_ts_micros, 1_000_000)
        return f"{seconds}.{fraction:06d}"

    def _new_view_id(self) -> str:
        return f"V{next(self._serial):06d}{secrets.token_hex(2).upper()}"

    def _with_generated_ids(self, blocks: list[JsonDict]) -> list[JsonDict]:
        """Copy blocks, adding the block_id/action_id Slack generates when the app omits them."""
        stored = copy.deepcopy(blocks)
        for block in stored:
            if "block_id" not in block:
                block["block_id"] = secrets.token_urlsafe(4)
            for element in interactive_elements(block):
                if "action_id" not in element:
                    element["action_id"] = secrets.token_urlsafe(4)
        return stored

    def _redeem_trigger(self, trigger_id: object) -> _Trigger:
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None or trigger.used or self.clock.now() - trigger.issued > TRIGGER_LIFETIME:
            raise _Refusal("expired_trigger_id")
        trigger.used = True
        return trigger

    def _find_view(self, args: JsonDict) -> OpenView:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        candidates = [*self._modals.values(), *self._homes.values()]
        for record in candidates:
            if view_id and record.id == view_id:
                return record
            if external_id and record.view.get("external_id") == external_id:
                return record
        raise _Refusal("not_found")

    def _view_json(
        self, view_id: str, spec: JsonDict, *, root_view_id: str, previous_view_id: str | None
    ) -> JsonDict:
        """The full view object Slack returns: the app's definition plus Slack's own fields."""
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec["type"],
            "blocks": self._with_generated_ids(spec.get("blocks") or []),
            "private_metadata": spec.get("private_metadata") or "",
            "callback_id": spec.get("callback_id") or "",
            "state": {"values": {}},
            "hash": f"{int(self.clock.now().timestamp())}.{secrets.token_urlsafe(6)}",
            "title": copy.deepcopy(spec.get("title")),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id,
            "app_id": self.app_id,
            "external_id": spec.get("external_id") or "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _revise(self, record: OpenView, spec: JsonDict) -> OpenView:
        view = self._view_json(
            record.id,
            spec,
            root_view_id=record.root_view_id,
            previous_view_id=record.previous_view_id,
        )
        return replace(record, view=view, history=(*record.history, record.view))

    def _push(self, below: OpenView, spec: JsonDict) -> OpenView:
        depth = sum(1 for v in self._modals.values() if v.root_view_id == below.root_view_id)
        if depth >= VIEW_STACK_LIMIT:
            raise _Refusal("push_limit_reached")
        view_id = self._new_view_id()
        record = OpenView(
            id=view_id,
            user=below.user,
            view=self._view_json(
                view_id, spec, root_view_id=below.root_view_id, previous_view_id=below.id
            ),
            root_view_id=below.root_view_id,
            previous_view_id=below.id,
        )
        self._modals[view_id] = record
        return record

    def _edited(self, current: Message, text: str, blocks: list[JsonDict]) -> Message:
        previous = MessageEdit(self.clock.now(), current.text, current.blocks)
        return replace(current, text=text, blocks=blocks, edits=(*current.edits, previous))


async def _read_args(request: web.Request) -> JsonDict:
    """Arguments from the query string and a JSON or form body, as Slack accepts them."""
    args: JsonDict = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON body must be an object")
            args.update(body)
        else:
            form = await request.post()
            args.update({key: value for key, value in form.items() if isinstance(value, str)})
    return args


def _decode_json_arguments(method: str, args: JsonDict) -> None:
    """Form-encoded calls carry blocks and views as JSON strings; decode them in place."""
    for key in _JSON_ARGUMENTS:
        value = args.get(key)
        if isinstance(value, str):
            try:
                args[key] = json.loads(value)
            except ValueError:
                error = "invalid_blocks_format" if key == "blocks" else "invalid_arguments"
                raise _Refusal(error, (f"{key} is not valid JSON",), invalid=True) from None
    if method in _VIEW_METHODS and not isinstance(args.get("view"), dict):
        raise _Refusal("invalid_arguments", ("view is required",), invalid=True)


def _same_token(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return None


def _required(args: JsonDict, key: str, error: str) -> str:
    value = args.get(key)
    if not value or not isinstance(value, str):
        raise _Refusal(error)
    return value
