"""Two Daphne processes on one Redis: an event made on one reaches a socket on the other."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.servers import daphne

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


async def next_frame(
    ws: aiohttp.ClientWebSocketResponse, wanted: str, *, after_seq: int = 0, timeout: float = 15
) -> dict:
    """The next frame of type `wanted` (stored ones: with a seq above `after_seq`)."""
    while True:
        message = await ws.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame = json.loads(message.data)
        if frame["type"] == wanted and frame.get("seq", after_seq + 1) > after_seq:
            return frame


async def test_a_reply_made_on_one_process_reaches_a_socket_on_the_other(
    redis_url: str, tmp_path: Path
):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    with (
        daphne(tmp_path, REDIS_URL=redis_url, SUPPORTBOT_CHANNEL_PREFIX=prefix) as first,
        daphne(tmp_path, REDIS_URL=redis_url, SUPPORTBOT_CHANNEL_PREFIX=prefix) as second,
    ):
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{first}/api/conversations/") as response:
                assert response.status == 201
                created = await response.json()
            path = f"/ws/chat/{created['conversation_id']}/?token={created['token']}"
            ws_a = await http.ws_connect(
                first.replace("http", "ws") + path, headers={"Origin": first}
            )
            ws_b = await http.ws_connect(
                second.replace("http", "ws") + path, headers={"Origin": second}
            )
            await next_frame(ws_a, "session")
            await next_frame(ws_b, "session")

            # when the customer writes on process A
            await ws_a.send_json(
                {"type": "message", "client_id": str(uuid.uuid4()), "text": "hello"}
            )

            # then the tab on process B sees the echo, the stream and the stored reply
            echo = await next_frame(ws_b, "message")
            assert echo["role"] == "customer" and echo["text"] == "hello"
            delta = await next_frame(ws_b, "delta")
            assert delta["text"]
            reply = await next_frame(ws_b, "message")
            assert reply["role"] == "assistant" and reply["text"].startswith("Hi there!")

            # and the other way round
            await ws_b.send_json(
                {"type": "message", "client_id": str(uuid.uuid4()), "text": "thanks"}
            )
            echo = await next_frame(ws_a, "message", after_seq=reply["seq"])
            assert echo["role"] == "customer" and echo["text"] == "thanks"
            reply = await next_frame(ws_a, "message", after_seq=echo["seq"])
            assert reply["role"] == "assistant" and reply["text"].startswith("You're welcome")
            await ws_a.close()
            await ws_b.close()
