"""The restore state machine: states, the moves allowed between them, and what a session is.

A restore is the one action that can hurt a company, so every decision on it (start, each
consent, cancel) must be made exactly once, by the person who clicked, and be recorded.
The workflow (bot/restore/workflow.py) sits on top: it asks the store (store.py) for a
transition and calls the API only when the store says it won.

States (``ALLOWED`` below is the single source of truth; the Lua scripts receive it)::

    AWAITING_START  --Start-------------------------> VALIDATING
    VALIDATING      --checks failed-----------------> AWAITING_CONSENT
                    --no checks failed--------------> RUNNING
                    --API refused-------------------> FAILED
                    --call provably not made--------> AWAITING_START (a retry is allowed)
    AWAITING_CONSENT --every check answered---------> REVALIDATING
    REVALIDATING    --new failures / none / refused-> AWAITING_CONSENT | RUNNING | FAILED
    RUNNING         --------------------------------> DONE | FAILED
    AWAITING_START, AWAITING_CONSENT ---------------> CANCELLED | EXPIRED (24 h, no decision)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, field_validator

from bot.atlassian.models import ConsentCheck, Product, normalise_product
from bot.clock import ensure_utc
from bot.messages import endings


class Refusal(enum.StrEnum):
    """Why the store refused a decision; the value is also the refusal's audited detail."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    FINISHED = "finished"
    WRONG_STATE = "wrong_state"
    UNKNOWN_CHECK = "unknown_check"
    WRONG_CARD = "wrong_card"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_CONSENT = "invalid_consent"
    ALREADY_ANSWERED = "already_answered"


class SessionState(enum.StrEnum):
    AWAITING_START = "AWAITING_START"
    VALIDATING = "VALIDATING"
    AWAITING_CONSENT = "AWAITING_CONSENT"
    REVALIDATING = "REVALIDATING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


_S = SessionState

# Waiting for a human decision; such a session expires after the decision window.
OPEN_STATES: Final = frozenset({_S.AWAITING_START, _S.AWAITING_CONSENT})
# An API call has been decided and may be under way: on start-up the bot must reconcile
# these with the API's restore list, because the call may or may not have happened.
IN_FLIGHT_STATES: Final = frozenset({_S.VALIDATING, _S.REVALIDATING})
FINAL_STATES: Final = frozenset({_S.DONE, _S.FAILED, _S.CANCELLED, _S.EXPIRED})

ALLOWED: Final[Mapping[SessionState, frozenset[SessionState]]] = {
    _S.AWAITING_START: frozenset({_S.VALIDATING, _S.CANCELLED, _S.EXPIRED}),
    # Back to AWAITING_START only when the create call provably did not happen.
    _S.VALIDATING: frozenset({_S.AWAITING_CONSENT, _S.RUNNING, _S.FAILED, _S.AWAITING_START}),
    _S.AWAITING_CONSENT: frozenset({_S.REVALIDATING, _S.CANCELLED, _S.EXPIRED}),
    _S.REVALIDATING: frozenset({_S.AWAITING_CONSENT, _S.RUNNING, _S.FAILED}),
    _S.RUNNING: frozenset({_S.DONE, _S.FAILED}),
    _S.DONE: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.EXPIRED: frozenset(),
}

CUSTOM_GROUP_CONSENTS: Final = (
    ConsentCheck.ACCEPT_CUSTOM_GROUP.value,
    ConsentCheck.DENY_CUSTOM_GROUP.value,
)

SYSTEM_ACTOR: Final = "system"
EXPIRED_OUTCOME: Final = endings.EXPIRED_OUTCOME

# Actions the store writes itself; handlers name their own (e.g. "start", "cancel").
ACTION_REQUESTED: Final = "requested"
ACTION_EXPIRED: Final = "expired"
ACTION_CONSENT: Final = "consent"
ACTION_REVALIDATE: Final = "revalidate"

# What a transition may change. What was requested (backup, destination, options, requester)
# is fixed once approvers can see it: an approval must never apply to something else.
UPDATABLE_FIELDS: Final = frozenset(
    {
        "restore_id",
        "migration_id",
        "failed_checks",
        "answers",
        "started_by",
        "outcome",
        "report_url",
        "restore_created_at",
        "cancelled_by",
        "final_status",
    }
)


def is_custom_group_check(check: str) -> bool:
    """The custom-group check is answered by accepting or denying, never by a plain consent."""
    return check.strip().lower() in {value.lower() for value in CUSTOM_GROUP_CONSENTS}


def valid_consents(check: str) -> tuple[str, ...]:
    """The consent values that may answer ``check``: its own name, or accept/deny for groups."""
    return CUSTOM_GROUP_CONSENTS if is_custom_group_check(check) else (check,)


