"""A turn's frames reach this process's sockets directly; the layer carries only what
must cross processes, coalesced; nothing the customer must see depends on the layer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.db.models import F

from apps.chat import services
from apps.chat.frames import message_frame
from apps.chat.models import Conversation, Message, Turn, group_for
from supportbot.redis_layer import RedisChannelLayer
from supportbot.settings import redis_channel_layer
from tests import fake_openai as fake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def other_process(settings: Any, redis_url: str) -> RedisChannelLayer:
    """The Redis layer for this process, and another Daphne process's layer client (its
    own, on the same Redis and prefix)."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(redis_url, prefix)}
    config = redis_channel_layer(redis_url, prefix)["CONFIG"]
    assert isinstance(config, dict)
    return RedisChannelLayer(**config)


@asynccontextmanager
async def relayed_to(
    other: RedisChannelLayer, conversation_id: str
) -> AsyncIterator[list[tuple[float, dict]]]:
    """Every frame the other process receives for the conversation while inside, with
    the time it came."""
    channel = await other.new_channel()
    await other.group_add(group_for(conversation_id), channel)
    relayed: list[tuple[float, dict]] = []

    async def listen() -> None:
        while True:
            frame = (await other.receive(channel))["frame"]
            relayed.append((time.monotonic(), frame))

    listener = asyncio.get_running_loop().create_task(listen())
    try:
        yield relayed
    finally:
        listener.cancel()
        await other.flush()


REPLY = " ".join(f"word{i}" for i in range(80)) + "."


async def test_with_a_layer_that_delivers_nothing_the_customer_still_sees_everything(
    chat, fake_openai, settings
):
    # given a channel layer on which every message expires before it is read
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"expiry": 0}}
    }
    fake_openai.script(fake.text(REPLY, chunk_size=4, delay=0.002))
    socket = await chat()
    # when the customer writes and the model streams its answer in small pieces
    await socket.say("tell me everything")
    frames = await socket.receive_until(lambda f: f["type"] == "turn" and f["state"] == "ended")
    # then the echo, the whole stream and the stored reply all arrived, in order
    kinds = [f["type"] + (f"/{f['role']}" if f["type"] == "message" else "") for f in frames]
    assert kinds[0] == "message/customer" and kinds[1] == "turn"
    assert kinds[-2:] == ["message/assistant", "turn"]
    streamed = "".join(f["text"] for f in frames if f["type"] == "delta")
    assert streamed == REPLY == frames[-2]["text"]
    assert len([f for f in frames if f["type"] == "delta"]) > 3


async def test_a_stored_event_the_layer_lost_is_read_from_the_store_before_the_next(chat):
    socket = await chat()

    def lost_then_published() -> None:
        # an event stored by another process whose layer message never arrived
        Conversation.objects.filter(pk=socket.conversation_id).update(last_seq=F("last_seq") + 1)
        seq = Conversation.objects.get(pk=socket.conversation_id).last_seq
        Message.objects.create(
            conversation_id=socket.conversation_id, seq=seq, role="system", text="lost"
        )
        services.do_append_event(socket.conversation_id, role="system", text="published")

    await database_sync_to_async(lost_then_published)()
    first, second = await socket.receive(), await socket.receive()
    assert (first["seq"], first["text"]) == (1, "lost")
    assert (second["seq"], second["text"]) == (2, "published")


@pytest.mark.integration
async def test_another_process_gets_the_stream_coalesced_and_only_while_it_listens(
    chat, fake_openai, settings, other_process
):
    # given the Redis layer, and a socket of "another process" (its own layer client)
    settings.SUPPORTBOT_LAYER_DELTA_INTERVAL = 0.25
    fake_openai.script(fake.text(REPLY, chunk_size=4, delay=0.01))
    socket = await chat()
    async with relayed_to(other_process, socket.conversation_id) as relayed:
        # when the model streams for about a second
        started = time.monotonic()
        await socket.say("tell me everything")
        here = await socket.receive_until(lambda f: f["type"] == "turn" and f["state"] == "ended")
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.3)
    # then this process's socket got the stream as it came
    received = [frame for _, frame in relayed]
    local = [f for f in here if f["type"] == "delta"]
    remote = [f for f in received if f["type"] == "delta"]
    assert "".join(f["text"] for f in local) == REPLY
    # and the other process got all of it too, in at most one message per 250 ms
    assert "".join(f["text"] for f in remote) == REPLY
    assert len(remote) <= elapsed / 0.25 + 3 < len(local)
    assert [f["state"] for f in received if f["type"] == "turn"] == ["started", "ended"]
    assert [f["role"] for f in received if f["type"] == "message"] == ["customer", "assistant"]


@pytest.mark.integration
async def test_a_take_over_seen_only_through_the_layer_stops_the_running_turn_at_once(
    chat, fake_openai, settings, other_process
):
    # given the Redis layer, and a reply the model streams for about six seconds
    settings.SUPPORTBOT_LAYER_DELTA_INTERVAL = 0.1
    long_reply = " ".join(f"word{i}" for i in range(600)) + "."
    fake_openai.script(fake.text(long_reply, chunk_size=4, delay=0.01))
    socket = await chat()
    async with relayed_to(other_process, socket.conversation_id) as relayed:
        await socket.say("tell me everything")
        await socket.receive_until(lambda f: f["type"] == "delta")
        await socket.receive_until(lambda f: f["type"] == "delta")

        # when an agent takes over in another process: its rows, and its layer message
        # (never this process's in-process delivery)
        handoff = await database_sync_to_async(_agent_takes_over_elsewhere)(socket.conversation_id)
        taken_over = time.monotonic()
        await other_process.group_send(
            group_for(socket.conversation_id),
            {"type": "chat.event", "frame": handoff, "stored": True},
        )
        after = await socket.receive_until(lambda f: f["type"] == "turn" and f["state"] == "ended")
        ended = time.monotonic()
        await asyncio.sleep(0.5)

    # then the turn stopped long before the model's stream would have ended
    assert ended - taken_over < 2.5
    at = [f["type"] for f in after].index("handoff")
    assert not [f for f in after[at:] if f["type"] == "delta"]
    # and the other processes' stream stopped with it (no text long after the take-over)
    late = [f for t, f in relayed if f["type"] == "delta" and t > taken_over + 1.5]
    assert late == []
    streamed = "".join(f["text"] for f in socket.frames if f["type"] == "delta")
    assert streamed and long_reply.startswith(streamed) and len(streamed) < len(long_reply) / 2
    stored = await database_sync_to_async(
        lambda: (
            list(
                Turn.objects.filter(conversation_id=socket.conversation_id).values_list(
                    "status", flat=True
                )
            ),
            Message.objects.filter(
                conversation_id=socket.conversation_id, role="assistant"
            ).count(),
        )
    )()
    assert stored == (["stopped"], 0)


def _agent_takes_over_elsewhere(conversation_id: str) -> dict:
    """What another Daphne stores when an agent joins: the move and its hand-off event,
    written straight to the database (so nothing of it is delivered in this process)."""
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation_id).update(
            status=Conversation.Status.AGENT, last_seq=F("last_seq") + 1
        )
        seq = Conversation.objects.get(pk=conversation_id).last_seq
        message = Message.objects.create(
            conversation_id=conversation_id,
            seq=seq,
            kind=Message.Kind.HANDOFF,
            role=Message.Role.SYSTEM,
            text="Sam joined the chat.",
            metadata={"state": "agent_joined", "agent_name": "Sam"},
        )
    return message_frame(message)
