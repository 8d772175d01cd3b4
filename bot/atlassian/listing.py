"""What a listing returned last time, raw beside parsed, so an unchanged item is not parsed again.

A tracker lists the same operations every cycle and nearly all of them are as they were.
Validating each into its model again was a large part of a quiet cycle. An item whose
decoded JSON equals what was parsed before (compared as decoded values, so every field
counts, not a chosen few) gets the model parsed then: the same input gives the same model.
The owner bounds the memo with ``retain`` to the items it still follows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Generic, TypeVar

from bot.atlassian.models import ApiModel

_ModelT = TypeVar("_ModelT", bound=ApiModel)


class ListMemo(Generic[_ModelT]):
    """Items of one listing by id: the decoded JSON last seen and the model parsed from it."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Mapping[str, object], _ModelT]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def reuse(self, item_id: object, raw: object) -> _ModelT | None:
        """The model parsed before from exactly ``raw``, if any."""
        if not isinstance(item_id, str):
            return None
        seen = self._seen.get(item_id)
        if seen is None or seen[0] != raw:
            return None
        return seen[1]

    def keep(self, item_id: object, raw: object, model: _ModelT) -> None:
        if isinstance(item_id, str) and isinstance(raw, Mapping):
            self._seen[item_id] = (raw, model)

    def retain(self, item_ids: Collection[str]) -> None:
        """Forget every item but ``item_ids``."""
        self._seen = {key: value for key, value in self._seen.items() if key in item_ids}


__all__ = ["ListMemo"]
