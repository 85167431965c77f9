"""The Redis channel layer, with a blocking pop well inside the client's read timeout,
and a connection pool that makes a burst wait instead of failing.

channels_redis waits for a socket's next message with a blocking pop of
`brpop_timeout` seconds. If redis-py's read timeout is not clearly longer, an idle
socket's pop times out and its consumer dies with a 1011 (redis-py 8 and
channels-redis 4.3 both default to 5 s). A short pop also bounds how long a
cancelled receive lingers: redis-py finishes the read in progress before the
cancellation lands.

redis-py's asyncio pool raises MaxConnectionsError as soon as `max_connections` (100
by default) commands of one process are in flight. 200 chats opening at once on one
Daphne (each socket's group_add, each turn's group sends) went past it and 28 of 200
handshakes failed; this pool makes the extra commands wait for a free connection,
up to `timeout` seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class RedisChannelLayer(BaseRedisChannelLayer):
    brpop_timeout = 2

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "address" not in host:  # Sentinel: channels_redis's own pool
            return super().create_pool(index)
        return BlockingConnectionPool.from_url(host.pop("address"), **host)

    async def _brpop_with_clean(self, index: int, channel: str, timeout: float) -> Any:  # noqa: ASYNC109
        # redis-py can turn a cancellation that lands while it reads into its own read
        # timeout, and channels_redis then pops again, for ever: a cancelled receive
        # (a closed socket's) would poll Redis every few seconds and never end.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return await super()._brpop_with_clean(index, channel, timeout)
