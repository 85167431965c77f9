"""The local assistant's help-center flow, driven through LocalProvider.stream."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from apps.assistant.local import LocalProvider
from apps.assistant.local.skills import LocalState
from apps.assistant.prompts import wrap_untrusted
from apps.assistant.providers.base import ModelRequest, TextDelta, ToolCall, ToolCallsReady
from apps.assistant.tools import REGISTRY, ToolContext, get_tool
from apps.knowledge.local_skills import is_help_question

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_word_delay(settings: Any) -> None:
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0


def _tools() -> list[dict[str, Any]]:
    return [spec.openai_schema() for spec in REGISTRY.values() if spec.access == "public"]


async def _stream(messages: list[dict[str, Any]]) -> tuple[str, list[ToolCall]]:
    request = ModelRequest(
        messages=[{"role": "system", "content": "platform"}, *messages],
        tools=_tools(),
        context={"verified": False},
    )
    text, calls = "", list[ToolCall]()
    async for event in LocalProvider().stream(request):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, ToolCallsReady):
            calls.extend(event.calls)
    return text, calls


def _ask(question: str) -> str:
    """One customer question through the whole loop: call, run the real tool, answer."""
    user = {"role": "user", "content": question}
    text, calls = async_to_sync(_stream)([user])
    assert text == "" and [c.name for c in calls] == ["search_help_center"]
    assert json.loads(calls[0].arguments) == {"query": question}

    spec = get_tool("search_help_center")
    assert spec is not None
    ctx = ToolContext(conversation_id=uuid.uuid4(), customer_id=None)
    result = spec.handler(ctx, spec.parse(calls[0].arguments))
    call_message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": calls[0].id,
                "type": "function",
                "function": {"name": calls[0].name, "arguments": calls[0].arguments},
            }
        ],
    }
    tool_message = {
        "role": "tool",
        "tool_call_id": calls[0].id,
        "content": wrap_untrusted("tool:search_help_center", result.data),
    }
    answer, more_calls = async_to_sync(_stream)([user, call_message, tool_message])
    assert more_calls == []
    return answer


@pytest.fixture
def loaded(help_center: object) -> None:
    return None


def test_a_policy_question_is_answered_from_the_help_center_with_its_source(
    loaded: None,
) -> None:
    answer = _ask("how long till a refund shows up on a credit card?")

    assert "5 to 7 business days" in answer
    # The source links to the section quoted, on the article's page.
    assert answer.rstrip().endswith(
        "Source: [Refunds and how long they take]"
        "(/help/refund-timelines/#credit-card-and-paypal-refunds)"
    )
    quote = answer.split('"')[1]
    assert 20 < len(quote) <= 361 and quote.count(". ") <= 2


def test_a_shipping_question_quotes_the_shipping_article(loaded: None) -> None:
    answer = _ask("is shipping free?")

    assert "free on orders of $50 or more" in answer
    assert "(/help/shipping-options-times-and-costs/#standard-shipping)" in answer


def test_an_uncovered_question_says_so_plainly_and_offers_a_person(loaded: None) -> None:
    answer = _ask("do you price match amazon?")

    assert "help center doesn't cover that" in answer
    assert "person" in answer
    assert "Source:" not in answer


def _state(text: str, assistant: str = "") -> LocalState:
    return LocalState(
        user_text=text,
        user_texts=[text],
        assistant_texts=[assistant] if assistant else [],
        tool_outputs=[],
        tool_names={"search_help_center"},
        context={},
    )


@pytest.mark.parametrize(
    "text",
    [
        "how do returns work?",
        "can i pay with paypal",
        "do you ship to canada",
        "how do I cancel my order?",
        "can i talk to someone on the weekend?",
    ],
)
def test_policy_and_how_to_questions_go_to_the_help_center(text: str) -> None:
    assert is_help_question(_state(text))


@pytest.mark.parametrize(
    "text",
    [
        "hi there!",
        "thanks!",
        "where is my order #W2611340?",
        "cancel my order please",
        "where is my package",
        "I want to talk to a human",
        "agent please",
        "connect me with a person",
        "yes",
        "john.smith@example.com 94110",
    ],
)
def test_greetings_order_requests_and_asks_for_a_person_do_not(text: str) -> None:
    assert not is_help_question(_state(text))


def test_a_reply_to_our_own_question_is_not_searched() -> None:
    state = _state("Yusuf Rossi 19122", assistant="What is your first name, last name and zip?")
    assert not is_help_question(state)
