"""Single owner: claims are atomic, capped per agent, and stop a streaming bot turn."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from apps.chat import engine
from apps.chat.models import Conversation, Message, Turn
from apps.escalations import services
from apps.escalations.models import AgentPresence, Escalation
from apps.escalations.services import EscalationError
from tests import fake_openai as fake

from .conftest import ChatSocket, queued

pytestmark = pytest.mark.django_db(transaction=True)

NOTE = {
    "goal": "Learn about shipping",
    "tried": [],
    "identity": "not verified",
    "sentiment": "neutral",
    "next_step": "Answer the question.",
}


async def streaming_a_long_reply(
    chat: Any, fake_openai: Any, question: str, *, words: int = 200
) -> tuple[ChatSocket, str]:
    """A customer who asked `question`, with the bot's long reply streaming (and the
    hand-over note scripted next); the socket and the whole reply."""
    long_reply = " ".join(f"word{i}" for i in range(words))
    fake_openai.script(fake.text(long_reply, chunk_size=8, delay=0.02), fake.json_output(NOTE))
    socket = await chat()
    await socket.say(question)
    await socket.receive_until(lambda f: f["type"] == "delta")
    return socket, long_reply


@database_sync_to_async
def stored(conversation_id: str) -> tuple[list[Turn], bool]:
    """The conversation's turns, and whether an assistant reply was stored."""
    turns = list(Turn.objects.filter(conversation_id=conversation_id))
    replied = Message.objects.filter(conversation_id=conversation_id, role="assistant").exists()
    return turns, replied


def test_an_escalation_is_created_once_while_it_is_open():
    escalation = queued("help")
    again, created = services.do_escalate(
        escalation.conversation_id, trigger="model", reason="again"
    )
    assert not created and again is not None and again.pk == escalation.pk
    assert Escalation.objects.count() == 1
    assert Message.objects.filter(kind="handoff").count() == 1


def test_a_claim_announces_the_agent_by_first_name_and_a_second_claim_is_refused(make_agent):
    alex = make_agent("alex", "Alex")
    sam = make_agent("sam", "Sam")
    escalation = queued("help")
    services.check_claim(escalation.pk, alex)
    with pytest.raises(EscalationError) as refused:
        services.check_claim(escalation.pk, sam)
    assert refused.value.code == "taken" and "Alex" in refused.value.message
    joined = Message.objects.get(kind="handoff", metadata__state="agent_joined")
    assert joined.metadata["agent_name"] == "Alex" and joined.author_id == alex.pk
    assert Conversation.objects.get(pk=escalation.conversation_id).status == "agent"


def test_an_agent_cannot_hold_more_conversations_than_their_cap(make_agent, settings):
    settings.SUPPORTBOT_AGENT_MAX_CONVERSATIONS = 2
    alex = make_agent("alex", "Alex")
    first, second, third = (queued(f"q{i}") for i in range(3))
    services.check_claim(first.pk, alex)
    services.check_claim(second.pk, alex)
    with pytest.raises(EscalationError) as refused:
        services.check_claim(third.pk, alex)
    assert refused.value.code == "at_capacity"
    assert Escalation.objects.get(pk=third.pk).status == "queued"
    # a per-agent cap set in the admin wins over the site default
    AgentPresence.objects.filter(user=alex).update(max_conversations=3)
    services.check_claim(third.pk, alex)


def test_only_the_agent_holding_a_conversation_may_write_in_it(make_agent):
    alex = make_agent("alex", "Alex")
    sam = make_agent("sam", "Sam")
    escalation = queued("help")
    with pytest.raises(EscalationError):
        services.do_agent_message(escalation.conversation_id, alex, "before claiming")
    services.check_claim(escalation.pk, alex)
    with pytest.raises(EscalationError) as refused:
        services.do_agent_message(escalation.conversation_id, sam, "not mine")
    assert refused.value.code == "not_yours"
    with pytest.raises(EscalationError):
        services.do_hand_back(escalation.conversation_id, sam)
    assert not Message.objects.filter(role="agent").exists()


