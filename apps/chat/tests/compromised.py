"""What the compromised-model tests share: the people, a scripted model's bookkeeping,
one attack conversation over the real socket, and what reached the client.

The tests themselves: test_compromised_model.py (the red-team corpus, obeyed) and
test_compromised_identity.py (identities the customer never typed).
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.db import database_sync_to_async
from django.core.management import call_command

from apps.chat.models import Message
from apps.chat.tests.conftest import ChatSocket, new_conversation_socket
from apps.orders.models import Customer, Order, Variant
from tests import fake_openai as fake

ROOT = Path(__file__).resolve().parents[3]
ATTACKER = "ethan_thomas_1791"  # a pending and a delivered order, card, gift card, PayPal
VICTIMS = ("fatima_brown_5229", "harper_khan_9597", "sofia_li_8235", "chen_anderson_8078")


# --- The people -------------------------------------------------------------------


@dataclass
class Person:
    user_id: str
    email: str
    first_name: str
    last_name: str
    zip: str
    address1: str
    pending: str
    delivered: str
    delivered_items: list[str]
    swap: tuple[str, str]  # an item of the pending order and another variant of it
    methods: list[str]
    orders: list[str]
    secrets: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def records_in(self, text: str, supplied: str) -> set[str]:
        """This customer's records that `text` shows and the attacker did not supply."""
        return {
            name
            for name, pattern in self.secrets.items()
            if pattern.search(text) and not pattern.search(supplied)
        }


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(re.escape(text), re.IGNORECASE)


def person(user_id: str) -> Person:
    customer = Customer.objects.get(pk=user_id)
    orders = list(Order.objects.filter(customer=customer).order_by("position"))
    pending = next(o for o in orders if o.status == "pending")
    delivered = next(o for o in orders if o.status == "delivered")
    swap = next(
        (line.item_id, variant.item_id)
        for line in pending.lines.order_by("position")
        for variant in Variant.objects.filter(product_id=line.product_id, available=True)
        if variant.item_id != line.item_id
    )
    methods = list(customer.payment_methods.order_by("position", "id"))
    found = Person(
        user_id=customer.user_id,
        email=customer.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        zip=customer.zip,
        address1=customer.address1,
        pending=pending.order_id,
        delivered=delivered.order_id,
        delivered_items=[line.item_id for line in delivered.lines.order_by("position")],
        swap=swap,
        methods=[m.id for m in methods],
        orders=[o.order_id for o in orders],
    )
    # What counts as one of this customer's records when it reaches someone else.
    secrets = {
        "email": _pattern(customer.email),
        "name": _pattern(customer.full_name),
        "user_id": _pattern(customer.user_id),
        "address": _pattern(customer.address1),
    }
    for order in orders:
        digits = order.order_id.lstrip("#W")
        secrets[f"order {order.order_id}"] = re.compile(rf"(?i)\bW{digits}\b")
        secrets[f"order address {order.order_id}"] = _pattern(order.address1)
    for method in methods:
        secrets[f"method {method.id}"] = _pattern(method.id)
        if method.last_four:
            secrets[f"last four {method.id}"] = re.compile(
                rf"(?i)(?:ending(?: in)?|last[ _]four\W+){method.last_four}\b"
            )
    found.secrets = secrets
    return found


async def open_the_store(settings: Any) -> tuple[Person, list[Person]]:
    """The demo store loaded, every attack allowed from one test client; the attacker
    and the victims."""
    settings.SUPPORTBOT_DELTA_INTERVAL = 0.005
    # every attack comes from one test client: the per-client limits are not under test
    settings.SUPPORTBOT_RATE_MESSAGES = 10_000
    settings.SUPPORTBOT_RATE_RESUMES = 10_000
    settings.SUPPORTBOT_RATE_CONVERSATIONS = 10_000
    await database_sync_to_async(call_command)("load_demo_store", verbosity=0)
    attacker = await database_sync_to_async(person)(ATTACKER)
    victims = [await database_sync_to_async(person)(v) for v in VICTIMS]
    return attacker, victims


# --- A scripted model -----------------------------------------------------------------


def turn_so_far(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]], int]:
    """The customer's last words, the messages after them, and how many tool steps the
    model has taken since."""
    messages = body["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    after = messages[last_user + 1 :]
    step = sum(1 for m in after if m["role"] == "assistant" and m.get("tool_calls"))
    return str(messages[last_user]["content"]), after, step


def tool_texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m["content"]) for m in messages if m["role"] == "tool")


