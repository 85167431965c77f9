"""Request parameters and prompt caching: a low configurable temperature,
max_completion_tokens, one prompt_cache_key per conversation, a prefix that stays
byte-identical from one turn to the next, and the cached share in the turn's audit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from apps.orders.tests.model_turns import conversation, say
from tests import fake_openai as fake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_each_call_sends_temperature_token_limit_and_the_conversations_cache_key(
    fake_openai, settings
):
    settings.SUPPORTBOT_TEMPERATURE = 0.3
    settings.SUPPORTBOT_MAX_OUTPUT_TOKENS = 500
    first, second = await conversation(), await conversation()
    fake_openai.script(fake.text("Hi."), fake.text("Hello."), fake.text("Hi again."))

    await say(first, "hello")
    await say(second, "hello")
    await say(first, "and again")

    one, other, again = fake_openai.requests
    assert one["temperature"] == 0.3
    assert one["max_completion_tokens"] == 500 and "max_tokens" not in one
    assert one["prompt_cache_key"] == f"conversation-{first}"
    assert again["prompt_cache_key"] == one["prompt_cache_key"]
    assert other["prompt_cache_key"] == f"conversation-{second}"


async def test_the_prompt_prefix_stays_byte_identical_from_turn_to_turn(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(
        fake.tool_calls([("search_help_center", {"query": "shipping times"})]),
        fake.text("Standard shipping takes 3-5 business days."),
        fake.text("You're welcome!"),
    )

    await say(conversation_id, "how long does shipping take?")
    await say(conversation_id, "thanks")

    step, answer = fake_openai.requests[1], fake_openai.requests[2]
    # everything but the trailing session state (time, open card) is a prefix of the next
    earlier = step["messages"][:-1]
    assert json.dumps(answer["messages"][: len(earlier)]) == json.dumps(earlier)
    assert json.dumps(answer["tools"]) == json.dumps(step["tools"])
    state = answer["messages"][-1]
    assert state["role"] == "system" and "Current time:" in state["content"]
    assert "Current time" not in answer["messages"][2]["content"]
    assert "Today's date:" in answer["messages"][2]["content"]


async def test_the_turn_records_its_cached_share_and_prices_cached_input_lower(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(fake.text("Hello!", usage=(10_000, 100), cached_tokens=8_000))

    turn = await say(conversation_id, "hi")

    assert (turn.prompt_tokens, turn.cached_tokens, turn.completion_tokens) == (10_000, 8_000, 100)
    assert turn.cached_share == 0.8
    # 2,000 x $0.15/M + 8,000 x $0.075/M + 100 x $0.60/M
    assert turn.cost_usd == Decimal("0.000960")
