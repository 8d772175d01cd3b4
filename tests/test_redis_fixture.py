"""The test Redis is a private server, not the machine's shared one."""

import redis.asyncio as aioredis

from tests.fixtures.redis_server import RedisServer


async def test_redis_is_private_and_empty(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Each test starts on an empty database of a server on its own port."""
    assert redis_server.port != 6379
    assert await redis_client.dbsize() == 0
    await redis_client.set("k", "v")
    assert await redis_client.get("k") == "v"
