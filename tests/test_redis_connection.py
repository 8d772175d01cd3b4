"""The one Redis factory: each mode reaches its servers; an unreachable one is one line."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.store.connection import RedisEndpoint, connect
from tests.fixtures.redis_server import free_port
from tests.fixtures.redis_topologies import ClusterBackend


async def test_cluster_mode_reaches_every_node_from_the_one_named(
    redis_cluster: ClusterBackend,
) -> None:
    """REDIS_URL names one node; keys of every slot are written through the client it builds."""
    client = await connect(RedisEndpoint(url=redis_cluster.url, cluster=True))
    for family in ("restore", "tracking", "roles"):
        await client.set(f"bbot:{{{family}}}:probe", family)
    assert {node.port for node in client.get_nodes()} == {  # type: ignore[attr-defined]
        node.port for node in redis_cluster.nodes
    }
    assert await client.get("bbot:{roles}:probe") == "roles"
    await client.aclose()


async def test_unreachable_sentinels_stop_start_up_with_one_line_and_no_password() -> None:
    """No sentinel answers: one line naming the primary and the sentinels, never a password."""
    endpoint = RedisEndpoint(
        url="redis://:primary-pass@ignored:6379/0",
        sentinels=(("127.0.0.1", free_port()),),
        sentinel_master="mymaster",
        sentinel_password="sentinel-pass",
    )
    with pytest.raises(ConfigError) as refused:
        await connect(endpoint, connect_timeout=0.5, socket_timeout=0.5)
    line = str(refused.value)
    assert line.startswith("Redis (sentinel): cannot reach primary 'mymaster' through sentinels")
    assert "\n" not in line
    assert "pass" not in line


def test_a_redis_url_is_described_without_its_user_or_password() -> None:
    """Start-up lines name the host, port and database, never the ACL user or the password."""
    endpoint = RedisEndpoint(url="rediss://bot-user:s3cret-pw@redis.internal:6380/2")
    assert endpoint.describe() == "rediss://redis.internal:6380/2"
    cluster = RedisEndpoint(url="redis://:s3cret-pw@node-1:7000/0", cluster=True)
    assert cluster.describe() == "Cluster node redis://node-1:7000/0"
