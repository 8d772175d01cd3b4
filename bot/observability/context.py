"""The Slack request being handled, in a context variable: its id, kind, name and outcome.

The Slack app opens a ``RequestScope`` when it starts dispatching a request
(``bot.slack.instrumentation``). Bolt runs the listener in a task created during that
dispatch, and a task starts with a copy of its creator's context, so the listener and
every coroutine it awaits see the same scope object: a refusal or failure noted deep in
the work reaches the metric counted when the listener finishes, and every log line written
meanwhile carries the request id. The id is the reference a user is given in "Something
went wrong (ref …)", so an operator finds the stack trace by searching the logs for it.

Work outside a request (the tracker, housekeeping) has no scope: ``current_request_id``
then hands out a fresh id and ``note_outcome`` does nothing. ``operation_context`` names
the kind of Atlassian operation a piece of work is about, for the logs.
"""

from __future__ import annotations

import contextlib
import enum
import random
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass


class RequestKind(enum.StrEnum):
    COMMAND = "command"
    ACTION = "action"
    VIEW = "view"
    EVENT = "event"
    OTHER = "other"


class Outcome(enum.StrEnum):
    """How a request ended: done, refused with a sentence saying why, or failed."""

    OK = "ok"
    REFUSED = "refused"
    ERROR = "error"


_SEVERITY = {Outcome.OK: 0, Outcome.REFUSED: 1, Outcome.ERROR: 2}


@dataclass(slots=True)
class RequestScope:
    """One Slack request while it is handled; ``counted`` once its metric was recorded."""

    request_id: str
    kind: RequestKind
    name: str
    outcome: Outcome = Outcome.OK
    counted: bool = False

    def note(self, outcome: Outcome) -> None:
        """Record ``outcome``; a request that failed stays failed whatever is noted after."""
        if _SEVERITY[outcome] > _SEVERITY[self.outcome]:
            self.outcome = outcome


_REQUEST: ContextVar[RequestScope | None] = ContextVar("backup_bot_request", default=None)
_OPERATION_KIND: ContextVar[str | None] = ContextVar("backup_bot_operation_kind", default=None)


def new_request_id() -> str:
    """Eight hex digits: short enough to read out, unique enough within a day's logs.

    A reference, not a secret: drawn from the fast generator, since a request from the
    operating system's (``secrets``) costs a system call on every request.
    """
    return f"{random.getrandbits(32):08x}"


def new_scope(kind: RequestKind, name: str) -> RequestScope:
    """A request's scope, not entered yet (see ``enter_request``)."""
    return RequestScope(request_id=new_request_id(), kind=kind, name=name)


def open_request(kind: RequestKind, name: str) -> tuple[RequestScope, Token[RequestScope | None]]:
    """Start a request's scope; pass the token to ``close_request`` when dispatch returns."""
    scope = new_scope(kind, name)
    return scope, _REQUEST.set(scope)


def enter_request(scope: RequestScope) -> Token[RequestScope | None]:
    """Work on ``scope``'s request from here (a queued click taken up by a worker);
    ``close_request`` with the token when it is done."""
    return _REQUEST.set(scope)


def close_request(token: Token[RequestScope | None]) -> None:
    """End the scope in the dispatching context (listener tasks keep their copy)."""
    _REQUEST.reset(token)


def current_request() -> RequestScope | None:
    return _REQUEST.get()


def current_request_id() -> str:
    """The id of the request being handled, or a fresh one outside any request."""
    scope = _REQUEST.get()
    return scope.request_id if scope is not None else new_request_id()


def note_outcome(outcome: Outcome) -> None:
    """Record how the current request ended (no-op outside a request)."""
    scope = _REQUEST.get()
    if scope is not None:
        scope.note(outcome)


def name_request(name: str) -> None:
    """Give the current request a more precise name than its kind's (e.g. the subcommand)."""
    scope = _REQUEST.get()
    if scope is not None:
        scope.name = name


def failure_reference() -> str:
    """Mark the current request as failed and return the reference to show the user."""
    note_outcome(Outcome.ERROR)
    return current_request_id()


@contextlib.contextmanager
def operation_context(kind: str) -> Iterator[None]:
    """Log lines written inside the block name the kind of operation (backup, restore…)."""
    token = _OPERATION_KIND.set(kind)
    try:
        yield
    finally:
        _OPERATION_KIND.reset(token)


def log_fields() -> dict[str, str]:
    """The context a log line carries: request id and name, and the operation kind."""
    fields: dict[str, str] = {}
    scope = _REQUEST.get()
    if scope is not None:
        fields["request_id"] = scope.request_id
        fields[scope.kind.value] = scope.name
    kind = _OPERATION_KIND.get()
    if kind is not None:
        fields["operation_kind"] = kind
    return fields


__all__ = [
    "Outcome",
    "RequestKind",
    "RequestScope",
    "close_request",
    "current_request",
    "current_request_id",
    "enter_request",
    "failure_reference",
    "log_fields",
    "name_request",
    "new_request_id",
    "new_scope",
    "note_outcome",
    "open_request",
    "operation_context",
]
