"""How the local assistant reads order requests out of customer messages."""

from __future__ import annotations

from typing import Any

import pytest

from apps.assistant.local.skills import LocalState, ToolOutput
from apps.orders.local_skills import (
    cancel_reason,
    identity_details,
    intent_of,
    items_to_return,
    order_tool_result,
)


def _state(user_texts: list[str], outputs: list[ToolOutput], assistant: list[str]) -> LocalState:
    return LocalState(
        user_text=user_texts[-1],
        user_texts=user_texts,
        assistant_texts=assistant,
        tool_outputs=outputs,
        tool_names={"get_order", "cancel_pending_order", "list_my_orders"},
        context={"verified": True},
    )


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("where is my order #W2611340?", "track"),
        ("#W2611340", "track"),
        ("cancel it", None),  # a follow-up only while an order is discussed
        ("Can you cancel order W2611340", "cancel"),
        ("I want to return the lamp", None),
        ("I want to return the lamp I bought", "return"),
        ("how long does a refund to my credit card take?", None),
        ("when will my package arrive?", "track"),
        ("show me my orders", "list"),
        ("I want to talk to a human about my order", None),
        ("what is your refund policy for gift cards", None),
        ("how do I return an item?", None),
        ("how do I return my jacket from #W1840144?", "return"),
        ("can you cancel my order?", "cancel"),
        ("hello", None),
    ],
)
def test_it_reads_the_intent_of_a_message(text: str, intent: str | None) -> None:
    assert intent_of(text) == intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("cancel it", "cancel"),
        ("I want to return the lamp", "return"),
        ("how long until it ships?", "track"),
        ("how long does a refund to my credit card take?", None),
    ],
)
def test_a_follow_up_about_the_order_being_discussed_keeps_its_intent(
    text: str, intent: str | None
) -> None:
    assert intent_of(text, order_in_context=True) == intent


@pytest.mark.parametrize(
    ("text", "details"),
    [
        (
            "ethan.lopez8943@example.com, 43275",
            ("ethan.lopez8943@example.com", None, None, "43275"),
        ),
        ("I'm Harper Brown, zip 76112", (None, "Harper", "Brown", "76112")),
        ("Harper Brown 76112", (None, "Harper", "Brown", "76112")),
        ("my order is #W1234567 and zip 76112", None),
        ("just 76112", None),
    ],
)
def test_it_reads_identity_details(text: str, details: tuple[Any, ...] | None) -> None:
    found = identity_details(text)
    if details is None:
        assert found is None
    else:
        assert found is not None
        assert (found["email"], found["first_name"], found["last_name"], found["zip"]) == details


def test_it_reads_the_cancel_reason() -> None:
    assert cancel_reason(["cancel it", "I ordered it by mistake"]) == "ordered by mistake"
    assert cancel_reason(["cancel it", "I don't need it anymore"]) == "no longer needed"
    assert cancel_reason(["cancel it"]) is None


def test_it_picks_the_named_items_or_all_of_them() -> None:
    order = {
        "items": [
            {"item_id": "1", "name": "Desk Lamp"},
            {"item_id": "2", "name": "Fleece Jacket"},
            {"item_id": "2", "name": "Fleece Jacket"},
        ]
    }
    assert items_to_return(order, ["the desk lamps please"]) == ["1"]
    assert items_to_return(order, ["all of them"]) == ["1", "2", "2"]
    assert items_to_return(order, ["the thing"]) == []


def test_a_refusal_is_explained_plainly() -> None:
    state = _state(
        ["cancel order #W2611340 please, no longer needed"],
        [
            ToolOutput(
                "get_order",
                {"order_id": "#W2611340"},
                {"order_id": "#W2611340", "status": "processed", "items": []},
            ),
        ],
        [],
    )

    reply = order_tool_result(state)

    assert reply is not None
    assert "processed, so it can't be cancelled" in reply.text


def test_an_error_from_a_change_tool_is_passed_on() -> None:
    state = _state(
        ["cancel order #W2611340, ordered by mistake"],
        [
            ToolOutput(
                "cancel_pending_order", {}, {"error": "Non-pending order cannot be cancelled"}
            )
        ],
        [],
    )

    reply = order_tool_result(state)

    assert reply is not None
    assert "Non-pending order cannot be cancelled" in reply.text


CARD_TEXT = (
    "I've prepared the change below. Nothing has changed yet: please review it and press "
    "Confirm on the card if it's right, or Decline if not."
)


@pytest.mark.parametrize("text", ["yes", "Yes the water bottle", "ok go ahead", "confirm"])
def test_a_typed_yes_under_a_card_points_to_the_confirm_button(text: str) -> None:
    from apps.assistant.local.skills import decide

    reply = decide(_state(["cancel #W5918442", text], [], [CARD_TEXT]))
    assert not reply.tool_calls  # typing cannot confirm: no change tool, no other call
    assert "press **Confirm** on the card" in reply.text


def test_a_typed_no_under_a_card_says_nothing_changes() -> None:
    from apps.assistant.local.skills import decide

    reply = decide(_state(["cancel #W5918442", "no wait"], [], [CARD_TEXT]))
    assert not reply.tool_calls
    assert "nothing changes without your confirmation" in reply.text


def test_yes_without_an_open_card_is_not_about_a_card() -> None:
    from apps.assistant.local.skills import decide

    reply = decide(_state(["hello", "yes"], [], ["Hi there! How can I help?"]))
    assert "Confirm" not in reply.text
