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


@pytest.mark.parametrize(
    ("answer", "said", "error_code", "finish_reason", "why"),
    [
        pytest.param(
            fake.text("Our return policy has three parts. First, you", finish_reason="length"),
            "explain returns in detail",
            "length",
            "length",
            "max_completion_tokens",
            id="an answer cut by the token limit",
        ),
        pytest.param(
            fake.text("I", finish_reason="content_filter"),
            "something the filter stops",
            "content_filter",
            "content_filter",
            "content filter",
            id="an answer the content filter stopped",
        ),
        pytest.param(
            fake.tool_calls(
                [("search_help_center", '{"query": "how long do ref')], finish_reason="length"
            ),
            "how long do refunds take?",
            "length",
            "length",
            "in the middle of a tool call",
            id="a tool call cut by the token limit",
        ),
        pytest.param(
            fake.text(""),
            "hello?",
            "empty_reply",
            "stop",
            "without any text",
            id="an answer without any text",
        ),
    ],
)
async def test_an_answer_that_ended_early_is_never_stored_as_the_reply(
    fake_openai, answer, said, error_code, finish_reason, why
):
    conversation_id = await conversation()
    fake_openai.script(answer)

    turn = await say(conversation_id, said)

    stored = await events(conversation_id)
    assert assistant_messages(stored) == []
    assert notices(stored) == [engine.ERROR_TEXT[error_code]]
    assert (turn.status, turn.error_code, turn.finish_reason) == (
        Turn.Status.FAILED,
        error_code,
        finish_reason,
    )
    assert why in turn.error_message
    assert turn.tool_calls == []


async def test_a_normal_answer_records_its_finish_reason(fake_openai):
    conversation_id = await conversation()
    fake_openai.script(fake.text("Hello! How can I help?"))

    turn = await say(conversation_id, "hi")

    assert assistant_messages(await events(conversation_id)) == ["Hello! How can I help?"]
    assert (turn.status, turn.finish_reason) == (Turn.Status.COMPLETED, "stop")
