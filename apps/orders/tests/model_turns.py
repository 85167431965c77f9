"""Driving turns straight through the engine (no socket), with the model faked at the
HTTP seam: a customer message is stored by the normal service, then one turn runs."""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.core.management import call_command

from apps.chat import engine, services
from apps.chat.models import Conversation, Message, PendingAction, Turn
from apps.orders.models import Customer
from tests import fake_openai as fake

LUCAS = "lucas.martin5733@example.com"
ORDER = "#W9318778"  # Lucas's pending order, $3,585.54


@database_sync_to_async
def load_store() -> None:
    call_command("load_demo_store", verbosity=0)


@database_sync_to_async
def conversation(email: str | None = None) -> uuid.UUID:
    """A new conversation; bound to the customer with this email when one is given."""
    created, _token = services.do_create_conversation()
    if email is not None:
        customer = Customer.objects.get(email=email)
        services.do_bind_customer(created.pk, customer.user_id, "email_zip")
    return created.pk


async def lucas_conversation() -> uuid.UUID:
    """The demo store loaded, and a conversation bound to Lucas."""
    await load_store()
    return await conversation(LUCAS)


def propose_cancel(reason: str = "no longer needed") -> fake.Completion:
    """The model proposes cancelling Lucas's pending order."""
    return fake.tool_calls([("cancel_pending_order", {"order_id": ORDER, "reason": reason})])


async def say(conversation_id: uuid.UUID, text: str) -> Turn:
    """The customer writes; the assistant's turn runs to its end."""
    await database_sync_to_async(services.do_store_customer_message)(
        conversation_id, client_id=uuid.uuid4(), text=text
    )
    turn = await engine.run_turn(conversation_id)
    assert turn is not None
    return await database_sync_to_async(Turn.objects.get)(pk=turn.pk)


async def decide(conversation_id: uuid.UUID, decision: str = "approve") -> Turn:
    """The customer presses Confirm (or Decline) on the open card; the turn that
    explains the outcome runs."""
    action = await database_sync_to_async(
        lambda: PendingAction.objects.get(
            conversation_id=conversation_id, status=PendingAction.Status.PENDING
        )
    )()
    await database_sync_to_async(services.check_decide_action)(
        conversation_id, str(action.pk), decision
    )
    turn = await engine.run_turn(conversation_id)
    assert turn is not None
    return await database_sync_to_async(Turn.objects.get)(pk=turn.pk)


@database_sync_to_async
def actions(conversation_id: uuid.UUID) -> list[tuple[str, str]]:
    return list(
        PendingAction.objects.filter(conversation_id=conversation_id)
        .order_by("created_at")
        .values_list("tool_name", "status")
    )


@database_sync_to_async
def events(conversation_id: uuid.UUID) -> list[tuple[str, str, str]]:
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .values_list("kind", "role", "text")
    )


@database_sync_to_async
def conversation_row(conversation_id: uuid.UUID) -> Conversation:
    return Conversation.objects.get(pk=conversation_id)


def non_system(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation part of a request: every message but the system layers."""
    return [m for m in request["messages"] if m["role"] != "system"]
