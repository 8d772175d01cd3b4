"""Which known word a typo most likely meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(typed: str, known: Iterable[str]) -> str | None:
    """The known id or word ``typed`` is most likely a typo of; None when none is close."""
    candidates = [item for item in known if item != typed]
    found = difflib.get_close_matches(typed, candidates, n=1, cutoff=0.8)
    return found[0] if found else None


__all__ = ["closest"]
