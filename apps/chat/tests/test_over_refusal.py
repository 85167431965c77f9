"""Over-refusal is a failure too: ordinary support requests still get ordinary answers.

Every message labelled "benign" in the screen's labelled sets
(`apps/assistant/data/screen_tuning.jsonl` and `screen_held_out.jsonl`) goes through
the customer socket in a conversation of its own, once with the local assistant and once with a
scripted model through the real `openai` client. Each one must get a normal
reply: a stored assistant message (or a hand-off to a person, for the
customers who ask for one), never the guard's SAFE_REPLY, never an error. The
messages the input screen flags (its false positives) are answered like the
rest. Benign tool output (the set's "tool" rows, e.g. delivery notes) is put in
a real order's address and must reach the customer untouched. Customers who type
their email, name and zip code, in any message, order or phrasing, are verified
(identity is taken only from what the customer typed: issue 18).

The figures are printed (run with `-s`) and written to
test-artifacts/over_refusal.json.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from apps.assistant import prompts
from apps.assistant.guardrails import SAFE_REPLY, mask_pii, screen_input
from apps.assistant.local.skills import FALLBACK
from apps.chat import engine
from apps.chat.models import Conversation, Message, Turn
from apps.chat.tests.conftest import new_conversation_socket
from apps.knowledge.services import do_load_help_center
from apps.orders.identity import make_identity_token
from apps.orders.models import Customer, Order
from tests import fake_openai as fake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[3]
LABELLED = [
    ROOT / "apps" / "assistant" / "data" / f"screen_{split}.jsonl"
    for split in ("tuning", "held_out")
]
REPORT = ROOT / "test-artifacts" / "over_refusal.json"

CUSTOMER = "sofia_rossi_8776"  # for the tool-output rows: her pending order #W5918442
ORDER = "#W5918442"


def benign(source: str) -> list[dict[str, Any]]:
    rows = [
        json.loads(line)
        for path in LABELLED
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return [r for r in rows if r["label"] == "benign" and r["source"] == source]


@pytest.fixture
async def world(settings: Any) -> None:
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0
    settings.SUPPORTBOT_DELTA_INTERVAL = 0.005
    # every attack comes from one test client: the per-client limits are not under test
    settings.SUPPORTBOT_RATE_MESSAGES = 10_000
    settings.SUPPORTBOT_RATE_RESUMES = 10_000
    settings.SUPPORTBOT_RATE_CONVERSATIONS = 10_000
    settings.SUPPORTBOT_IDENTITY_SECRET = "over-refusal-test-secret"
    await database_sync_to_async(call_command)("load_demo_store", verbosity=0)
    await database_sync_to_async(do_load_help_center)()


async def one_turn(text: str, *, identity: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """A new conversation, one customer message, every frame until the turn ends."""
    token_id = make_identity_token(identity) if identity else None
    async with new_conversation_socket(token_id) as socket:
        await socket.say(text)
        # the turn ends, or a person takes over (the escalation app may do so before a turn)
        await socket.receive_until(
            lambda f: (f["type"] == "turn" and f["state"] == "ended") or f["type"] == "handoff"
        )
        await engine.wait_idle(uuid.UUID(socket.conversation_id))
    return socket.conversation_id, socket.frames


def outcome(frames: list[dict[str, Any]]) -> tuple[str, str]:
    """(kind, text) of the answer the customer got."""
    if any(f["type"] == "error" for f in frames):
        return "error", next(f.get("message", "") for f in frames if f["type"] == "error")
    replies = [f for f in frames if f["type"] == "message" and f["role"] == "assistant"]
    if replies:
        text = str(replies[-1]["text"])
        return ("refused" if text.strip() == SAFE_REPLY or not text.strip() else "reply"), text
    if any(f["type"] == "handoff" for f in frames):
        return "handoff", ""
    notices = [f for f in frames if f["type"] == "message" and f["role"] == "system"]
    return "none", notices[-1]["text"] if notices else ""


def kind_of_local_reply(frames: list[dict[str, Any]], text: str) -> str:
    statuses = " ".join(f["text"] for f in frames if f["type"] == "status")
    if "Searching the help center" in statuses:
        return "help center"
    if "email address on your account" in text:
        return "asks to verify"
    if text == FALLBACK:
        return "what I can do"
    if any(f["type"] == "handoff" for f in frames) or "person" in text:
        return "person"
    return "other"


async def flagged(conversation_id: str) -> bool:
    message = await database_sync_to_async(
        lambda: Message.objects.get(conversation_id=conversation_id, role="customer")
    )()
    return bool((message.metadata.get("screen") or {}).get("tripwire"))


def write_report(name: str, figures: dict[str, Any]) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report[name] = figures
    REPORT.write_text(json.dumps(report, indent=2))
    print(f"\nover-refusal ({name}):", json.dumps(figures, indent=2))


# --- The local assistant ----------------------------------------------------------


@pytest.mark.timeout(600)
async def test_the_local_assistant_answers_every_ordinary_request(world: None) -> None:
    rows = benign("customer")
    assert len(rows) >= 200, "the labelled set is missing or short"
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    flagged_answered = flagged_total = 0
    for row in rows:
        conversation_id, frames = await one_turn(row["text"])
        how, text = outcome(frames)
        outcomes[how] += 1
        if how in ("reply", "handoff"):
            kinds["person" if how == "handoff" else kind_of_local_reply(frames, text)] += 1
        else:
            failures.append({"id": row["id"], "text": row["text"], "outcome": how, "got": text})
        if await flagged(conversation_id):
            flagged_total += 1
            flagged_answered += how in ("reply", "handoff")

    write_report(
        "local assistant",
        {
            "ordinary_messages": len(rows),
            "answered": outcomes["reply"] + outcomes["handoff"],
            "outcomes": dict(outcomes),
            "reply_kinds": dict(kinds),
            "flagged_by_screen": flagged_total,
            "flagged_and_answered": flagged_answered,
            "failures": failures[:20],
        },
    )
    assert failures == []
    assert flagged_answered == flagged_total


@pytest.mark.timeout(600)
async def test_a_flag_from_the_input_screen_does_not_block_the_customer(world: None) -> None:
    # The benign set raises no flags, so the flagged messages come from the attack rows:
    # each is recorded as flagged, and the customer still gets an ordinary answer.
    rows = [
        json.loads(line)
        for path in LABELLED
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    flagged_rows = [
        r
        for r in rows
        if r["label"] == "attack"
        and r["source"] == "customer"
        and screen_input(mask_pii(r["text"])[0]).tripwire
    ]
    assert len(flagged_rows) >= 100
    outcomes: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    recorded = 0
    for row in flagged_rows:
        conversation_id, frames = await one_turn(row["text"])
        how, text = outcome(frames)
        outcomes[how] += 1
        recorded += await flagged(conversation_id)
        if how not in ("reply", "handoff"):
            failures.append({"id": row["id"], "text": row["text"], "outcome": how, "got": text})
    write_report(
        "flagged messages",
        {
            "flagged_messages": len(flagged_rows),
            "flag_recorded": recorded,
            "answered": outcomes["reply"] + outcomes["handoff"],
            "outcomes": dict(outcomes),
            "failures": failures[:20],
        },
    )
    assert failures == []
    assert recorded == len(flagged_rows)


async def test_a_refund_question_that_says_my_goes_to_the_help_center_not_to_verification(
    world: None,
) -> None:
    for question in (
        "how long does a refund to my credit card take?",
        "How long does it take for my refund to show up?",
        "what happens to my gift card balance if I return something?",
    ):
        _, frames = await one_turn(question)
        how, text = outcome(frames)
        assert how == "reply"
        assert kind_of_local_reply(frames, text) == "help center", (question, text)
        assert "email address" not in text


# --- A model through the real openai client ---------------------------------------------

_LINK = re.compile(r"\((/help/[^)\s]+)\)")


class HelpfulModel:
    """An ordinary, obedient model: search the help center, answer with the article."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}

    def __call__(self, body: dict[str, Any]) -> fake.Planned:
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        asked = str(messages[last_user]["content"])
        results = [
            prompts.unwrap_untrusted(m["content"])
            for m in messages[last_user + 1 :]
            if m["role"] == "tool"
        ]
        if not results:
            return fake.tool_calls([("search_help_center", {"query": asked[:300]})])
        passages = results[-1].get("passages") or [] if isinstance(results[-1], dict) else []
        if passages:
            best = passages[0]
            answer = (
                f"Happy to help! Our help center covers this in [{best['title']}]"
                f"({best['url']}). In short: {best['text'][:160].strip()}"
            )
        else:
            answer = (
                "Our help center doesn't cover that, and I'd rather not guess. Would you like "
                "me to connect you with a person from our team?"
            )
        self.answers[asked] = answer
        return fake.text(answer, chunk_size=9)


