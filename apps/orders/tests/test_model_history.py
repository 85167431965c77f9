"""The conversation the model sees: earlier turns' tool calls and results, confirmations
with their real arguments, the open card in the session layer, each step's own text,
all compacted under a token budget, oldest first."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from apps.assistant.prompts import unwrap_untrusted
from apps.chat import engine, history, services
from apps.chat.models import Conversation, Message, Turn
from tests import fake_openai as fake
from tests.openai_contract import check_request

from .model_turns import (
    ORDER,
    conversation,
    decide,
    load_store,
    lucas_conversation,
    non_system,
    propose_cancel,
    say,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_earlier_turns_tool_calls_and_results_stay_in_the_conversation(fake_openai):
    conversation_id = await lucas_conversation()
    fake_openai.script(
        fake.tool_calls([("get_order", {"order_id": ORDER})]),
        fake.text("Your order is pending."),
        fake.text("It holds the items I listed."),
    )

    await say(conversation_id, f"status of {ORDER}?")
    await say(conversation_id, "what was in it again?")

    first_step, answered = fake_openai.requests[1], fake_openai.requests[2]
    call_and_result = non_system(first_step)[1:3]
    assert call_and_result[0]["tool_calls"][0]["function"]["name"] == "get_order"
    assert unwrap_untrusted(call_and_result[1]["content"])["order_id"] == ORDER
    # the next turn sees the same call and result, byte for byte, before the reply
    assert non_system(answered) == [
        *non_system(first_step),
        {"role": "assistant", "content": "Your order is pending."},
        {"role": "user", "content": "what was in it again?"},
    ]


async def test_each_tool_call_message_carries_only_its_own_steps_text(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(
        fake.tool_calls([("list_product_types", {})], content="Let me look that up."),
        fake.tool_calls([("search_help_center", {"query": "warranty"})], content="One more check."),
        fake.text("We sell many things, with a one-year warranty."),
    )

    await say(conversation_id, "what do you sell, and is there a warranty?")

    asked = [m for m in fake_openai.requests[2]["messages"] if m.get("tool_calls")]
    assert [m["content"] for m in asked] == ["Let me look that up.", "One more check."]


async def test_a_decision_is_replayed_with_the_real_arguments(fake_openai):
    conversation_id = await lucas_conversation()
    fake_openai.script(
        propose_cancel("ordered by mistake"),
        fake.text("Please confirm on the card."),
        fake.text("Your order is cancelled."),
    )
    await say(conversation_id, f"cancel {ORDER}, I ordered it by mistake")

    await decide(conversation_id, "approve")

    messages = fake_openai.requests[2]["messages"]
    replay = [m for m in messages if m.get("tool_calls")][-1]
    call = replay["tool_calls"][0]
    assert call["function"]["name"] == "cancel_pending_order"
    assert json.loads(call["function"]["arguments"]) == {
        "order_id": ORDER,
        "reason": "ordered by mistake",
    }
    result = unwrap_untrusted(messages[messages.index(replay) + 1]["content"])
    assert result["confirmation"] == "done"


async def test_an_open_card_is_stated_in_the_session_layer_so_a_typed_yes_is_pointed_at_it(
    fake_openai,
):
    conversation_id = await lucas_conversation()
    fake_openai.script(
        propose_cancel(),
        fake.text("Please confirm on the card."),
        fake.text("Please press Confirm on the card."),
    )
    await say(conversation_id, f"cancel {ORDER}")

    await say(conversation_id, "yes")

    before = fake_openai.requests[0]["messages"][-1]
    state = fake_openai.requests[2]["messages"][-1]
    assert before["role"] == "system" and "Open confirmation card: none" in before["content"]
    assert state["role"] == "system"
    assert f"Open confirmation card: Cancel order {ORDER}" in state["content"]
    assert "a typed yes or no does not decide it" in state["content"]


async def test_old_tool_results_are_compacted_first_under_the_token_budget(fake_openai, settings):
    # given a small budget and three turns that each looked something up
    settings.SUPPORTBOT_HISTORY_TOKENS = 1500
    await load_store()  # 50 product types: each result is about 500 tokens
    conversation_id = await conversation()
    for number in range(3):
        fake_openai.script(
            fake.tool_calls([("list_product_types", {})]),
            fake.text(f"Answer {number}."),
        )
    fake_openai.script(fake.text("Final answer."))

    for number in range(3):
        await say(conversation_id, f"question {number}")
    await say(conversation_id, "last question")

    # then the last request fits the budget, keeps every call with its result, and
    # compacted the oldest results first
    last = fake_openai.requests[-1]
    history = non_system(last)
    results = [unwrap_untrusted(m["content"]) for m in history if m["role"] == "tool"]
    assert results, "some tool results stay"
    assert results[0] == {
        "compacted": True,
        "note": "An earlier result, left out here to save space. Call the tool again if you "
        "need it.",
    }
    assert history[-1] == {"role": "user", "content": "last question"}
    assert check_request(last) is None
    conversation_chars = sum(len(json.dumps(m)) for m in history)
    assert conversation_chars // 4 <= 1500


async def test_a_turn_that_stored_no_reply_is_replayed_after_its_question_not_when_it_ended():
    """A turn stopped by a hand-off stores no reply and may finish after later messages;
    its call and result still belong right after the message it answered, so a later
    turn's latest message is the customer's, not an old escalation's result."""
    conversation_id = await conversation()
    layer = await database_sync_to_async(_stopped_turn_then_two_messages)(conversation_id)
    assert [(m["role"], m.get("content")) for m in layer if m["role"] != "tool"] == [
        ("user", "talk to a human"),
        ("assistant", None),
        ("user", "my lamp is broken"),
        ("user", "hello"),
    ]


