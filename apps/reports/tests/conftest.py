"""Builders for reports tests: conversations with chosen timestamps, staff with roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from apps.chat import ownership, services
from apps.chat.models import Conversation, Message, Turn
from apps.chat.roles import AGENTS, MANAGERS, ensure_groups
from apps.orders.models import Customer


@pytest.fixture
def customer(db: None) -> Customer:
    return Customer.objects.create(
        user_id="ana_lopez_1234",
        first_name="Ana",
        last_name="Lopez",
        email="ana.lopez@example.com",
        address1="1 Main St",
        city="Springfield",
        state="IL",
        country="USA",
        zip="62704",
    )


def staff(username: str, group: str | None) -> Any:
    groups = ensure_groups()
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", "pw", is_staff=True, first_name=username.title()
    )
    if group:
        user.groups.set([groups[group]])
    return user


@pytest.fixture
def manager(db: None) -> Any:
    return staff("morgan", MANAGERS)


@pytest.fixture
def agent(db: None) -> Any:
    return staff("alex", AGENTS)


@pytest.fixture
def manager_client(manager: Any) -> Client:
    client = Client()
    client.force_login(manager)
    return client


@dataclass
class Built:
    conversation: Conversation
    messages: list[Message]


class ConversationBuilder:
    """Writes one conversation event by event, each at a chosen time."""

    def __init__(self, start: datetime, customer: Customer | None = None) -> None:
        self.conversation, _ = services.do_create_conversation()
        if customer is not None:
            Conversation.objects.filter(pk=self.conversation.pk).update(customer=customer)
        Conversation.objects.filter(pk=self.conversation.pk).update(created_at=start)
        self.clock = start
        self.messages: list[Message] = []

    def at(self, seconds: float) -> ConversationBuilder:
        self.clock += timedelta(seconds=seconds)
        return self

    def event(self, role: str, text: str = "", kind: str = "message", **meta: Any) -> Message:
        message = services.do_append_event(
            self.conversation.pk, kind=kind, role=role, text=text, metadata=meta
        )
        Message.objects.filter(pk=message.pk).update(created_at=self.clock)
        message.created_at = self.clock
        self.messages.append(message)
        return message

    def customer(self, text: str, **meta: Any) -> Message:
        return self.event(Message.Role.CUSTOMER, text, **meta)

    def agent(self, text: str, author: Any = None) -> Message:
        message = self.event(Message.Role.AGENT, text, agent_name="Alex")
        if author is not None:
            Message.objects.filter(pk=message.pk).update(author=author)
        return message

    def bot(
        self,
        text: str,
        *,
        tools: list[tuple[str, dict[str, Any]]] | None = None,
        ttft_ms: int = 500,
        prompt: int = 1000,
        completion: int = 100,
        cost: str = "0.000210",
        verdicts: list[dict[str, Any]] | None = None,
    ) -> Message:
        message = self.event(Message.Role.ASSISTANT, text)
        Turn.objects.create(
            conversation=self.conversation,
            status=Turn.Status.COMPLETED,
            answers_seq=message.seq - 1,
            provider="openai",
            model="gpt-4o-mini",
            layers={"platform": "platform.v1", "operator": "operator.v1@2"},
            verdicts=verdicts or [{"check": "input_screen", "tripwire": False, "reason": ""}],
            tool_calls=[
                {"id": f"call_{i}", "name": name, "arguments": args, "ok": True, "result": "{}"}
                for i, (name, args) in enumerate(tools or [])
            ],
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=Decimal(cost),
            ttft_ms=ttft_ms,
            duration_ms=ttft_ms + 800,
            message=message,
        )
        Turn.objects.filter(message=message).update(started_at=self.clock)
        Conversation.objects.filter(pk=self.conversation.pk).update(
            cost_usd=self.total_cost() + Decimal(cost)
        )
        return message

    def total_cost(self) -> Decimal:
        return Conversation.objects.values_list("cost_usd", flat=True).get(pk=self.conversation.pk)

    def handoff(self, state: str, **meta: Any) -> Message:
        return self.event(
            Message.Role.SYSTEM, f"handoff {state}", kind="handoff", state=state, **meta
        )

    def close(self, reason: str = "customer", csat: int | None = None) -> Conversation:
        ownership.do_close_conversation(self.conversation.pk, reason=reason)
        Conversation.objects.filter(pk=self.conversation.pk).update(
            closed_at=self.clock, csat_score=csat
        )
        return self.refresh()

    def refresh(self) -> Conversation:
        self.conversation.refresh_from_db()
        return self.conversation


@pytest.fixture
def build() -> Any:
    def make(start: datetime, customer: Customer | None = None) -> ConversationBuilder:
        return ConversationBuilder(start, customer)

    return make


@pytest.fixture
def closed_chats(build: Any) -> Any:
    """One closed conversation per text: the customer's message and the bot's "OK."."""

    def make(texts: list[str], customer: Customer | None = None) -> list[Conversation]:
        conversations = []
        for text in texts:
            b = build(timezone.now() - timedelta(minutes=10), customer)
            b.customer(text)
            b.bot("OK.")
            conversations.append(b.close("customer"))
        return conversations

    return make


def new_client_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def close(django_capture_on_commit_callbacks: Any) -> Any:
    """Close as the chat does, running what happens after commit (the signal, the tasks)."""

    def run(conversation_id: Any, reason: str = "customer") -> bool:
        with django_capture_on_commit_callbacks(execute=True):
            return ownership.do_close_conversation(conversation_id, reason=reason)

    return run


@pytest.fixture
def committing(django_capture_on_commit_callbacks: Any) -> Any:
    return lambda: django_capture_on_commit_callbacks(execute=True)
