"""`/clock +7d`: moving the console's clock, so a week of schedules passes in a minute.

The console's bot, simulator and stand-in Slack share one ``ShiftableClock`` (real time
plus an offset). Moving it forward is all it takes: the background loops read the clock at
their next cycle, so due slots run, backups age and expire, and alerts fire.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from bot.messages import console as console_words

_PART: Final = re.compile(r"(\d+)([dhm])")
_UNITS: Final = {"d": "days", "h": "hours", "m": "minutes"}


class ShiftError(ValueError):
    """The text is not a forward move such as ``+7d``, ``+1d12h`` or ``+30m``."""


def parse_shift(text: str) -> timedelta:
    """``+7d`` -> 7 days; days, hours and minutes may be combined (``+1d6h``)."""
    spec = text.strip().replace(" ", "").lower()
    body = spec[1:] if spec.startswith("+") else ""
    parts = _PART.findall(body)
    if not parts or "".join(number + unit for number, unit in parts) != body:
        raise ShiftError(console_words.not_a_shift(text.strip()))
    shift = timedelta()
    for number, unit in parts:
        shift += timedelta(**{_UNITS[unit]: int(number)})
    if shift <= timedelta(0):
        raise ShiftError(console_words.CLOCK_BACKWARDS)
    return shift


__all__ = ["ShiftError", "parse_shift"]
