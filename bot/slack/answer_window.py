"""Answering a burst of identical refusals once: one button's refusal to one person.

When a restore card lands in a busy channel and people press its button at once, every
press that lost is refused with the same sentence, and one person pressing again and again
would get that sentence each time. Within ``REFUSAL_ANSWER_WINDOW`` of telling someone a
sentence about a button of a session, the bot does not tell them it again: the clicks are still
acknowledged and audited, only the repeated private answer is spared. The window is kept
per process (a second replica may answer once more) and measured on the injected clock.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Final

from bot.clock import Clock

REFUSAL_ANSWER_WINDOW: Final = timedelta(seconds=10)
# Bounds the memory a storm of distinct clickers can take; the oldest answers go first.
MAX_REMEMBERED: Final = 4096


class AnswerWindow:
    """Whether a refusal sentence was told to this person about this session just now."""

    def __init__(self, clock: Clock, window: timedelta = REFUSAL_ANSWER_WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._told: OrderedDict[tuple[str, str, str, str], datetime] = OrderedDict()

    def first_in_window(self, user: str, session_id: str, button: str, sentence: str) -> bool:
        """True when the sentence should be told (and is now remembered as told)."""
        now = self._clock.now()
        key = (user, session_id, button, sentence)
        told = self._told.get(key)
        if told is not None and now - told < self._window:
            return False
        self._told[key] = now
        self._told.move_to_end(key)
        while len(self._told) > MAX_REMEMBERED:
            self._told.popitem(last=False)
        return True


__all__ = ["MAX_REMEMBERED", "REFUSAL_ANSWER_WINDOW", "AnswerWindow"]
