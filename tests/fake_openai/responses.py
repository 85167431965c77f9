"""The planned answers a test queues: builders (`text`, `tool_calls`, `error`, ...) and the
response kinds that write them in OpenAI's exact shape, streamed or not."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from tests.fake_openai.server import FakeOpenAI

JsonDict = dict[str, Any]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai-sse"


class Planned(Protocol):
    """One planned answer to one request."""

    async def respond(
        self, request: web.Request, body: JsonDict, fake: FakeOpenAI
    ) -> web.StreamResponse: ...


# --- Response builders ----------------------------------------------------------


def text(
    content: str,
    *,
    chunk_size: int = 6,
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = None,
    cached_tokens: int = 0,
    delay: float = 0.0,
) -> Completion:
    """A plain answer, streamed in pieces of `chunk_size` characters. `cached_tokens` of
    the prompt are reported as served by the prompt cache."""
    return Completion(
        content=content,
        chunk_size=chunk_size,
        finish_reason=finish_reason,
        usage=usage,
        cached_tokens=cached_tokens,
        delay=delay,
    )


def refusal(content: str) -> Completion:
    """The model declines, in its `refusal` field rather than `content`."""
    return Completion(refusal=content, finish_reason="stop")


def tool_calls(
    calls: list[tuple[str, JsonDict | str]],
    *,
    content: str = "",
    chunk_size: int = 7,
    usage: tuple[int, int] | None = None,
    finish_reason: str = "tool_calls",
) -> Completion:
    """One response calling each tool in `calls` (in parallel when there are several).

    Arguments may be a dict (sent as JSON) or a raw string, to send broken JSON. A
    `finish_reason` of "length" makes it a call cut by the token limit.
    """
    return Completion(
        content=content,
        calls=[(name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls],
        chunk_size=chunk_size,
        finish_reason=finish_reason,
        usage=usage,
    )


def json_output(value: JsonDict, *, usage: tuple[int, int] | None = None) -> Completion:
    """Structured output for `complete_json` (a response_format json_schema call)."""
    return Completion(content=json.dumps(value), finish_reason="stop", usage=usage)


def error(
    status: int,
    *,
    retry_after: float | str | None = None,
    message: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> ErrorResponse:
    """An HTTP error in OpenAI's shape; `retry_after` becomes the Retry-After header."""
    return ErrorResponse(
        status=status,
        retry_after=retry_after,
        message=message,
        code=code,
        headers=dict(headers or {}),
    )


def slow(seconds: float, then: Planned | None = None) -> Slow:
    """Wait `seconds` before sending any header, then answer with `then`."""
    return Slow(seconds=seconds, then=then or text("Sorry for the wait."))


def cut(after_chunks: int, then: Completion | None = None) -> Completion:
    """Stream `after_chunks` chunks of `then` (the first holds only the role), then drop
    the connection."""
    base = then or text("This answer will never be finished, because the connection drops.")
    return dataclasses.replace(base, cut_after=after_chunks)


def stall(after_chunks: int, seconds: float, then: Completion | None = None) -> Completion:
    """Stream `after_chunks` chunks of `then`, then go silent for `seconds` with the socket open."""
    base = then or text("This answer stops half-way and the server goes quiet.")
    return dataclasses.replace(base, stall_after=after_chunks, stall_seconds=seconds)


def dynamic(fn: Callable[[JsonDict], Planned | str]) -> Dynamic:
    """Decide the answer from the request body (a str means `text(str)`)."""
    return Dynamic(fn=fn)


def replay(path: str | Path) -> RawSSE:
    """Replay a recorded SSE body byte for byte (streamed requests only)."""
    source = Path(path)
    if not source.is_absolute() and not source.exists():
        source = FIXTURES / source
    return RawSSE(body=source.read_bytes())


