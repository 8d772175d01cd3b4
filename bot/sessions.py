"""Restore sessions: the restore state machine and its Redis store, in one place.

A restore is the one action that can hurt a company, so every decision on it (start, each
consent, cancel) must be made exactly once, by the person who clicked, and be recorded.
The Slack handlers and the Atlassian calls sit on top of this module: a handler asks for a
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

Atomicity: every read-check-write happens in one Lua script, so two clicks, two bot
processes or a retry cannot both win. The audit entry for a change is written by the same
script as the change. The scripts build key names from the prefix, so the store needs one
Redis server (not Redis Cluster). Time always comes from the injected clock and is passed
into the scripts, so tests expire sessions by moving a ManualClock.

Keys, all under the prefix:

    restore:session:{id}          the session as JSON
    restore:audit:{id}            the session's own audit stream
    restore:open                  sorted set of OPEN sessions, scored by decision deadline
    restore:state:{STATE}         set of session ids per non-final state
    restore:by-restore:{restoreId} the session that created an Atlassian restore
    audit                         the global audit stream (capped)

Final sessions, their audit trail and their index entry expire after ``final_retention``;
open, in-flight and running sessions never carry a TTL.
"""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Final

import redis.asyncio as aioredis
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    TypeAdapter,
    field_validator,
)

from bot.atlassian.models import ConsentCheck, FailedCheck, Product, normalise_product
from bot.clock import Clock, ensure_utc


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
EXPIRED_OUTCOME: Final = "Expired: nobody decided within the decision window."

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
    }
)


def is_custom_group_check(check: str) -> bool:
    """The custom-group check is answered by accepting or denying, never by a plain consent."""
    return check.strip().lower() in {value.lower() for value in CUSTOM_GROUP_CONSENTS}


def valid_consents(check: str) -> tuple[str, ...]:
    """The consent values that may answer ``check``: its own name, or accept/deny for groups."""
    return CUSTOM_GROUP_CONSENTS if is_custom_group_check(check) else (check,)


def _iso(value: datetime) -> str:
    return ensure_utc(value).isoformat()


UtcTime = Annotated[datetime, AfterValidator(ensure_utc), PlainSerializer(_iso, when_used="json")]


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


@dataclass(frozen=True, slots=True)
class Transition:
    """What a transition request did. Only ``ok`` callers may make the API call it stands for.

    ``session`` is the session after the change (or as it is, when refused; None if unknown).
    ``expired_now`` is true for the one caller whose request expired the session, so exactly
    one of them updates the card to say so.
    """

    ok: bool
    session: RestoreSession | None
    reason: str | None
    previous_state: SessionState | None
    expired_now: bool = False

    @property
    def user_message(self) -> str | None:
        return None if self.ok else refusal_message(self.reason)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a consent click did. ``complete`` is true for exactly one caller per round: the
    one that must call revalidate with ``consents``; the session is already REVALIDATING."""

    ok: bool
    complete: bool
    consents: list[str]
    reason: str | None
    session: RestoreSession | None
    answered_by: str | None = None
    expired_now: bool = False

    @property
    def user_message(self) -> str | None:
        return None if self.ok else refusal_message(self.reason, answered_by=self.answered_by)


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


_REFUSAL_MESSAGES: Final = {
    "unknown": "This restore request is unknown to the bot; start a new one with `/restore start`.",
    "expired": "This restore request expired because nobody decided in time; "
    "start a new one with `/restore start`.",
    "finished": "This restore request is already finished, so nothing was changed.",
    "wrong_state": "This restore request has moved on since these buttons were shown, "
    "so nothing was changed; see the card for its current state.",
    "unknown_check": "That check is not waiting for an answer on this restore.",
    "invalid_consent": "That answer does not fit this check; use the check's own buttons.",
}


def refusal_message(reason: str | None, *, answered_by: str | None = None) -> str:
    """One sentence for the clicker explaining why their click changed nothing."""
    if reason == "already_answered":
        who = f"<@{answered_by}>" if answered_by else "Someone"
        return f"{who} already answered this check, so nothing was changed."
    return _REFUSAL_MESSAGES.get(reason or "", "That click changed nothing on this restore.")


# ---------------------------------------------------------------------------------------
# Lua. Every script receives one JSON argument ``p`` (prefix, rules, the clock's "now" and
# the operation's own parameters) and starts with this shared prelude.

_LUA_PRELUDE: Final = r"""
local p = cjson.decode(ARGV[1])
local prefix = p.prefix

