"""The Redis channel layer's client read timeout outlasts its blocking pop.

channels_redis waits for a socket's next message with a blocking pop of
`brpop_timeout` seconds; if redis-py's read timeout is no longer than that, every
idle socket's pop times out and the consumer dies (tests/integration/test_idle_sockets.py
holds real sockets on the production stack).
"""

from __future__ import annotations

from django.conf import settings
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
