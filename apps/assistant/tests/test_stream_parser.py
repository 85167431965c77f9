"""The chunk assembler, fed every recorded OpenAI stream and some hand-made ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.assistant.providers.base import (
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
)
from apps.assistant.providers.stream import SSEEvents, StreamAssembler, parse_sse_body
from apps.assistant.tests.recorded_streams import EXPECTED, SF_61, recorded
from tests.fake_openai import FIXTURES


def assemble(
    chunks: list[dict[str, Any]], **kwargs: Any
) -> tuple[StreamAssembler, list[StreamEvent]]:
    assembler = StreamAssembler(**kwargs)
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(assembler.feed(chunk))
    events.extend(assembler.finish())
    return assembler, events


def test_every_recorded_stream_has_an_expectation() -> None:
    files = sorted(path.name[:8] for path in FIXTURES.glob("*.sse"))
    assert files == sorted(EXPECTED)
    assert len(files) == 12
    assert (FIXTURES / "LICENSE").read_text().startswith(" " * 33 + "Apache License")
    assert "openai-python" in (FIXTURES / "README.md").read_text()


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_each_recorded_stream_assembles_to_its_text_tool_calls_usage_and_finish(
    prefix: str,
) -> None:
    # given
    expected = EXPECTED[prefix]
    chunks = parse_sse_body(recorded(prefix).read_text(encoding="utf-8"))

    # when
    assembler, events = assemble(chunks)

    # then: text streams first, as deltas that add up to the whole text
    texts = [event.text for event in events if isinstance(event, TextDelta)]
    assert "".join(texts) == expected.text == assembler.text
    assert all(texts)
    # then: the closing events, in order
    assert events[len(texts) :] == expected.closing()
    assert assembler.refused is expected.refused


def test_the_other_choices_of_an_n_3_stream_can_be_followed_too() -> None:
    chunks = parse_sse_body(recorded("a491adda").read_text())

    second, _ = assemble(chunks, choice_index=1)
    third, _ = assemble(chunks, choice_index=2)

    assert second.text == SF_61
    assert third.text == '{"city":"San Francisco","temperature":59,"units":"f"}'


def events_of(body: str) -> list[str]:
    sse = SSEEvents()
    return [data for line in body.splitlines() if (data := sse.feed(line)) is not None]


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_the_provider_line_reader_finds_the_same_chunks_as_the_body_parser(prefix: str) -> None:
    body = recorded(prefix).read_text(encoding="utf-8")

    data = events_of(body)

    assert data[-1] == "[DONE]"
    assert [json.loads(item) for item in data[:-1]] == parse_sse_body(body)


def test_the_line_reader_skips_comments_and_joins_multi_line_data() -> None:
    body = (
        ': keep-alive\n\ndata: {"a":\ndata:1}\nevent: x\nid: 7\n\n'
        ':ping\ndata:[DONE]\n\ndata: {"cut": 1}'
    )

    assert events_of(body) == ['{"a":\n1}', "[DONE]"]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def fragment(index: int, arguments: str, call_id: str = "", name: str = "") -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name:
        function["name"] = name
    body: dict[str, Any] = {"index": index, "function": function}
    if call_id:
        body["id"] = call_id
        body["type"] = "function"
    return {"tool_calls": [body]}


def test_interleaved_fragments_of_parallel_calls_are_assembled_by_index() -> None:
    chunks = [
        chunk(fragment(0, "", "call_a", "get_order")),
        chunk(fragment(1, "", "call_b", "get_order")),
        chunk(fragment(1, '{"order_id":')),
        chunk(fragment(0, '{"order_id":')),
        chunk(fragment(0, '"#W1"}')),
        chunk(fragment(1, '"#W2"}')),
        chunk(finish="tool_calls"),
    ]

    _, events = assemble(chunks)

    assert events == [
        ToolCallsReady(
            calls=(
                ToolCall("call_a", "get_order", '{"order_id":"#W1"}'),
                ToolCall("call_b", "get_order", '{"order_id":"#W2"}'),
            )
        ),
        Finished(reason="tool_calls"),
    ]


def test_a_server_that_repeats_the_id_and_name_on_every_fragment_is_understood() -> None:
    chunks = [
        chunk(fragment(0, '{"a":', "call_a", "lookup")),
        chunk(fragment(0, "1}", "call_a", "lookup")),
        chunk(finish="tool_calls"),
    ]

    assembler, _ = assemble(chunks)

    assert assembler.tool_calls == (ToolCall("call_a", "lookup", '{"a":1}'),)


def test_a_stream_that_ends_without_a_finish_reason_is_broken() -> None:
    assembler = StreamAssembler()
    assert assembler.feed(chunk({"content": "Half an ans"})) == [TextDelta("Half an ans")]

    with pytest.raises(ProviderError) as raised:
        assembler.finish()

    assert raised.value.code == "stream_broken"


def test_a_tool_call_without_a_name_is_broken() -> None:
    chunks = [chunk(fragment(0, "{}", "call_a")), chunk(finish="tool_calls")]

    with pytest.raises(ProviderError) as raised:
        assemble(chunks)

    assert raised.value.code == "stream_broken"


def test_tool_calls_cut_by_the_token_limit_are_not_handed_over() -> None:
    chunks = [
        chunk(fragment(0, '{"order_id": "#W', "call_a", "cancel_order")),
        chunk(finish="length"),
    ]

    _, events = assemble(chunks)

    assert events == [Finished(reason="length")]


def test_an_error_inside_the_stream_is_reported() -> None:
    assembler = StreamAssembler()

    with pytest.raises(ProviderError) as raised:
        assembler.feed({"error": {"message": "The server had an error", "type": "server_error"}})

    assert raised.value.code == "stream_broken"
    assert "The server had an error" in raised.value.message


def test_parse_sse_body_stops_at_done_and_skips_other_lines() -> None:
    body = ': keep-alive\n\ndata: {"choices": []}\n\nevent: x\ndata: [DONE]\n\ndata: {"late": 1}\n'

    assert parse_sse_body(body) == [{"choices": []}]
