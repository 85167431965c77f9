"""Daphne killed with SIGKILL mid-stream and started again (production stack: Redis,
PostgreSQL, default turn lease): every owed turn is answered within 5 s of the
restart, after an in-order notice, and nothing is lost or answered twice."""

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

from apps.chat.models import Message, Turn
from tests.servers import DaphneServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

CUSTOMERS = 3


async def frames_until(ws: aiohttp.ClientWebSocketResponse, check: Any, timeout: float = 15) -> Any:
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            frame = json.loads(message.data)
            seen.append(frame)
            if check(frame):
                return seen


def is_reply(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["role"] == "assistant"


def stored(conversation_id: str) -> dict[str, Any]:
    messages = list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .values_list("role", "kind", "text")
    )
    turns = list(
        Turn.objects.filter(conversation_id=conversation_id)
        .order_by("started_at")
        .values_list("status", flat=True)
    )
    return {"messages": messages, "turns": turns}


async def test_every_turn_owed_when_daphne_is_killed_is_answered_within_5s_of_restart(
    redis_url: str, tmp_path: Path
):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    server = DaphneServer(tmp_path, REDIS_URL=redis_url, SUPPORTBOT_CHANNEL_PREFIX=prefix)
    # slow words, so the kill lands mid-stream
    server.start(SUPPORTBOT_LOCAL_WORD_DELAY="0.3")
    ws_url = server.url.replace("http", "ws")
    try:
        async with aiohttp.ClientSession() as http:
            chats = []
            for _ in range(CUSTOMERS):
                async with http.post(f"{server.url}/api/conversations/") as response:
                    created = await response.json()
                path = f"/ws/chat/{created['conversation_id']}/?token={created['token']}"
                ws = await http.ws_connect(ws_url + path, headers={"Origin": server.url})
                await frames_until(ws, lambda f: f["type"] == "session")
                chats.append((created["conversation_id"], path, ws))

            # given every customer's reply is streaming
            for _, _, ws in chats:
                await ws.send_json(
                    {"type": "message", "client_id": str(uuid.uuid4()), "text": "hello"}
                )
            for _, _, ws in chats:
                await frames_until(ws, lambda f: f["type"] == "delta")

            # when the process dies without a word and is started again
            server.kill()
            for _, _, ws in chats:
                await ws.close()
            server.start()
            restarted = time.monotonic()

            # then each customer, reconnecting as the page does, gets the notice and the answer
            async def reconnect(path: str) -> tuple[list[dict[str, Any]], float]:
                ws = await http.ws_connect(ws_url + path, headers={"Origin": server.url})
                await ws.send_json({"type": "resume", "last_seq": 1})
                frames = await frames_until(ws, is_reply, timeout=20)
                answered = time.monotonic() - restarted
                await ws.close()
                return frames, answered

            results = await asyncio.gather(*(reconnect(path) for _, path, _ in chats))
    finally:
        server.stop()

    slowest = max(answered for _, answered in results)
    for (conversation_id, _, _), (frames, _) in zip(chats, results, strict=True):
        notices = [f for f in frames if f["type"] == "message" and f["role"] == "system"]
        assert [n["notice"] for n in notices] == ["interrupted"], frames
        assert notices[0]["seq"] < frames[-1]["seq"]
        assert frames[-1]["text"].startswith("Hi there!")
        # nothing lost, nothing twice
        state = await database_sync_to_async(stored)(conversation_id)
        assert [m[:2] for m in state["messages"]] == [
            ("customer", "message"),
            ("system", "notice"),
            ("assistant", "message"),
        ]
        assert state["turns"] == ["interrupted", "completed"]
    assert slowest < 5.0, f"answered {slowest:.1f}s after the restart"
    print(f"{CUSTOMERS} interrupted turns answered again {slowest:.1f}s after Daphne restarted")
