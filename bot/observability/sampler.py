"""State kept in Redis, read at an interval into the gauges of ``bot.observability.metrics``.

What the tracker follows, what is still owed to Slack and which restore sessions wait for
whom live in Redis, shared by every replica; no single process's counters can say it. The
sampler reads it through the stores' public methods every ``SAMPLE_SECONDS`` (every
replica does, so each exports the same values; dashboards take ``max``):

- ``backup_bot_operations_tracked{kind,status}`` from the active operations;
- ``backup_bot_outbox_depth`` (card edits and thread posts owed) from the pending outboxes,
  and ``backup_bot_outbox_oldest_age_seconds``: how long the longest-waiting outbox has
  been pending since this sampler first saw it, so the age is exact to one interval and
  starts again from zero when the process restarts;
- ``backup_bot_restore_sessions{state}`` and, for the states that wait for a person,
  ``backup_bot_restore_oldest_waiting_seconds{state}`` (time since that session last
  changed, on the injected clock).

A failed read is logged, counted in ``backup_bot_state_samples{outcome="failed"}`` and
leaves the gauges as they were; the next interval tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Final, Protocol

from bot.clock import Clock
from bot.observability import metrics

log = logging.getLogger(__name__)

SAMPLE_SECONDS: Final = 30.0
# Atlassian's statuses are upper-case words; anything else is not worth a series of its own.
_STATUS: Final = re.compile(r"^[A-Z][A-Z_]{0,39}$")
_STATUSES: Final = metrics.BoundedNames(32)


class TrackedView(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> str | None: ...


class OutboxState(Protocol):
    @property
    def card_version(self) -> int | None: ...
    @property
    def entries(self) -> Sequence[object]: ...


class OutboxesView(Protocol):
    async def pending_owners(self) -> Sequence[str]: ...
    async def read(self, owner: str) -> OutboxState: ...


class OperationsView(Protocol):
    async def active(self) -> Sequence[TrackedView]: ...
    @property
    def outboxes(self) -> OutboxesView: ...


class SessionView(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...


class SessionsView(Protocol):
    async def unfinished(self) -> Sequence[SessionView]: ...


class StateSampler:
    """Reads operations, outboxes and restore sessions into gauges, now or at an interval."""

    def __init__(
        self,
        operations: OperationsView,
        sessions: SessionsView,
        clock: Clock,
        *,
        session_states: Collection[str],
        waiting_states: Collection[str],
        interval: float = SAMPLE_SECONDS,
    ) -> None:
        self._operations = operations
        self._sessions = sessions
        self._clock = clock
        self._session_states = tuple(session_states)
        self._waiting_states = tuple(waiting_states)
        self._interval = interval
        self._pending_since: dict[str, datetime] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Sample every interval until ``stop`` is set."""
        while not stop.is_set():
            await self.sample_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def sample_once(self) -> bool:
        """Read everything once; False (gauges unchanged) when Redis could not be read."""
        try:
            operations = await self._operations.active()
            outboxes = await self._outboxes()
            sessions = await self._sessions.unfinished()
        except Exception:
            log.warning("could not read the bot's state for its metrics", exc_info=True)
            metrics.STATE_SAMPLES.labels("failed").inc()
            return False
        self._publish_operations(operations)
        self._publish_outboxes(outboxes)
        self._publish_sessions(sessions)
        metrics.STATE_SAMPLES.labels("ok").inc()
        return True

    async def _outboxes(self) -> dict[str, int]:
        owed: dict[str, int] = {}
        for owner in await self._operations.outboxes.pending_owners():
            outbox = await self._operations.outboxes.read(owner)
            depth = len(outbox.entries) + (1 if outbox.card_version is not None else 0)
            if depth:
                owed[owner] = depth
        return owed

    def _publish_operations(self, operations: Sequence[TrackedView]) -> None:
        counts = Counter((str(op.kind), _status_label(op.status)) for op in operations)
        # Cleared and refilled with no await between, so a scrape never sees half of it.
        metrics.OPERATIONS_TRACKED.clear()
        for (kind, status), count in counts.items():
            metrics.OPERATIONS_TRACKED.labels(kind, status).set(count)

    def _publish_outboxes(self, owed: dict[str, int]) -> None:
        now = self._clock.now()
        self._pending_since = {owner: self._pending_since.get(owner, now) for owner in owed}
        metrics.OUTBOX_DEPTH.set(sum(owed.values()))
        oldest = min(self._pending_since.values(), default=now)
        metrics.OUTBOX_OLDEST_AGE.set(max(0.0, (now - oldest).total_seconds()))

    def _publish_sessions(self, sessions: Sequence[SessionView]) -> None:
        now = self._clock.now()
        counts = Counter(str(session.state) for session in sessions)
        for state in self._session_states:
            metrics.RESTORE_SESSIONS.labels(state).set(counts.get(state, 0))
        for state in self._waiting_states:
            changed = [s.updated_at for s in sessions if str(s.state) == state]
            waited = (now - min(changed)).total_seconds() if changed else 0.0
            metrics.RESTORE_OLDEST_WAITING.labels(state).set(max(0.0, waited))


def _status_label(status: str | None) -> str:
    if status is None:
        return "unknown"
    return _STATUSES(status) if _STATUS.match(status) else metrics.OTHER


__all__ = ["SAMPLE_SECONDS", "OperationsView", "SessionsView", "StateSampler"]
