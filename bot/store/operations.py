"""Operations the bot started or adopted, each with the Slack card that reports on it.

This is what the tracker polls and what lets ``export-status`` and ``import-status`` remember
an operation's site. Everything lives in Redis so a restarted or second bot process sees it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from bot.clock import Clock


class OperationKind(enum.StrEnum):
    BACKUP = "backup"
    EXPORT = "export"
    IMPORT = "import"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class TrackedOperation:
    kind: OperationKind
    operation_id: str
    cloud_id: str | None
    product: str | None
    channel: str | None
    card_ts: str | None
    started_by: str | None
    registered_at: str
    policy_id: str | None = None
    backup_id: str | None = None
    session_id: str | None = None
    status: str | None = None
    status_message: str | None = None
    final: bool = False
    adopted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.operation_id}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> TrackedOperation:
        data = json.loads(raw)
        data["kind"] = OperationKind(data["kind"])
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{name: value for name, value in data.items() if name in known})


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class OperationStore:
    """Tracked operations keyed by kind and id; the active set is what the tracker polls."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, *, key_prefix: str = "bbot:") -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = key_prefix

    def _op_key(self, kind: OperationKind, operation_id: str) -> str:
        return f"{self._prefix}op:{kind.value}:{operation_id}"

    @property
    def _active_key(self) -> str:
        return f"{self._prefix}ops:active"

    async def register(
        self,
        kind: OperationKind,
        operation_id: str,
        *,
        cloud_id: str | None,
        product: str | None,
        channel: str | None = None,
        card_ts: str | None = None,
        started_by: str | None = None,
        status: str | None = None,
        adopted: bool = False,
        **details: Any,
    ) -> TrackedOperation:
        """Start tracking; registering the same operation twice keeps the first card."""
        now = self._clock.now()
        operation = TrackedOperation(
            kind=kind,
            operation_id=operation_id,
            cloud_id=cloud_id,
            product=product,
            channel=channel,
            card_ts=card_ts,
            started_by=started_by,
            registered_at=now.isoformat(),
            status=status,
            adopted=adopted,
            policy_id=details.pop("policy_id", None),
            backup_id=details.pop("backup_id", None),
            session_id=details.pop("session_id", None),
            extra=dict(details),
        )
        key = self._op_key(kind, operation_id)
        created = await self._redis.set(key, operation.to_json(), nx=True)
        if not created:
            existing = await self.get(kind, operation_id)
            if existing is not None:
                return existing
        await self._redis.sadd(self._active_key, operation.key)
        return operation

    async def get(self, kind: OperationKind, operation_id: str) -> TrackedOperation | None:
        raw = await self._redis.get(self._op_key(kind, operation_id))
        return None if raw is None else TrackedOperation.from_json(raw)

    async def save(self, operation: TrackedOperation) -> None:
        await self._redis.set(self._op_key(operation.kind, operation.operation_id), operation.to_json())
        if operation.final:
            await self._redis.srem(self._active_key, operation.key)
        else:
            await self._redis.sadd(self._active_key, operation.key)

    async def update(
        self, kind: OperationKind, operation_id: str, changes: Mapping[str, Any]
    ) -> TrackedOperation | None:
        current = await self.get(kind, operation_id)
        if current is None:
            return None
        updated = replace(current, **changes)
        await self.save(updated)
        return updated

    async def active(self) -> list[TrackedOperation]:
        members = await self._redis.smembers(self._active_key)
        operations: list[TrackedOperation] = []
        for member in sorted(_text(m) for m in members):
            kind_text, _, operation_id = member.partition(":")
            operation = await self.get(OperationKind(kind_text), operation_id)
            if operation is not None:
                operations.append(operation)
        return operations

    async def site_of(self, kind: OperationKind, operation_id: str) -> str | None:
        """The cloud id the bot remembers for an export, import or restore it started."""
        operation = await self.get(kind, operation_id)
        return operation.cloud_id if operation else None

    async def forget_before(self, cutoff: datetime) -> int:
        """Drop finished operations registered before ``cutoff``; returns how many."""
        removed = 0
        async for key in self._redis.scan_iter(match=f"{self._prefix}op:*"):
            raw = await self._redis.get(key)
            if raw is None:
                continue
            operation = TrackedOperation.from_json(raw)
            if operation.final and datetime.fromisoformat(operation.registered_at) < cutoff:
                await self._redis.delete(key)
                removed += 1
        return removed