local function as_set(list)
  local set = {}
  for _, item in ipairs(list) do set[item] = true end
  return set
end
local OPEN = as_set(p.rules.open)
local IN_FLIGHT = as_set(p.rules.in_flight)
local FINAL = as_set(p.rules.final)
local ALLOWED = {}
for from, targets in pairs(p.rules.allowed) do ALLOWED[from] = as_set(targets) end

local OPEN_KEY = prefix .. 'restore:open'
local AUDIT_KEY = prefix .. 'audit'
local function session_key(id) return prefix .. 'restore:session:' .. id end
local function trail_key(id) return prefix .. 'restore:audit:' .. id end
local function state_key(state) return prefix .. 'restore:state:' .. state end
local function restore_index_key(restore_id)
  return prefix .. 'restore:by-restore:' .. restore_id
end

local function present(value) return value ~= nil and value ~= cjson.null and value ~= '' end
local function as_table(value) if type(value) == 'table' then return value end return {} end

local function load(id)
  local raw = redis.call('GET', session_key(id))
  if not raw then return nil end
  return cjson.decode(raw)
end

-- A refusal on an unknown id goes only to the global stream: guessed ids must not create keys.
local function audit(id, known, actor, action, outcome, from, to, detail)
  local fields = {'at', p.now, 'session', id, 'actor', actor, 'action', action,
                  'outcome', outcome, 'from', from or '', 'to', to or '', 'detail', detail or ''}
  redis.call('XADD', AUDIT_KEY, 'MAXLEN', '~', p.audit_maxlen, '*', unpack(fields))
  if known then redis.call('XADD', trail_key(id), '*', unpack(fields)) end
end

local function due(doc)
  if not OPEN[doc.state] then return false end
  local deadline = redis.call('ZSCORE', OPEN_KEY, doc.session_id)
  return deadline ~= false and p.now_epoch >= tonumber(deadline)
end

local function reset_deadline(doc)
  doc.decision_deadline = p.deadline
  redis.call('ZADD', OPEN_KEY, p.deadline_epoch, doc.session_id)
end

local function move(doc, to)
  doc.state = to
  doc.version = doc.version + 1
  doc.updated_at = p.now
  if OPEN[to] then reset_deadline(doc) end
  if IN_FLIGHT[to] then doc.intent_at = p.now end
end

local function save(doc, previous_state)
  local id = doc.session_id
  local key = session_key(id)
  redis.call('SET', key, cjson.encode(doc))
  if previous_state and previous_state ~= doc.state then
    redis.call('SREM', state_key(previous_state), id)
  end
  if FINAL[doc.state] then
    redis.call('ZREM', OPEN_KEY, id)
    redis.call('EXPIRE', key, p.retention_seconds)
    redis.call('EXPIRE', trail_key(id), p.retention_seconds)
    if present(doc.restore_id) then
      redis.call('EXPIRE', restore_index_key(doc.restore_id), p.retention_seconds)
    end
  else
    redis.call('SADD', state_key(doc.state), id)
    if not OPEN[doc.state] then redis.call('ZREM', OPEN_KEY, id) end
  end
end

