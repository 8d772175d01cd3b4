"""JSON read and written by orjson where the speed extra installed it, else by the standard library.

A click's payload (its whole message, blocks included), a restore decision's parameters and
a page of thousands of Atlassian items are each read or written once per request or cycle;
orjson does that several times faster. It refuses what the standard library accepts (NaN,
Infinity, integers beyond 64 bits written out), and then the standard library does the work,
so callers get the standard library's values. The one difference left: an integer beyond 64
bits read from JSON comes back as the nearest float (Slack and Atlassian send none).
"""

from __future__ import annotations

import json
from typing import Any


def _stdlib_loads(text: str | bytes) -> Any:
    return json.loads(text)


def _stdlib_dumps(value: Any) -> str:
    return json.dumps(value)


try:
    import orjson
except ImportError:  # the speed extra is optional
    loads = _stdlib_loads
    dumps = _stdlib_dumps
else:

    def loads(text: str | bytes) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return json.loads(text)

    def dumps(value: Any) -> str:
        """Compact JSON text; the standard library's where orjson refuses the value."""
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            return json.dumps(value)


__all__ = ["dumps", "loads"]
