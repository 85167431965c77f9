"""A response that ended early (finish_reason `length` or `content_filter`, a cut tool
call, no text at all) is never stored as a completed reply: the customer gets a clear
line and the turn's audit says why."""

from __future__ import annotations

import pytest

from apps.chat import engine
from apps.chat.models import Message, Turn
from apps.orders.tests.model_turns import conversation, events, say
from tests import fake_openai as fake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def assistant_messages(stored: list[tuple[str, str, str]]) -> list[str]:
    return [text for kind, role, text in stored if kind == "message" and role == "assistant"]


def notices(stored: list[tuple[str, str, str]]) -> list[str]:
    return [text for kind, _role, text in stored if kind == Message.Kind.NOTICE]


async def test_an_answer_cut_by_the_token_limit_is_not_stored_as_the_reply(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(
        fake.text("Our return policy has three parts. First, you", finish_reason="length")
    )

    turn = await say(conversation_id, "explain returns in detail")

    stored = await events(conversation_id)
    assert assistant_messages(stored) == []
    assert notices(stored) == [engine.ERROR_TEXT["length"]]
    assert turn.status == Turn.Status.FAILED
    assert turn.error_code == "length"
    assert turn.finish_reason == "length"
    assert "max_completion_tokens" in turn.error_message


async def test_a_content_filtered_answer_is_replaced_by_a_clear_line(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(fake.text("I", finish_reason="content_filter"))

    turn = await say(conversation_id, "something the filter stops")

    stored = await events(conversation_id)
    assert assistant_messages(stored) == []
    assert notices(stored) == [engine.ERROR_TEXT["content_filter"]]
    assert (turn.status, turn.error_code, turn.finish_reason) == (
        Turn.Status.FAILED,
        "content_filter",
        "content_filter",
    )


async def test_a_tool_call_cut_by_the_token_limit_is_not_run_nor_an_empty_reply(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(
        fake.tool_calls(
            [("search_help_center", '{"query": "how long do ref')], finish_reason="length"
        )
    )

    turn = await say(conversation_id, "how long do refunds take?")

    stored = await events(conversation_id)
    assert assistant_messages(stored) == []
    assert turn.tool_calls == []
    assert turn.error_code == "length"
    assert "in the middle of a tool call" in turn.error_message
    assert notices(stored) == [engine.ERROR_TEXT["length"]]


async def test_an_answer_without_any_text_is_not_an_empty_reply(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(fake.text(""))

    turn = await say(conversation_id, "hello?")

    assert assistant_messages(await events(conversation_id)) == []
    assert (turn.status, turn.error_code, turn.finish_reason) == (
        Turn.Status.FAILED,
        "empty_reply",
        "stop",
    )


async def test_a_normal_answer_records_its_finish_reason(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(fake.text("Hello! How can I help?"))

    turn = await say(conversation_id, "hi")

    assert assistant_messages(await events(conversation_id)) == ["Hello! How can I help?"]
    assert (turn.status, turn.finish_reason) == (Turn.Status.COMPLETED, "stop")
