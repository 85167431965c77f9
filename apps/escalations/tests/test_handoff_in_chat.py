"""The hand-off as the customer lives it, through the real customer socket."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from django.core import mail

from apps.chat import engine
from apps.chat.models import Conversation, Message
from apps.escalations import services
from apps.escalations.models import Escalation, EscalationEvent

from .conftest import ChatSocket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def is_handoff(state: str):
    return lambda f: f["type"] == "handoff" and f["state"] == state


def escalations(conversation_id: str) -> list[Escalation]:
    return list(Escalation.objects.filter(conversation_id=conversation_id))


async def asks_for_a_person(socket: ChatSocket, text: str) -> Escalation:
    """The customer asks in their words; once queued and the bot's turn over, their
    one escalation."""
    await socket.say(text)
    await socket.receive_until(is_handoff("queued"))
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    [escalation] = await database_sync_to_async(escalations)(socket.conversation_id)
    return escalation


async def test_asking_for_a_human_queues_one_escalation_with_a_position(chat, make_agent):
    await database_sync_to_async(make_agent)("alex", "Alex")
    socket = await chat()
    await socket.say("I want to talk to a real person please")
    frames = await socket.receive_until(is_handoff("queued"))
    queued = frames[-1]
    assert queued["position"] == 1
    assert "queue" in queued["text"]
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    # no bot text reached the customer after the hand-off
    assert not [f for f in frames if f["type"] == "delta"]
    [escalation] = await database_sync_to_async(escalations)(socket.conversation_id)
    assert escalation.trigger == "customer_request"
    assert escalation.status == "queued"
    # the tasks ran (in-process here): summarised and announced, each once
    await database_sync_to_async(escalation.refresh_from_db)()
    # asking for a person is not the goal; the note says the goal is not stated yet
    assert escalation.summary["goal"] == "Not stated yet: the customer asked for a person"
    assert escalation.summary_source == "extractive"
    assert escalation.notified_at is not None
    kinds = await database_sync_to_async(
        lambda: list(EscalationEvent.objects.values_list("kind", flat=True))
    )()
    assert sorted(kinds) == ["created", "notified", "summarised"] or sorted(kinds) == [
        "created",
        "email_offered",
        "notified",
        "summarised",
    ]
    assert len(mail.outbox) == 1 and mail.outbox[0].bcc == ["alex@example.com"]


async def test_while_queued_the_bot_is_silent_and_the_customer_hears_their_position(chat):
    socket = await chat()
    await asks_for_a_person(socket, "connect me to an agent")
    await socket.say("hello? anyone there?")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "system" and "Still waiting" in f["text"]
    )
    await socket.say("still here")
    echo = await socket.receive_until(lambda f: f["type"] == "message" and f["role"] == "customer")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    stored = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(conversation_id=socket.conversation_id).values_list(
                "role", "text"
            )
        )
    )()
    # both messages are stored for the agent, the bot said nothing, one notice a minute
    assert ("customer", "hello? anyone there?") in stored and ("customer", "still here") in stored
    assert not [text for role, text in stored if role == "assistant"]
    assert sum("Still waiting" in text for _, text in stored) == 1
    assert "number 1" in frames[-1]["text"] and echo


async def test_an_agent_claims_replies_hands_back_and_the_bot_answers_again(chat, make_agent):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    socket = await chat()
    escalation = await asks_for_a_person(socket, "get me a human")

    await database_sync_to_async(services.check_claim)(escalation.pk, agent)
    joined = (await socket.receive_until(is_handoff("agent_joined")))[-1]
    assert joined["agent_name"] == "Alex" and "Alex" in joined["text"]

    await database_sync_to_async(services.do_agent_message)(
        socket.conversation_id, agent, "Hi, I'm Alex. How can I help?"
    )
    reply = (await socket.receive_until(lambda f: f["type"] == "message"))[-1]
    assert reply["role"] == "agent" and reply["agent_name"] == "Alex"
    await socket.say("thanks Alex, that's all")
    await socket.receive_until(lambda f: f["type"] == "message" and f["role"] == "customer")
    await database_sync_to_async(services.do_agent_message)(
        socket.conversation_id, agent, "You're welcome!"
    )
    await socket.receive_until(lambda f: f["type"] == "message" and f["role"] == "agent")

    await database_sync_to_async(services.do_hand_back)(socket.conversation_id, agent)
    returned = (await socket.receive_until(is_handoff("returned_to_bot")))[-1]
    assert "anything else" in returned["text"]  # nothing is waiting for an answer
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    # the messages the agent replied to are not answered again by the bot...
    assert not await database_sync_to_async(
        Message.objects.filter(conversation_id=socket.conversation_id, role="assistant").exists
    )()
    # ...but a new one is
    await socket.say("hello")
    answer = await socket.reply()
    assert answer["text"].startswith("Hi there!")
    await database_sync_to_async(escalation.refresh_from_db)()
    assert escalation.status == "returned"


async def test_after_a_hand_back_the_bot_answers_the_question_the_agent_left_open(chat, make_agent):
    # given a customer who asked a question after the agent's last reply
    from apps.knowledge.services import do_load_help_center

    await database_sync_to_async(do_load_help_center)()
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    socket = await chat()
    escalation = await asks_for_a_person(socket, "get me a human")
    await database_sync_to_async(services.check_claim)(escalation.pk, agent)
    await socket.receive_until(is_handoff("agent_joined"))
    await database_sync_to_async(services.do_agent_message)(
        socket.conversation_id, agent, "Hi, I'm Alex. How can I help?"
    )
    await socket.receive_until(lambda f: f["type"] == "message" and f["role"] == "agent")
    await socket.say("How long do I have to return an item?")
    await socket.receive_until(lambda f: f["type"] == "message" and f["role"] == "customer")

    # when the agent hands back without answering it
    await database_sync_to_async(services.do_hand_back)(socket.conversation_id, agent)
    returned = (await socket.receive_until(is_handoff("returned_to_bot")))[-1]

    # then the hand-back does not ask for "anything else", and the bot answers the question
    assert "anything else" not in returned["text"]
    answer = await socket.reply()
    assert answer["role"] == "assistant"
    assert "return" in answer["text"].lower()  # an answer about returns, not "anything else?"
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    answers = await database_sync_to_async(
        Message.objects.filter(conversation_id=socket.conversation_id, role="assistant").count
    )()
    assert answers == 1  # the greeting the agent answered is not answered again


async def test_an_agent_closes_the_conversation_and_the_customer_sees_it(chat, make_agent):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    socket = await chat()
    escalation = await asks_for_a_person(socket, "human please")
    await database_sync_to_async(services.check_claim)(escalation.pk, agent)
    await database_sync_to_async(services.do_close)(socket.conversation_id, agent)
    closed = (await socket.receive_until(is_handoff("closed")))[-1]
    assert closed["text"] == "The support team closed this conversation."
    await database_sync_to_async(escalation.refresh_from_db)()
    assert escalation.status == "closed"


async def test_a_customer_ending_a_queued_chat_closes_its_escalation(chat):
    socket = await chat()
    escalation = await asks_for_a_person(socket, "I need a representative")
    await socket.send({"type": "end"})
    await socket.receive_until(is_handoff("closed"))
    await database_sync_to_async(escalation.refresh_from_db)()
    assert escalation.status == "closed"


async def test_handoff_frames_survive_a_reload(chat, make_agent):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    socket = await chat()
    escalation = await asks_for_a_person(socket, "talk to a human")
    await database_sync_to_async(services.check_claim)(escalation.pk, agent)
    await database_sync_to_async(services.do_agent_message)(socket.conversation_id, agent, "Hi!")
    await database_sync_to_async(services.do_hand_back)(socket.conversation_id, agent)
    # a new tab (a reload) replays everything from the start
    again = await chat((socket.conversation_id, socket.token))
    await again.send({"type": "resume", "last_seq": 0})
    frames = await again.receive_until(lambda f: f["type"] == "resumed")
    states = [f["state"] for f in frames if f["type"] == "handoff"]
    assert states == ["queued", "agent_joined", "returned_to_bot"]
    assert [f["text"] for f in frames if f.get("role") == "agent"] == ["Hi!"]
    status = await database_sync_to_async(
        lambda: Conversation.objects.get(pk=socket.conversation_id).status
    )()
    assert status == "bot"
