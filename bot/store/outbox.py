"""What the tracker still owes Slack: one typed notification per outbox entry.

An operation's outbox (``bot.store.operations``) holds entries that are each one of the
notifications below, a tagged union (``Notification``). The tracker decides which are
queued with a recorded change; the sender delivers them in order; nothing else reads them.

Stored form
-----------
``encode`` writes a notification as a JSON object tagged by ``type`` (and, for posts, by
``what``): exactly the shapes earlier versions of the bot stored. Entries queued before an
upgrade are therefore delivered by this code, and during a rolling upgrade old and new
replicas read each other's entries. ``decode`` reads that form back and raises
``UnreadableNotification`` for anything it does not know (a kind a newer version added, a
damaged value); the sender sets such an entry aside instead of retrying it for ever, so it
never blocks the entries queued after it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, assert_never


class Destination(enum.StrEnum):
    """Where a post goes."""

    # The thread of the operation's card.
    THREAD = "thread"
    # BOT_NOTIFY_CHANNEL: the mirror of final states, adopted operations and reminders.
    NOTIFY = "notify"


@dataclass(frozen=True, slots=True)
class RestoreHook:
    """Tell the restore workflow how its restore ended, before anything is posted about it."""


@dataclass(frozen=True, slots=True)
class Announce:
    """Post the card of an operation adopted at start-up in the notify channel."""


@dataclass(frozen=True, slots=True)
class FinalPost:
    """How the operation ended (its status as recorded with the change that queued this)."""

    to: Destination
    status: str
    message: str | None = None
    report_url: str | None = None


@dataclass(frozen=True, slots=True)
class ReportPost:
    """A restore's post-restore report, found after its final state was announced."""

    to: Destination
    report_url: str


@dataclass(frozen=True, slots=True)
class ExpiryReminder:
    """A complete backup leaves Atlassian's storage at ``expiry``."""

    to: Destination
    expiry: datetime


@dataclass(frozen=True, slots=True)
class PolicyNudge:
    """A backup policy has had no complete backup for a while; always to the notify channel."""

    policy_id: str
    product: str
    cloud_id: str | None
    last_complete: datetime | None

    @property
    def to(self) -> Destination:
        return Destination.NOTIFY


@dataclass(frozen=True, slots=True)
class NoticePost:
    """A sentence worded when it was queued (``bot.messages``): an alert, a retry, a digest.

    It goes to the card's thread (``THREAD``), the notify channel (``NOTIFY``), or, with
    ``channel``, to that channel (where a schedule was set).
    """

    to: Destination
    text: str
    channel: str | None = None


Post = FinalPost | ReportPost | ExpiryReminder | PolicyNudge | NoticePost
Notification = RestoreHook | Announce | Post


class UnreadableNotification(ValueError):
    """A stored entry that is not a notification this code knows; ``str()`` says why."""


def encode(notification: Notification) -> str:
    """The stored form of ``notification`` (see the module docstring)."""
    data: dict[str, Any]
    match notification:
        case RestoreHook():
            data = {"type": "hook"}
        case Announce():
            data = {"type": "announce"}
        case FinalPost(to=to, status=status, message=message, report_url=report_url):
            data = {
                "what": "final",
                "to": to.value,
                "status": status,
                "message": message,
                "report_url": report_url,
            }
        case ReportPost(to=to, report_url=report_url):
            data = {"what": "report", "to": to.value, "report_url": report_url}
        case ExpiryReminder(to=to, expiry=expiry):
            data = {"what": "reminder", "to": to.value, "expiry": expiry.isoformat()}
        case PolicyNudge(policy_id=policy_id, product=product, cloud_id=cloud_id):
            last = notification.last_complete
            data = {
                "what": "nudge",
                "to": Destination.NOTIFY.value,
                "policy_id": policy_id,
                "product": product,
                "cloud_id": cloud_id,
                "last_complete": last.isoformat() if last is not None else None,
            }
        case NoticePost(to=to, text=text, channel=channel):
            data = {"what": "notice", "to": to.value, "text": text, "channel": channel}
        case _:
            assert_never(notification)
    if "what" in data:
        data["type"] = "post"
    return json.dumps(data, sort_keys=True)


def decode(raw: str | bytes) -> Notification:
    """The notification ``raw`` stores; ``UnreadableNotification`` when there is none."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise UnreadableNotification(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UnreadableNotification("not a JSON object")
    kind = data.get("type")
    tag = f"post:{data.get('what')}" if kind == "post" else str(kind)
    reader = _READERS.get(tag)
    if reader is None:
        raise UnreadableNotification(f"unknown kind {tag!r}")
    return reader(data)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise UnreadableNotification(f"{name!r} is missing or not text")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise UnreadableNotification(f"{name!r} is not text")
    return value


def _moment(data: Mapping[str, Any], name: str) -> datetime | None:
    value = _optional_text(data, name)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UnreadableNotification(f"{name!r} is not a time") from None


def _destination(data: Mapping[str, Any]) -> Destination:
    try:
        return Destination(str(data.get("to")))
    except ValueError:
        raise UnreadableNotification(f"unknown destination {data.get('to')!r}") from None


def _final(data: Mapping[str, Any]) -> FinalPost:
    return FinalPost(
        to=_destination(data),
        status=_text(data, "status"),
        message=_optional_text(data, "message"),
        report_url=_optional_text(data, "report_url"),
    )


def _reminder(data: Mapping[str, Any]) -> ExpiryReminder:
    expiry = _moment(data, "expiry")
    if expiry is None:
        raise UnreadableNotification("'expiry' is missing")
    return ExpiryReminder(to=_destination(data), expiry=expiry)


def _nudge(data: Mapping[str, Any]) -> PolicyNudge:
    if _destination(data) is not Destination.NOTIFY:
        raise UnreadableNotification("a nudge goes only to the notify channel")
    return PolicyNudge(
        policy_id=_text(data, "policy_id"),
        product=_text(data, "product"),
        cloud_id=_optional_text(data, "cloud_id"),
        last_complete=_moment(data, "last_complete"),
    )


_READERS: Final[Mapping[str, Callable[[Mapping[str, Any]], Notification]]] = {
    "hook": lambda _data: RestoreHook(),
    "announce": lambda _data: Announce(),
    "post:final": _final,
    "post:report": lambda data: ReportPost(
        to=_destination(data), report_url=_text(data, "report_url")
    ),
    "post:reminder": _reminder,
    "post:nudge": _nudge,
    "post:notice": lambda data: NoticePost(
        to=_destination(data),
        text=_text(data, "text"),
        channel=_optional_text(data, "channel"),
    ),
}


__all__ = [
    "Announce",
    "Destination",
    "ExpiryReminder",
    "FinalPost",
    "NoticePost",
    "Notification",
    "PolicyNudge",
    "Post",
    "ReportPost",
    "RestoreHook",
    "UnreadableNotification",
    "decode",
    "encode",
]
