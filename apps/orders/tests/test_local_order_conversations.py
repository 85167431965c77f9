"""The local assistant handles order requests in a real conversation, through the real
socket, turn engine and tools: verify, look up, propose, confirm on the card."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.chat import engine
from apps.chat import services as chat
from apps.orders.loader import load_store
from apps.orders.models import Order
from supportbot.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost:8000")


class Customer:
    def __init__(self, communicator: WebsocketCommunicator, conversation_id: str) -> None:
        self.communicator = communicator
        self.conversation_id = conversation_id

    async def frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await self.communicator.receive_from(timeout=10))
        return frame

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        frames = []
        while True:
            frames.append(await self.frame())
            if predicate(frames[-1]):
                return frames

    async def says(self, text: str) -> list[dict[str, Any]]:
        """Send a message; every frame up to the assistant's stored reply."""
        await self.communicator.send_to(
            text_data=json.dumps({"type": "message", "client_id": str(uuid.uuid4()), "text": text})
        )
        return await self.until(lambda f: f["type"] == "message" and f["role"] == "assistant")

    async def confirms(self, action_id: str) -> list[dict[str, Any]]:
        await self.communicator.send_to(
            text_data=json.dumps({"type": "confirm", "action_id": action_id, "decision": "approve"})
        )
        return await self.until(lambda f: f["type"] == "message" and f["role"] == "assistant")


@pytest.fixture
async def customer(settings: Any) -> AsyncIterator[Customer]:
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0
    settings.OPENAI_API_KEY = ""
    await database_sync_to_async(load_store)()
    conversation, token = await database_sync_to_async(chat.do_create_conversation)()
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/?token={token}", headers=[ORIGIN]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    session = json.loads(await communicator.receive_from(timeout=5))
    assert session["type"] == "session"
    yield Customer(communicator, str(conversation.pk))
    await engine.wait_idle(conversation.pk)
    await communicator.disconnect()


def _text(frames: list[dict[str, Any]]) -> str:
    return str(frames[-1]["text"])


def _statuses(frames: list[dict[str, Any]]) -> list[str]:
    return [f["text"] for f in frames if f["type"] == "status"]


async def _status_of(order_id: str) -> str:
    order = await database_sync_to_async(Order.objects.get)(order_id=order_id)
    return order.status


async def test_where_is_my_order_then_cancel_it_and_confirm_on_the_card(customer: Customer) -> None:
    reply = await customer.says("Where is my order #W6779827?")
    assert "email address" in _text(reply) and "zip code" in _text(reply)

    reply = await customer.says("ethan.lopez8943@example.com, 43275")
    assert "Order #W6779827 is pending" in _text(reply)
    assert "Dumbbell Set" in _text(reply)
    assert "Checking your details…" in _statuses(reply)
    assert "Looking up order #W6779827…" in _statuses(reply)

    reply = await customer.says("Please cancel it")
    assert "no longer needed, or was it ordered by mistake?" in _text(reply)

    reply = await customer.says("I ordered it by mistake")
    [card] = [f for f in reply if f["type"] == "confirm_request"]
    assert "Cancel order #W6779827" in card["summary"]
    assert "Confirm on the card" in _text(reply)
    assert await _status_of("#W6779827") == "pending"  # nothing changes before the confirm

    reply = await customer.confirms(card["action_id"])
    [result] = [f for f in reply if f["type"] == "confirm_result"]
    assert result["text"] == "Done. Order #W6779827 is cancelled; refunds issued."
    assert "All set" in _text(reply) and card["summary"] not in _text(reply)
    assert await _status_of("#W6779827") == "cancelled"


async def test_a_return_asks_for_the_items_and_refunds_the_original_method(
    customer: Customer,
) -> None:
    reply = await customer.says("I want to return something from order #W1840144")
    assert "email address" in _text(reply)

    reply = await customer.says("I'm Harper Brown, zip 76112")
    assert "Which items from order #W1840144" in _text(reply)
    assert "Fleece Jacket" in _text(reply)

    reply = await customer.says("The desk lamp and the wall clock")
    [card] = [f for f in reply if f["type"] == "confirm_request"]
    assert "Desk Lamp" in card["summary"] and "Wall Clock" in card["summary"]
    assert "PayPal" in card["summary"]
    assert await _status_of("#W1840144") == "delivered"

    reply = await customer.confirms(card["action_id"])
    assert await _status_of("#W1840144") == "return requested"
    order = await database_sync_to_async(Order.objects.get)(order_id="#W1840144")
    assert order.return_items == ["6534134392", "8384507844"]
    assert order.return_payment_method_id == "paypal_2306935"


async def test_someone_elses_order_is_not_found_and_wrong_details_are_refused(
    customer: Customer,
) -> None:
    reply = await customer.says("where is my order #W2611340")
    reply = await customer.says("ethan.lopez8943@example.com 43270")
    assert "try again" in _text(reply)

    reply = await customer.says("sorry: ethan.lopez8943@example.com 43275")
    assert "couldn't find order #W2611340" in _text(reply)
    assert "215 River Road" not in json.dumps(reply)
