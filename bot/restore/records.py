"""How sessions and audit entries are written for Redis and read back, within bounds.

Updates are validated against the session's own field types before a script stores them.
Every audit field is bounded before it reaches a stream: ids and actors by their own
format (a button's value or a user id is whatever the request says), free text by length,
so no click can make an entry, or a stream, grow without limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from pydantic import TypeAdapter

from bot.atlassian.models import FailedCheck
from bot.restore.session import UPDATABLE_FIELDS, AuditEntry, RestoreSession, SessionState

# Session ids are token_urlsafe(16); Slack user ids are a few upper-case letters and digits.
ID_LIMIT: Final = 64
ACTOR_LIMIT: Final = 32
NAME_LIMIT: Final = 100
DETAIL_LIMIT: Final = 500
_ID_CHARACTERS: Final = re.compile(r"[A-Za-z0-9_-]+")
UNREADABLE_ID: Final = "-"


def bounded_id(value: str, limit: int = ID_LIMIT) -> str:
    """An id as audited: ``value`` if it has an id's form, else a mark that it had none."""
    if len(value) <= limit and _ID_CHARACTERS.fullmatch(value):
        return value
    return UNREADABLE_ID


def bounded_text(value: str | None, limit: int = DETAIL_LIMIT) -> str:
    """Free text as audited: at most ``limit`` characters, a cut marked with an ellipsis."""
    if value is None:
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@cache
def field_adapter(name: str) -> TypeAdapter[Any]:
    annotation: Any = RestoreSession.model_fields[name].annotation
    return TypeAdapter(annotation)


def failed_check_dict(item: FailedCheck | Mapping[str, Any]) -> dict[str, str | None]:
    if isinstance(item, FailedCheck):
        return {"check": str(item.check), "code": item.code, "message": item.message}
    check, code, message = item.get("check"), item.get("code"), item.get("message")
    return {
        "check": str(check),
        "code": None if code is None else str(code),
        "message": None if message is None else str(message),
    }


def encode_updates(updates: Mapping[str, Any]) -> dict[str, Any]:
    """Validate updates against the session's field types and turn them into JSON values."""
    encoded: dict[str, Any] = {}
    for name, value in updates.items():
        if name not in UPDATABLE_FIELDS:
            raise ValueError(f"{name!r} cannot be set by a transition")
        if name == "failed_checks":
            value = [failed_check_dict(item) for item in value]
        adapter = field_adapter(name)
        encoded[name] = adapter.dump_python(adapter.validate_python(value), mode="json")
    # Each round of consent answers belongs to exactly that round's failed checks.
    if "failed_checks" in encoded and "answers" not in encoded:
        encoded["answers"] = {}
    return encoded


def describe_updates(updates: Mapping[str, Any]) -> str:
    parts = []
    for name, value in updates.items():
        if name == "failed_checks":
            parts.append("failed_checks=" + ",".join(str(c["check"]) for c in value))
        elif name != "answers" and value is not None:
            parts.append(f"{name}={value}")
    return "; ".join(parts)


def state_or_none(value: str) -> SessionState | None:
    try:
        return SessionState(value)
    except ValueError:
        return None


def audit_entry(raw_fields: Mapping[bytes | str, bytes | str]) -> AuditEntry:
    fields = {text(key): text(value) for key, value in raw_fields.items()}
    return AuditEntry(
        at=datetime.fromisoformat(fields["at"]).astimezone(UTC),
        session_id=fields["session"],
        actor=fields["actor"],
        action=fields["action"],
        outcome=fields["outcome"],
        from_state=state_or_none(fields.get("from", "")),
        to_state=state_or_none(fields.get("to", "")),
        detail=fields.get("detail", ""),
    )


__all__ = [
    "ACTOR_LIMIT",
    "DETAIL_LIMIT",
    "ID_LIMIT",
    "NAME_LIMIT",
    "UNREADABLE_ID",
    "audit_entry",
    "bounded_id",
    "bounded_text",
    "describe_updates",
    "encode_updates",
    "state_or_none",
    "text",
]
