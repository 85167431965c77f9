"""The Redis channel layer's client read timeout outlasts its blocking pop.

channels_redis waits for a socket's next message with a blocking pop of
`brpop_timeout` seconds; if redis-py's read timeout is no longer than that, every
idle socket's pop times out and the consumer dies (tests/integration/test_idle_sockets.py
holds real sockets on the production stack). A burst of commands past the pool's
size waits for a connection.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import pytest
import redis.asyncio
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.utils.module_loading import import_string

from supportbot.settings import redis_channel_layer


def test_the_layer_reads_longer_than_it_blocks_waiting_for_a_message():
    config = redis_channel_layer("redis://127.0.0.1:6379/0", "t")
    layer = import_string(str(config["BACKEND"]))(**config["CONFIG"])
    pool = layer.create_pool(0)
    read_timeout = pool.connection_kwargs["socket_timeout"]
    assert read_timeout is not None
    assert read_timeout >= layer.brpop_timeout * 2


def test_the_cache_on_redis_has_bounded_timeouts_too():
    assert settings.REDIS_SOCKET_TIMEOUT >= 5
    assert settings.REDIS_CONNECT_TIMEOUT > 0


async def test_a_burst_past_the_pool_waits_for_a_connection_instead_of_failing(redis_url):
    # given a layer whose process may hold two Redis connections
    config = redis_channel_layer(redis_url, f"t{uuid.uuid4().hex[:8]}")
    config["CONFIG"]["hosts"][0]["max_connections"] = 2  # type: ignore[index]
    layer = import_string(str(config["BACKEND"]))(**config["CONFIG"])
    try:
        # when forty sockets join their groups at once
        await asyncio.gather(*(layer.group_add(f"g{i}", f"specific.x!{i}") for i in range(40)))
        # then every one joined
        client = redis.asyncio.from_url(redis_url)
        async with client:
            for i in range(40):
                assert await client.zcard(f"{layer.prefix}:group:g{i}") == 1
    finally:
        await layer.flush()
        await layer.close_pools()


def test_a_burst_of_cache_commands_past_its_pool_waits_instead_of_failing(redis_url):
    # given the cache as settings build it, allowed two connections
    options = dict(cast("dict[str, object]", settings.CACHES["default"].get("OPTIONS", {})))
    if "pool_class" not in options:
        pytest.skip("the cache is on Redis only with REDIS_URL")
    options["max_connections"] = 2
    cache = RedisCache(redis_url, {"KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}", "OPTIONS": options})
    cache.set("hits", 0)
    # when forty threads count at once
    with ThreadPoolExecutor(40) as threads:
        list(threads.map(lambda _: cache.incr("hits"), range(40)))
    # then every hit counted
    assert cache.get("hits") == 40
