"""Sockets held idle on the production stack (Daphne on real Redis) stay open and live.

A customer keeps the chat open while they look something up; an agent keeps the
console open all shift. Neither socket may drop while nothing happens.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from channels.db import database_sync_to_async

from apps.escalations.tests.conftest import make_agent, session_for
from tests.integration.test_escalation_two_daphnes import frame_where, hello_is_answered_and_watched
from tests.servers import daphne

__all__ = ["make_agent"]  # a fixture, used by name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

IDLE_SECONDS = 60


async def stays_quiet(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> None:
    """Nothing at all arrives for `seconds`: no close, no error frame."""
    # One deadline for the whole hold: aiohttp answers Daphne's pings (every 20 s)
    # inside receive() and would restart a per-read timeout each time.
    try:
        async with asyncio.timeout(seconds):
            message = await ws.receive()
    except TimeoutError:
        return
    raise AssertionError(f"the idle socket got {message.type.name}: {message.data!r}")


async def test_customer_and_staff_sockets_idle_for_a_minute_stay_open_and_live(
    redis_url: str, tmp_path: Path, make_agent: Any
):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    session = await database_sync_to_async(session_for)(agent)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    with daphne(
        tmp_path,
        REDIS_URL=redis_url,
        SUPPORTBOT_CHANNEL_PREFIX=prefix,
        SUPPORTBOT_TASKS_EAGER="true",
    ) as base:
        ws_base = base.replace("http", "ws")
        async with aiohttp.ClientSession(
            cookies={"sessionid": session}, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            async with http.post(f"{base}/api/conversations/") as response:
                created = await response.json()
            conversation_id = created["conversation_id"]
            customer = await http.ws_connect(
                f"{ws_base}/ws/chat/{conversation_id}/?token={created['token']}",
                headers={"Origin": base},
            )
            watch = await http.ws_connect(
                f"{ws_base}/ws/agent/conversations/{conversation_id}/", headers={"Origin": base}
            )
            queue = await http.ws_connect(f"{ws_base}/ws/agent/", headers={"Origin": base})
            await frame_where(customer, lambda f: f["type"] == "session")
            await frame_where(watch, lambda f: f["type"] == "snapshot")
            await frame_where(queue, lambda f: f["type"] == "snapshot")

            # when all three sockets sit idle for a minute
            started = time.monotonic()
            await asyncio.gather(
                stays_quiet(customer, IDLE_SECONDS),
                stays_quiet(watch, IDLE_SECONDS),
                stays_quiet(queue, IDLE_SECONDS),
            )
            held = time.monotonic() - started

            # then each is still open and still hears the conversation
            await hello_is_answered_and_watched(customer, watch)
            await queue.send_str(json.dumps({"type": "ping"}))
            assert (await frame_where(queue, lambda f: True))["type"] == "pong"
            for ws in (customer, watch, queue):
                assert not ws.closed
                await ws.close()
    print(f"customer and two staff sockets held idle {held:.0f}s on Redis, none dropped")