local function expire(doc)
  local from = doc.state
  local missed = doc.decision_deadline
  move(doc, 'EXPIRED')
  doc.outcome = p.expired_outcome
  save(doc, from)
  audit(doc.session_id, true, p.system_actor, p.expired_action, 'ok', from, 'EXPIRED',
        'no decision by ' .. tostring(missed))
end
"""

_LUA_CREATE: Final = r"""
local doc = p.session
if redis.call('EXISTS', session_key(doc.session_id)) == 1 then return 0 end
reset_deadline(doc)
save(doc, nil)
audit(doc.session_id, true, doc.requester, p.action, 'ok', '', doc.state, p.detail)
return 1
"""

_LUA_ATTACH_CARD: Final = r"""
local doc = load(p.session_id)
if not doc then return 0 end
doc.channel = p.channel
doc.card_ts = p.card_ts
doc.updated_at = p.now
save(doc, doc.state)
return 1
"""

# Returns {ok, reason, previous_state, session_json, expired_now}.
_LUA_TRANSITION: Final = r"""
local id, to = p.session_id, p.to
local doc = load(id)
if not doc then
  audit(id, false, p.actor, p.action, 'refused', '', to, 'unknown')
  return {0, 'unknown', '', '', 0}
end
local previous = doc.state
local expired_now = 0
-- An explicit move to EXPIRED that is due is simply that move, recorded under its actor.
if to ~= 'EXPIRED' and due(doc) then
  expire(doc)
  expired_now = 1
end

local reason = nil
if doc.state == 'EXPIRED' then reason = 'expired'
elseif FINAL[doc.state] then reason = 'finished'
elseif not as_set(p.expected)[doc.state] or not ALLOWED[doc.state][to] then reason = 'wrong_state'
end
if reason then
  audit(id, true, p.actor, p.action, 'refused', doc.state, to, reason)
  return {0, reason, previous, cjson.encode(doc), expired_now}
end

local old_restore_id = doc.restore_id
for field, value in pairs(p.updates) do doc[field] = value end
if doc.restore_id ~= old_restore_id then
  if present(old_restore_id) and redis.call('GET', restore_index_key(old_restore_id)) == id then
    redis.call('DEL', restore_index_key(old_restore_id))
  end
  if present(doc.restore_id) then redis.call('SET', restore_index_key(doc.restore_id), id) end
end
move(doc, to)
save(doc, previous)
audit(id, true, p.actor, p.action, 'ok', previous, to, p.detail)
if to == 'EXPIRED' then expired_now = 1 end
return {1, '', previous, cjson.encode(doc), expired_now}
"""

# Returns {ok, reason, previous_state, session_json, expired_now, answered_by, consents_json}.
_LUA_ANSWER: Final = r"""
local id, check, consent = p.session_id, p.check, p.consent
local detail = check .. ' = ' .. consent
local doc = load(id)
if not doc then
  audit(id, false, p.actor, p.action, 'refused', '', '', detail .. ' (unknown)')
  return {0, 'unknown', '', '', 0, '', ''}
end
local previous = doc.state
local expired_now = 0
if due(doc) then
  expire(doc)
  expired_now = 1
end
local function refuse(reason, answered_by)
  audit(id, true, p.actor, p.action, 'refused', doc.state, '', detail .. ' (' .. reason .. ')')
  return {0, reason, previous, cjson.encode(doc), expired_now, answered_by or '', ''}
end

if doc.state == 'EXPIRED' then return refuse('expired') end
if FINAL[doc.state] then return refuse('finished') end
if doc.state ~= 'AWAITING_CONSENT' then return refuse('wrong_state') end
local checks = as_table(doc.failed_checks)
local known = false
for _, failed in ipairs(checks) do
  if failed.check == check then known = true end
end
if not known then return refuse('unknown_check') end
local answers = as_table(doc.answers)
if answers[check] then return refuse('already_answered', answers[check].by) end
if not as_set(p.valid_consents)[consent] then return refuse('invalid_consent') end

