"""One change per response: parallel tool calls are off, and a second change proposal
in the same response is refused with a tool error instead of replacing the first card."""

from __future__ import annotations

import pytest

from apps.assistant.prompts import unwrap_untrusted
from tests import fake_openai as fake

from .model_turns import ORDER, actions, lucas_conversation, propose_cancel, say

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

NEW_ADDRESS = {
    "order_id": ORDER,
    "address1": "1 Main Street",
    "address2": "",
    "city": "Denver",
    "state": "CO",
    "country": "USA",
    "zip": "80202",
}


async def test_a_turn_asks_the_model_for_one_tool_call_per_response(fake_openai):
    conversation_id = await lucas_conversation()
    fake_openai.script(fake.text("Hello Lucas, how can I help?"))

    await say(conversation_id, "hi")

    request = fake_openai.requests[0]
    assert request["parallel_tool_calls"] is False
    assert all(tool["function"]["strict"] is True for tool in request["tools"])


async def test_a_second_change_in_one_response_gets_a_tool_error_and_the_first_card_stays(
    fake_openai,
):
    # given a model that still proposes two changes in one response
    conversation_id = await lucas_conversation()
    fake_openai.script(
        fake.tool_calls(
            [
                ("cancel_pending_order", {"order_id": ORDER, "reason": "no longer needed"}),
                ("modify_pending_order_address", NEW_ADDRESS),
            ]
        ),
        fake.text("Please review the cancellation on the card."),
    )

    # when the turn runs
    turn = await say(conversation_id, f"cancel {ORDER}, or else ship it to 1 Main Street")

    # then only the first change has a card, and it is still open
    assert await actions(conversation_id) == [("cancel_pending_order", "pending")]
    results = [
        unwrap_untrusted(m["content"])
        for m in fake_openai.requests[1]["messages"]
        if m["role"] == "tool"
    ]
    assert results[0]["confirmation"] == "requested"
    assert results[1]["error"].startswith("Not proposed: only one change")
    assert [call["ok"] for call in turn.tool_calls] == [True, False]
    assert turn.status == "completed"


async def test_a_change_in_a_later_response_still_replaces_an_older_card(fake_openai):
    # one card at a time remains the rule across responses: the newer one wins
    conversation_id = await lucas_conversation()
    fake_openai.script(
        propose_cancel(),
        fake.text("Please review the card."),
        fake.tool_calls([("modify_pending_order_address", NEW_ADDRESS)]),
        fake.text("I've prepared the address change instead."),
    )

    await say(conversation_id, f"cancel {ORDER}")
    await say(conversation_id, "actually, just ship it to 1 Main Street, Denver 80202")

    assert await actions(conversation_id) == [
        ("cancel_pending_order", "expired"),
        ("modify_pending_order_address", "pending"),
    ]