def _stopped_turn_then_two_messages(conversation_id: Any) -> list[dict[str, Any]]:
    asked, _ = services.do_store_customer_message(
        conversation_id, client_id=uuid.uuid4(), text="talk to a human"
    )
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "escalate_to_human", "arguments": "{}"},
    }
    turn = Turn.objects.create(
        conversation_id=conversation_id,
        status=Turn.Status.STOPPED,
        answers_seq=asked.seq,
        exchange=[
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"escalated": true}'},
        ],
    )
    for text in ("my lamp is broken", "hello"):
        services.do_store_customer_message(conversation_id, client_id=uuid.uuid4(), text=text)
    Turn.objects.filter(pk=turn.pk).update(finished_at=timezone.now())
    return history.conversation_layer(Conversation.objects.get(pk=conversation_id))


@database_sync_to_async
def written_over_reply(conversation_id: uuid.UUID) -> None:
    """A question, its turn's search, a message the customer sent while the reply
    streamed, then the reply: stored in that order, as the engine stores them."""
    question = services.do_store_customer_message(
        conversation_id, client_id=uuid.uuid4(), text="How do I return an item?"
    )[0]
    search = {"name": "search_help_center", "arguments": '{"query": "return"}'}
    call = {"id": "call_1", "type": "function", "function": search}
    turn = Turn.objects.create(
        conversation_id=conversation_id,
        answers_seq=question.seq,
        exchange=[
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"results": []}'},
        ],
    )
    services.do_store_customer_message(conversation_id, client_id=uuid.uuid4(), text="thanks")
    reply = services.do_append_event(
        conversation_id,
        role=Message.Role.ASSISTANT,
        text="Start a return from your order page.",
        metadata={"turn_id": str(turn.pk)},
    )
    Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.COMPLETED, message=reply)


async def test_a_message_sent_while_a_reply_streamed_comes_after_that_reply(fake_openai):
    conversation_id = await conversation()
    await written_over_reply(conversation_id)
    fake_openai.script(fake.text("You're welcome!"))

    await engine.run_turn(conversation_id)

    # as the chat page shows it: the reply (after its search) under its question,
    # and the message written meanwhile last, the one this turn answers
    assert [(m["role"], m.get("content")) for m in non_system(fake_openai.requests[0])] == [
        ("user", "How do I return an item?"),
        ("assistant", None),
        ("tool", '{"results": []}'),
        ("assistant", "Start a return from your order page."),
        ("user", "thanks"),
    ]
