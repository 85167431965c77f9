"""Order changes end to end through the customer socket: verify, look up, propose a
cancel, confirm on the card, and hear the outcome.

With the real `openai` client against the scripted fake OpenAI server, and again
with the local assistant. The store is the bundled demo dataset; Lucas Martin's
pending order #W9318778 was paid with his gift card, so ACTIONS.md says the
cancel refunds it onto that gift card at once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from apps.assistant.prompts import unwrap_untrusted
from apps.chat.models import PendingAction
from apps.chat.tests import conftest as chat_fixtures
from apps.chat.tests.conftest import ChatSocket
from apps.orders.models import Order, OrderAuditEvent, PaymentMethod
from tests import fake_openai as fake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# The customer socket fixtures of the chat app's tests.
chat = chat_fixtures.chat
fast_local = chat_fixtures.fast_local

LUCAS = {"email": "lucas.martin5733@example.com", "zip": "20517"}
ORDER = "#W9318778"  # pending, $3,585.54, paid with gift_card_7728021 (balance $68.00)
GIFT_CARD = "gift_card_7728021"
TOTAL_CENTS = 358554

SOFIA = {"email": "sofia.rossi2645@example.com", "zip": "78784"}
SOFIA_ORDER = "#W5918442"  # pending, $1,463.70, paid with credit_card_5051208 (ending 3357)
SOFIA_CARD = "credit_card_5051208"


@pytest.fixture
async def store() -> None:
    await database_sync_to_async(call_command)("load_demo_store", verbosity=0)


def order_state(order_id: str) -> dict[str, Any]:
    order = Order.objects.get(order_id=order_id)
    return {
        "status": order.status,
        "cancel_reason": order.cancel_reason,
        "transactions": [
            (t.kind, t.amount_cents, t.payment_method_id)
            for t in order.transactions.order_by("position")
        ],
    }


def balance(method_id: str) -> int:
    return int(PaymentMethod.objects.get(id=method_id).balance_cents or 0)


def verify_and_lookup(*, reason: str = "no longer needed") -> list[fake.Planned]:
    """The scripted model: verify, look the order up, propose the cancel, say so."""
    return [
        fake.tool_calls([("verify_customer", {**LUCAS, "first_name": None, "last_name": None})]),
        fake.tool_calls([("get_order", {"order_id": ORDER})]),
        fake.tool_calls([("cancel_pending_order", {"order_id": ORDER, "reason": reason})]),
        fake.text("I've prepared the cancellation. Please review it and confirm on the card."),
    ]


async def ask_to_cancel(socket: ChatSocket) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    await socket.say(f"Hi, I'm {LUCAS['email']}, zip {LUCAS['zip']}. Please cancel {ORDER}.")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    [card] = [f for f in frames if f["type"] == "confirm_request"]
    return frames, card


def tool_results(request: dict[str, Any]) -> list[Any]:
    return [unwrap_untrusted(m["content"]) for m in request["messages"] if m["role"] == "tool"]


def tool_names(request: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] for t in request.get("tools") or []}


# --- The real openai client against the fake server ---------------------------------


async def test_the_model_verifies_looks_up_proposes_a_cancel_and_the_customer_confirms(
    chat, fake_openai, store
):
    fake_openai.script(*verify_and_lookup())
    socket = await chat()
    before = await database_sync_to_async(order_state)(ORDER)

    # when the model proposes the cancel
    frames, card = await ask_to_cancel(socket)

    # then the customer sees what happens, and a plain summary on a card
    statuses = [f["text"] for f in frames if f["type"] == "status"]
    assert statuses == [
        "Checking your details…",
        f"Looking up order {ORDER}…",
        f"Preparing to cancel {ORDER}…",
    ]
    assert card["summary"] == (
        f"Cancel order {ORDER} ($3,585.54), reason: no longer needed. Refund: $3,585.54 back "
        f"on your gift card ({GIFT_CARD}, balance $68.00) right away."
    )
    assert card["details"]["order_id"] == ORDER
    assert frames[-1]["text"].startswith("I've prepared the cancellation")
    # and nothing has changed yet
    assert await database_sync_to_async(order_state)(ORDER) == before
    assert await database_sync_to_async(balance)(GIFT_CARD) == 6800
    # the model saw only public tools and verification before it verified, then personal ones
    first, second, _, fourth = fake_openai.requests
    assert "get_order" not in tool_names(first) and "verify_customer" in tool_names(first)
    assert {"get_order", "cancel_pending_order"} <= tool_names(second)
    assert "verify_customer" not in tool_names(second)
    assert "verified as Lucas Martin" in second["messages"][2]["content"]
    assert tool_results(fourth)[-1]["confirmation"] == "requested"
    assert not any("confirm" in name for name in tool_names(fourth))

    # when the customer confirms on the card
    fake_openai.script(
        fake.text("Your order is cancelled and $3,585.54 is back on your gift card.")
    )
    await socket.send({"type": "confirm", "action_id": card["action_id"], "decision": "approve"})
    after = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )

    # then it ran once, with the refund ACTIONS.md prescribes
    [result] = [f for f in after if f["type"] == "confirm_result"]
    assert result["status"] == "done" and result["action_id"] == card["action_id"]
    # the card's outcome says what happened, not the summary the card already shows
    assert result["text"] == f"Done. Order {ORDER} is cancelled; refunds issued."
    state = await database_sync_to_async(order_state)(ORDER)
    assert state["status"] == "cancelled" and state["cancel_reason"] == "no longer needed"
    assert state["transactions"] == [
        ("payment", TOTAL_CENTS, GIFT_CARD),
        ("refund", TOTAL_CENTS, GIFT_CARD),
    ]
    assert await database_sync_to_async(balance)(GIFT_CARD) == 6800 + TOTAL_CENTS
    audit = await database_sync_to_async(
        lambda: list(OrderAuditEvent.objects.filter(order_id=ORDER).values())
    )()
    assert [(a["action"], a["outcome"], a["actor_kind"]) for a in audit] == [
        ("cancel_pending_order", "done", "customer")
    ]
    assert str(audit[0]["conversation_id"]) == socket.conversation_id
    # and the next model call was told the outcome, as a tool result, and explained it
    # (with the change's real arguments), right before the session state
    told = fake_openai.last_request["messages"]
    assert told[-1]["role"] == "system" and "Open confirmation card: none" in told[-1]["content"]
    assert told[-2]["role"] == "tool"
    outcome = unwrap_untrusted(told[-2]["content"])
    assert outcome["confirmation"] == "done" and outcome["outcome"] == result["text"]
    replayed = told[-3]["tool_calls"][0]["function"]
    assert replayed["name"] == "cancel_pending_order"
    assert json.loads(replayed["arguments"]) == {"order_id": ORDER, "reason": "no longer needed"}
    assert after[-1]["text"] == "Your order is cancelled and $3,585.54 is back on your gift card."


async def test_a_declined_card_changes_nothing_and_the_model_hears_it(chat, fake_openai, store):
    fake_openai.script(*verify_and_lookup(reason="ordered by mistake"))
    socket = await chat()
    _, card = await ask_to_cancel(socket)
    before = await database_sync_to_async(order_state)(ORDER)

    fake_openai.script(fake.text("No problem, I've left your order as it was."))
    await socket.send({"type": "confirm", "action_id": card["action_id"], "decision": "decline"})
    after = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )

    [result] = [f for f in after if f["type"] == "confirm_result"]
    assert result["status"] == "declined"
    assert await database_sync_to_async(order_state)(ORDER) == before
    assert before["status"] == "pending"
    assert await database_sync_to_async(balance)(GIFT_CARD) == 6800
    told = tool_results(fake_openai.last_request)[-1]
    assert told["confirmation"] == "declined"
    # a later approve of the same card is refused
    await socket.send({"type": "confirm", "action_id": card["action_id"], "decision": "approve"})
    error = (await socket.receive_until(lambda f: f["type"] == "error"))[-1]
    assert error["code"] == "already_decided"
    assert await database_sync_to_async(order_state)(ORDER) == before


async def test_a_double_confirm_from_two_tabs_executes_once(chat, fake_openai, store):
    fake_openai.script(*verify_and_lookup())
    socket = await chat()
    _, card = await ask_to_cancel(socket)
    second_tab = await chat((socket.conversation_id, socket.token))

    fake_openai.script(fake.text("Your order is cancelled."))
    confirm = {"type": "confirm", "action_id": card["action_id"], "decision": "approve"}
    await asyncio.gather(socket.send(confirm), second_tab.send(confirm))
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    other = await second_tab.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )

    # then one confirm ran it and the other was told it was already answered
    errors = [f for f in frames + other if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["already_decided"]
    assert [f["status"] for f in frames if f["type"] == "confirm_result"] == ["done"]
    state = await database_sync_to_async(order_state)(ORDER)
    assert [kind for kind, _, _ in state["transactions"]] == ["payment", "refund"]
    assert await database_sync_to_async(balance)(GIFT_CARD) == 6800 + TOTAL_CENTS
    # and the outcome was told to the model once
    assert fake_openai.remaining == 0
    assert len(fake_openai.requests) == 5


async def test_the_model_cannot_confirm_its_own_proposals(chat, fake_openai, store):
    def confirm_everything(body: dict[str, Any]) -> fake.Planned:
        # a model that tries to approve the card it just created
        ids = [r.get("action_id") for r in tool_results(body) if isinstance(r, dict)]
        action_id = next(i for i in reversed(ids) if i)
        return fake.tool_calls(
            [
                ("confirm", {"action_id": action_id, "decision": "approve"}),
                ("confirm_action", {"action_id": action_id}),
                (
                    "cancel_pending_order",
                    {"order_id": ORDER, "reason": "no longer needed", "confirmed": True},
                ),
            ]
        )

    fake_openai.script(
        fake.tool_calls([("verify_customer", {**LUCAS, "first_name": None, "last_name": None})]),
        fake.tool_calls(
            [("cancel_pending_order", {"order_id": ORDER, "reason": "ordered by mistake"})]
        ),
        fake.tool_calls(
            [("cancel_pending_order", {"order_id": ORDER, "reason": "no longer needed"})]
        ),
        fake.dynamic(confirm_everything),
        fake.text("Done! Your order is cancelled."),  # a lie the model tells
    )
    socket = await chat()
    await socket.say(f"{LUCAS['email']} {LUCAS['zip']} cancel {ORDER}")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )

    # then calling a change tool twice made two cards (the newer replaced the older) ...
    cards = [f for f in frames if f["type"] == "confirm_request"]
    assert len(cards) == 2
    actions = await database_sync_to_async(
        lambda: list(PendingAction.objects.order_by("created_at").values_list("status", flat=True))
    )()
    assert actions == ["expired", "pending"]
    # ... no confirm tool exists, and the attempts were answered like unknown tools
    assert all(not {"confirm", "confirm_action"} & tool_names(r) for r in fake_openai.requests)
    answers = tool_results(fake_openai.requests[-1])[-3:]
    assert answers[0] == {"error": "unknown tool confirm"}
    assert answers[1] == {"error": "unknown tool confirm_action"}
    assert "confirmed" in answers[2]["error"] and "Extra inputs" in answers[2]["error"]
    # and the order is untouched
    state = await database_sync_to_async(order_state)(ORDER)
    assert state["status"] == "pending" and len(state["transactions"]) == 1


# --- The local assistant, the same flow -----------------------------------------------


async def test_the_local_assistant_verifies_looks_up_cancels_and_explains(chat, store):
    socket = await chat()

    await socket.say(f"where is my order {SOFIA_ORDER}")
    reply = await socket.reply()
    assert "email address" in reply["text"] and "zip code" in reply["text"]
    assert reply["offline"] is True

    await socket.say(f"{SOFIA['email']} and my zip is {SOFIA['zip']}")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    statuses = [f["text"] for f in frames if f["type"] == "status"]
    assert statuses == ["Checking your details…", f"Looking up order {SOFIA_ORDER}…"]
    assert frames[-1]["text"].startswith(f"Order {SOFIA_ORDER} is pending.")
    assert "Perfume" in frames[-1]["text"] and "Action Camera" in frames[-1]["text"]

    await socket.say("cancel it")
    reply = await socket.reply()
    assert "no longer needed, or was it ordered by mistake?" in reply["text"]

    await socket.say("no longer needed")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    [card] = [f for f in frames if f["type"] == "confirm_request"]
    assert card["summary"] == (
        f"Cancel order {SOFIA_ORDER} ($1,463.70), reason: no longer needed. Refund: $1,463.70 "
        "to your Mastercard card ending in 3357 (5 to 7 business days)."
    )
    assert "press Confirm on the card" in frames[-1]["text"]
    state = await database_sync_to_async(order_state)(SOFIA_ORDER)
    assert state["status"] == "pending" and len(state["transactions"]) == 1

    await socket.send({"type": "confirm", "action_id": card["action_id"], "decision": "approve"})
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    [result] = [f for f in frames if f["type"] == "confirm_result"]
    assert result["status"] == "done"
    # the card shows the change and its outcome; the reply does not say them again
    assert result["text"] == f"Done. Order {SOFIA_ORDER} is cancelled; refunds issued."
    assert frames[-1]["text"] == "All set. Is there anything else I can help with?"
    assert card["summary"] not in frames[-1]["text"]
    state = await database_sync_to_async(order_state)(SOFIA_ORDER)
    assert state == {
        "status": "cancelled",
        "cancel_reason": "no longer needed",
        "transactions": [("payment", 146370, SOFIA_CARD), ("refund", 146370, SOFIA_CARD)],
    }


async def test_the_local_assistant_leaves_the_order_alone_when_the_card_is_declined(chat, store):
    socket = await chat()
    await socket.say(f"I want to cancel my order {SOFIA_ORDER}, I ordered it by mistake")
    await socket.reply()
    await socket.say(f"Sofia Rossi {SOFIA['zip']}")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    [card] = [f for f in frames if f["type"] == "confirm_request"]
    assert "reason: ordered by mistake" in card["summary"]

    await socket.send({"type": "confirm", "action_id": card["action_id"], "decision": "decline"})
    reply = await socket.reply()
    assert reply["text"] == "No problem, I've left everything as it was."
    state = await database_sync_to_async(order_state)(SOFIA_ORDER)
    assert state["status"] == "pending" and len(state["transactions"]) == 1
