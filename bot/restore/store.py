"""The restore sessions in Redis: every change atomic, audited, timed by the injected clock.

Atomicity: every read-check-write happens in one Lua script (scripts.py), so two clicks,
two bot processes or a retry cannot both win. Each decision carries a request id, and the
script remembers its answer under it (``restore:request:{id}``, for an hour): a client
retry after a timeout, or a caller asking again after ``StoreUncertain``, learns what was
decided instead of deciding twice. Time always comes from the injected clock
and is passed into the scripts, so tests expire sessions by moving a ManualClock.

Keys, all under the prefix:

    {restore}:session:<id>          the session as JSON
    {restore}:trail:<id>            the session's own audit stream
    {restore}:open                  sorted set of OPEN sessions, scored by decision deadline
    {restore}:state:<STATE>         set of session ids per non-final state
    {restore}:by-restore:<restoreId> the session that created an Atlassian restore
    {restore}:facts:<id>            what the card shows about the backup
    {restore}:final                 sorted set of final sessions, scored by when they ended
    {restore}:request:<requestId>   a decision's answer, for a replay (an hour)
    {restore}:call:<id>, :fence     the call leases of the restore flow and their fence
    {restore}:audit                 the audit stream of every session (capped)

The ``{restore}`` hash tag puts them all in one slot (``bot.store.keys``), so on a Redis
Cluster each script is still one atomic step and the MGET of many sessions is one command.

Retention: a final session, its audit trail (capped at ``SESSION_TRAIL_MAXLEN``), its
backup facts and its index entry are forgotten by ``forget_finished`` once
``final_retention`` (``BOT_RETENTION_DAYS``) has passed since it ended, on the injected
clock; their Redis TTLs only clean up what no sweep reached. Open, in-flight and running
sessions are never forgotten and never carry a TTL.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ClusterError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot import fastjson
from bot.atlassian.models import Product
from bot.clock import Clock, ensure_utc
from bot.errors import StoreUncertain
from bot.restore import scripts
from bot.restore.facts import BackupFacts
from bot.restore.records import (
    ACTOR_LIMIT,
    NAME_LIMIT,
    audit_entry,
    bounded_id,
    bounded_text,
    describe_updates,
    encode_updates,
    state_or_none,
    text,
)
from bot.restore.session import (
    ACTION_CONSENT,
    ACTION_EXPIRED,
    ACTION_REQUESTED,
    ACTION_REVALIDATE,
    ALLOWED,
    EXPIRED_OUTCOME,
    FINAL_STATES,
    IN_FLIGHT_STATES,
    SYSTEM_ACTOR,
    Answer,
    AuditEntry,
    Refusal,
    RestoreSession,
    SessionState,
    Transition,
    iso,
    parse_session,
    valid_consents,
)
from bot.store.coalescing import Coalescer
from bot.store.keys import RESTORE, family_prefix

log = logging.getLogger(__name__)

_EXPIRE_BATCH: Final = 200
# A session's own audit trail holds at most this many entries, refusals at most half.
SESSION_TRAIL_MAXLEN: Final = 500
# How long a decision's answer is kept for a replay with its request id. A client retry
# comes within seconds and a caller settling an unconfirmed click within a housekeeping
# cycle; a replay after this (a click settled hours later) decides afresh and, the session
# having moved on, is refused: never a second call.
REQUEST_MEMORY_SECONDS: Final = 3600
_UNCERTAIN: Final = (RedisTimeoutError, RedisConnectionError, TimeoutError, OSError)
# How long a script is run again while its Cluster slot moves (a move takes about a second).
SLOT_MOVE_PATIENCE_SECONDS: Final = 2.0


def slot_moving(exc: ResponseError | ClusterError) -> bool:
    """The script did not run because its slot is moving between Cluster nodes: Redis said
    TRYAGAIN, stopped it at a key already moved, or redirected it until redis-py gave up
    ("TTL exhausted", only ever after redirections)."""
    if isinstance(exc, ClusterError):
        return "TTL exhausted" in str(exc)
    return isinstance(exc, TryAgainError) or "non local key" in str(exc)


_REQUEST_PREFIX: Final = secrets.token_hex(8)
_REQUEST_COUNTER: Final = itertools.count(1)


def new_request_id() -> str:
    """A decision's own id, unique across processes (a replay with it changes nothing).

    A random prefix drawn once per process and a counter: unique like a fresh random id
    each time, without asking the operating system for randomness on every click.
    """
    return f"{_REQUEST_PREFIX}{next(_REQUEST_COUNTER):x}"


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
        trail_maxlen: int = SESSION_TRAIL_MAXLEN,
        replica_ack_ms: int = 0,
    ) -> None:
        if final_retention <= decision_window:
            raise ValueError("final sessions must be kept longer than the decision window")
        self._redis = redis
        self._clock = clock
        self._window = decision_window
        self._prefix = family_prefix(key_prefix, RESTORE)
        self._retention_seconds = int(final_retention.total_seconds())
        self._audit_maxlen = audit_maxlen
        self._trail_maxlen = trail_maxlen
        # Wait this long for a replica to confirm each decision (REDIS_REPLICA_ACK_MS); 0: not.
        self._replica_ack_ms = replica_ack_ms
        # Decisions no replica confirmed in time: a failover before replication loses them.
        self.unconfirmed_decisions = 0
        self._create = redis.register_script(scripts.PRELUDE + scripts.CREATE)
        self._attach_card = redis.register_script(scripts.PRELUDE + scripts.ATTACH_CARD)
        self._transition = redis.register_script(scripts.PRELUDE + scripts.TRANSITION)
        self._answer = redis.register_script(scripts.PRELUDE + scripts.ANSWER)
        # Decisions on one session made while one is on its way go together: a storm of
        # clicks on one card costs a round trip per batch, not per click.
        self._transitions: Coalescer[str, list[Any]] = Coalescer(
            functools.partial(self._decide_each, self._transition)
        )
        self._answers: Coalescer[str, list[Any]] = Coalescer(
            functools.partial(self._decide_each, self._answer)
        )
        self._record_refusal = redis.register_script(scripts.PRELUDE + scripts.RECORD_REFUSAL)
        self._expire_due = redis.register_script(scripts.PRELUDE + scripts.EXPIRE_DUE)
        self._forget = redis.register_script(scripts.PRELUDE + scripts.FORGET)

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    @property
    def key_prefix(self) -> str:
        """Every key of this store starts with it; the restore flow keeps its own keys there too."""
        return self._prefix

    # -- keys -----------------------------------------------------------------------------

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def _trail_key(self, session_id: str) -> str:
        return f"{self._prefix}trail:{session_id}"

    def _state_key(self, state: SessionState) -> str:
        return f"{self._prefix}state:{state.value}"

    @property
    def audit_stream_key(self) -> str:
        return f"{self._prefix}audit"

    def _restore_index_key(self, restore_id: str) -> str:
        return f"{self._prefix}by-restore:{restore_id}"

    def _open_key(self) -> str:
        return f"{self._prefix}open"

    # -- script plumbing ------------------------------------------------------------------

    def _params(self, now: datetime, **operation: Any) -> str:
        deadline = now + self._window
        return fastjson.dumps(
            {
                "prefix": self._prefix,
                "rules": scripts.RULES,
                "now": iso(now),
                "now_epoch": now.timestamp(),
                "deadline": iso(deadline),
                "deadline_epoch": deadline.timestamp(),
                "retention_seconds": self._retention_seconds,
                "audit_maxlen": self._audit_maxlen,
                "trail_maxlen": self._trail_maxlen,
                "trail_refusals": self._trail_maxlen // 2,
                "system_actor": SYSTEM_ACTOR,
                "expired_action": ACTION_EXPIRED,
                "expired_outcome": EXPIRED_OUTCOME,
                "request_memory": REQUEST_MEMORY_SECONDS,
                **operation,
            }
        )

    def _now(self) -> datetime:
        return ensure_utc(self._clock.now())

    async def _run(self, script: AsyncScript, args: list[str]) -> Any:
        """Run a script, again while its Cluster slot is being moved between nodes.

        KEYS[1] only routes the script to the {restore} slot's node (see scripts.py). A
        script that met a key already moved stopped before writing anything (every script
        touches its keys first), so running it again is safe; so is a replay of a decision.
        """
        deadline = asyncio.get_running_loop().time() + SLOT_MOVE_PATIENCE_SECONDS
        while True:
            try:
                return await script(keys=[self._open_key()], args=args)
            except (ResponseError, ClusterError) as exc:
                if not slot_moving(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.05)

    async def _run_confirmed(self, script: AsyncScript, args: list[str]) -> Any:
        """The script, then ``WAIT 1`` on the same connection (a pipeline is one connection).

        WAIT counts the replicas that have this connection's writes, so a decision it
        confirms survives the primary's loss. Unconfirmed in time, the decision still
        stands on the primary; the warning says that a failover now could lose it.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            await script(keys=[self._open_key()], args=args, client=pipe)
            pipe.wait(1, self._replica_ack_ms)
            answer, replicas = await pipe.execute()
        if int(replicas) < 1:
            self.unconfirmed_decisions += 1
            log.warning(
                "no replica confirmed a restore decision within %d ms", self._replica_ack_ms
            )
        return answer

    async def _decide(self, script: AsyncScript, *, args: list[str]) -> Any:
        """Run a decision; ``StoreUncertain`` when Redis failed after it may have run it.

        A timeout or a dropped connection says nothing about whether the script ran (a
        stalled Redis runs what it received once it resumes). Every decision carries a
        request id, so running it again with that id tells the caller what happened.
        """
        try:
            if not self._replica_ack_ms:
                return await self._run(script, args)
            return await self._run_confirmed(script, args)
        except (*_UNCERTAIN, ResponseError, ClusterError) as exc:
            if isinstance(exc, (ResponseError, ClusterError)) and not slot_moving(exc):
                raise
            raise StoreUncertain(
                "Redis did not confirm a restore decision in time; it may have been made."
            ) from exc

    async def _decide_each(self, script: AsyncScript, decisions: Sequence[str]) -> list[Any]:
        """Decisions (each one's own parameters) in one script run, their answers in order."""
        answers = await self._decide(script, args=[self._params(self._now()), *decisions])
        return list(answers)

    @staticmethod
    def _answer_of(raw: list[Any]) -> list[str]:
        """One decision's answer from a batch, as text; ``ResponseError`` if it failed."""
        answer = [text(item) for item in raw]
        if answer and answer[0] == "error":
            raise ResponseError(answer[1] if len(answer) > 1 else "a restore decision failed")
        return answer

    @staticmethod
    def _parse(raw: bytes | str | None) -> RestoreSession | None:
        return parse_session(raw)

    async def _load_many(self, session_ids: Collection[bytes | str]) -> list[RestoreSession]:
        if not session_ids:
            return []
        keys = [self._session_key(text(session_id)) for session_id in session_ids]
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
        team_id: str | None = None,
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
                requester=bounded_id(requester, ACTOR_LIMIT),
                channel=channel,
                team_id=bounded_id(team_id, ACTOR_LIMIT) if team_id else None,
                created_at=now,
                updated_at=now,
                decision_deadline=now + self._window,
            )
            detail = bounded_text(
                f"backup {backup_id} ({session.product}) from {source_cloud_id} to {dest_label}"
                f" ({dest_cloud_id}); attachments={include_attachments};"
                f" users_and_groups={include_users_and_groups}"
            )
            created = await self._decide(
                self._create,
                args=[
                    self._params(
                        now,
                        request=new_request_id(),
                        session=session.model_dump(mode="json"),
                        action=ACTION_REQUESTED,
                        detail=detail,
                    )
                ],
            )
            # A clash of 128-bit random ids is practically impossible, but never overwrite.
            if int(created) == 1:
                return session

    async def get(self, session_id: str) -> RestoreSession | None:
        return self._parse(await self._redis.get(self._session_key(session_id)))

    async def attach_card(self, session_id: str, channel: str, ts: str) -> None:
        """Remember where the session's card was posted, so later changes edit it in place."""
        attached = await self._decide(
            self._attach_card,
            args=[self._params(self._now(), session_id=session_id, channel=channel, card_ts=ts)],
        )
        if int(attached) != 1:
            raise KeyError(f"no restore session {session_id}")

    async def find_by_restore_id(self, restore_id: str) -> RestoreSession | None:
        session_id = await self._redis.get(self._restore_index_key(restore_id))
        return None if session_id is None else await self.get(text(session_id))

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
        request_id: str | None = None,
    ) -> Transition:
        """Move the session to ``to`` if, right now, it may; exactly one concurrent caller wins.

        Refused (and audited as refused) when the session is unknown, finished, expired, not
        in ``expected`` (default: every state ``to`` may be reached from) or when ``to`` is
        not allowed from its state. An OPEN session past its deadline becomes EXPIRED in
        the same step and the answer says "expired". ``updates`` are applied only on
        success, together with the move; setting ``failed_checks`` starts a new round of
        answers. Called again with the same ``request_id``, it answers what the first call
        decided; ``StoreUncertain`` means Redis may or may not have decided (ask again).
        """
        target = SessionState(to)
        if expected is None:
            expected = [state for state, targets in ALLOWED.items() if target in targets]
        encoded = encode_updates(updates or {})
        session_id = bounded_id(session_id)
        own = {
            "request": request_id or new_request_id(),
            "session_id": session_id,
            "to": target.value,
            "actor": bounded_id(actor, ACTOR_LIMIT),
            "action": bounded_id(action, NAME_LIMIT),
            "expected": sorted(SessionState(state).value for state in expected),
            "updates": encoded,
            "detail": bounded_text(describe_updates(encoded) if detail is None else detail),
        }
        raw = await self._transitions.submit(session_id, fastjson.dumps(own))
        ok, reason, previous, session_json, expired_now = self._answer_of(raw)
        return Transition(
            ok=ok == "1",
            session_json=session_json,
            reason=Refusal(reason) if reason else None,
            previous_state=state_or_none(previous),
            expired_now=expired_now == "1",
        )

    async def answer_check(
        self,
        session_id: str,
        *,
        check: str,
        consent: str,
        actor: str,
        request_id: str | None = None,
    ) -> Answer:
        """Record ``actor``'s answer to one failed check; the answer completing the set wins.

        Each check is answered once, by one value: its own name, or for the custom-group
        check either accept or deny. The answer that completes the set moves the session
        to REVALIDATING in the same atomic step and carries the consents to send.
        """
        check, consent = bounded_text(check, NAME_LIMIT), bounded_text(consent, NAME_LIMIT)
        session_id = bounded_id(session_id)
        own = {
            "request": request_id or new_request_id(),
            "session_id": session_id,
            "check": check,
            "consent": consent,
            "actor": bounded_id(actor, ACTOR_LIMIT),
            "action": ACTION_CONSENT,
            "complete_action": ACTION_REVALIDATE,
            "valid_consents": list(valid_consents(check)),
        }
        raw = await self._answers.submit(session_id, fastjson.dumps(own))
        ok, reason, _previous, session_json, expired_now, answered_by, consents_json = (
            self._answer_of(raw)
        )
        consents = json.loads(consents_json) if consents_json else []
        return Answer(
            ok=ok == "1",
            complete=bool(consents),
            consents=list(consents) if isinstance(consents, list) else [],
            reason=Refusal(reason) if reason else None,
            session_json=session_json,
            answered_by=answered_by or None,
            expired_now=expired_now == "1",
        )

    async def record_refusal(
        self, session_id: str, *, actor: str, action: str, reason: str
    ) -> None:
        """Audit a click refused before it reached the store (e.g. the clicker is not an approver).

        Refusals decided by ``transition`` and ``answer_check`` are audited by them already.
        """
        await self._run(
            self._record_refusal,
            [
                self._params(
                    self._now(),
                    session_id=bounded_id(session_id),
                    actor=bounded_id(actor, ACTOR_LIMIT),
                    action=bounded_id(action, NAME_LIMIT),
                    reason=bounded_text(reason),
                )
            ],
        )

    # -- what the card shows about the backup ---------------------------------------------

    def _facts_key(self, session_id: str) -> str:
        return f"{self._prefix}facts:{session_id}"

    async def save_facts(self, session_id: str, facts: BackupFacts) -> None:
        """Keep the backup's facts beside the session; they go when the session is forgotten."""
        await self._redis.set(self._facts_key(session_id), json.dumps(facts.to_dict()))

    async def facts(self, session_id: str) -> BackupFacts:
        raw = await self._redis.get(self._facts_key(session_id))
        return BackupFacts.unknown() if raw is None else BackupFacts.from_dict(json.loads(raw))

    # -- the record -------------------------------------------------------------------------

    async def audit_trail(self, session_id: str) -> list[AuditEntry]:
        """Everything that happened to one session, oldest first."""
        entries = await self._redis.xrange(self._trail_key(session_id))
        return [audit_entry(fields) for _entry_id, fields in entries or [] if fields]

    async def expire_due(self) -> list[RestoreSession]:
        """Expire every OPEN session past its deadline; each is returned by exactly one caller."""
        expired: list[RestoreSession] = []
        while True:
            raw = await self._decide(
                self._expire_due,
                args=[self._params(self._now(), request=new_request_id(), batch=_EXPIRE_BATCH)],
            )
            looked_at, *sessions = raw
            expired.extend(s for item in sessions if (s := self._parse(item)) is not None)
            if int(looked_at) < _EXPIRE_BATCH:
                return expired

    async def forget_finished(self) -> int:
        """Forget sessions that ended a retention period ago on the clock; how many.

        Their audit trails, backup facts and restore index entries go with them. The global
        audit stream keeps its own cap. Open, in-flight and running sessions are never
        forgotten.
        """
        forgotten = 0
        while True:
            looked_at = int(
                await self._run(self._forget, [self._params(self._now(), batch=_EXPIRE_BATCH)])
            )
            forgotten += looked_at
            if looked_at < _EXPIRE_BATCH:
                return forgotten

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


__all__ = ["RestoreSessionStore"]
