from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.chat import engine, services
from supportbot.asgi import application

ORIGIN = (b"origin", b"http://localhost:8000")


class FrameSocket:
    """A socket in tests that speaks JSON frames through the real ASGI app."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        frame = json.loads(await self.communicator.receive_from(timeout=timeout))
        self.frames.append(frame)
        return frame

    async def receive_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Every frame up to and including the first that matches."""
        seen = []
        while True:
            frame = await self.receive(timeout)
            seen.append(frame)
            if predicate(frame):
                return seen

    async def close(self) -> None:
        await self.communicator.disconnect()


class ChatSocket(FrameSocket):
    """A customer's socket, speaking the v1 protocol."""

    def __init__(self, communicator: WebsocketCommunicator, conversation_id: str) -> None:
        super().__init__(communicator)
        self.conversation_id = conversation_id

    async def say(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or str(uuid.uuid4())
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return client_id

    async def reply(self, timeout: float = 10) -> dict[str, Any]:
        """Frames until the next stored assistant message; returns that message."""
        frames = await self.receive_until(
            lambda f: f["type"] == "message" and f["role"] == "assistant", timeout
        )
        return frames[-1]

    async def ask(self, text: str) -> dict[str, Any]:
        """Says `text`; returns the stored assistant message that answers it."""
        await self.say(text)
        return await self.reply()


async def connect(
    conversation_id: str, token: str, *, origin: tuple[bytes, bytes] | None = ORIGIN
) -> tuple[bool, WebsocketCommunicator]:
    headers = [origin] if origin else []
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{conversation_id}/?token={token}", headers=headers
    )
    connected, _ = await communicator.connect(timeout=5)
    return connected, communicator


@asynccontextmanager
async def new_conversation_socket(identity_token: str | None = None) -> AsyncIterator[ChatSocket]:
    """A new conversation's customer socket, past its session frame; closed on the way out."""
    conversation, token = await database_sync_to_async(services.do_create_conversation)(
        identity_token=identity_token
    )
    connected, communicator = await connect(str(conversation.pk), token)
    assert connected
    socket = ChatSocket(communicator, str(conversation.pk))
    try:
        assert (await socket.receive())["type"] == "session"
        yield socket
    finally:
        await socket.close()


@pytest.fixture
def fast_local(settings: Any) -> None:
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0
    settings.OPENAI_API_KEY = ""


@pytest.fixture
async def chat(fast_local: None) -> AsyncIterator[Callable[..., Any]]:
    """Open customer sockets on a new (or given) conversation."""
    sockets: list[ChatSocket] = []

    async def open_socket(
        conversation: tuple[str, str] | None = None, *, skip_session: bool = True
    ) -> ChatSocket:
        if conversation is None:
            created, token = await database_sync_to_async(services.do_create_conversation)()
            conversation = (str(created.pk), token)
        connected, communicator = await connect(*conversation)
        assert connected
        socket = ChatSocket(communicator, conversation[0])
        socket.token = conversation[1]  # type: ignore[attr-defined]
        if skip_session:
            first = await socket.receive()
            assert first["type"] == "session"
        sockets.append(socket)
        return socket

    yield open_socket
    for socket in sockets:
        await engine.wait_idle(uuid.UUID(socket.conversation_id))
        await socket.close()
