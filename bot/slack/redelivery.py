"""Each Slack event handled once, whichever replica gets it and however often Slack resends it.

Slack resends an event (``X-Slack-Retry-Num`` 1 to 3 over HTTP, ``retry_attempt`` in Socket
Mode) when it did not see an acknowledgement in time, and a resend may reach another
replica. The first delivery of an ``event_id`` takes a Redis marker (SET NX); any later one
is acknowledged at once without redoing the work. Slash commands and interactions carry no
event id and are never resent by Slack, so they pass straight through.

The marker's TTL only bounds memory: Slack's resends all come within minutes, so an event
id seen again after the TTL is not a resend. When Redis does not answer within
``MARKER_TIMEOUT_SECONDS`` the event is handled anyway: the acknowledgement must reach
Slack within 3 s, and handling an event twice (publishing a Home tab again) does less harm
than dropping it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Final

import redis.asyncio as aioredis
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

MARKER_TTL_SECONDS: Final = 3600
MARKER_TIMEOUT_SECONDS: Final = 0.5
# Slack's event ids are short upper-case tokens; anything else never becomes a key.
_EVENT_ID: Final = re.compile(r"^Ev[A-Za-z0-9]{1,40}$")


class EventOnce(AsyncMiddleware):
    """A Bolt global middleware that lets each event id through once across replicas.

    A class rather than a decorated function: Bolt calls it directly, without working out
    which keyword arguments a function wants, a cost every request would pay.
    """

    def __init__(self, redis: aioredis.Redis, key_prefix: str) -> None:
        self._redis = redis
        self._key_prefix = key_prefix

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        body = req.body
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
            return await next()
        try:
            first = await asyncio.wait_for(
                self._redis.set(
                    f"{self._key_prefix}slack:event:{event_id}",
                    "1",
                    nx=True,
                    ex=MARKER_TTL_SECONDS,
                ),
                MARKER_TIMEOUT_SECONDS,
            )
        except (TimeoutError, aioredis.RedisError, OSError):
            log.warning("could not check whether event %s was seen; handling it", event_id)
            return await next()
        if not first:
            log.info("event %s was already handled; acknowledging the resend", event_id)
            return BoltResponse(status=200, body="")
        return await next()


def once_per_event(redis: aioredis.Redis, key_prefix: str) -> EventOnce:
    """The middleware for ``app.middleware``: each event id handled once across replicas."""
    return EventOnce(redis, key_prefix)


__all__ = ["MARKER_TTL_SECONDS", "EventOnce", "once_per_event"]