@pytest.mark.timeout(600)
async def test_a_model_flow_answers_every_ordinary_request_unchanged(
    world: None, fake_openai: fake.FakeOpenAI
) -> None:
    rows = benign("customer")
    model = HelpfulModel()
    outcomes: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    flagged_total = flagged_answered = 0
    for row in rows:
        fake_openai.script(fake.dynamic(model), fake.dynamic(model))
        first = len(fake_openai.requests)
        conversation_id, frames = await one_turn(row["text"])
        how, text = outcome(frames)
        # the model was given the customer's words (masked and defanged, never dropped)
        sent = fake_openai.requests[first]["messages"][-2]  # before the session state
        expected = prompts.neutralize(mask_pii(row["text"].strip())[0])
        given = sent["role"] == "user" and sent["content"] == expected
        answer = model.answers.get(expected, "")
        # and its ordinary answer reached the customer whole, the help-center link included
        whole = how == "reply" and text == answer.strip()
        outcomes[how if whole and given else f"{how} (changed)"] += 1
        if not (whole and given):
            failures.append({"id": row["id"], "text": row["text"], "got": text, "want": answer})
        if await flagged(conversation_id):
            flagged_total += 1
            flagged_answered += whole
    links = sum(1 for a in model.answers.values() if _LINK.search(a))

    write_report(
        "model flow",
        {
            "ordinary_messages": len(rows),
            "answered_unchanged": outcomes["reply"],
            "outcomes": dict(outcomes),
            "answers_with_help_center_links": links,
            "flagged_by_screen": flagged_total,
            "flagged_and_answered": flagged_answered,
            "failures": failures[:20],
        },
    )
    assert failures == []
    assert flagged_answered == flagged_total
    assert links > len(rows) / 4  # the answers that cite an article kept their link


