"""Each trigger creates one escalation with its reason, priority, trigger and identity."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from apps.assistant.local.skills import LocalState, ToolOutput, decide
from apps.assistant.models import OperatorPolicy
from apps.chat import engine
from apps.chat.models import Conversation, Message
from apps.escalations.models import Escalation, HandoffOffer
from tests import fake_openai as fake

pytestmark = [pytest.mark.django_db(transaction=True)]

NOTE = {
    "goal": "Get help with an order",
    "tried": ["looked up the order"],
    "identity": "not verified",
    "sentiment": "negative",
    "next_step": "Check the order status.",
}


def the_escalation(conversation_id: str) -> Escalation:
    [escalation] = list(Escalation.objects.filter(conversation_id=conversation_id))
    return escalation


def escalate_to_human(
    reason: str, *, priority: str = "normal", summary: str = ""
) -> fake.Completion:
    """The model hands the conversation to a person."""
    arguments = {"reason": reason, "priority": priority, "summary": summary}
    return fake.tool_calls([("escalate_to_human", arguments)])


def summary_or_text(text: str):
    """The summary task's structured call gets the note; chat calls get `text`."""
    return fake.dynamic(
        lambda body: fake.json_output(NOTE) if body.get("response_format") else text
    )


@pytest.mark.asyncio
async def test_the_model_escalating_records_its_reason_priority_and_note(chat, fake_openai):
    fake_openai.script(
        escalate_to_human("Needs a refund exception", priority="high", summary="S"),
        summary_or_text("unused"),
        summary_or_text("I have connected you with a person."),
    )
    socket = await chat()
    await socket.say("my parcel arrived broken and I want my money back today")
    frames = await socket.receive_until(lambda f: f["type"] == "handoff")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    escalation = await database_sync_to_async(the_escalation)(socket.conversation_id)
    assert escalation.trigger == "model"
    assert escalation.priority == Escalation.Priority.HIGH
    assert escalation.reason == "Needs a refund exception" and escalation.model_note == "S"
    assert escalation.summary == NOTE and escalation.summary_source == "model"
    assert frames[-1]["state"] == "queued"
    # the bot's words after its own hand-off never reach the customer
    later = [f for f in socket.frames if f["type"] == "delta"]
    assert not later


@pytest.mark.asyncio
async def test_verification_failing_too_often_escalates_as_verification(chat, fake_openai):
    fake_openai.script(
        fake.tool_calls(
            [
                (
                    "verify_customer",
                    {"email": "x@y.z", "first_name": None, "last_name": None, "zip": "00000"},
                )
            ]
        ),
        escalate_to_human("Cannot verify"),
        summary_or_text("unused"),
        summary_or_text("unused"),
    )
    socket = await chat()
    await database_sync_to_async(
        lambda: Conversation.objects.filter(pk=socket.conversation_id).update(
            verification_failures=5
        )
    )()
    await socket.say("my email is x@y.z and zip 00000")
    await socket.receive_until(lambda f: f["type"] == "handoff")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    escalation = await database_sync_to_async(the_escalation)(socket.conversation_id)
    assert escalation.trigger == "verification"
    tool_result = fake_openai.requests[1]["messages"][-2]["content"]
    assert "Too many failed verification attempts" in tool_result


@pytest.mark.django_db
def test_the_local_assistant_escalates_when_verification_reports_no_attempts_left():
    state = LocalState(
        user_text="john smith 12345",
        user_texts=["where is my order", "john smith 12345"],
        assistant_texts=["Please give your name and zip."],
        tool_outputs=[
            ToolOutput(
                "verify_customer",
                {"zip": "12345"},
                {"verified": False, "error": "No customer matches.", "attempts_left": 0},
            )
        ],
        tool_names={"verify_customer", "escalate_to_human"},
        context={"verified": False},
    )
    reply = decide(state)
    assert [name for name, _ in reply.tool_calls] == ["escalate_to_human"]
    assert "verification" in reply.tool_calls[0][1]["reason"]


