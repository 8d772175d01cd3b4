"""How long to wait between attempts at a call to the backup and restore API.

Exponential backoff with full jitter (a random wait between zero and the exponential cap),
so several bot replicas that hit the same outage do not retry in lock-step. A server's
``Retry-After`` wins over the backoff, but is capped so one answer cannot park the bot
for an hour.

``RetryPolicy.for_tests()`` is the test mode: no jitter, and a sleep that records each
delay instead of waiting, so tests assert the waits without spending real time on them.
Which calls may be retried at all is the client's decision (see ``bot.atlassian.client``);
this module only answers "how many times" and "how long".
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


class RecordingSleep:
    """A sleep that only writes the requested delay down, for tests."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        # Still give other tasks a turn, as a real sleep would.
        await asyncio.sleep(0)


class RetryPolicy:
    """Attempt count and backoff for retryable calls."""

    def __init__(
        self,
        *,
        max_attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        jitter: bool = True,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("delays must not be negative")
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.sleep = sleep
        self.rng = rng

    @classmethod
    def for_tests(
        cls, *, max_attempts: int = 4, base_delay: float = 0.5, max_delay: float = 30.0
    ) -> RetryPolicy:
        """A policy that never really sleeps and keeps the delays it would have slept."""
        return cls(
            max_attempts=max_attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            jitter=False,
            sleep=RecordingSleep(),
        )

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(max_attempts=1)

    @property
    def recorded_delays(self) -> list[float]:
        """The delays slept so far when the sleep records them (test mode), else empty."""
        return list(self.sleep.delays) if isinstance(self.sleep, RecordingSleep) else []

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based) before the next one."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** max(attempt - 1, 0))
        return self.rng() * cap if self.jitter else cap

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before the next attempt: the server's Retry-After (capped) or the backoff."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        return self.backoff(attempt)

    async def wait(self, attempt: int, retry_after: float | None = None) -> float:
        seconds = self.delay(attempt, retry_after)
        await self.sleep(seconds)
        return seconds

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, base_delay={self.base_delay}, "
            f"max_delay={self.max_delay}, jitter={self.jitter})"
        )


__all__ = ["RecordingSleep", "RetryPolicy", "Sleep"]
