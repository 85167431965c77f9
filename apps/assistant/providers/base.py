"""The provider interface: one streamed chat call, typed events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypedDict, Unpack


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw JSON text the model produced; validated by the tool registry


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallsReady:
    """Every tool call of one model response, assembled from the streamed deltas."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int  # all input tokens, cached ones included
    completion_tokens: int
    cached_tokens: int = 0  # the part of prompt_tokens read from OpenAI's prompt cache


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop", "tool_calls", "length", "content_filter"


StreamEvent = TextDelta | ToolCallsReady | Usage | Finished


@dataclass
class ModelRequest:
    messages: list[dict[str, Any]]  # Chat Completions messages, layers first
    tools: list[dict[str, Any]] = field(default_factory=list)  # strict function schemas
    max_tokens: int = 600  # sent as max_completion_tokens
    temperature: float = 0.2
    # OpenAI routes requests with the same key and prefix to the same prompt cache;
    # one key per conversation keeps a chat's turns together.
    cache_key: str = ""
    # Structured session facts (verified or not, customer name). The OpenAI provider
    # ignores them: the model reads the session layer instead. The local assistant,
    # which has no language model, reads them here.
    context: dict[str, Any] = field(default_factory=dict)


class JsonCall(TypedDict):
    """One non-streamed call with structured output: `complete_json`'s arguments."""

    system: str
    user: str
    schema_name: str  # declared with `tools.output_schema`
    schema: dict[str, Any]
    max_tokens: int


class ErrorCode(StrEnum):
    """Why a model call failed; the value is the code the customer's error frame carries.

    `retryable` says whether another attempt may help by default; a failure can say
    otherwise (an exhausted quota is a 429 that waiting does not fix, a server's
    `x-should-retry` header overrides, a malformed stream is not retried).
    """

    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    STREAM_BROKEN = "stream_broken"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    BAD_RESPONSE = "bad_response"
    UNSUPPORTED = "unsupported"
    # The response ended early (its finish_reason), or said nothing: never a reply.
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    EMPTY_REPLY = "empty_reply"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.TIMEOUT,
        ErrorCode.PROVIDER_UNAVAILABLE,
        ErrorCode.STREAM_BROKEN,
    }
)


class ProviderError(Exception):
    """A model call that failed. `code` is shown to the customer in the error frame;
    `retryable` is the code's default unless the failure says otherwise."""

    def __init__(
        self, code: ErrorCode | str, message: str, *, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.retryable = self.code.retryable if retryable is None else retryable


class Provider(Protocol):
    name: str  # "openai" or "local"
    model: str

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Stream one model response: text deltas, then tool calls, usage and finish."""
        ...

    async def complete_json(self, **call: Unpack[JsonCall]) -> tuple[dict[str, Any], Usage]:
        """One non-streamed call with structured (json_schema, strict) output."""
        ...
