"""The operator's identity rule: `email_and_zip` (the default) or tau2-bench retail's
`email_or_name_zip` (the email alone, or the name with the zip code)."""

from __future__ import annotations

import pytest

from apps.assistant import prompts
from apps.assistant.models import OperatorPolicy
from apps.assistant.tools import ToolError
from apps.chat import services as chat
from apps.chat.models import Conversation

from .tooling import call, ctx_for

pytestmark = pytest.mark.django_db

NOAH = "noah.brown7922@example.com"  # noah_brown_6181, zip 80279


def _verify(**details: str | None) -> tuple[Conversation, dict[str, object]]:
    conversation, _ = chat.do_create_conversation()
    arguments = {"email": None, "first_name": None, "last_name": None, "zip": None, **details}
    # the customer typed these details themselves (verify_customer checks provenance)
    said = (" ".join(str(value) for value in details.values() if value),)
    result = call(ctx_for(None, conversation.pk, said=said), "verify_customer", **arguments)
    conversation.refresh_from_db()
    return conversation, result.data


def _policy(rule: str) -> None:
    OperatorPolicy.objects.create(version=OperatorPolicy.objects.count() + 1, identity_rule=rule)


def test_by_default_an_email_alone_is_not_enough(store: None) -> None:
    with pytest.raises(ToolError, match="Give the zip code"):
        _verify(email=NOAH)


def test_with_the_tau2_rule_the_email_alone_verifies(store: None) -> None:
    _policy("email_or_name_zip")

    conversation, data = _verify(email=NOAH.upper())

    assert data == {"verified": True, "first_name": "Noah", "last_name": "Brown"}
    assert (conversation.customer_id, conversation.verified_by) == ("noah_brown_6181", "email")


def test_with_the_tau2_rule_a_name_still_needs_the_zip(store: None) -> None:
    _policy("email_or_name_zip")

    with pytest.raises(ToolError, match="or the first name, last name and zip code"):
        _verify(first_name="Noah", last_name="Brown")
    conversation, _ = _verify(first_name="noah", last_name="brown", zip="80279")
    assert (conversation.customer_id, conversation.verified_by) == ("noah_brown_6181", "name_zip")
    _, wrong = _verify(first_name="noah", last_name="brown", zip="80270")
    assert wrong["verified"] is False


def test_the_rule_is_stated_in_the_operator_layer() -> None:
    _policy("email_and_zip")
    default, _ = prompts.operator_text()
    _policy("email_or_name_zip")
    tau2, version = prompts.operator_text()

    assert "Identity check: verify the customer with their email address and the zip" in default
    assert "Identity check: verify the customer with their email address alone" in tau2
    assert version == f"{prompts.OPERATOR_LAYER}@2"


def test_the_hand_off_rule_is_stated_in_the_operator_layer() -> None:
    _policy("email_and_zip")
    text, _ = prompts.operator_text()

    assert "Frustration alone is not a reason" in text
    assert "is clearly frustrated" not in prompts.platform_text()