@pytest.mark.asyncio
async def test_repeated_provider_failures_hand_the_conversation_to_a_person(
    chat, fake_openai, settings
):
    settings.SUPPORTBOT_ESCALATE_AFTER_FAILURES = 2
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.script(fake.error(500), fake.error(500), fake.json_output(NOTE))
    socket = await chat()
    await socket.say("where is my order?")
    first = (await socket.receive_until(lambda f: f["type"] == "error"))[-1]
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    assert not await database_sync_to_async(Escalation.objects.exists)()  # one failure: not yet
    await socket.send({"type": "retry"})
    await socket.receive_until(lambda f: f["type"] == "handoff" and f["state"] == "queued")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    escalation = await database_sync_to_async(the_escalation)(socket.conversation_id)
    assert escalation.trigger == "provider_failure"
    assert escalation.priority == Escalation.Priority.HIGH
    assert first["code"] == "provider_unavailable"


@pytest.mark.asyncio
async def test_a_conversation_cap_offers_a_person_and_yes_accepts(chat, settings):
    settings.SUPPORTBOT_MAX_TURNS = 1
    socket = await chat()
    await socket.ask("hello")
    capped = await socket.ask("and another question")
    assert "connect you with a person" in capped["text"]
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    await socket.say("yes please")
    await socket.receive_until(lambda f: f["type"] == "handoff" and f["state"] == "queued")
    escalation = await database_sync_to_async(the_escalation)(socket.conversation_id)
    assert escalation.trigger == "limit"


def offer_a_person_when_frustrated() -> None:
    OperatorPolicy.objects.create(
        version=1, handoff_rule=OperatorPolicy.HandoffRule.ALSO_FRUSTRATED
    )


@pytest.mark.asyncio
async def test_a_frustrated_customer_is_helped_not_offered_a_person_by_default(chat):
    socket = await chat()
    await socket.ask("This is ridiculous, my order STILL hasn't arrived!!")
    await socket.ask("Seriously? This is the worst service, I'm fed up.")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))

    assert not await database_sync_to_async(HandoffOffer.objects.exists)()
    assert not await database_sync_to_async(Escalation.objects.exists)()
    status = await database_sync_to_async(
        lambda: Conversation.objects.get(pk=socket.conversation_id).status
    )()
    assert status == Conversation.Status.BOT


@pytest.mark.asyncio
async def test_frustration_offers_a_person_once_and_yes_accepts(chat):
    # given an operator who wants frustrated customers offered a person
    await database_sync_to_async(offer_a_person_when_frustrated)()
    socket = await chat()
    await socket.say("This is ridiculous, my order STILL hasn't arrived!!")
    offer = (
        await socket.receive_until(
            lambda f: (
                f["type"] == "message" and f["role"] == "system" and "frustrating" in f["text"]
            )
        )
    )[-1]
    await socket.reply()  # the bot still answers the message itself
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    await socket.say("yes")
    await socket.receive_until(lambda f: f["type"] == "handoff" and f["state"] == "queued")
    escalation = await database_sync_to_async(the_escalation)(socket.conversation_id)
    assert escalation.trigger == "frustration"
    assert offer["seq"] > 0


@pytest.mark.asyncio
async def test_a_calm_customer_is_not_offered_a_person_and_an_unanswered_offer_lapses(chat):
    await database_sync_to_async(offer_a_person_when_frustrated)()
    socket = await chat()
    await socket.ask("hello")
    await socket.ask("where is my order?")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    assert not await database_sync_to_async(HandoffOffer.objects.exists)()
    await socket.ask("This is awful, terrible service")
    await socket.ask("what are your shipping times?")  # moves on instead of answering
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    offers = await database_sync_to_async(
        lambda: list(HandoffOffer.objects.values_list("status", flat=True))
    )()
    assert offers == ["lapsed"]
    assert not await database_sync_to_async(Escalation.objects.exists)()
    notices = await database_sync_to_async(
        lambda: Message.objects.filter(metadata__notice="handoff_offer").count()
    )()
    assert notices == 1
