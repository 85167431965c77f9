"""Verification binds the customer to the conversation; five failures and it stops."""

from __future__ import annotations

import dataclasses
import json

import pytest

from apps.assistant.tools import ToolError, Verification, get_tool
from apps.chat import services as chat
from apps.chat.models import Conversation

from .tooling import call, ctx_for

pytestmark = pytest.mark.django_db


def _conversation() -> Conversation:
    conversation, _ = chat.do_create_conversation()
    return conversation


def _verify(conversation: Conversation, **details: str | None) -> dict[str, object]:
    arguments = {"email": None, "first_name": None, "last_name": None, **details}
    # the customer typed each detail (what they did not type is refused: test_identity_provenance)
    said = tuple(value for value in details.values() if value)
    result = call(ctx_for(None, conversation.pk, said=said), "verify_customer", **arguments)
    data: dict[str, object] = result.data
    return data


def test_email_and_zip_verify_and_bind_the_customer(store: None) -> None:
    conversation = _conversation()

    data = _verify(conversation, email="Noah.Brown7922@example.com", zip="80279")

    assert data == {"verified": True, "first_name": "Noah", "last_name": "Brown"}
    conversation.refresh_from_db()
    assert conversation.customer_id == "noah_brown_6181"
    assert conversation.verified_by == "email_zip"


def test_first_name_last_name_and_zip_verify_the_customer(store: None) -> None:
    conversation = _conversation()

    data = _verify(conversation, first_name="noah", last_name="brown", zip="80279")

    assert data["verified"] is True
    conversation.refresh_from_db()
    assert (conversation.customer_id, conversation.verified_by) == ("noah_brown_6181", "name_zip")


def test_a_wrong_zip_fails_and_is_counted(store: None) -> None:
    conversation = _conversation()

    data = _verify(conversation, email="noah.brown7922@example.com", zip="80270")

    assert data["verified"] is False
    assert data["attempts_left"] == 4
    conversation.refresh_from_db()
    assert conversation.customer_id is None
    assert conversation.verification_failures == 1


def test_a_zip_alone_is_not_enough(store: None) -> None:
    with pytest.raises(ToolError, match="either the email or the first and last name"):
        _verify(_conversation(), first_name="Noah", zip="80279")


def test_after_five_failures_even_the_right_details_are_refused(store: None) -> None:
    conversation = _conversation()
    for attempt in range(5):
        data = _verify(conversation, email="nobody@example.com", zip=f"0000{attempt}")
    assert data["attempts_left"] == 0
    assert "human" in str(data["error"])

    data = _verify(conversation, email="noah.brown7922@example.com", zip="80279")

    assert data["verified"] is False
    assert "human agent" in str(data["error"])
    conversation.refresh_from_db()
    assert conversation.customer_id is None
    assert conversation.verification_failures == 5


def test_the_tool_reports_its_outcome_and_leaves_the_conversation_to_the_chat_app(
    store: None,
) -> None:
    # given a conversation and the tool run on its own, without the chat engine
    conversation = _conversation()
    spec = get_tool("verify_customer")
    assert spec is not None
    email, zip_code = "noah.brown7922@example.com", "80279"
    ctx = ctx_for(None, conversation.pk, said=(f"{email} {zip_code}",))
    arguments = {"email": email, "first_name": None, "last_name": None}

    found = spec.run(ctx, spec.parse(json.dumps({**arguments, "zip": zip_code})))
    missed = spec.run(
        dataclasses.replace(ctx, customer_texts=(f"{email} 80270",), verification_failures=4),
        spec.parse(json.dumps({**arguments, "zip": "80270"})),
    )

    # then each result carries the outcome, and the conversation is untouched
    assert found.verification == Verification(customer_id="noah_brown_6181", method="email_zip")
    assert missed.verification == Verification(customer_id=None)
    assert missed.data["attempts_left"] == 0
    conversation.refresh_from_db()
    assert (conversation.customer_id, conversation.verification_failures) == (None, 0)
