"""Metrics and log context for every Slack request, whatever listener handles it.

``InstrumentedApp`` is the Bolt ``AsyncApp`` with two additions:

- ``async_dispatch`` opens a request scope (``bot.observability.context``) before Bolt runs
  anything and times the dispatch: with ``process_before_response=False`` Bolt returns as
  soon as the listener called ``ack()``, so that time is the acknowledgement latency Slack
  sees, less the network. Both HTTP and Socket Mode dispatch through it.
- the listener runner's completion handler counts the request in
  ``backup_bot_slack_requests_total`` once its listener has finished (after the post-ack
  work), with the outcome noted on the scope meanwhile; its error handler notes a listener
  that raised as an error. A request no listener took (a resent event, an unknown action)
  is timed but not counted.

Names are bounded: a slash command is named by the command Slack routed (``/backup``)
until its listener names the parsed subcommand (``name_command``); a click by its action id
up to the first ``:`` (the consent buttons carry the check after it); a modal by its
callback id; an event by its type.
"""

from __future__ import annotations

import re
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener_completion_handler import (
    AsyncListenerCompletionHandler,
)
from slack_bolt.listener.async_listener_error_handler import AsyncListenerErrorHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.errors import UsageError
from bot.observability import metrics
from bot.observability.context import (
    Outcome,
    RequestKind,
    close_request,
    current_request,
    name_request,
    note_outcome,
    open_request,
)

_VIEW_TYPES = frozenset({"view_submission", "view_closed"})
_CAMEL = re.compile(r"(?<!^)(?=[A-Z][a-z])")


def action_name(action_id: str) -> str:
    """A click's bounded name: its action id up to the first ``:`` (the consent buttons
    carry the check after it)."""
    return action_id.partition(":")[0] or "unknown"


def classify(body: object) -> tuple[RequestKind, str]:
    """The kind of a Slack request and its bounded name, from its parsed body."""
    if not isinstance(body, dict):
        return RequestKind.OTHER, "unknown"
    if isinstance(body.get("command"), str):
        return RequestKind.COMMAND, body["command"]
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        action_id = str(actions[0].get("action_id", "")) if isinstance(actions[0], dict) else ""
        return RequestKind.ACTION, action_name(action_id)
    if kind in _VIEW_TYPES:
        view = body.get("view") or {}
        return RequestKind.VIEW, str(view.get("callback_id", "") or "unknown")
    if kind == "event_callback":
        event = body.get("event") or {}
        return RequestKind.EVENT, str(event.get("type", "") or "unknown")
    return RequestKind.OTHER, str(kind or "unknown")


def name_command(parsed: object) -> None:
    """Name the current command after what it parsed to; a usage error is a refusal."""
    if isinstance(parsed, UsageError):
        note_outcome(Outcome.REFUSED)
        return
    name_request(_CAMEL.sub("_", type(parsed).__name__).lower())


class _CountWhenFinished(AsyncListenerCompletionHandler):
    """Runs in the listener's task, after its work: counts the request once."""

    def __init__(self, inner: AsyncListenerCompletionHandler) -> None:
        self._inner = inner

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        scope = current_request()
        if scope is not None and not scope.counted:
            scope.counted = True
            metrics.count_request(scope.kind, scope.name, scope.outcome)
        await self._inner.handle(request=request, response=response)


class _NoteErrors(AsyncListenerErrorHandler):
    def __init__(self, inner: AsyncListenerErrorHandler) -> None:
        self._inner = inner

    async def handle(
        self, error: Exception, request: AsyncBoltRequest, response: BoltResponse | None
    ) -> None:
        note_outcome(Outcome.ERROR)
        await self._inner.handle(error=error, request=request, response=response)


class InstrumentedApp(AsyncApp):
    """``AsyncApp`` that times acknowledgements and counts requests by name and outcome."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        runner = self.listener_runner
        runner.listener_completion_handler = _CountWhenFinished(runner.listener_completion_handler)
        runner.listener_error_handler = _NoteErrors(runner.listener_error_handler)

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        kind, name = classify(req.body)
        _, token = open_request(kind, name)
        started = time.perf_counter()
        try:
            response: BoltResponse = await super().async_dispatch(req)
        finally:
            metrics.observe_ack(kind, time.perf_counter() - started)
            close_request(token)
        return response


__all__ = ["InstrumentedApp", "action_name", "classify", "name_command"]
