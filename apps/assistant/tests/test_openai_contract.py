"""Everything the project sends to OpenAI, held against OpenAI's request contract.

The checker is the one the fake server runs on every request (tests/openai_contract.py),
so a schema that passes here is also what the rest of the suite exercises.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from django.conf import settings

from apps.assistant.providers.base import ModelRequest
from apps.assistant.providers.openai import OpenAIProvider
from apps.assistant.tools import REGISTRY, RESPONSE_FORMATS
from tests.fake_openai import FakeOpenAI, text
from tests.openai_contract import (
    check_request,
    response_format_problem,
    strict_schema_problem,
    tool_problem,
)

pytestmark = pytest.mark.django_db


def provider() -> OpenAIProvider:
    return OpenAIProvider(api_key="k", base_url=None, model="gpt-4o-mini")


def turn_body(tools: list[dict[str, Any]]) -> dict[str, Any]:
    request = ModelRequest(
        messages=[
            {"role": "system", "content": "platform"},
            {"role": "user", "content": "Where is my order?"},
        ],
        tools=tools,
        max_tokens=settings.SUPPORTBOT_MAX_OUTPUT_TOKENS,
        temperature=settings.SUPPORTBOT_TEMPERATURE,
        cache_key="conversation-1",
    )
    return provider().stream_params(request)


# --- What the project sends ------------------------------------------------------------


def test_every_registered_tool_schema_is_accepted_by_strict_mode() -> None:
    assert {"search_help_center", "verify_customer", "calculate", "escalate_to_human"} <= set(
        REGISTRY
    )
    problems = {name: tool_problem(spec.openai_schema()) for name, spec in REGISTRY.items()}

    assert {name: problem for name, problem in problems.items() if problem} == {}
    for spec in REGISTRY.values():
        assert spec.openai_schema()["function"]["strict"] is True


def test_every_tool_argument_is_described_for_the_model() -> None:
    undescribed = [
        f"{name}.{field}"
        for name, spec in REGISTRY.items()
        for field, schema in spec.openai_schema()["function"]["parameters"]["properties"].items()
        if not _described(schema)
    ]

    assert undescribed == []


def _described(schema: dict[str, Any]) -> bool:
    return bool(schema.get("description")) and len(schema["description"]) >= 15


def test_a_turn_with_every_tool_at_once_is_a_valid_request() -> None:
    body = turn_body([spec.openai_schema() for spec in REGISTRY.values()])

    assert check_request(body) is None
    assert body["parallel_tool_calls"] is False
    assert body["max_completion_tokens"] == settings.SUPPORTBOT_MAX_OUTPUT_TOKENS
    assert "max_tokens" not in body
    assert body["prompt_cache_key"] == "conversation-1"


def test_every_response_format_the_project_sends_is_accepted() -> None:
    # the model screen, the conversation analysis and the hand-over summary at least
    assert {"input_screen", "conversation_analysis", "handover_summary"} <= set(RESPONSE_FORMATS)

    for name, schema in RESPONSE_FORMATS.items():
        body = provider().json_params(
            system="Answer only with the JSON object.",
            user="data",
            schema_name=name,
            schema=schema,
            max_tokens=300,
        )
        assert check_request(body) is None, name


# --- What the checker refuses -----------------------------------------------------------


def tool_with(parameters: dict[str, Any], *, name: str = "search") -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": "d", "parameters": parameters, "strict": True},
    }


def obj(**properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    "keyword",
    ["minLength", "maxLength", "minProperties", "patternProperties", "uniqueItems", "allOf", "not"],
)
def test_strict_mode_refuses_keywords_it_does_not_support(keyword: str) -> None:
    schema = obj(query={"type": "string", keyword: 1})

    problem = strict_schema_problem(schema)

    assert problem == f"In context=('properties', 'query'), '{keyword}' is not permitted."


def test_the_old_search_help_center_schema_is_refused() -> None:
    old = tool_with(
        obj(query={"type": "string", "minLength": 1, "maxLength": 300}),
        name="search_help_center",
    )

    assert "'minLength' is not permitted" in (tool_problem(old) or "")


def test_strict_mode_wants_every_property_required_and_no_extra_properties() -> None:
    loose = obj(a={"type": "string"})
    del loose["additionalProperties"]
    partial = obj(a={"type": "string"}, b={"type": "string"})
    partial["required"] = ["a"]
    nested = obj(inner={"type": "object", "properties": {}, "required": []})

    assert "'additionalProperties' is required" in (strict_schema_problem(loose) or "")
    assert "Missing 'b'" in (strict_schema_problem(partial) or "")
    assert "context=('properties', 'inner')" in (strict_schema_problem(nested) or "")
    assert 'type: "object"' in (strict_schema_problem({"type": "array"}) or "")


def test_a_strict_json_schema_response_format_is_checked_too() -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {}}}

    assert "Invalid schema for response_format 'x'" in (response_format_problem(bad) or "")


def base_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_completion_tokens": 16_385}, "max_completion_tokens"),
        ({"max_tokens": 10, "max_completion_tokens": 10}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"response_format": {"type": "json_object"}}, "messages"),
        ({"frobnicate": True}, "frobnicate"),
        ({"tools": [tool_with(obj(), name="has space")]}, "tools[0].function.name"),
        ({"tools": [tool_with(obj(), name="a"), tool_with(obj(), name="a")]}, "tools[1]"),
        ({"tools": [tool_with(obj(), name=f"t{i}") for i in range(129)]}, "tools"),
    ],
)
def test_request_parameters_outside_the_contract_are_refused(
    extra: dict[str, Any], param: str
) -> None:
    invalid = check_request(base_body(**extra))

    assert invalid is not None and invalid.param == param


def test_json_object_is_allowed_when_the_messages_mention_json() -> None:
    body = base_body(response_format={"type": "json_object"})
    body["messages"][0]["content"] = "Answer in JSON."

    assert check_request(body) is None


def call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}


def test_tool_calls_must_be_answered_once_each_before_anything_else() -> None:
    asked = {"role": "assistant", "content": None, "tool_calls": [call("a"), call("b")]}
    answer_a = {"role": "tool", "tool_call_id": "a", "content": "{}"}
    answer_b = {"role": "tool", "tool_call_id": "b", "content": "{}"}
    user = {"role": "user", "content": "and?"}

    def problem(*messages: dict[str, Any]) -> str:
        invalid = check_request({"model": "m", "messages": list(messages)})
        return invalid.message if invalid else ""

    assert problem(user, asked, answer_a, answer_b, user) == ""
    assert "did not have response messages: b" in problem(user, asked, answer_a, user)
    assert "did not have response messages: b" in problem(user, asked, answer_a)
    assert "must be a response to a preceeding message" in problem(user, answer_a)
    assert "must be a response" in problem(user, asked, answer_a, answer_b, answer_a)
    assert "content" in problem({"role": "user"})
    assert "content" in problem(user, {"role": "assistant", "content": None})


async def test_the_fake_server_answers_a_violation_with_openais_400(
    fake_openai: FakeOpenAI,
) -> None:
    # given
    fake_openai.expect_refusals()
    fake_openai.script(text("never sent"))
    client = openai.AsyncOpenAI(api_key="test-key", base_url=fake_openai.base_url, max_retries=0)
    bad_tool = tool_with(obj(query={"type": "string", "maxLength": 300}))

    # when
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            tools=[bad_tool],  # type: ignore[list-item]
        )

    # then
    assert raised.value.status_code == 400
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    assert body["param"] == "tools[0].function.parameters"
    assert body["code"] == "invalid_function_parameters"
    assert "'maxLength' is not permitted" in body["message"]
    assert fake_openai.remaining == 1  # a refused request takes no planned answer
    await client.close()


def test_a_violation_fails_the_test_that_made_it() -> None:
    fake = FakeOpenAI(api_key="k").start()
    try:
        client = openai.OpenAI(api_key="k", base_url=fake.base_url, max_retries=0)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                stream_options={"include_usage": True},
            )
    finally:
        fake.stop()

    assert fake.errors and "would get a 400" in fake.errors[0]