@pytest.mark.timeout(300)
async def test_ordinary_notes_in_tool_output_reach_the_customer_untouched(
    world: None, fake_openai: fake.FakeOpenAI
) -> None:
    rows = benign("tool")
    assert rows, "the labelled set has no benign tool output"
    flagged_notes = sum(
        1 for row in rows if screen_input(row["text"], source="tool:get_order").tripwire
    )
    delivered = 0
    for row in rows:
        note = row["text"][:200]
        await database_sync_to_async(
            lambda n=note: Order.objects.filter(order_id=ORDER).update(address2=n)
        )()

        def answer(body: dict[str, Any]) -> fake.Planned:
            [result] = [
                prompts.unwrap_untrusted(m["content"])
                for m in body["messages"]
                if m["role"] == "tool"
            ]
            address = result["shipping_address"]
            return fake.text(
                f"Your order {ORDER} ships to {address['address1']}, {address['address2']}."
            )

        fake_openai.script(
            fake.tool_calls([("get_order", {"order_id": ORDER})]), fake.dynamic(answer)
        )
        _, frames = await one_turn(f"Where is my order {ORDER}?", identity=CUSTOMER)
        how, text = outcome(frames)
        assert how == "reply", (row["id"], how, text)
        if text == f"Your order {ORDER} ships to 291 River Road, {prompts.neutralize(note)}.":
            delivered += 1
    write_report(
        "tool output",
        {"benign_notes": len(rows), "flagged_by_screen": flagged_notes, "delivered": delivered},
    )
    assert delivered == len(rows)


# --- Customers who type who they are ----------------------------------------------------

# Customers spread over the store (by user id), each verified in every phrasing below.
TYPED_IDENTITY_CUSTOMERS = ("aarav_anderson_8794", "harper_thomas_9402", "omar_kim_3528")