def test_two_agents_claiming_at_once_on_postgresql_one_wins(postgres_db, make_agent):
    agents = [make_agent("alex", "Alex"), make_agent("sam", "Sam")]
    for round_number in range(5):
        escalation = queued(f"race {round_number}")
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def claim(agent, escalation_id=escalation.pk, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait()
                services.check_claim(escalation_id, agent)
                outcomes.append("won")
            except EscalationError as exc:
                outcomes.append(exc.code)
            finally:
                connection.close()

        threads = [threading.Thread(target=claim, args=(agent,)) for agent in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        assert sorted(outcomes) == ["taken", "won"]
        assert (
            Message.objects.filter(
                conversation_id=escalation.conversation_id,
                kind="handoff",
                metadata__state="agent_joined",
            ).count()
            == 1
        )
        # hand it back so both agents stay under their cap for the next round
        winner = Escalation.objects.get(pk=escalation.pk).claimed_by
        services.do_hand_back(escalation.conversation_id, winner)


async def test_no_bot_text_reaches_the_customer_after_an_agent_takes_over_mid_stream(
    chat, fake_openai, make_agent
):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    socket, long_reply = await streaming_a_long_reply(
        chat, fake_openai, "tell me everything about shipping"
    )

    # when an agent takes over while the turn streams
    await database_sync_to_async(services.check_take_over)(socket.conversation_id, agent)
    frames = await socket.receive_until(lambda f: f["type"] == "turn" and f["state"] == "ended")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))

    # then nothing from the bot follows the agent_joined frame, and no reply is stored
    joined_at = next(
        i for i, f in enumerate(frames) if f["type"] == "handoff" and f["state"] == "agent_joined"
    )
    after = frames[joined_at + 1 :]
    assert not [f for f in after if f["type"] == "delta" or f.get("role") == "assistant"]
    streamed = "".join(f["text"] for f in socket.frames if f["type"] == "delta")
    assert 0 < len(streamed) < len(long_reply)
    turns, replied = await stored(socket.conversation_id)
    assert [t.status for t in turns] == ["stopped"]
    assert not replied
    # and the tokens it spent are priced all the same, on the turn and the conversation
    [turn] = turns
    assert turn.prompt_tokens > 0 and turn.cost_usd > 0
    assert turn.model == "gpt-4o-mini"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=socket.conversation_id)
    assert conversation.cost_usd == turn.cost_usd


async def test_no_bot_text_follows_a_hand_off_that_happens_mid_stream(chat, fake_openai):
    socket, _ = await streaming_a_long_reply(chat, fake_openai, "tell me everything about returns")
    await database_sync_to_async(services.do_escalate)(
        socket.conversation_id, trigger="frustration", reason="upset"
    )
    frames = await socket.receive_until(lambda f: f["type"] == "turn" and f["state"] == "ended")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    queued_at = next(i for i, f in enumerate(frames) if f["type"] == "handoff")
    assert not [f for f in frames[queued_at + 1 :] if f["type"] == "delta"]
    _, replied = await stored(socket.conversation_id)
    assert not replied


async def test_a_reply_begun_before_a_take_over_is_not_stored_after_the_hand_back(
    chat, fake_openai, make_agent
):
    # given a bot turn still being written when an agent takes over and hands back
    agent = await database_sync_to_async(make_agent)("sam", "Sam")
    socket, _ = await streaming_a_long_reply(
        chat, fake_openai, "tell me everything about exchanges", words=120
    )

    # when the agent takes over and at once hands the conversation back to the bot
    await database_sync_to_async(services.check_take_over)(socket.conversation_id, agent)
    await database_sync_to_async(services.do_hand_back)(socket.conversation_id, agent)
    await engine.wait_idle(uuid.UUID(socket.conversation_id))

    # then the old turn stops: its text, written for before the agent, is never stored
    [turn], replied = await stored(socket.conversation_id)
    assert turn.status == "stopped"
    assert not replied
