"""Calls on one key made while another is on its way to Redis go together, in one round trip.

A storm of clicks on one restore card puts one decision per click to Redis. Run one by one,
each costs a round trip and its share of redis-py's per-command work, and the storm waits
for Redis in single file. ``Coalescer`` sends the first call at once, as if it were alone;
calls on the same key that come while it is in flight wait, and go as one batch as soon as
it is back, then the calls that came meanwhile, and so on. Nothing waits longer than one
round trip for the batch before it, and an idle key costs nothing extra. The batch runner
answers one result per item, in order (the Lua scripts in ``bot.restore.scripts`` decide a
batch exactly as the same calls made one after another would).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Items per batch at most: one Lua script holds Redis for the whole batch.
BATCH_LIMIT: Final = 64


class Coalescer(Generic[Item, Result]):
    """Runs ``run`` on batches of items per key, one batch per key in flight at a time."""

    def __init__(
        self,
        run: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        stopped: Callable[[], Exception],
        limit: int = BATCH_LIMIT,
    ) -> None:
        """``stopped`` is the error of calls whose batch was stopped before ``run``
        answered (the process is shutting down): they may or may not have been run."""
        self._run = run
        self._stopped = stopped
        self._limit = limit
        self._flying: set[str] = set()
        self._waiting: dict[str, list[tuple[Item, asyncio.Future[Result]]]] = {}
        self._drains: set[asyncio.Task[None]] = set()

    async def submit(self, key: str, item: Item) -> Result:
        """``item``'s result: at once when nothing for ``key`` is in flight, else with the
        next batch. An error of its batch is its error."""
        if key in self._flying:
            future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(key, []).append((item, future))
            return await future
        self._flying.add(key)
        try:
            [result] = await self._run([item])
            return result
        finally:
            self._hand_over(key)

    def _hand_over(self, key: str) -> None:
        """The calls that came meanwhile go next, driven by a task of their own: the first
        caller goes on with its result instead of carrying the rest of the storm."""
        if not self._waiting.get(key):
            self._flying.discard(key)
            return
        drain = asyncio.get_running_loop().create_task(self._drain(key))
        self._drains.add(drain)
        drain.add_done_callback(self._drains.discard)

    async def _drain(self, key: str) -> None:
        try:
            while waiting := self._waiting.pop(key, None):
                batch, rest = waiting[: self._limit], waiting[self._limit :]
                if rest:
                    self._waiting[key] = rest
                await self._run_batch(batch)
        finally:
            self._flying.discard(key)
            # Only a stopped drain leaves calls waiting; none of them was sent.
            for _item, future in self._waiting.pop(key, []):
                self._fail(future, self._stopped())

    async def _run_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run([item for item, _future in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
        except asyncio.CancelledError:
            for _item, future in batch:
                self._fail(future, self._stopped())
            raise
        except Exception as exc:
            # Each caller gets its batch's error, as its own call would have: a copy of its
            # own, so that one caller's traceback does not grow on another's.
            for _item, future in batch:
                self._fail(future, _copy_of(exc))
            return
        for (_item, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    @staticmethod
    def _fail(future: asyncio.Future[Result], error: Exception) -> None:
        if not future.done():
            future.set_exception(error)


def _copy_of(error: Exception) -> Exception:
    """The same error for another caller: same type and arguments, caused by the original."""
    copied = copy.copy(error)
    copied.__cause__ = error.__cause__ or error
    copied.__traceback__ = None
    return copied


__all__ = ["BATCH_LIMIT", "Coalescer"]
