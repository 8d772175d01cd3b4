"""``/healthz``, ``/readyz`` and ``/metrics``: what an orchestrator and a scraper ask.

- ``/healthz`` is liveness: the event loop answers. It touches nothing else, so a Redis
  outage never gets a healthy process restarted.
- ``/readyz`` is readiness: 200 while this process can do its work, else 503 with a short
  reason: Redis did not answer a PING within ``REDIS_TIMEOUT_SECONDS``, the Slack
  connection is down (Socket Mode), or the process is shutting down. Each probe asks
  afresh, so readiness returns as soon as Redis does.
- ``/metrics`` is the registry of ``bot.observability.metrics`` in Prometheus text format.

In HTTP mode these routes sit beside ``/slack/events``; in Socket Mode, which needs no
listening port, ``start_probe_server`` serves them on ``--metrics-port`` when asked to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import redis.asyncio as aioredis
from aiohttp import web

from bot.observability.metrics import exposition

REDIS_TIMEOUT_SECONDS: Final = 1.0

SHUTTING_DOWN: Final = "shutting down"
REDIS_DOWN: Final = "Redis does not answer"
SLACK_DOWN: Final = "the Slack connection is down"


class Readiness:
    """Whether this process should be given work, and if not, why not."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        stopping: asyncio.Event | None = None,
        slack_connected: Callable[[], Awaitable[bool]] | None = None,
        redis_timeout: float = REDIS_TIMEOUT_SECONDS,
    ) -> None:
        self._redis = redis
        # Set once shutdown began: the process drains and must get no new work.
        self._stopping = stopping or asyncio.Event()
        self._slack_connected = slack_connected
        self._redis_timeout = redis_timeout

    def watch_slack(self, connected: Callable[[], Awaitable[bool]]) -> None:
        """Count the Slack connection (Socket Mode) among the things that must be up."""
        self._slack_connected = connected

    async def problem(self) -> str | None:
        """None when ready, else the reason in a few words."""
        if self._stopping.is_set():
            return SHUTTING_DOWN
        try:
            await asyncio.wait_for(self._redis.ping(), self._redis_timeout)
        except (TimeoutError, aioredis.RedisError, OSError):
            return REDIS_DOWN
        if self._slack_connected is not None and not await self._slack_connected():
            return SLACK_DOWN
        return None


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _metrics(_: web.Request) -> web.Response:
    body, content_type = exposition()
    response = web.Response(body=body)
    # aiohttp refuses a content type with parameters in the constructor; set it whole.
    response.headers["Content-Type"] = content_type
    return response


def add_probe_routes(application: web.Application, readiness: Readiness | None) -> None:
    """``/healthz`` and ``/metrics``, and ``/readyz`` when there is a ``readiness`` to ask."""
    application.router.add_get("/healthz", _healthz)
    application.router.add_get("/metrics", _metrics)
    if readiness is None:
        return

    async def readyz(_: web.Request) -> web.Response:
        problem = await readiness.problem()
        if problem is None:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": problem}, status=503)

    application.router.add_get("/readyz", readyz)


async def start_probe_server(host: str, port: int, readiness: Readiness) -> web.AppRunner:
    """Serve the probes and metrics alone (Socket Mode); ``cleanup()`` the runner to stop."""
    application = web.Application()
    add_probe_routes(application, readiness)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def bound_port(runner: web.AppRunner) -> int | None:
    """The port a runner's first site listens on (useful when it was started on port 0)."""
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    return None


__all__ = [
    "REDIS_DOWN",
    "SHUTTING_DOWN",
    "SLACK_DOWN",
    "Readiness",
    "add_probe_routes",
    "bound_port",
    "start_probe_server",
]
