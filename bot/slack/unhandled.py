"""Requests no listener takes: acknowledged, answered privately where someone can be, audited.

Bolt answers a request no listener matched with 404 "unhandled request" (an unknown
``action_id`` or ``callback_id``, a shortcut the app does not define, a payload with no
``actions`` or no ``type``). Catch-all listeners cannot see the last two, since Bolt's own
matchers never match them; so the app runs with ``raise_error_for_unhandled_request`` and
this error handler takes Bolt's ``BoltUnhandledRequestError``: Slack gets 200 at once, and
after the ack the interaction is audited as refused and its sender told why, through the
request's ``response_url`` when it has one. An unknown form is answered inside the form.

Slash commands and events are left with Bolt's 404 and one warning line: Slack sends only
the commands the manifest declares and the events it subscribes to, so one without a
listener is a manifest out of step with the code (tests/test_manifest.py), not a person
to answer. Every other error goes on to the handler it wraps.

A refused request costs one audit entry (bounded like every audit entry) and, where there
is someone to answer, one private reply: no Atlassian call, no session read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.listener.async_listener_error_handler import AsyncListenerErrorHandler
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.messages import labels
from bot.messages import restore as said
from bot.observability.context import Outcome, note_outcome
from bot.restore.records import NAME_LIMIT
from bot.restore.session import Refusal
from bot.runtime import Services

log = logging.getLogger(__name__)

#: Requests that are no one's decision: nothing to audit or answer, only to acknowledge.
_NOT_DECISIONS: Final = frozenset({"view_closed", "block_suggestion"})
#: Requests Slack sends only as the manifest declares them: a missing listener stays a 404.
_DECLARED: Final = frozenset({"event_callback", "slash_command", "url_verification"})


@dataclass(frozen=True, slots=True)
class UnhandledInteraction:
    """What an unhandled request says about itself, every field as Slack sent it (unbounded)."""

    kind: str
    user: str
    session_id: str
    name: str
    response_url: str | None

    @classmethod
    def of(cls, body: object) -> UnhandledInteraction:
        if not isinstance(body, dict):
            return cls("unknown", "", "", "", None)
        kind = "slash_command" if "command" in body else str(body.get("type") or "unknown")
        user = body.get("user") or {}
        user_id = user.get("id", "") if isinstance(user, dict) else ""
        actions = body.get("actions")
        action = actions[0] if isinstance(actions, list) and actions else {}
        action = action if isinstance(action, dict) else {}
        view = body.get("view") or {}
        view = view if isinstance(view, dict) else {}
        name = (
            action.get("action_id")
            or view.get("callback_id")
            or body.get("callback_id")
            or body.get("command")
            or (body.get("event") or {}).get("type")
        )
        if not name and kind == "block_actions":
            name = "(no actions)"
        response_url = body.get("response_url")
        return cls(
            kind=kind,
            user=str(user_id or body.get("user_id") or ""),
            session_id=str(action.get("value", "")),
            name=str(name or ""),
            response_url=response_url if isinstance(response_url, str) and response_url else None,
        )

    @property
    def is_decision(self) -> bool:
        return self.kind not in _NOT_DECISIONS

    @property
    def is_declared_by_the_manifest(self) -> bool:
        return self.kind in _DECLARED


def acknowledgement(interaction: UnhandledInteraction) -> BoltResponse:
    """What Slack gets at once: an unknown form says so inside itself, suggestions are empty."""
    if interaction.kind == "view_submission":
        view = {
            "type": "modal",
            "title": {"type": "plain_text", "text": labels.BOT_NAME},
            "close": {"type": "plain_text", "text": labels.CLOSE},
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": said.unknown_form()},
                }
            ],
        }
        return _json_response({"response_action": "update", "view": view})
    if interaction.kind == "block_suggestion":
        return _json_response({"options": []})
    return BoltResponse(status=200, body="")


def _json_response(body: dict[str, Any]) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps(body),
        headers={"content-type": "application/json;charset=utf-8"},
    )


class AnswerUnhandled(AsyncListenerErrorHandler):
    """Bolt's error handler: unhandled requests are acknowledged, answered and audited."""

    def __init__(self, inner: AsyncListenerErrorHandler, services: Services) -> None:
        self._inner = inner
        self._services = services
        # Post-ack work is referenced until it ends, so the loop cannot drop it half done.
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(
        self, error: Exception, request: AsyncBoltRequest, response: BoltResponse | None
    ) -> None:
        if not isinstance(error, BoltUnhandledRequestError) or response is None:
            await self._inner.handle(error=error, request=request, response=response)
            return
        interaction = UnhandledInteraction.of(request.body)
        if interaction.is_declared_by_the_manifest:
            log.warning("no listener for the %s %.100s", interaction.kind, interaction.name)
            return
        ack = self.take(interaction)
        response.status, response.headers, response.body = ack.status, ack.headers, ack.body

    def take(self, interaction: UnhandledInteraction) -> BoltResponse:
        """Acknowledge ``interaction`` as one the bot does not handle; refuse it after the ack."""
        note_outcome(Outcome.REFUSED)
        log.info("acknowledged an unhandled %s (%.100s)", interaction.kind, interaction.name)
        if interaction.is_decision:
            self._after_ack(self._refuse(interaction))
        return acknowledgement(interaction)

    def _after_ack(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            async with self._services.pending.track():
                await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refuse(self, interaction: UnhandledInteraction) -> None:
        try:
            await self._services.sessions.record_refusal(
                interaction.session_id or "-",
                actor=interaction.user or "-",
                action=interaction.kind,
                reason=f"{Refusal.UNKNOWN_ACTION.value}: {interaction.name[:NAME_LIMIT]}",
            )
        except Exception:
            log.warning("could not audit an unhandled %s request", interaction.kind, exc_info=True)
        if interaction.response_url is None:
            return
        respond: Callable[..., Awaitable[Any]] = AsyncRespond(response_url=interaction.response_url)
        try:
            await respond(
                text=said.click_unknown_button(), response_type="ephemeral", replace_original=False
            )
        except Exception:
            log.warning("could not answer an unhandled %s request", interaction.kind, exc_info=True)


class MalformedActions(AsyncMiddleware):
    """A global middleware: a click whose ``actions`` is not a list of actions is unhandled.

    Bolt's own action matchers index ``actions[0]`` and would fail with a 500 on an empty
    list; such a click goes to ``AnswerUnhandled`` before any matcher sees it.
    """

    def __init__(self, unhandled: AnswerUnhandled) -> None:
        self._unhandled = unhandled

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        body = req.body
        if isinstance(body, dict) and body.get("type") == "block_actions":
            actions = body.get("actions")
            if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
                return self._unhandled.take(UnhandledInteraction.of(body))
        return await next()


__all__ = ["AnswerUnhandled", "MalformedActions", "UnhandledInteraction", "acknowledgement"]
