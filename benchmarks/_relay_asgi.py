"""The floor for `benchmarks.streaming`: a minimal Channels relay of the same model stream.

    daphne benchmarks._relay_asgi:application     (OPENAI_BASE_URL, OPENAI_API_KEY set)

One consumer: each `message` frame becomes one streamed chat completion through the
same `openai` client, every text chunk is sent on as a `delta` frame the moment it
arrives, and the whole text ends as a `message` frame. No database, no guard, no
channel layer: what is left is Daphne, Channels, the SDK and the socket.
"""

from __future__ import annotations

import json
import os
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["channels"],
        SECRET_KEY="relay-bench",
        ALLOWED_HOSTS=["*"],
        CHANNEL_LAYERS={},
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import re_path
from openai import AsyncOpenAI, Timeout

# The same timeouts as the product's client (supportbot/settings.py reads the same names).
CONNECT = float(os.environ.get("OPENAI_CONNECT_TIMEOUT", "5"))
READ = float(os.environ.get("OPENAI_READ_TIMEOUT", "30"))
client = AsyncOpenAI(
    api_key=os.environ.get("OPENAI_API_KEY", "test-key"),
    base_url=os.environ.get("OPENAI_BASE_URL"),
    max_retries=0,
    timeout=Timeout(connect=CONNECT, read=READ, write=READ, pool=CONNECT),
)
MODEL = os.environ.get("SUPPORTBOT_MODEL", "gpt-4o-mini")


class Relay(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send(json.dumps({"type": "session"}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame: dict[str, Any] = json.loads(text_data or "{}")
        if frame.get("type") != "message":
            return
        await self.send(json.dumps({"type": "message", "role": "customer", "text": frame["text"]}))
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": frame["text"]}], stream=True
        )
        text = ""
        async for chunk in stream:
            piece = chunk.choices[0].delta.content if chunk.choices else None
            if piece:
                text += piece
                await self.send(json.dumps({"type": "delta", "text": piece}))
        await self.send(json.dumps({"type": "message", "role": "assistant", "text": text}))


application = URLRouter([re_path(r"^ws/chat/(?P<conversation_id>[^/]+)/$", Relay.as_asgi())])
