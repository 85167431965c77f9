"""Typing indicators both ways and read receipts, between the customer's socket and
the agent console's, through the real ASGI app and channel layer."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from apps.chat.models import Conversation
from apps.escalations import services

from .conftest import staff_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def with_agent(chat, make_agent, *, claim: bool = True):
    alex = await database_sync_to_async(make_agent)("alex", "Alex")
    customer = await chat()
    await customer.say("I need a representative")
    await customer.receive_until(lambda f: f["type"] == "handoff")
    if claim:
        escalation = await database_sync_to_async(services.open_escalation)(
            customer.conversation_id
        )
        await database_sync_to_async(services.check_claim)(escalation.pk, alex)
        await customer.receive_until(
            lambda f: f["type"] == "handoff" and f["state"] == "agent_joined"
        )
    connected, staff = await staff_socket(
        f"/ws/agent/conversations/{customer.conversation_id}/", alex
    )
    assert connected
    assert (await staff.receive())["type"] == "snapshot"
    await drain(customer)
    await drain(staff)
    return alex, customer, staff


async def nothing_more(socket, timeout: float = 0.3) -> bool:
    return await socket.communicator.receive_nothing(timeout=timeout)


async def drain(socket) -> None:
    """Read what the hand-off sent until the socket is quiet."""
    while not await nothing_more(socket, 0.3):
        await socket.receive()


async def test_the_agent_sees_the_customer_typing_debounced_and_ended_by_the_message(
    chat, make_agent
):
    _, customer, staff = await with_agent(chat, make_agent)
    # when: a chatty client sends "typing" three times in a row
    for _ in range(3):
        await customer.send({"type": "typing", "typing": True})
    # then: the agent hears it once
    frame = await staff.receive()
    assert frame == {"type": "chat", "frame": {"type": "typing", "who": "customer", "typing": True}}
    assert await nothing_more(staff)
    # the customer's own socket never hears its typing echoed
    assert await nothing_more(customer)
    # sending the message ends it, before the message itself
    await customer.say("my lamp is broken")
    stop = await staff.receive()
    assert stop["frame"] == {"type": "typing", "who": "customer", "typing": False}
    message = await staff.receive()
    assert message["frame"]["text"] == "my lamp is broken"
    await staff.close()


async def test_the_customer_sees_the_agent_who_has_the_chat_typing(chat, make_agent):
    _, customer, staff = await with_agent(chat, make_agent)
    await staff.send({"type": "typing", "typing": True})
    await staff.send({"type": "typing", "typing": True})  # within 2 s: not repeated
    frame = await customer.receive()
    assert frame == {"type": "typing", "who": "agent", "agent_name": "Alex", "typing": True}
    assert await nothing_more(customer)
    await staff.send({"type": "typing", "typing": False})
    assert (await customer.receive())["typing"] is False
    assert await nothing_more(staff)  # the agent's own typing is not echoed back
    await staff.close()


async def test_an_agent_who_does_not_have_the_chat_cannot_type_to_the_customer(chat, make_agent):
    _, customer, staff = await with_agent(chat, make_agent, claim=False)
    await staff.send({"type": "typing", "typing": True})
    assert await nothing_more(customer, 0.5)
    await staff.close()


async def test_the_agent_sees_when_the_customer_has_read_up_to_a_seq(chat, make_agent):
    alex, customer, staff = await with_agent(chat, make_agent)
    reply = await database_sync_to_async(services.do_agent_message)(
        customer.conversation_id, alex, "Hi, I'm Alex."
    )
    await customer.receive_until(lambda f: f["type"] == "message" and f["role"] == "agent")
    await staff.receive_until(lambda f: f["frame"].get("role") == "agent")
    # when: the customer's page reports it has shown the reply
    await customer.send({"type": "read", "seq": reply.seq})
    # then: the agent is told, and it is stored
    frame = await staff.receive()
    assert frame["frame"]["type"] == "read" and frame["frame"]["seq"] == reply.seq
    conversation = await database_sync_to_async(Conversation.objects.get)(
        pk=customer.conversation_id
    )
    assert conversation.customer_read_seq == reply.seq
    # an older or a future seq changes nothing and tells no one
    await customer.send({"type": "read", "seq": reply.seq - 1})
    await customer.send({"type": "read", "seq": reply.seq + 50})
    assert await nothing_more(staff)
    await conversation.arefresh_from_db()
    assert conversation.customer_read_seq == reply.seq
    await staff.close()


async def test_a_page_opened_mid_hand_off_learns_who_has_the_chat(chat, make_agent):
    _, customer, staff = await with_agent(chat, make_agent)
    again = await chat((customer.conversation_id, customer.token), skip_session=False)
    session = await again.receive()
    assert session["status"] == "agent" and session["agent_name"] == "Alex"
    assert session["assistant_name"]
    await staff.close()


async def test_typing_and_read_frames_are_validated(chat):
    customer = await chat()
    await customer.send({"type": "typing", "typing": "yes"})
    assert (await customer.receive())["code"] == "invalid_frame"
    await customer.send({"type": "read", "seq": -1})
    assert (await customer.receive())["code"] == "invalid_frame"
    await asyncio.sleep(0)
