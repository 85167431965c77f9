"""Verification cannot be brute-forced: failures count per client and per identity
tried across conversations (a reopened or new chat does not reset them), with a
cool-down, every failure logged and staff alerted when a cap is reached."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.assistant.tools import ToolContext, get_tool
from apps.chat import services
from apps.chat.models import Conversation
from apps.escalations.services import CONSOLE_GROUP
from apps.orders.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

ANA = {
    "user_id": "ana_1",
    "first_name": "Ana",
    "last_name": "Lopez",
    "email": "ana@example.com",
    "zip": "62704",
}


@pytest.fixture
def ana(db: None) -> Customer:
    return Customer.objects.create(**ANA)


def attempt(client: str, *, email: str, zip_code: str = "62704") -> dict[str, Any]:
    """One verify_customer call in a new conversation of `client`, as the engine runs it."""
    conversation, _ = services.do_create_conversation(client_key=client)
    text = f"I'm {email}, zip {zip_code}"
    services.do_append_event(conversation.pk, role="customer", text=text)
    spec = get_tool("verify_customer")
    assert spec is not None
    ctx = ToolContext(conversation_id=conversation.pk, customer_id=None, customer_texts=(text,))
    args = spec.parse(
        f'{{"email": "{email}", "first_name": null, "last_name": null, "zip": "{zip_code}"}}'
    )
    result = services.do_run_tool(spec, ctx, args)
    data = dict(result.data)
    data["bound"] = Conversation.objects.get(pk=conversation.pk).customer_id
    return data


def test_failures_count_per_client_across_conversations(ana, settings):
    settings.SUPPORTBOT_VERIFY_FAILURES_PER_CLIENT = 3
    outcomes = [attempt("203.0.113.7", email=f"guess{n}@example.com")["verified"] for n in range(3)]
    assert outcomes == [False, False, False]
    # then even the right details are refused from that client, in a new conversation
    locked = attempt("203.0.113.7", email="ana@example.com")
    assert locked["verified"] is False and locked["attempts_left"] == 0 and locked["bound"] is None
    # while another client is not affected
    assert attempt("198.51.100.4", email="ana@example.com")["verified"] is True


def test_failures_count_per_identity_across_clients(ana, settings):
    settings.SUPPORTBOT_VERIFY_FAILURES_PER_IDENTITY = 2
    for n in range(2):
        assert (
            attempt(f"203.0.113.{n}", email="ana@example.com", zip_code="11111")["verified"]
            is False
        )
    # the same identity guessed again, from yet another client, waits out the cool-down
    assert attempt("203.0.113.99", email="ana@example.com", zip_code="11111")["attempts_left"] == 0


def test_every_failure_is_logged_and_staff_are_alerted_at_the_cap(ana, settings, caplog):
    settings.SUPPORTBOT_VERIFY_FAILURES_PER_CLIENT = 2
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(CONSOLE_GROUP, channel)
    with caplog.at_level(logging.INFO, logger="supportbot.security"):
        attempt("203.0.113.7", email="x@example.com")
        attempt("203.0.113.7", email="y@example.com")
    failures = [r for r in caplog.records if "verification failed" in r.getMessage()]
    assert len(failures) == 2
    assert any("verification locked" in r.getMessage() for r in caplog.records)
    event = async_to_sync(asyncio.wait_for)(layer.receive(channel), 5)
    assert event["event"] == "verification_locked" and event["data"]["counter"] == "client"
