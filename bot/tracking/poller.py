"""Fetching: what Atlassian says of this process's operations, in as few calls as it allows.

One call covers many operations. Backups are listed once per policy that has tracked
backups, restores and exports once per cycle (the client follows the pages). Imports have no
list endpoint, so each import is fetched on its own; anything missing from a list is fetched
on its own too (and a 404 then means it is GONE). Calls per cycle therefore grow with
policies and pages, not with operations (imports excepted).

The poller also remembers the operations it read: reading and parsing thousands of
unchanged operations every cycle would dominate the cycle's cost. An operation of a shard
held since the last cycle is known from then (this process wrote its last change); a change
made elsewhere meanwhile makes the next compare-and-set fail, which reloads it. Shards newly
held are read afresh, and the active set only when an operation joined or left it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime

from bot.atlassian.client import AtlassianClient
from bot.atlassian.listing import ListMemo
from bot.atlassian.models import Backup, Export, Restore
from bot.store.operations import OperationKind, OperationStore, TrackedOperation
from bot.tracking.cycle import CycleStats, bounded, call_atlassian
from bot.tracking.shards import ShardLeases, shard_of
from bot.tracking.status import ApiItem, Observed, observed_status

log = logging.getLogger(__name__)

FETCH_CONCURRENCY = 8
#: Operations read from Redis and parsed at a time when a process takes them on.
LOAD_CHUNK = 500


class Poller:
    """Reads this process's operations from Redis and looks each up at Atlassian."""

    def __init__(
        self, store: OperationStore, atlassian: AtlassianClient, shards: ShardLeases
    ) -> None:
        self._store = store
        self._atlassian = atlassian
        self._shards = shards
        self._known: dict[str, TrackedOperation] = {}
        self._active: tuple[int, list[str]] | None = None
        self._known_shards: frozenset[int] = frozenset()
        # What each listing returned last, so unchanged items are not validated again.
        self._backup_lists: dict[str, ListMemo[Backup]] = {}
        self._export_list: ListMemo[Export] = ListMemo()
        self._restore_list: ListMemo[Restore] = ListMemo()

    async def load_mine(self) -> list[TrackedOperation]:
        """This process's active operations, read from Redis only when not already known."""
        held = self._shards.held
        serial = await self._store.active_serial()
        if self._active is None or self._active[0] != serial:
            self._active = (serial, await self._store.active_keys())
        keys = [key for key in self._active[1] if self._shards.mine(key)]
        stale = [
            key
            for key in keys
            if key not in self._known
            or shard_of(key, self._shards.shards) not in self._known_shards
        ]
        fresh: dict[str, TrackedOperation] = {}
        # A chunk at a time, parsed as it comes: the stored JSON of thousands of operations
        # never sits in memory all at once beside what it parses to.
        for start in range(0, len(stale), LOAD_CHUNK):
            chunk = stale[start : start + LOAD_CHUNK]
            for key, raw in zip(chunk, await self._store.load_raw(chunk), strict=True):
                if raw is not None:
                    fresh[key] = TrackedOperation.from_json(raw)
        known: dict[str, TrackedOperation] = {}
        for key in keys:
            operation = fresh.get(key) or self._known.get(key)
            if operation is not None:
                known[key] = operation
        self._known = known
        self._known_shards = held
        return list(known.values())

    def remember(self, operation: TrackedOperation) -> None:
        """Keep ``operation`` as now stored; one that needs no more polling is let go."""
        if operation.final and not operation.awaiting_report:
            self._known.pop(operation.key, None)
        else:
            self._known[operation.key] = operation

    def forget(self, key: str) -> None:
        self._known.pop(key, None)

    async def observe(
        self, operations: Sequence[TrackedOperation], stats: CycleStats, now: datetime
    ) -> dict[str, Observed]:
        """What Atlassian says of each of ``operations`` still running, by operation key,
        where it differs from what is recorded (status or message, as of ``now``).

        An operation missing from the answer either is unchanged or could not be looked up
        this cycle. Items that match their record are let go as soon as their page is
        read: at thousands of operations, keeping every parsed item to the end of the
        cycle made the collector sweep the whole heap each quiet cycle.
        """
        observed: dict[str, Observed] = {}
        singles: list[TrackedOperation] = []
        by_policy: dict[str, list[TrackedOperation]] = defaultdict(list)
        exports: list[TrackedOperation] = []
        restores: list[TrackedOperation] = []
        for operation in operations:
            if operation.final:
                continue
            if operation.kind is OperationKind.BACKUP and operation.policy_id:
                by_policy[operation.policy_id].append(operation)
            elif operation.kind is OperationKind.EXPORT:
                exports.append(operation)
            elif operation.kind is OperationKind.RESTORE:
                restores.append(operation)
            else:
                # Imports have no list endpoint; a backup without a policy cannot be listed.
                singles.append(operation)

        backup_lists = {
            policy_id: self._backup_lists.get(policy_id) or ListMemo() for policy_id in by_policy
        }
        self._backup_lists = backup_lists

        async def list_policy(policy_id: str, group: list[TrackedOperation]) -> None:
            memo = backup_lists[policy_id]
            listed = await call_atlassian(stats, self._atlassian.list_backups(policy_id, memo=memo))
            if isinstance(listed, list):
                _match(group, {b.backup_id: b for b in listed}, observed, singles, now)
            memo.retain(_ids(group))

        await bounded(
            (list_policy(policy_id, group) for policy_id, group in by_policy.items()),
            FETCH_CONCURRENCY,
        )
        if exports:
            listed_exports = await call_atlassian(
                stats, self._atlassian.list_exports(memo=self._export_list)
            )
            if isinstance(listed_exports, list):
                exports_by_id = {e.export_id: e for e in listed_exports}
                _match(exports, exports_by_id, observed, singles, now)
        self._export_list.retain(_ids(exports))
        if restores:
            listed_restores = await call_atlassian(
                stats, self._atlassian.list_restores(memo=self._restore_list)
            )
            if isinstance(listed_restores, list):
                restores_by_id = {r.restore_id: r for r in listed_restores}
                _match(restores, restores_by_id, observed, singles, now)
        self._restore_list.retain(_ids(restores))

        async def fetch_one(operation: TrackedOperation) -> None:
            call = self._get_one(operation)
            if call is None:
                return
            item = await call_atlassian(stats, call)
            if item is not None and _changed(operation, item, now):
                observed[operation.key] = item

        await bounded((fetch_one(operation) for operation in singles), FETCH_CONCURRENCY)
        return observed

    def _get_one(self, operation: TrackedOperation) -> Awaitable[ApiItem] | None:
        kind, operation_id, cloud_id = operation.kind, operation.operation_id, operation.cloud_id
        if kind is OperationKind.BACKUP:
            return self._atlassian.get_backup(operation_id)
        if kind is OperationKind.RESTORE:
            return self._atlassian.get_restore(operation_id)
        if cloud_id is None:
            log.warning("tracker: %s has no site, so it cannot be looked up", operation.key)
            return None
        if kind is OperationKind.EXPORT:
            return self._atlassian.get_export(cloud_id=cloud_id, export_id=operation_id)
        return self._atlassian.get_import(cloud_id=cloud_id, import_id=operation_id)


def _match(
    group: Sequence[TrackedOperation],
    listed: Mapping[str, ApiItem],
    observed: dict[str, Observed],
    singles: list[TrackedOperation],
    now: datetime,
) -> None:
    for operation in group:
        item = listed.get(operation.operation_id)
        if item is None:
            singles.append(operation)
        elif _changed(operation, item, now):
            observed[operation.key] = item


def _ids(group: Sequence[TrackedOperation]) -> set[str]:
    return {operation.operation_id for operation in group}


def _changed(operation: TrackedOperation, item: Observed, now: datetime) -> bool:
    return observed_status(item, now) != (operation.status, operation.status_message)


__all__ = ["FETCH_CONCURRENCY", "LOAD_CHUNK", "Poller"]