# --- Response kinds -------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    content: str = ""
    refusal: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)
    chunk_size: int = 6
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None
    cached_tokens: int = 0
    delay: float = 0.0  # between chunks
    cut_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0

    async def respond(
        self, request: web.Request, body: JsonDict, fake: FakeOpenAI
    ) -> web.StreamResponse:
        number = fake.next_number()
        call_ids = [f"call_fake{number}x{index}" for index in range(len(self.calls))]
        usage = self._usage(body)
        if not body.get("stream"):
            return web.json_response(
                self._completion(body, number, call_ids, usage, self.cached_tokens)
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        chunks = self._chunks(body, number, call_ids)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if include_usage:
            chunks.append(_chunk(body, number, [], usage=_usage_dict(usage, self.cached_tokens)))
        for sent, chunk in enumerate(chunks):
            if self.cut_after is not None and sent == self.cut_after:
                await _drop(request)
                return response
            if self.stall_after is not None and sent == self.stall_after:
                await asyncio.sleep(self.stall_seconds)
            await response.write(_sse(chunk))
            if self.delay:
                await asyncio.sleep(self.delay)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _usage(self, body: JsonDict) -> tuple[int, int]:
        if self.usage is not None:
            return self.usage
        prompt = sum(len(json.dumps(message)) for message in body.get("messages") or [])
        produced = len(self.content) + len(self.refusal) + sum(len(a) for _, a in self.calls)
        return max(1, prompt // 4), max(1, produced // 4)

    def _chunks(self, body: JsonDict, number: int, call_ids: list[str]) -> list[JsonDict]:
        size = max(1, self.chunk_size)
        chunks: list[JsonDict] = []
        first: JsonDict = {"role": "assistant", "content": "" if self.content else None}
        first["refusal"] = None
        chunks.append(_chunk(body, number, [_choice(first)]))
        for start in range(0, len(self.content), size):
            piece = self.content[start : start + size]
            chunks.append(_chunk(body, number, [_choice({"content": piece})]))
        for start in range(0, len(self.refusal), size):
            piece = self.refusal[start : start + size]
            chunks.append(_chunk(body, number, [_choice({"refusal": piece})]))
        for index, ((name, arguments), call_id) in enumerate(
            zip(self.calls, call_ids, strict=True)
        ):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            chunks.append(_chunk(body, number, [_choice({"tool_calls": [head]})]))
            for start in range(0, len(arguments), size):
                fragment = {
                    "index": index,
                    "function": {"arguments": arguments[start : start + size]},
                }
                chunks.append(_chunk(body, number, [_choice({"tool_calls": [fragment]})]))
        chunks.append(_chunk(body, number, [_choice({}, finish_reason=self.finish_reason)]))
        return chunks

    def _completion(
        self,
        body: JsonDict,
        number: int,
        call_ids: list[str],
        usage: tuple[int, int],
        cached_tokens: int = 0,
    ) -> JsonDict:
        message: JsonDict = {
            "role": "assistant",
            "content": self.content or None,
            "refusal": self.refusal or None,
        }
        if self.calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
                for (name, args), call_id in zip(self.calls, call_ids, strict=True)
            ]
        return {
            "id": f"chatcmpl-fake{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": _usage_dict(usage, cached_tokens),
        }


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    retry_after: float | str | None = None
    message: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    async def respond(
        self, request: web.Request, body: JsonDict, fake: FakeOpenAI
    ) -> web.StreamResponse:
        kinds = {
            400: ("invalid_request_error", None),
            401: ("invalid_request_error", "invalid_api_key"),
            403: ("invalid_request_error", None),
            404: ("invalid_request_error", "model_not_found"),
            429: ("requests", "rate_limit_exceeded"),
        }
        kind, default_code = kinds.get(self.status, ("server_error", None))
        payload = {
            "error": {
                "message": self.message or f"fake error {self.status}",
                "type": kind,
                "param": None,
                "code": self.code or default_code,
            }
        }
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return web.json_response(payload, status=self.status, headers=headers)


@dataclass(frozen=True)
class Slow:
    seconds: float
    then: Planned

    async def respond(
        self, request: web.Request, body: JsonDict, fake: FakeOpenAI
    ) -> web.StreamResponse:
        await asyncio.sleep(self.seconds)
        return await self.then.respond(request, body, fake)


@dataclass(frozen=True)
class Dynamic:
    fn: Callable[[JsonDict], Planned | str]

    async def respond(
        self, request: web.Request, body: JsonDict, fake: FakeOpenAI
    ) -> web.StreamResponse:
        planned = self.fn(body)
        if isinstance(planned, str):
            planned = text(planned)
        return await planned.respond(request, body, fake)


@dataclass(frozen=True)
class RawSSE:
    body: bytes

    async def respond(
        self, request: web.Request, body: JsonDict, fake: FakeOpenAI
    ) -> web.StreamResponse:
        if not body.get("stream"):
            raise ScriptError("a recorded stream was planned for a request that is not streamed")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in self.body.split(b"\n\n"):
            if event.strip():
                await response.write(event + b"\n\n")
        await response.write_eof()
        return response


def raw_body(body: bytes, content_type: str) -> RawBody:
    """A 200 answer with any body, streamed or not: what a proxy in the way may send."""
    return RawBody(body, content_type)


@dataclass(frozen=True)
class RawBody:
    body: bytes
    content_type: str

    async def respond(
        self, request: web.Request, body: JsonDict, fake: FakeOpenAI
    ) -> web.StreamResponse:
        return web.Response(body=self.body, headers={"Content-Type": self.content_type})


def from_spec(spec: JsonDict) -> Planned:
    """A planned response from its JSON form (standalone server, `POST /_fake/script`)."""
    if "text" in spec:
        return text(spec["text"], chunk_size=spec.get("chunk_size", 6))
    if "tool_calls" in spec:
        return tool_calls([(name, args) for name, args in spec["tool_calls"]])
    if "json" in spec:
        return json_output(spec["json"])
    if "error" in spec:
        return error(int(spec["error"]), retry_after=spec.get("retry_after"))
    if "slow" in spec:
        then = from_spec(spec["then"]) if "then" in spec else None
        return slow(float(spec["slow"]), then)
    if "cut" in spec:
        then = from_spec(spec["then"]) if "then" in spec else None
        if then is not None and not isinstance(then, Completion):
            raise ScriptError("cut needs a text or tool_calls response to cut")
        return cut(int(spec["cut"]), then)
    if "replay" in spec:
        return replay(spec["replay"])
    raise ScriptError(f"unknown response spec: {spec!r}")


class ScriptError(Exception):
    """The test's script and the requests made do not match."""


def _chunk(
    body: JsonDict, number: int, choices: list[JsonDict], *, usage: JsonDict | None = None
) -> JsonDict:
    chunk: JsonDict = {
        "id": f"chatcmpl-fake{number}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "system_fingerprint": "fp_fake",
        "choices": choices,
    }
    if usage is not None or (body.get("stream_options") or {}).get("include_usage"):
        chunk["usage"] = usage
    return chunk


def _choice(delta: JsonDict, *, finish_reason: str | None = None) -> JsonDict:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _usage_dict(usage: tuple[int, int], cached_tokens: int = 0) -> JsonDict:
    prompt, completion = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": min(cached_tokens, prompt), "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _sse(chunk: JsonDict) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


async def _drop(request: web.Request) -> None:
    """Close the socket mid-body, as a crashed proxy or a lost network would."""
    await asyncio.sleep(0.05)  # let the chunks already written leave the socket
    if request.transport is not None:
        request.transport.abort()
