"""Assemble streamed Chat Completions chunks into our provider events.

Pure and synchronous, so every recorded stream can be replayed through it in a
unit test without a server. The OpenAI provider reads the SSE lines itself
(`SSEEvents`) and feeds it each `data:` payload after one `json.loads`, so no
SDK model is built per chunk; tests feed it the JSON dicts of recorded lines.

What the wire format does, and what we make of it:
- `delta.content` pieces are text for the customer: one `TextDelta` each.
- `delta.refusal` pieces are the model declining; the customer must see that
  sentence too, so they are text as well (and `refused` is set).
- `delta.tool_calls` arrive in fragments keyed by `index`: the first fragment
  of a call carries its `id` and function `name`, later ones only pieces of the
  `arguments` JSON text. Parallel calls use index 0, 1, ...; fragments of
  different calls may interleave.
- `finish_reason` arrives on the choice's last chunk; with
  `stream_options.include_usage` a final chunk with empty `choices` carries the
  token usage.
Only one choice is followed (we never ask for `n > 1`); others are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from .base import (
    ErrorCode,
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    Usage,
)


class FunctionDelta(TypedDict, total=False):
    name: str | None
    arguments: str | None


class ToolCallDelta(TypedDict, total=False):
    index: int
    id: str | None
    type: str | None
    function: FunctionDelta | None


class ChoiceDelta(TypedDict, total=False):
    role: str | None
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCallDelta] | None


class ChunkChoice(TypedDict, total=False):
    index: int
    delta: ChoiceDelta
    finish_reason: str | None


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int


class ChunkUsage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    prompt_tokens_details: PromptTokensDetails | None


class Chunk(TypedDict, total=False):
    """The part of a `chat.completion.chunk` we read."""

    id: str
    model: str
    choices: list[ChunkChoice]
    usage: ChunkUsage | None
    error: dict[str, Any]


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class StreamAssembler:
    """Fed one chunk at a time; returns the events each chunk produces."""

    def __init__(self, *, choice_index: int = 0) -> None:
        self.choice_index = choice_index
        self.text = ""
        self.refused = False
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.chunks = 0
        self._calls: dict[int, _PartialCall] = {}

    def feed(self, chunk: Chunk | Mapping[str, Any]) -> list[TextDelta]:
        """Take one chunk; return the text it adds (tool calls wait for `finish`)."""
        data: Mapping[str, Any] = chunk
        self.chunks += 1
        if data.get("error"):
            error = data["error"]
            message = error.get("message") if isinstance(error, Mapping) else str(error)
            raise ProviderError(
                ErrorCode.STREAM_BROKEN,
                f"the model stream reported an error: {message}",
                retryable=False,
            )
        usage = data.get("usage")
        if usage:
            details = usage.get("prompt_tokens_details") or {}
            self.usage = Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                cached_tokens=int(details.get("cached_tokens") or 0),
            )
        events: list[TextDelta] = []
        for choice in data.get("choices") or ():
            if int(choice.get("index") or 0) != self.choice_index:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text += content
                events.append(TextDelta(text=content))
            refusal = delta.get("refusal")
            if refusal:
                self.refused = True
                self.text += refusal
                events.append(TextDelta(text=refusal))
            for fragment in delta.get("tool_calls") or ():
                self._take_tool_fragment(fragment)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return events

    def _take_tool_fragment(self, fragment: Mapping[str, Any]) -> None:
        index = fragment.get("index")
        if not isinstance(index, int):
            raise ProviderError(
                ErrorCode.STREAM_BROKEN, "a streamed tool call had no index", retryable=False
            )
        call = self._calls.setdefault(index, _PartialCall())
        # Some OpenAI-compatible servers repeat the id and name on every fragment.
        if fragment.get("id") and not call.id:
            call.id = str(fragment["id"])
        function = fragment.get("function") or {}
        name = function.get("name")
        if name and name != call.name:
            if call.name:
                raise ProviderError(
                    ErrorCode.STREAM_BROKEN, f"tool call {index} changed its name", retryable=False
                )
            call.name = str(name)
        call.arguments += function.get("arguments") or ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The calls assembled so far, in index order."""
        return tuple(
            ToolCall(id=call.id, name=call.name, arguments=call.arguments)
            for _, call in sorted(self._calls.items())
        )

    def finish(self) -> list[StreamEvent]:
        """The closing events once the stream has ended: tool calls, usage, finish.

        A stream that ends without a finish reason was cut off, and what it
        assembled cannot be trusted, so that is an error, not a short answer.
        """
        if self.finish_reason is None:
            raise ProviderError(
                ErrorCode.STREAM_BROKEN, "the model stream ended without a finish reason"
            )
        events: list[StreamEvent] = []
        calls = self.tool_calls
        # A response cut by the token limit or the content filter has half-written
        # arguments; its finish reason says so, and nothing may be executed from it.
        if calls and self.finish_reason in {"tool_calls", "stop"}:
            for index, call in sorted(self._calls.items()):
                if not call.id or not call.name:
                    raise ProviderError(
                        ErrorCode.STREAM_BROKEN,
                        f"tool call {index} arrived without an id or name",
                        retryable=False,
                    )
            events.append(ToolCallsReady(calls=calls))
        if self.usage is not None:
            events.append(self.usage)
        events.append(Finished(reason=self.finish_reason))
        return events


class SSEEvents:
    """A Server-Sent Events stream, fed one line at a time, as the `data` of each event.

    As the `openai` SDK reads it: `data:` lines of one event are joined with a
    newline, an empty line ends the event, `:` lines are keep-alive comments,
    other fields (`event`, `id`, `retry`) are ignored, and an event left open
    when the stream ends is dropped.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """The data of the event this line ends, or None."""
        if not line:
            if not self._data:
                return None
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            self._data = []
            return data
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
        elif line == "data":
            self._data.append("")
        return None


def parse_sse_body(body: str) -> list[dict[str, Any]]:
    """The JSON chunks of a raw Chat Completions SSE body, up to `data: [DONE]`."""
    chunks: list[dict[str, Any]] = []
    for line in body.splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[len("data:") :].strip()
        if payload == "[DONE]":
            break
        chunks.append(json.loads(payload))
    return chunks