answers[check] = {consent = consent, by = p.actor, at = p.now}
doc.answers = answers

local consents, seen, complete = {}, {}, true
for _, failed in ipairs(checks) do
  local answer = answers[failed.check]
  if not answer then
    complete = false
  elseif not seen[failed.check] then
    seen[failed.check] = true
    table.insert(consents, answer.consent)
  end
end

if complete then
  move(doc, 'REVALIDATING')
  save(doc, previous)
  audit(id, true, p.actor, p.action, 'ok', previous, previous, detail)
  audit(id, true, p.actor, p.complete_action, 'ok', previous, 'REVALIDATING',
        table.concat(consents, ','))
  return {1, '', previous, cjson.encode(doc), 0, '', cjson.encode(consents)}
end
doc.version = doc.version + 1
doc.updated_at = p.now
reset_deadline(doc)
save(doc, previous)
audit(id, true, p.actor, p.action, 'ok', previous, previous, detail)
return {1, '', previous, cjson.encode(doc), 0, '', ''}
"""

_LUA_RECORD_REFUSAL: Final = r"""
local doc = load(p.session_id)
local from = ''
if doc then from = doc.state end
audit(p.session_id, doc ~= nil, p.actor, p.action, 'refused', from, '', p.reason)
return 1
"""

# Returns {number of due ids looked at, expired session json...}.
_LUA_EXPIRE_DUE: Final = r"""
local ids = redis.call('ZRANGEBYSCORE', OPEN_KEY, '-inf', p.now_epoch, 'LIMIT', 0, p.batch)
local result = {#ids}
for _, id in ipairs(ids) do
  local doc = load(id)
  if doc and OPEN[doc.state] then
    expire(doc)
    table.insert(result, cjson.encode(doc))
  else
    redis.call('ZREM', OPEN_KEY, id)
  end
end
return result
"""

_RULES: Final = {
    "allowed": {state.value: sorted(targets) for state, targets in ALLOWED.items()},
    "open": sorted(OPEN_STATES),
    "in_flight": sorted(IN_FLIGHT_STATES),
    "final": sorted(FINAL_STATES),
}

_EXPIRE_BATCH: Final = 200


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    annotation: Any = RestoreSession.model_fields[name].annotation
    return TypeAdapter(annotation)


def _failed_check_dict(item: FailedCheck | Mapping[str, Any]) -> dict[str, str | None]:
    if isinstance(item, FailedCheck):
        return {"check": str(item.check), "code": item.code, "message": item.message}
    check, code, message = item.get("check"), item.get("code"), item.get("message")
    return {
        "check": str(check),
        "code": None if code is None else str(code),
        "message": None if message is None else str(message),
    }


def _encode_updates(updates: Mapping[str, Any]) -> dict[str, Any]:
    """Validate updates against the session's field types and turn them into JSON values."""
    encoded: dict[str, Any] = {}
    for name, value in updates.items():
        if name not in UPDATABLE_FIELDS:
            raise ValueError(f"{name!r} cannot be set by a transition")
        if name == "failed_checks":
            value = [_failed_check_dict(item) for item in value]
        adapter = _field_adapter(name)
        encoded[name] = adapter.dump_python(adapter.validate_python(value), mode="json")
    # Each round of consent answers belongs to exactly that round's failed checks.
    if "failed_checks" in encoded and "answers" not in encoded:
        encoded["answers"] = {}
    return encoded


def _describe_updates(updates: Mapping[str, Any]) -> str:
    parts = []
    for name, value in updates.items():
        if name == "failed_checks":
            parts.append("failed_checks=" + ",".join(str(c["check"]) for c in value))
        elif name != "answers" and value is not None:
            parts.append(f"{name}={value}")
    return "; ".join(parts)


def _state_or_none(value: str) -> SessionState | None:
    try:
        return SessionState(value)
    except ValueError:
        return None


class RestoreSessionStore:
    """The restore sessions in Redis, with every change made atomically and audited."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        *,
        decision_window: timedelta = timedelta(hours=24),
        key_prefix: str = "bbot:",
        final_retention: timedelta = timedelta(days=30),
        audit_maxlen: int = 100_000,
    ) -> None:
        if final_retention <= decision_window:
            raise ValueError("final sessions must be kept longer than the decision window")
        self._redis = redis
        self._clock = clock
        self._window = decision_window
        self._prefix = key_prefix
        self._retention_seconds = int(final_retention.total_seconds())
        self._audit_maxlen = audit_maxlen
        self._create = redis.register_script(_LUA_PRELUDE + _LUA_CREATE)
        self._attach_card = redis.register_script(_LUA_PRELUDE + _LUA_ATTACH_CARD)
        self._transition = redis.register_script(_LUA_PRELUDE + _LUA_TRANSITION)
        self._answer = redis.register_script(_LUA_PRELUDE + _LUA_ANSWER)
        self._record_refusal = redis.register_script(_LUA_PRELUDE + _LUA_RECORD_REFUSAL)
        self._expire_due = redis.register_script(_LUA_PRELUDE + _LUA_EXPIRE_DUE)

    @property
    def key_prefix(self) -> str:
        """Every key of this store starts with it; the restore flow keeps its own keys there too."""
        return self._prefix

    # -- keys -----------------------------------------------------------------------------

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}restore:session:{session_id}"

    def _trail_key(self, session_id: str) -> str:
        return f"{self._prefix}restore:audit:{session_id}"

    def _state_key(self, state: SessionState) -> str:
        return f"{self._prefix}restore:state:{state.value}"

    @property
    def audit_stream_key(self) -> str:
        return f"{self._prefix}audit"

    def _restore_index_key(self, restore_id: str) -> str:
        return f"{self._prefix}restore:by-restore:{restore_id}"

    def _open_key(self) -> str:
        return f"{self._prefix}restore:open"

    # -- script plumbing ------------------------------------------------------------------

    def _params(self, now: datetime, **operation: Any) -> str:
        deadline = now + self._window
        return json.dumps(
            {
                "prefix": self._prefix,
                "rules": _RULES,
                "now": _iso(now),
                "now_epoch": now.timestamp(),
                "deadline": _iso(deadline),
                "deadline_epoch": deadline.timestamp(),
                "retention_seconds": self._retention_seconds,
                "audit_maxlen": self._audit_maxlen,
                "system_actor": SYSTEM_ACTOR,
                "expired_action": ACTION_EXPIRED,
                "expired_outcome": EXPIRED_OUTCOME,
                **operation,
            }
        )

    def _now(self) -> datetime:
        return ensure_utc(self._clock.now())

    @staticmethod
    def _parse(raw: bytes | str | None) -> RestoreSession | None:
        if raw is None or raw in ("", b""):
            return None
        return RestoreSession.model_validate_json(raw)

    async def _load_many(self, session_ids: Collection[bytes | str]) -> list[RestoreSession]:
        if not session_ids:
            return []
        keys = [self._session_key(_text(session_id)) for session_id in session_ids]
        raws = await self._redis.mget(keys)
        return [session for raw in raws if (session := self._parse(raw)) is not None]

    # -- sessions -------------------------------------------------------------------------

    async def create(
        self,
        *,
        backup_id: str,
        product: Product | str,
        source_cloud_id: str,
        dest_cloud_id: str,
        dest_label: str,
        include_attachments: bool,
        include_users_and_groups: bool,
        requester: str,
        channel: str,
    ) -> RestoreSession:
        """Record a requested restore, waiting for an approver to press Start."""
        now = self._now()
        while True:
            session = RestoreSession(
                session_id=secrets.token_urlsafe(16),
                state=SessionState.AWAITING_START,
                version=1,
                backup_id=backup_id,
                product=product,
                source_cloud_id=source_cloud_id,
                dest_cloud_id=dest_cloud_id,
                dest_label=dest_label,
                include_attachments=include_attachments,
                include_users_and_groups=include_users_and_groups,
                requester=requester,
                channel=channel,
                created_at=now,
                updated_at=now,
                decision_deadline=now + self._window,
            )
            detail = (
                f"backup {backup_id} ({session.product}) from {source_cloud_id} to {dest_label}"
                f" ({dest_cloud_id}); attachments={include_attachments};"
                f" users_and_groups={include_users_and_groups}"
            )
            created = await self._create(
                args=[
                    self._params(
                        now,
                        session=session.model_dump(mode="json"),
                        action=ACTION_REQUESTED,
                        detail=detail,
                    )
                ]
            )
            # A clash of 128-bit random ids is practically impossible, but never overwrite.
            if int(created) == 1:
                return session

    async def get(self, session_id: str) -> RestoreSession | None:
        return self._parse(await self._redis.get(self._session_key(session_id)))

    async def attach_card(self, session_id: str, channel: str, ts: str) -> None:
        """Remember where the session's card was posted, so later changes edit it in place."""
        attached = await self._attach_card(
            args=[self._params(self._now(), session_id=session_id, channel=channel, card_ts=ts)]
        )
        if int(attached) != 1:
            raise KeyError(f"no restore session {session_id}")

    async def find_by_restore_id(self, restore_id: str) -> RestoreSession | None:
        session_id = await self._redis.get(self._restore_index_key(restore_id))
        return None if session_id is None else await self.get(_text(session_id))

    async def transition(
        self,
        session_id: str,
        *,
        to: SessionState,
        actor: str,
        action: str,
        expected: Collection[SessionState] | None = None,
        updates: Mapping[str, Any] | None = None,
        detail: str | None = None,
    ) -> Transition:
        """Move the session to ``to`` if, right now, it may; exactly one concurrent caller wins.

        Refused (and audited as refused) when the session is unknown, finished, expired, not
        in ``expected`` (default: every state ``to`` may be reached from) or when ``to`` is
        not allowed from its state. An OPEN session past its deadline becomes EXPIRED in
        the same step and the answer says "expired". ``updates`` are applied only on
        success, together with the move; setting ``failed_checks`` starts a new round of
        answers.
        """
        target = SessionState(to)
        if expected is None:
            expected = [state for state, targets in ALLOWED.items() if target in targets]
        encoded = _encode_updates(updates or {})
        raw = await self._transition(
            args=[
                self._params(
                    self._now(),
                    session_id=session_id,
                    to=target.value,
                    actor=actor,
                    action=action,
                    expected=sorted(SessionState(state).value for state in expected),
                    updates=encoded,
                    detail=_describe_updates(encoded) if detail is None else detail,
                )
            ]
        )
        ok, reason, previous, session_json, expired_now = (_text(item) for item in raw)
        return Transition(
            ok=ok == "1",
            session=self._parse(session_json),
            reason=reason or None,
            previous_state=_state_or_none(previous),
            expired_now=expired_now == "1",
        )

    async def answer_check(
        self, session_id: str, *, check: str, consent: str, actor: str
    ) -> Answer:
        """Record ``actor``'s answer to one failed check; the answer completing the set wins.

        Each check is answered once, by one value: its own name, or for the custom-group
        check either accept or deny. The answer that completes the set moves the session
        to REVALIDATING in the same atomic step and carries the consents to send.
        """
        raw = await self._answer(
            args=[
                self._params(
                    self._now(),
                    session_id=session_id,
                    check=check,
                    consent=consent,
                    actor=actor,
                    action=ACTION_CONSENT,
                    complete_action=ACTION_REVALIDATE,
                    valid_consents=list(valid_consents(check)),
                )
            ]
        )
        ok, reason, _previous, session_json, expired_now, answered_by, consents_json = (
            _text(item) for item in raw
        )
        consents = json.loads(consents_json) if consents_json else []
        return Answer(
            ok=ok == "1",
            complete=bool(consents),
            consents=list(consents) if isinstance(consents, list) else [],
            reason=reason or None,
            session=self._parse(session_json),
            answered_by=answered_by or None,
            expired_now=expired_now == "1",
        )

    async def record_refusal(
        self, session_id: str, *, actor: str, action: str, reason: str
    ) -> None:
        """Audit a click refused before it reached the store (e.g. the clicker is not an approver).

        Refusals decided by ``transition`` and ``answer_check`` are audited by them already.
        """
        await self._record_refusal(
            args=[
                self._params(
                    self._now(), session_id=session_id, actor=actor, action=action, reason=reason
                )
            ]
        )

    async def audit_trail(self, session_id: str) -> list[AuditEntry]:
        """Everything that happened to one session, oldest first."""
        entries = await self._redis.xrange(self._trail_key(session_id))
        return [self._audit_entry(fields) for _entry_id, fields in entries or [] if fields]

    @staticmethod
    def _audit_entry(raw_fields: Mapping[bytes | str, bytes | str]) -> AuditEntry:
        fields = {_text(key): _text(value) for key, value in raw_fields.items()}
        return AuditEntry(
            at=datetime.fromisoformat(fields["at"]).astimezone(UTC),
            session_id=fields["session"],
            actor=fields["actor"],
            action=fields["action"],
            outcome=fields["outcome"],
            from_state=_state_or_none(fields.get("from", "")),
            to_state=_state_or_none(fields.get("to", "")),
            detail=fields.get("detail", ""),
        )

    async def expire_due(self) -> list[RestoreSession]:
        """Expire every OPEN session past its deadline; each is returned by exactly one caller."""
        expired: list[RestoreSession] = []
        while True:
            raw = await self._expire_due(args=[self._params(self._now(), batch=_EXPIRE_BATCH)])
            looked_at, *sessions = raw
            expired.extend(s for item in sessions if (s := self._parse(item)) is not None)
            if int(looked_at) < _EXPIRE_BATCH:
                return expired

    async def _in_states(self, states: Collection[SessionState]) -> list[RestoreSession]:
        ids: set[bytes | str] = set()
        for state in states:
            ids.update(await self._redis.smembers(self._state_key(state)))
        sessions = [s for s in await self._load_many(ids) if s.state in states]
        return sorted(sessions, key=lambda session: session.created_at)

    async def in_flight(self) -> list[RestoreSession]:
        """Sessions whose API call was decided but whose result is not recorded yet."""
        return await self._in_states(IN_FLIGHT_STATES)

    async def running(self) -> list[RestoreSession]:
        return await self._in_states({SessionState.RUNNING})

    async def unfinished(self) -> list[RestoreSession]:
        """Every session not in a final state: open, in flight or running."""
        return await self._in_states(set(SessionState) - FINAL_STATES)

    async def open_sessions_awaiting(
        self, user_id: str, approvers: Collection[str], *, four_eyes: bool = False
    ) -> list[RestoreSession]:
        """Open, unexpired sessions this user may decide on (Start or consent), soonest due first.

        Only approvers decide; with four-eyes a requester does not decide on their own request.
        """
        if user_id not in approvers:
            return []
        now_epoch = self._now().timestamp()
        ids: Any = await self._redis.zrangebyscore(self._open_key(), f"({now_epoch}", "+inf")
        sessions = [s for s in await self._load_many(ids) if s.is_open]
        if four_eyes:
            sessions = [s for s in sessions if s.requester != user_id]
        return sorted(sessions, key=lambda session: session.decision_deadline)


__all__ = [
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
    "RestoreSession",
    "RestoreSessionStore",
    "SessionState",
    "Transition",
    "is_custom_group_check",
    "refusal_message",
    "valid_consents",
]
