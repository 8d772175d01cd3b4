"""The one place a Redis client is built from the settings: standalone, Sentinel or Cluster.

Everything else takes the client it is given, so tests and the console inject theirs.

- Standalone: ``REDIS_URL`` (``rediss://`` for TLS, user and password in the URL).
- Sentinel: ``REDIS_SENTINELS`` and ``REDIS_SENTINEL_MASTER``; the client asks the
  sentinels for the primary on every new connection, so after a failover it reconnects to
  the promoted replica. ``REDIS_URL`` still gives the primary's user, password, database
  and TLS (``rediss://``); its host and port are not used.
- Cluster: ``REDIS_CLUSTER=true`` and ``REDIS_URL`` naming any node; redis-py's
  ``RedisCluster`` learns the slot map, follows ``MOVED``/``ASK`` and retries ``TRYAGAIN``
  and dropped connections. The key layout (``bot.store.keys``) keeps every script in one slot.

In every mode a command that gets no answer within ``socket_timeout`` fails instead of
hanging, so an acknowledgement to Slack never waits for a Redis that is failing over, and
a decision Redis did not confirm is reported as such (``bot.errors.StoreUncertain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.exceptions import ClusterDownError, ClusterError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import ConfigError
from bot.messages import settings as said
from bot.redaction import redact

# Redis did not answer (down, failing over, a slot in migration, a dropped connection).
# ClusterError: redis-py gave up following redirections of a slot in migration.
UNREACHABLE: Final = (
    ClusterError,
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    TimeoutError,
    OSError,
)
CONNECT_TIMEOUT: Final = 2.0
COMMAND_TIMEOUT: Final = 5.0


@dataclass(frozen=True, slots=True)
class RedisEndpoint:
    """What the settings say about where Redis is; no secret is ever printed from it."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str | None = None
    sentinel_password: str | None = None
    cluster: bool = False

    @property
    def mode(self) -> str:
        if self.cluster:
            return "cluster"
        return "sentinel" if self.sentinels else "standalone"

    def describe(self) -> str:
        """Where Redis is, for a log line or a start-up error: never a password."""
        if self.sentinels:
            hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"primary {self.sentinel_master!r} through sentinels {hosts}"
        return f"{'Cluster node ' if self.cluster else ''}{without_credentials(self.url)}"


def without_credentials(url: str) -> str:
    """The URL without its user and password (an ACL user name is not shown either)."""
    try:
        parts = urlsplit(url.strip())
        if parts.username is None and parts.password is None:
            return redact(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return redact(parts._replace(netloc=netloc).geturl())
    except ValueError:
        return "the configured URL"


def _url_options(url: str) -> dict[str, Any]:
    """The user, password, database and TLS of a REDIS_URL, for a Sentinel-found primary."""
    parts = urlsplit(url.strip())
    options: dict[str, Any] = {}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    database = parts.path.strip("/")
    if database.isdigit():
        options["db"] = int(database)
    if parts.scheme == "rediss":
        options["ssl"] = True
    return options


def build_redis(
    endpoint: RedisEndpoint,
    *,
    socket_timeout: float = COMMAND_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    **options: Any,
) -> aioredis.Redis:
    """A client for the endpoint's mode; it connects on first use.

    redis-py's own retry (a few attempts with a short backoff) covers a failover or a slot
    move; a decision retried after a timeout is safe, since its request id makes the script
    answer what it decided the first time.
    """
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        **options,
    }
    if endpoint.cluster:
        cluster = RedisCluster.from_url(endpoint.url, **common)
        # RedisCluster offers every command the stores use, with the same signatures; the
        # stores are typed against one client class.
        return cast(aioredis.Redis, cluster)
    if endpoint.sentinels:
        sentinel_options: dict[str, Any] = {
            "socket_timeout": min(socket_timeout, 1.0),
            "socket_connect_timeout": connect_timeout,
        }
        if endpoint.sentinel_password:
            sentinel_options["password"] = endpoint.sentinel_password
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(endpoint.sentinels), sentinel_kwargs=sentinel_options
        )
        primary: aioredis.Redis = sentinel.master_for(
            endpoint.sentinel_master or "",
            **_url_options(endpoint.url),
            **common,
        )
        return primary
    return aioredis.Redis.from_url(endpoint.url, **common)


async def connect(endpoint: RedisEndpoint, **options: Any) -> aioredis.Redis:
    """Build the client and ping it, so a wrong setting stops start-up with one line."""
    client = build_redis(endpoint, **options)
    try:
        await client.ping()
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        await client.aclose()
        # redis-py's sentinel error quotes its client's repr; the reason is all that helps.
        reason = (
            "no sentinel answered, or none knows a primary of that name"
            if isinstance(exc, MasterNotFoundError)
            else redact(str(exc))
        )
        raise ConfigError(
            said.redis_unreachable(endpoint.describe(), reason)
            if endpoint.mode == "standalone"
            else said.redis_mode_unreachable(endpoint.mode, endpoint.describe(), reason)
        ) from None
    return client


__all__ = ["COMMAND_TIMEOUT", "UNREACHABLE", "RedisEndpoint", "build_redis", "connect"]
