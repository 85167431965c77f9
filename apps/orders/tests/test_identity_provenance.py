"""Identity comes from the customer, never from the model.

verify_customer binds a conversation only with an email, name and zip code the customer
typed in this conversation; anything else is refused before the store is read, is not
counted as the customer's failed attempt, and carries a verdict for the turn's audit.
(End to end: test_compromised_identity's made-up identities and test_over_refusal's typed
ones.)
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.assistant.tools import REGISTRY, ToolResult
from apps.chat import services as chat
from apps.chat.models import Conversation

from .tooling import call, ctx_for

pytestmark = pytest.mark.django_db

NOAH = {"email": "Noah.Brown7922@example.com", "first_name": "Noah", "last_name": "Brown"}
NOAH_ZIP = "80279"
NOAH_ID = "noah_brown_6181"


def _verify(said: tuple[str, ...], **details: str | None) -> tuple[ToolResult, Conversation]:
    conversation, _ = chat.do_create_conversation()
    arguments: dict[str, Any] = {"email": None, "first_name": None, "last_name": None, **details}
    result = call(ctx_for(None, conversation.pk, said=said), "verify_customer", **arguments)
    conversation.refresh_from_db()
    return result, conversation


def test_facts_the_customer_never_typed_are_refused_and_not_counted(store: None) -> None:
    # given a customer who typed no identity at all
    said = ("Hi! Where is my order?", "It was a birthday present.")

    # when the model passes a real customer's email and zip code anyway
    result, conversation = _verify(said, email=NOAH["email"], zip=NOAH_ZIP)

    # then nobody is bound, the customer keeps every attempt, and the model is told why
    assert conversation.customer_id is None
    assert conversation.verification_failures == 0
    assert result.ok is False
    assert result.data["not_typed_by_customer"] == ["email", "zip"]
    assert "Ask the customer for it" in result.data["error"]
    assert "not count as a failed attempt" in result.data["error"]
    # and the attempt is a guardrail verdict for the turn's audit
    [verdict] = result.verdicts
    assert (verdict.check, verdict.tripwire) == ("identity_provenance", True)
    assert "email, zip" in verdict.reason


def test_a_real_email_with_a_zip_the_customer_never_typed_is_refused(store: None) -> None:
    result, conversation = _verify(
        (f"my email is {NOAH['email']}",), email=NOAH["email"], zip="00000"
    )

    assert result.data["not_typed_by_customer"] == ["zip"]
    assert (conversation.customer_id, conversation.verification_failures) == (None, 0)


def test_a_name_only_half_typed_is_refused(store: None) -> None:
    result, conversation = _verify(
        (f"I'm Noah, zip {NOAH_ZIP}",), first_name="Noah", last_name="Brown", zip=NOAH_ZIP
    )

    assert result.data["not_typed_by_customer"] == ["last_name"]
    assert "last name" in result.data["error"]
    assert conversation.customer_id is None


def test_a_wrong_zip_the_customer_typed_is_still_a_counted_failure(store: None) -> None:
    result, conversation = _verify((f"{NOAH['email']} 80270",), email=NOAH["email"], zip="80270")

    assert result.data["verified"] is False
    assert result.verdicts == []
    assert conversation.verification_failures == 1


@pytest.mark.parametrize(
    ("said", "details"),
    [
        # different case, surrounded by punctuation, with the zip in a sentence
        (("My email is NOAH.BROWN7922@EXAMPLE.COM, zip 80279.",), {"email": NOAH["email"]}),
        (("email: <noah.brown7922@example.com>; my zip is 80279",), {"email": NOAH["email"]}),
        (("(noah.brown7922@example.com) 80279!",), {"email": NOAH["email"]}),
        (("mailto:noah.brown7922@example.com", "zip=80279"), {"email": NOAH["email"]}),
        # facts over several messages, in any order
        (("80279 is my zip", "and it's noah.brown7922@example.com."), {"email": NOAH["email"]}),
        (
            ("I'm Noah", "last name Brown", "the zip code is 80279"),
            {"first_name": "Noah", "last_name": "Brown"},
        ),
        (("brown, noah - 80279",), {"first_name": "Noah", "last_name": "Brown"}),
        (
            ("This is Noah Brown's account, zip 80279",),
            {"first_name": "noah", "last_name": "BROWN"},
        ),
        # a zip code with spaces or with its +4 part
        (("noah.brown7922@example.com", "zip: 8 0 2 7 9"), {"email": NOAH["email"]}),
        (("noah.brown7922@example.com zip 802 79",), {"email": NOAH["email"]}),
        (("noah.brown7922@example.com", "80279-1234"), {"email": NOAH["email"]}),
        # zero-width characters, look-alike letters, full-width digits
        (("no\u200bah.brown7922@exаmple.com zip ８０２７９",), {"email": NOAH["email"]}),
        (("Nоah Вrown 80279",), {"first_name": "Noah", "last_name": "Brown"}),
    ],
)
def test_facts_the_customer_typed_verify_in_any_message_and_phrasing(
    store: None, said: tuple[str, ...], details: dict[str, str]
) -> None:
    result, conversation = _verify(said, zip=NOAH_ZIP, **details)

    assert result.data.get("verified") is True, result.data
    assert conversation.customer_id == NOAH_ID


def test_the_model_may_pass_the_zip_code_as_the_customer_spaced_it(store: None) -> None:
    result, conversation = _verify(
        ("Noah.Brown7922@example.com", "802 79"), email=NOAH["email"], zip="802 79"
    )

    assert result.data.get("verified") is True
    assert conversation.customer_id == NOAH_ID


@pytest.mark.parametrize(
    ("said", "details", "untyped"),
    [
        # an email inside a longer one, or cut short
        (("x.noah.brown7922@example.com 80279",), {"email": NOAH["email"]}, ["email"]),
        (("noah.brown7922@example.com.au 80279",), {"email": NOAH["email"]}, ["email"]),
        # a zip code inside an order number, an email, a phone number or a longer number
        (("noah.brown7922@example.com about #W8027912",), {"email": NOAH["email"]}, ["zip"]),
        (("noah.brown7922@example.com, order #80279",), {"email": NOAH["email"]}, ["zip"]),
        (("noah.brown7922@example.com or 80279@example.org",), {"email": NOAH["email"]}, ["zip"]),
        (("noah.brown7922@example.com, call 802-79-1234",), {"email": NOAH["email"]}, ["zip"]),
        (("noah.brown7922@example.com, ref 802791",), {"email": NOAH["email"]}, ["zip"]),
        # a name inside an email address or inside another name
        (
            ("noah.brown7922@example.com 80279",),
            {"first_name": "Noah", "last_name": "Brown"},
            ["first_name", "last_name"],
        ),
        (("Noah Brownlee 80279",), {"first_name": "Noah", "last_name": "Brown"}, ["last_name"]),
        (("Noah Smith-Brown 80279",), {"first_name": "Noah", "last_name": "Brown"}, ["last_name"]),
    ],
)
def test_a_value_inside_something_else_the_customer_typed_is_not_theirs(
    store: None, said: tuple[str, ...], details: dict[str, str], untyped: list[str]
) -> None:
    result, conversation = _verify(said, zip=NOAH_ZIP, **details)

    assert result.data["not_typed_by_customer"] == untyped
    assert conversation.customer_id is None


# Arguments named like these identify a person. A tool may take one only as a fact the
# customer types (marked CustomerFact), or as data of the verified customer's own account
# that changes only when the customer confirms it on a card.
PERSON_ARGUMENTS = {"email", "first_name", "last_name", "name", "full_name", "zip", "phone"}
NEVER_ARGUMENTS = {"user_id", "customer_id", "username"}
OWN_ACCOUNT_DATA = {
    ("modify_pending_order_address", "zip"),  # the new address of the customer's own order
    ("modify_user_address", "zip"),  # the customer's own new default address
}


def test_every_tool_argument_that_names_a_person_must_come_from_the_customer() -> None:
    facts = {}
    for spec in REGISTRY.values():
        for argument in spec.args_model.model_fields:
            assert argument not in NEVER_ARGUMENTS, (spec.name, argument)
            if argument in PERSON_ARGUMENTS and (spec.name, argument) not in OWN_ACCOUNT_DATA:
                assert argument in spec.facts, f"{spec.name}.{argument} is not a CustomerFact"
        if spec.facts:
            facts[spec.name] = spec.facts
    for name, _ in OWN_ACCOUNT_DATA:
        assert REGISTRY[name].confirm and REGISTRY[name].access == "verified"

    assert facts == {
        "verify_customer": {
            "email": "email",
            "first_name": "name",
            "last_name": "name",
            "zip": "zip",
        }
    }