def iso(value: datetime) -> str:
    return ensure_utc(value).isoformat()


UtcTime = Annotated[datetime, AfterValidator(ensure_utc), PlainSerializer(iso, when_used="json")]


class RestoreSession(BaseModel):
    """One pending or past restore, as stored in Redis.

    ``version`` starts at 1 and grows with every transition and every recorded answer, so
    whoever renders the card can tell a stale view from a fresh one. ``session_id`` is the
    only thing a button carries, so it is unguessable. ``decision_deadline`` is one decision
    window after the session last entered an open state or last received an answer.
    """

    model_config = ConfigDict(extra="ignore")

    session_id: str
    state: SessionState
    version: int
    backup_id: str
    product: Product | str
    source_cloud_id: str
    dest_cloud_id: str
    dest_label: str
    include_attachments: bool
    include_users_and_groups: bool
    requester: str
    channel: str
    # The workspace the request came from; a click from any other is refused (None: older
    # sessions, recorded before the workspace was).
    team_id: str | None = None
    card_ts: str | None = None
    created_at: UtcTime
    updated_at: UtcTime
    decision_deadline: UtcTime
    restore_id: str | None = None
    migration_id: str | None = None
    failed_checks: list[dict[str, str | None]] = []
    answers: dict[str, dict[str, str]] = {}
    started_by: str | None = None
    intent_at: UtcTime | None = None
    outcome: str | None = None
    report_url: str | None = None
    # When Atlassian created the restore (it decides how long a restore nobody consented to
    # stays pending there), and who cancelled the request, if anyone did.
    restore_created_at: UtcTime | None = None
    cancelled_by: str | None = None
    # Atlassian's final status of the restore (COMPLETE, INCOMPLETE, FAILED...) once it ended.
    final_status: str | None = None

    @field_validator("product", mode="before")
    @classmethod
    def _product(cls, value: object) -> Product | str:
        return normalise_product(value)

    @field_validator("failed_checks", mode="before")
    @classmethod
    def _empty_list(cls, value: object) -> object:
        # Redis's Lua JSON encoder writes an empty list as {}; it is still an empty list.
        return [] if value == {} or value is None else value

    @field_validator("answers", mode="before")
    @classmethod
    def _empty_dict(cls, value: object) -> object:
        return {} if value == [] or value is None else value

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def unanswered_checks(self) -> list[str]:
        return [str(c["check"]) for c in self.failed_checks if c.get("check") not in self.answers]


def parse_session(raw: bytes | str | None) -> RestoreSession | None:
    """A session as the store keeps it (JSON), or None for nothing."""
    if raw is None or raw in ("", b""):
        return None
    return RestoreSession.model_validate_json(raw)


@dataclass(frozen=True)
class Transition:
    """What a transition request did. Only ``ok`` callers may make the API call it stands for.

    ``session`` is the session after the change (or as it is, when refused; None if unknown),
    read from the store's JSON when first asked for: the refused clicks of a storm never
    are. ``expired_now`` is true for the one caller whose request expired the session, so
    exactly one of them updates the card to say so.
    """

    ok: bool
    session_json: str = field(repr=False)
    reason: Refusal | None
    previous_state: SessionState | None
    expired_now: bool = False

    @cached_property
    def session(self) -> RestoreSession | None:
        return parse_session(self.session_json)


@dataclass(frozen=True)
class Answer:
    """What a consent click did. ``complete`` is true for exactly one caller per round: the
    one that must call revalidate with ``consents``; the session is already REVALIDATING.
    ``session`` is read when first asked for, as for ``Transition``."""

    ok: bool
    complete: bool
    consents: list[str]
    reason: Refusal | None
    session_json: str = field(repr=False)
    answered_by: str | None = None
    expired_now: bool = False

    @cached_property
    def session(self) -> RestoreSession | None:
        return parse_session(self.session_json)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    session_id: str
    actor: str
    action: str
    outcome: str
    from_state: SessionState | None
    to_state: SessionState | None
    detail: str


__all__ = [
    "ACTION_CONSENT",
    "ACTION_EXPIRED",
    "ACTION_REQUESTED",
    "ACTION_REVALIDATE",
    "ALLOWED",
    "CUSTOM_GROUP_CONSENTS",
    "EXPIRED_OUTCOME",
    "FINAL_STATES",
    "IN_FLIGHT_STATES",
    "OPEN_STATES",
    "SYSTEM_ACTOR",
    "UPDATABLE_FIELDS",
    "Answer",
    "AuditEntry",
    "Refusal",
    "RestoreSession",
    "SessionState",
    "Transition",
    "UtcTime",
    "is_custom_group_check",
    "iso",
    "parse_session",
    "valid_consents",
]
