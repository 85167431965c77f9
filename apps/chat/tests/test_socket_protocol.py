"""The customer socket: who may connect, and how bad input is answered."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from apps.chat import services
from apps.chat.models import Message

from .conftest import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def new_conversation() -> tuple[str, str]:
    conversation, token = await database_sync_to_async(services.do_create_conversation)()
    return str(conversation.pk), token


async def test_it_refuses_a_wrong_token_before_accept(fast_local):
    conversation_id, _ = await new_conversation()
    connected, _ = await connect(conversation_id, "not-the-token")
    assert connected is False


async def test_it_refuses_an_unknown_conversation_id(fast_local):
    _, token = await new_conversation()
    connected, _ = await connect(str(uuid.uuid4()), token)
    assert connected is False
    connected, _ = await connect("not-a-uuid", token)
    assert connected is False


async def test_it_refuses_a_foreign_origin(fast_local):
    conversation_id, token = await new_conversation()
    connected, _ = await connect(conversation_id, token, origin=(b"origin", b"https://evil.test"))
    assert connected is False
    connected, _ = await connect(conversation_id, token, origin=None)
    assert connected is False


async def test_it_greets_with_a_session_frame(chat):
    socket = await chat(skip_session=False)
    frame = await socket.receive()
    assert frame["type"] == "session"
    assert frame["conversation_id"] == socket.conversation_id
    assert frame["last_seq"] == 0
    assert frame["verified"] is False
    assert frame["assistant"] == "offline"


async def test_oversized_invalid_and_unknown_frames_get_errors_and_the_socket_stays_usable(
    chat, settings
):
    socket = await chat()
    await socket.communicator.send_to(text_data="x" * (settings.SUPPORTBOT_MAX_FRAME_BYTES + 1))
    assert (await socket.receive())["code"] == "frame_too_large"
    await socket.communicator.send_to(text_data="{not json")
    assert (await socket.receive())["code"] == "invalid_json"
    await socket.communicator.send_to(text_data="[1, 2]")
    assert (await socket.receive())["code"] == "invalid_frame"
    await socket.send({"type": "shout", "text": "hi"})
    error = await socket.receive()
    assert error == {
        "type": "error",
        "code": "unknown_type",
        "message": "Unknown frame type 'shout'.",
    }
    await socket.send({"type": "message", "client_id": "nope", "text": "hi"})
    error = await socket.receive()
    assert error["code"] == "invalid_frame" and "client_id" in error["message"]
    await socket.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive())["code"] == "invalid_frame"

    # then the same socket still works
    client_id = await socket.say("hello")
    echo = await socket.receive()
    assert echo["type"] == "message" and echo["client_id"] == client_id and echo["seq"] == 1


async def test_a_message_is_echoed_with_its_seq_and_stored_once_per_client_id(chat):
    socket = await chat()
    client_id = str(uuid.uuid4())
    await socket.say("where is my order?", client_id)
    echo = await socket.receive()
    assert echo["role"] == "customer" and echo["seq"] == 1 and echo["text"] == "where is my order?"
    await socket.reply()
    await socket.say("where is my order?", client_id)  # the browser resends after a drop
    again = (await socket.receive_until(lambda f: f["type"] == "message"))[-1]
    print("FRAMES", socket.frames)
    assert again["seq"] == 1 and again["client_id"] == client_id
    count = await database_sync_to_async(
        Message.objects.filter(conversation_id=socket.conversation_id, role="customer").count
    )()
    assert count == 1


async def test_resume_replays_every_stored_event_after_last_seq(chat):
    socket = await chat()
    await socket.ask("hi")
    await socket.ask("thanks")
    await socket.close()

    again = await chat((socket.conversation_id, socket.token))
    await again.send({"type": "resume", "last_seq": 1})
    frames = await again.receive_until(lambda f: f["type"] == "resumed")
    replayed = [f for f in frames if f["type"] == "message"]
    assert [f["seq"] for f in replayed] == [2, 3, 4]
    assert [f["role"] for f in replayed] == ["assistant", "customer", "assistant"]
    assert frames[-1] == {"type": "resumed", "last_seq": 4}


async def test_a_second_tab_sees_the_same_events(chat):
    first = await chat()
    second = await chat((first.conversation_id, first.token))
    await first.say("hello")
    echo = await second.receive()
    assert echo["type"] == "message" and echo["role"] == "customer"
    reply = await second.reply()
    assert reply["text"].startswith("Hi there!")
    await first.reply()


async def test_messages_are_rate_limited_per_client(chat, settings):
    settings.SUPPORTBOT_RATE_MESSAGES = 2
    socket = await chat()
    await socket.say("hi")
    await socket.say("hello")
    await socket.say("hey")
    frames = await socket.receive_until(lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "rate_limited"
    stored = await database_sync_to_async(
        Message.objects.filter(conversation_id=socket.conversation_id, role="customer").count
    )()
    assert stored == 2


async def test_too_long_messages_are_refused_with_a_clear_error(chat, settings):
    settings.SUPPORTBOT_MAX_MESSAGE_CHARS = 20
    socket = await chat()
    await socket.say("x" * 21)
    frame = await socket.receive()
    assert frame["code"] == "message_too_long"
    assert frame["type"] == "error" and frame["message"]
