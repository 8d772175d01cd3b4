"""How an HTTP answer, or the lack of one, becomes a reply to read or an error of ``bot.errors``.

Every operation of the client ends here, whatever it asked for, so the status table of
``bot.atlassian.client`` is kept in one place: 401 AuthError, 403 ForbiddenError, 404
NotFoundError, 400/422 RuleViolation, 409 ConflictError, 429 RateLimited, 5xx and transport
failures Unavailable, anything else (or a 2xx that is not JSON) UnexpectedResponse.

The service words its errors in several shapes (``code``/``message``, ``errorMessage``, a list
of ``errors``, a nested ``error``, plain text, or a proxy's HTML page); they are all read by the
same rules so a user is shown the service's own reason, once, after the bot's lead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.clock import Clock, ensure_utc
from bot.errors import (
    AtlassianError,
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimited,
    RuleViolation,
    Unavailable,
    UnexpectedResponse,
)


def transport_status(exc: httpx.TransportError) -> str:
    """The status label of a request that got no HTTP answer."""
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"


def accepted(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


@dataclass(frozen=True)
class Reply:
    method: str
    path: str
    status: int
    text: str
    data: object

    def unexpected(self, message: str) -> UnexpectedResponse:
        return UnexpectedResponse(
            message, method=self.method, path=self.path, status=self.status, body=self.text
        )


def decode_reply(response: httpx.Response, method: str, path: str) -> Reply:
    text = response.text
    data: object = None
    if text.strip():
        try:
            data = json.loads(text)
        except ValueError:
            raise UnexpectedResponse(
                "The answer is not JSON",
                method=method,
                path=path,
                status=response.status_code,
                body=text,
            ) from None
    return Reply(method, path, response.status_code, text, data)


def transport_error(
    exc: httpx.TransportError, method: str, path: str, *, timeout: float
) -> Unavailable:
    if isinstance(exc, httpx.TimeoutException):
        message = f"No answer from the Atlassian API within {timeout:g} s"
    elif isinstance(exc, httpx.ConnectError):
        message = "Could not connect to the Atlassian API"
    else:
        message = f"The connection to the Atlassian API failed ({type(exc).__name__})"
    return Unavailable(message, method=method, path=path)


def error_from_response(
    response: httpx.Response, method: str, path: str, *, clock: Clock
) -> AtlassianError:
    status = response.status_code
    body = response.text
    code, detail = _service_message(body)

    def error(kind: type[AtlassianError], lead: str, **extra: Any) -> AtlassianError:
        return kind(lead, method=method, path=path, status=status, body=body, code=code, **extra)

    def said(fallback: str) -> str:
        return detail or fallback

    if status == 401:
        return error(AuthError, _join("The e-mail or API token was not accepted", detail))
    if status == 403:
        # A code naming entitlement is decisive; a message counts only when it does not
        # also blame the caller's admin rights.
        said_entitled = "entitle" in (detail or "").lower()
        if "entitle" in (code or "").lower() or (
            said_entitled and "admin" not in (detail or "").lower()
        ):
            lead = "The organisation is not entitled to backup and restore"
        else:
            lead = "Not permitted: the API token's owner must be an admin of this organisation"
        return error(ForbiddenError, _join(lead, detail))
    if status == 404:
        return error(NotFoundError, said("Not found"))
    if status in (400, 422):
        return error(RuleViolation, said("The request was refused"))
    if status == 409:
        return error(ConflictError, said("Another operation is already running"))
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), clock.now())
        return error(RateLimited, _join("Too many requests", detail), retry_after=retry_after)
    if status >= 500:
        return error(Unavailable, _join(f"The service failed (HTTP {status})", detail))
    return error(UnexpectedResponse, _join(f"Unexpected HTTP {status}", detail))


def _join(lead: str, detail: str | None) -> str:
    if not detail or detail.strip().rstrip(".").lower() == lead.lower():
        return lead
    return f"{lead}: {detail}"


def _service_message(body: str) -> tuple[str | None, str | None]:
    """The service's error ``code`` and ``message`` from any of the shapes it may use."""
    text = body.strip()
    if not text:
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        if text.startswith("<"):
            # An HTML error page from a proxy says nothing a user can act on.
            return None, None
        return None, text.splitlines()[0][:300]
    return _code_and_message(data)


def _code_and_message(data: object) -> tuple[str | None, str | None]:
    if isinstance(data, str):
        return None, data or None
    if not isinstance(data, Mapping):
        return None, None
    code = _first_text(data, ("code", "errorCode", "key"))
    message = _first_text(data, ("message", "errorMessage", "detail", "title", "error_description"))
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        parts = [_code_and_message(item) for item in errors]
        codes = [part_code for part_code, _ in parts if part_code]
        messages = [part_message for _, part_message in parts if part_message]
        code = code or (codes[0] if codes else None)
        if messages:
            message = "; ".join(messages) if not message else f"{message}: {'; '.join(messages)}"
    nested = data.get("error")
    if isinstance(nested, Mapping):
        nested_code, nested_message = _code_and_message(nested)
        code = code or nested_code
        message = message or nested_message
    elif isinstance(nested, str) and nested:
        if message is None:
            message = nested
        else:
            code = code or nested
    return code, message


def _first_text(data: Mapping[str, object], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (ensure_utc(when) - ensure_utc(now)).total_seconds())


__all__ = [
    "Reply",
    "accepted",
    "decode_reply",
    "error_from_response",
    "retry_after_seconds",
    "transport_error",
    "transport_status",
]
