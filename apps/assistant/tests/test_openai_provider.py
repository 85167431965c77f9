"""The OpenAI provider through the real `openai` client against the fake server."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from apps.assistant.providers import get_provider
from apps.assistant.providers.base import (
    Finished,
    ModelRequest,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    Usage,
)
from apps.assistant.providers.openai import OpenAIProvider
from apps.assistant.tests.recorded_streams import EXPECTED, recorded
from tests.fake_openai import (
    FakeOpenAI,
    cut,
    dynamic,
    error,
    json_output,
    raw_body,
    refusal,
    replay,
    slow,
    stall,
    text,
    tool_calls,
)

ORDER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_order",
        "description": "Look up one of the customer's orders.",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
            "additionalProperties": False,
        },
    },
}

# The smallest schema strict mode accepts: an object with no properties left open.
OK_SCHEMA = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


def request(text: str = "Where is my order?", **kwargs: Any) -> ModelRequest:
    messages = [
        {"role": "system", "content": "You are the store's support assistant."},
        {"role": "user", "content": text},
    ]
    return ModelRequest(messages=messages, **kwargs)


def provider() -> OpenAIProvider:
    made = get_provider()
    assert isinstance(made, OpenAIProvider)
    return made


async def collect(request: ModelRequest) -> list[StreamEvent]:
    return [event async for event in provider().stream(request)]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


async def test_text_streams_as_deltas_then_usage_and_finish(fake_openai: FakeOpenAI) -> None:
    # given
    fake_openai.script(text("Hello there, how can I help?", chunk_size=5, usage=(42, 7)))

    # when
    events = await collect(request(max_tokens=123))

    # then
    deltas = [event for event in events if isinstance(event, TextDelta)]
    assert [delta.text for delta in deltas] == ["Hello", " ther", "e, ho", "w can", " I he", "lp?"]
    assert events[len(deltas) :] == [Usage(42, 7), Finished("stop")]
    sent = fake_openai.last_request
    assert sent["model"] == "gpt-4o-mini"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 123
    assert sent["messages"][1] == {"role": "user", "content": "Where is my order?"}
    assert "tools" not in sent and "parallel_tool_calls" not in sent
    assert fake_openai.headers[-1]["Authorization"] == "Bearer test-key"


async def test_a_tool_call_is_assembled_from_its_fragments(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(tool_calls([("get_order", {"order_id": "#W2611340"})], chunk_size=3))

    events = await collect(request(tools=[ORDER_TOOL]))

    ready = events[0]
    assert isinstance(ready, ToolCallsReady)
    (call,) = ready.calls
    assert call.name == "get_order"
    assert call.arguments == '{"order_id": "#W2611340"}'
    assert call.id.startswith("call_")
    assert events[-1] == Finished("tool_calls")
    assert fake_openai.last_request["tools"] == [ORDER_TOOL]
    assert fake_openai.last_request["parallel_tool_calls"] is False


async def test_parallel_tool_calls_arrive_together_in_order(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        tool_calls(
            [("get_order", {"order_id": "#W1"}), ("get_order", {"order_id": "#W2"})],
            content="Let me check both.",
        )
    )

    events = await collect(request(tools=[ORDER_TOOL]))

    assert text_of(events) == "Let me check both."
    (ready,) = [event for event in events if isinstance(event, ToolCallsReady)]
    assert [(call.name, call.arguments) for call in ready.calls] == [
        ("get_order", '{"order_id": "#W1"}'),
        ("get_order", '{"order_id": "#W2"}'),
    ]
    assert len({call.id for call in ready.calls}) == 2


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
async def test_every_recorded_stream_passes_through_the_real_client(
    fake_openai: FakeOpenAI, prefix: str
) -> None:
    # given: the recorded bytes, served as the API served them
    fake_openai.script(replay(recorded(prefix)))
    expected = EXPECTED[prefix]

    # when
    events = await collect(request())

    # then: the same text and closing events as the chunk assembler makes of them
    deltas = [event for event in events if isinstance(event, TextDelta)]
    assert text_of(events) == expected.text
    assert events[len(deltas) :] == expected.closing()


async def test_a_refusal_reaches_the_customer_as_text(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(refusal("I can't help with that."))

    events = await collect(request())

    assert text_of(events) == "I can't help with that."
    assert events[-1] == Finished("stop")


async def test_429_is_retried_after_the_retry_after_it_asks_for(fake_openai: FakeOpenAI) -> None:
    # given
    fake_openai.script(error(429, retry_after=1), text("Back again."))

    # when
    started = time.monotonic()
    events = await collect(request())
    elapsed = time.monotonic() - started

    # then: one wait of Retry-After (1 s, plus at most 10% of the 0.05 s base as jitter)
    assert text_of(events) == "Back again."
    assert len(fake_openai.requests) == 2
    assert 1.0 <= elapsed < 2.5


async def test_retry_after_as_an_http_date_is_honoured(fake_openai: FakeOpenAI) -> None:
    when = datetime.now(UTC) + timedelta(seconds=2.5)
    fake_openai.script(error(503, retry_after=format_datetime(when, usegmt=True)), text("OK"))

    started = time.monotonic()
    events = await collect(request())
    elapsed = time.monotonic() - started

    # HTTP dates have whole seconds, so the wait is between 1.5 and 2.5 seconds.
    assert text_of(events) == "OK"
    assert 1.3 <= elapsed < 3.0


async def test_a_retry_after_longer_than_the_cap_fails_at_once(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.OPENAI_RETRY_AFTER_CAP = 2.0
    fake_openai.script(error(429, retry_after=30))

    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await collect(request())

    assert raised.value.code == "rate_limited"
    assert raised.value.retryable
    assert time.monotonic() - started < 1.0
    assert len(fake_openai.requests) == 1


async def test_out_of_quota_is_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(error(429, code="insufficient_quota", message="You exceeded your quota"))

    with pytest.raises(ProviderError) as raised:
        await collect(request())

    assert raised.value.code == "rate_limited"
    assert not raised.value.retryable
    assert len(fake_openai.requests) == 1


async def test_500s_are_retried_then_reported_as_provider_unavailable(
    fake_openai: FakeOpenAI,
) -> None:
    # given: OPENAI_MAX_RETRIES=2, so three attempts in all
    fake_openai.script(error(500), error(502), error(500))

    # when
    with pytest.raises(ProviderError) as raised:
        await collect(request())

    # then
    assert raised.value.code == "provider_unavailable"
    assert raised.value.retryable
    assert len(fake_openai.requests) == 3
    assert fake_openai.remaining == 0


async def test_a_500_then_success_streams_normally(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(error(500), text("Recovered."))

    assert text_of(await collect(request())) == "Recovered."


@pytest.mark.parametrize(("status", "code"), [(400, "bad_request"), (401, "auth"), (403, "auth")])
async def test_client_errors_are_not_retried(
    fake_openai: FakeOpenAI, status: int, code: str
) -> None:
    fake_openai.script(error(status))

    with pytest.raises(ProviderError) as raised:
        await collect(request())

    assert raised.value.code == code
    assert not raised.value.retryable
    assert len(fake_openai.requests) == 1


async def test_a_wrong_api_key_is_an_auth_error(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.OPENAI_API_KEY = "wrong-key"

    with pytest.raises(ProviderError) as raised:
        await collect(request())

    assert raised.value.code == "auth"


async def test_a_server_that_never_answers_times_out_after_retries(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    # given: a 0.3 s read timeout and a server that waits 5 s before any header
    settings.OPENAI_READ_TIMEOUT = 0.3
    fake_openai.script(slow(5), slow(5), slow(5))

    # when
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await collect(request())
    elapsed = time.monotonic() - started

    # then: three attempts of 0.3 s plus two short back-offs, not 600 s
    assert raised.value.code == "timeout"
    assert len(fake_openai.requests) == 3
    assert 0.9 <= elapsed < 3.0


async def test_a_slow_first_attempt_is_retried_and_then_answers(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.OPENAI_READ_TIMEOUT = 0.3
    fake_openai.script(slow(5), text("There you are."))

    assert text_of(await collect(request())) == "There you are."


async def test_an_unreachable_server_is_provider_unavailable(settings: Any) -> None:
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{unused_port()}/v1"
    settings.OPENAI_RETRY_BASE_DELAY = 0.01

    with pytest.raises(ProviderError) as raised:
        await collect(request())

    assert raised.value.code == "provider_unavailable"


async def test_a_stream_cut_mid_way_is_stream_broken_not_a_hang(fake_openai: FakeOpenAI) -> None:
    # given: the connection drops after the role chunk and two text chunks
    fake_openai.script(cut(after_chunks=3, then=text("The first words and then nothing.")))

    # when
    received: list[StreamEvent] = []
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        async for event in provider().stream(request()):
            received.append(event)
    elapsed = time.monotonic() - started

    # then: the customer saw the start, the error says what happened, no retry repeated text
    assert text_of(received) == "The first wo"
    assert raised.value.code == "stream_broken"
    assert len(fake_openai.requests) == 1
    assert elapsed < 1.0


async def test_a_stream_that_goes_silent_mid_way_is_stream_broken_within_the_read_timeout(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.OPENAI_READ_TIMEOUT = 0.5
    fake_openai.script(stall(after_chunks=2, seconds=10, then=text("Partial answer here.")))

    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await collect(request())
    elapsed = time.monotonic() - started

    assert raised.value.code == "stream_broken"
    assert 0.5 <= elapsed < 1.5


async def test_a_cut_before_the_first_token_is_retried(fake_openai: FakeOpenAI) -> None:
    # given: only the role chunk arrives, so the customer has seen nothing yet
    fake_openai.script(cut(after_chunks=1), text("Second time lucky."))

    assert text_of(await collect(request())) == "Second time lucky."
    assert len(fake_openai.requests) == 2


async def test_stopping_early_closes_the_stream(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(text("word " * 200, chunk_size=5, delay=0.01), text("Next call works."))

    stream = provider().stream(request())
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    assert isinstance(first, TextDelta)
    assert text_of(await collect(request())) == "Next call works."


async def test_complete_json_returns_the_parsed_object_and_usage(fake_openai: FakeOpenAI) -> None:
    # given
    summary = {"goal": "cancel order #W1", "sentiment": "negative"}
    fake_openai.script(json_output(summary, usage=(300, 25)))
    schema = {
        "type": "object",
        "properties": {"goal": {"type": "string"}, "sentiment": {"type": "string"}},
        "required": ["goal", "sentiment"],
        "additionalProperties": False,
    }

    # when
    parsed, usage = await provider().complete_json(
        system="Summarise.",
        user="the transcript",
        schema_name="summary",
        schema=schema,
        max_tokens=200,
    )

    # then
    assert parsed == summary
    assert usage == Usage(300, 25)
    sent = fake_openai.last_request
    assert "stream" not in sent or sent["stream"] is False
    assert sent["max_completion_tokens"] == 200
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "summary", "schema": schema, "strict": True},
    }
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


async def test_complete_json_retries_like_streaming(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(error(429, retry_after=0.2), json_output({"ok": True}))

    parsed, _ = await provider().complete_json(
        system="s", user="u", schema_name="x", schema=OK_SCHEMA, max_tokens=50
    )

    assert parsed == {"ok": True}
    assert len(fake_openai.requests) == 2


async def test_complete_json_that_is_not_json_is_a_bad_response(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(text("Sure! Here is your summary: ..."))

    with pytest.raises(ProviderError) as raised:
        await provider().complete_json(
            system="s", user="u", schema_name="x", schema=OK_SCHEMA, max_tokens=50
        )

    assert raised.value.code == "bad_response"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Gateway login</body></html>", "text/html"),
        (b'data: {"id": "x", "choices": []}\n\ndata: [DONE]\n\n', "text/event-stream"),
    ],
)
async def test_complete_json_answered_by_something_else_is_a_bad_response(
    fake_openai: FakeOpenAI, body: bytes, content_type: str
) -> None:
    # A 200 that is not a chat completion (a proxy's page, a stream nobody asked for):
    # the SDK hands such a body back as text rather than raising.
    fake_openai.script(raw_body(body, content_type))

    with pytest.raises(ProviderError) as raised:
        await provider().complete_json(
            system="s", user="u", schema_name="x", schema=OK_SCHEMA, max_tokens=50
        )

    assert raised.value.code == "bad_response"


async def test_a_dynamic_response_sees_the_request(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(dynamic(lambda body: "You said: " + body["messages"][-1]["content"]))

    events = await collect(request("ping"))

    assert text_of(events) == "You said: ping"


def test_an_unexpected_call_fails_loudly(settings: Any) -> None:
    # given: a fake with an empty script (started by hand, to inspect what the fixture re-raises)
    fake = FakeOpenAI().start()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = fake.base_url
    try:
        # when
        with pytest.raises(ProviderError) as raised:
            asyncio.run(collect(request("unplanned")))
    finally:
        fake.stop()

    # then: the call failed at once (no retries), and the fixture would fail the test
    assert raised.value.code == "provider_unavailable"
    assert len(fake.requests) == 1
    assert "script is empty" in fake.errors[0]
    assert "unplanned" in fake.errors[0]
    with pytest.raises(Exception, match="script is empty"):
        fake.raise_errors()


def test_the_fake_answers_from_a_plain_sync_test(fake_openai: FakeOpenAI) -> None:
    import openai

    fake_openai.script(text("Sync hello."))
    client = openai.OpenAI(api_key="test-key", base_url=fake_openai.base_url, max_retries=0)

    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )

    assert completion.choices[0].message.content == "Sync hello."
    assert completion.usage is not None and completion.usage.completion_tokens >= 1


def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tool_call_type_is_exported() -> None:
    assert ToolCall("a", "b", "{}").arguments == "{}"


def test_each_event_loop_gets_its_own_client_and_closed_loops_are_forgotten(
    fake_openai: FakeOpenAI,
) -> None:
    from apps.assistant.providers import openai as openai_provider

    fake_openai.script(text("one"), text("two"), text("three"))

    async def two_calls_on_one_loop() -> object:
        await collect(request())
        client = provider()._client()
        await collect(request())
        assert provider()._client() is client  # reused within the loop
        return client

    first = asyncio.run(two_calls_on_one_loop())
    asyncio.run(collect(request()))  # a second loop, as a Celery task's asyncio.run makes

    # then: the first loop's client was dropped when the second loop made its own
    mine = [
        client
        for key, (_, client) in openai_provider._clients.items()
        if fake_openai.base_url in key
    ]
    assert len(mine) == 1
    assert mine[0] is not first


def test_the_fake_server_runs_standalone_for_other_processes(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys
    import urllib.request

    import openai

    # given: a fake in its own process, with one planned answer from a file
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"text": "From the file."}]))
    port = unused_port()
    root = Path(__file__).resolve().parents[3]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", str(port), "--script", str(plan)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert (
            server.stdout.readline().strip() == f"fake OpenAI server on http://127.0.0.1:{port}/v1"
        )
        base = f"http://127.0.0.1:{port}"
        # when: a second answer is queued over HTTP and both are used
        queue = urllib.request.Request(
            f"{base}/_fake/script",
            data=json.dumps([{"tool_calls": [["get_order", {"order_id": "#W9"}]]}]).encode(),
            method="POST",
        )
        with urllib.request.urlopen(queue, timeout=5) as answer:
            assert json.load(answer) == {"queued": 2}
        client = openai.OpenAI(api_key="test-key", base_url=f"{base}/v1", max_retries=0)
        first = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}]
        )
        second = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "b"}]
        )
        with urllib.request.urlopen(f"{base}/_fake/requests", timeout=5) as answer:
            recorded = json.load(answer)
    finally:
        server.terminate()
        server.wait(10)

    # then
    assert first.choices[0].message.content == "From the file."
    calls = second.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].model_dump()["function"]["arguments"] == '{"order_id": "#W9"}'
    assert [r["messages"][0]["content"] for r in recorded["requests"]] == ["a", "b"]
    assert recorded["errors"] == []