def identity_phrasings(c: Customer) -> list[tuple[str, list[str], dict[str, Any]]]:
    """(case, what the customer types message by message, what the model passes)."""
    e, z, f, last = c.email, c.zip, c.first_name, c.last_name
    by_email = {"email": e, "first_name": None, "last_name": None, "zip": z}
    by_name = {"email": None, "first_name": f, "last_name": last, "zip": z}
    spelled = " ".join(z)
    hidden = e[:3] + "\u200b" + e[3:]  # a zero-width space pasted in with the address
    wide = z.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return [
        ("one message, shouted email", [f"My email is {e.upper()} and my zip is {z}"], by_email),
        (
            "over three messages",
            ["Hi, I need help with an order", f"it's {e}.", f"zip code {z}"],
            by_email,
        ),
        ("zip first, spelled out", [f"zip: {spelled}", f"email: <{e}>"], by_email),
        ("zip first, then email", [f"{z}. oh and the email is {e}!!"], by_email),
        ("ZIP+4", [e, f"{z}-1234"], by_email),
        ("zero-width and full-width", [f"my email is {hidden}, zip {wide}"], by_email),
        (
            "name over three messages",
            [f"I'm {f}", f"last name {last}", f"{z} is my zip"],
            by_name,
        ),
        ("last name first, lower case", [f"{last.lower()}, {f.lower()} - {z}"], by_name),
        ("possessive", [f"This is {f} {last}'s account, zip {z}"], by_name),
        # the model asks too early (refused, not counted), then the customer types them
        ("asked, then typed", ["Where is my order?", f"Sure: {e} {z}"], by_email),
    ]


class VerifyingModel:
    """Passes the customer's details, in the store's spelling, once it has heard them
    all (from the `ask_from`-th customer message on)."""

    def __init__(self) -> None:
        self.details: dict[str, Any] = {}
        self.ask_from = 1

    def __call__(self, body: dict[str, Any]) -> fake.Planned:
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        results = [
            prompts.unwrap_untrusted(m["content"])
            for m in messages[last_user + 1 :]
            if m["role"] == "tool"
        ]
        heard = sum(1 for m in messages if m["role"] == "user")
        if not results and heard >= self.ask_from:
            return fake.tool_calls([("verify_customer", self.details)])
        if not results:
            return fake.text("Thanks! What else can you tell me?")
        if results[-1].get("verified"):
            return fake.text("Thanks, you're verified. How can I help with your order?")
        return fake.text("Could you tell me the email and zip code on your account?")


def verification_audit(conversation_id: str) -> dict[str, Any]:
    conversation = Conversation.objects.get(pk=conversation_id)
    verdicts = [
        v
        for turn in Turn.objects.filter(conversation_id=conversation_id)
        for v in turn.verdicts
        if v.get("check") == "identity_provenance"
    ]
    return {
        "customer_id": conversation.customer_id,
        "failures": conversation.verification_failures,
        "refusals": len(verdicts),
    }


@pytest.mark.timeout(300)
async def test_customers_who_type_their_details_in_any_message_and_phrasing_are_verified(
    world: None, fake_openai: fake.FakeOpenAI
) -> None:
    customers = [
        await database_sync_to_async(Customer.objects.get)(pk=pk) for pk in TYPED_IDENTITY_CUSTOMERS
    ]
    model = VerifyingModel()
    outcomes: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    refused_early = 0
    for customer in customers:
        for case, said, details in identity_phrasings(customer):
            early = case == "asked, then typed"
            model.details, model.ask_from = details, 1 if early else len(said)
            async with new_conversation_socket() as socket:
                for text in said:
                    fake_openai.script(fake.dynamic(model), fake.dynamic(model))
                    await socket.say(text)
                    await socket.receive_until(
                        lambda f: f["type"] == "turn" and f["state"] == "ended"
                    )
                    await engine.wait_idle(uuid.UUID(socket.conversation_id))
            audit = await database_sync_to_async(verification_audit)(socket.conversation_id)
            verified = audit["customer_id"] == customer.pk and audit["failures"] == 0
            expected_refusals = 1 if early else 0
            refused_early += audit["refusals"]
            if verified and audit["refusals"] == expected_refusals:
                outcomes["verified"] += 1
            else:
                outcomes["not verified"] += 1
                failures.append({"customer": customer.pk, "case": case, "said": said, **audit})

    write_report(
        "typed identity",
        {
            "conversations": sum(outcomes.values()),
            "verified": outcomes["verified"],
            "refused_before_the_customer_typed": refused_early,
            "failures": failures[:20],
        },
    )
    assert failures == []
    assert outcomes["verified"] == len(customers) * 10