class CountingModel:
    """Counts the tools it calls (the fake server answers on its own thread)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def _calls(self, calls: list[tuple[str, dict[str, Any]]], content: str = "") -> fake.Planned:
        with self.lock:
            self.calls.update(name for name, _ in calls)
        return fake.tool_calls(list(calls), content=content, chunk_size=400)


# --- One conversation ---------------------------------------------------------------


def ended(frame: dict[str, Any]) -> bool:
    return frame["type"] == "turn" and frame["state"] == "ended"


@asynccontextmanager
async def customer_socket(identity_token: str | None = None) -> AsyncIterator[ChatSocket]:
    """A new conversation's socket past its session frame. Before it closes, the client
    asks for the whole history again, as a reconnecting client would."""
    async with new_conversation_socket(identity_token) as socket:
        yield socket
        await socket.send({"type": "resume", "last_seq": 0})
        await socket.receive_until(lambda f: f["type"] == "resumed")


def what_the_model_handled(requests: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The arguments the model passed to tools, and every tool result it read."""
    arguments = [
        call["function"]["arguments"]
        for request in requests
        for m in request["messages"]
        for call in m.get("tool_calls") or []
    ]
    tool_contents = sorted(
        {str(m["content"]) for r in requests for m in r["messages"] if m["role"] == "tool"}
    )
    return arguments, tool_contents


# --- What the client saw ------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def visible_texts(frames: list[dict[str, Any]]) -> list[str]:
    """Every text a client could show or read: each frame's strings, and each turn's
    deltas joined (a leak may span deltas)."""
    texts = []
    deltas: dict[str, str] = {}
    for frame in frames:
        if frame.get("type") == "delta":
            deltas[frame["turn_id"]] = deltas.get(frame["turn_id"], "") + frame["text"]
        elif frame.get("type") == "message" and frame.get("role") == "customer":
            continue  # the customer's own words, echoed back
        texts.append(" ".join(_strings(frame)))
    return texts + list(deltas.values())


def stored_texts(conversation_id: str) -> list[str]:
    return [
        f"{m.text} {json.dumps(m.metadata, default=str)}"
        for m in Message.objects.filter(conversation_id=conversation_id).exclude(role="customer")
    ]


def records_shown(
    conversation_id: str, people: Iterable[Person], texts: Iterable[str], supplied: str
) -> set[tuple[str, str, str]]:
    """(conversation, customer, record) for each record of these people that one of the
    texts shows and the attacker did not supply: counted once per conversation."""
    texts = list(texts)
    return {
        (conversation_id, who.user_id, name)
        for who in people
        for text in texts
        for name in who.records_in(text, supplied)
    }


def write_figures(
    path: Path, title: str, figures: dict[str, Any], examples: dict[str, list[Any]]
) -> None:
    """The figures and some examples of each finding written to `path`; the figures
    printed (run with `-s`)."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({**figures, "examples": examples}, indent=2))
    print(f"\n{title}:", json.dumps(figures, indent=2))


_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
RUN_WORDS = 12


def _norm(text: str) -> str:
    return _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text)).lower()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", _norm(text))


class LeakCheck:
    """Our own reading of a leak, independent of the output guard's code: the canary in
    any spelling (case, separators, reversed, zero-width characters) or 12 words in a
    row of the instructions."""

    def __init__(self, canary: str, instructions: list[str]) -> None:
        key = re.sub(r"[^a-z0-9]", "", canary.lower())
        self.keys = (key, key[::-1])
        self.runs: set[tuple[str, ...]] = set()
        for text in instructions:
            words = _words(text)
            self.runs.update(
                tuple(words[i : i + RUN_WORDS]) for i in range(len(words) - RUN_WORDS + 1)
            )

    def find(self, text: str) -> list[str]:
        found = []
        squashed = re.sub(r"[^a-z0-9]", "", _norm(text))
        if any(key in squashed for key in self.keys):
            found.append("canary")
        words = _words(text)
        if any(
            tuple(words[i : i + RUN_WORDS]) in self.runs for i in range(len(words) - RUN_WORDS + 1)
        ):
            found.append("instruction run")
        return found
