"""A scripted, OpenAI-compatible HTTP server for tests: the one seam where the model is faked.

The server speaks enough of the Chat Completions API for the real `openai`
client: `POST /v1/chat/completions`, streamed (SSE chunks in OpenAI's exact
shape, a usage chunk when `stream_options.include_usage` is set, `[DONE]`) or
not, error bodies in OpenAI's shape, `GET /v1/models`, `POST /v1/embeddings`
(deterministic vectors, see "Embeddings" below) and enough of files and batches.

It is strict: every request is checked against OpenAI's documented contract
(tests/openai_contract.py) and a violation is answered with a 400 in OpenAI's
shape, without taking a planned response. The violation is also recorded as an
error, so a request a real model would refuse fails the test; a test that sends
one on purpose calls `fake.expect_refusals()`.

It is scripted: a test queues planned responses and each request takes the
next one. A request that finds the queue empty gets an HTTP 500 naming the
problem and is recorded as an error, which the `fake_openai` fixture re-raises
when the test ends, so an unexpected model call can never pass quietly.

    def test_something(fake_openai):
        fake_openai.script(
            tool_calls([("get_order", {"order_id": "#W1"})]),
            text("Your order has shipped."),
        )
        ...
        assert fake_openai.requests[1]["messages"][-1]["role"] == "tool"

It runs on its own thread and event loop on 127.0.0.1, so sync tests, async
tests and other processes (Daphne subprocesses: see `FakeOpenAI.env()`) can all
reach it. Standalone, for a process of its own:

    python -m tests.fake_openai --port 8765 --script plan.json

where plan.json is a list of specs like `{"text": "Hello"}` (see `from_spec`);
more can be queued with `POST /_fake/script` and the recorded requests read
from `GET /_fake/requests`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp import web

from tests.openai_contract import check_request

JsonDict = dict[str, Any]

FIXTURES = Path(__file__).parent / "fixtures" / "openai-sse"


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


# --- The server -------------------------------------------------------------------


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


class FakeOpenAI:
    """The server; `start()` runs it on a background thread."""

    def __init__(self, *, api_key: str | None = "test-key", port: int = 0) -> None:
        self.api_key = api_key
        self.requested_port = port
        self.requests: list[JsonDict] = []
        self.headers: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.refusals: list[JsonDict] = []  # the 400 bodies sent for contract violations
        self.refusals_expected = False
        self.embedding_requests: list[JsonDict] = []
        self.embedder: Callable[[str, int], list[float]] | None = None
        self.port = 0
        self._queue: collections.deque[Planned] = collections.deque()
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # --- scripting

    def script(self, *responses: Planned) -> None:
        """Queue planned responses, answered in order, one per request."""
        with self._lock:
            self._queue.extend(responses)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def last_request(self) -> JsonDict:
        if not self.requests:
            raise AssertionError("the fake OpenAI server has received no request")
        return self.requests[-1]

    def next_number(self) -> int:
        return next(self._numbers)

    def embed_with(self, fn: Callable[[str, int], list[float]]) -> None:
        """Answer /v1/embeddings with `fn(text, dimensions)` instead of `hashed_embedding`."""
        self.embedder = fn

    @property
    def embedded_texts(self) -> list[str]:
        """Every text sent to /v1/embeddings, in order."""
        texts: list[str] = []
        for body in self.embedding_requests:
            items = body.get("input")
            texts.extend(str(item) for item in (items if isinstance(items, list) else [items]))
        return texts

    def expect_refusals(self) -> None:
        """This test sends requests OpenAI refuses on purpose: answer 400, record nothing."""
        self.refusals_expected = True

    def raise_errors(self) -> None:
        if self.errors:
            raise ScriptError("fake OpenAI server: " + "; ".join(self.errors))

    # --- addresses

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (Daphne, a worker) that should talk to this server."""
        return {
            "OPENAI_API_KEY": self.api_key or "test-key",
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_CONNECT_TIMEOUT": "1",
            "OPENAI_READ_TIMEOUT": "2",
            "OPENAI_MAX_RETRIES": "2",
        }

    # --- life cycle

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake OpenAI server did not start in 10 s")
        if self._startup_error is not None:
            raise RuntimeError("the fake OpenAI server failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model}", self._model)
        app.router.add_post("/_fake/script", self._add_script)
        app.router.add_get("/_fake/requests", self._recorded)
        add_batch_routes(app, self)  # see "Files and batches" below
        add_embedding_routes(app, self)  # see "Embeddings" below
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        # handler_cancellation: a slow answer stops when the client gives up on it.
        runner = web.AppRunner(
            app, shutdown_timeout=0.5, handler_cancellation=True, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.requested_port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    # --- handlers

    def _fail(self, message: str) -> web.Response:
        self.errors.append(message)
        # x-should-retry: false, so the provider does not retry into more failures.
        return web.json_response(
            {"error": {"message": message, "type": "server_error", "param": None, "code": None}},
            status=500,
            headers={"x-should-retry": "false"},
        )

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return await error(401, message="Incorrect API key provided.").respond(
                request, {}, self
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._fail("a chat completion request body was not JSON")
        invalid = check_request(body)
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            if invalid is not None:
                self.refusals.append(invalid.body())
                if not self.refusals_expected:
                    self.errors.append(
                        f"request #{len(self.requests)} breaks OpenAI's contract and would get "
                        f"a 400: {invalid.message} (param {invalid.param})"
                    )
                return web.json_response(invalid.body(), status=400)
            planned = self._queue.popleft() if self._queue else None
        if planned is None:
            return self._fail(
                f"unexpected model call #{len(self.requests)}: the script is empty "
                f"(last message: {_last_message(body)!r})"
            )
        try:
            return await planned.respond(request, body, self)
        except Exception as exc:  # a broken plan (or an assertion in a dynamic one)
            return self._fail(f"planned response #{len(self.requests)} failed: {exc!r}")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [_model_card("gpt-4o-mini")]})

    async def _model(self, request: web.Request) -> web.Response:
        return web.json_response(_model_card(request.match_info["model"]))

    async def _add_script(self, request: web.Request) -> web.Response:
        specs = await request.json()
        try:
            self.script(*(from_spec(spec) for spec in specs))
        except (ScriptError, KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"queued": self.remaining})

    async def _recorded(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"requests": self.requests, "errors": self.errors, "remaining": self.remaining}
        )

    async def _unknown(self, request: web.Request) -> web.Response:
        message = f"the fake OpenAI server has no {request.method} {request.path}"
        self.errors.append(message)
        return web.json_response(
            {"error": {"message": message, "type": "invalid_request_error", "code": None}},
            status=404,
        )


def _model_card(model: str) -> JsonDict:
    return {"id": model, "object": "model", "created": 0, "owned_by": "fake"}


def _last_message(body: JsonDict) -> str:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content")
    return str(content)[:200]


# --- Files and batches (the Batch API, for apps.reports' nightly analysis) ----------
#
# Enough of /v1/files and /v1/batches for the openai client: upload a JSONL file,
# create a batch on it, retrieve it, download its output. A batch stays
# "in_progress" until a test sets `fake.batch_answer`, a function from one request
# body to the answer's JSON content (a dict) or to an Exception for a failed line;
# the next retrieve then runs every line through it and completes the batch.


@dataclass
class BatchState:
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, JsonDict] = field(default_factory=dict)


def _batch_state(fake: FakeOpenAI) -> BatchState:
    state = getattr(fake, "_batch_state", None)
    if state is None:
        state = BatchState()
        fake._batch_state = state  # type: ignore[attr-defined]
    return state


def add_batch_routes(app: web.Application, fake: FakeOpenAI) -> None:
    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        content = upload.file.read() if isinstance(upload, web.FileField) else b""
        file_id = f"file-fake{fake.next_number()}"
        _batch_state(fake).files[file_id] = content
        return web.json_response(_file_card(file_id, len(content), str(form.get("purpose", ""))))

    async def content(request: web.Request) -> web.Response:
        data = _batch_state(fake).files.get(request.match_info["file_id"])
        if data is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        fake.requests.append({"batch": body})
        batch_id = f"batch_fake{fake.next_number()}"
        batch: JsonDict = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"],
            "status": "in_progress",
            "created_at": int(time.time()),
            "output_file_id": None,
            "error_file_id": None,
            "metadata": body.get("metadata"),
        }
        _batch_state(fake).batches[batch_id] = batch
        return web.json_response(batch)

    async def retrieve(request: web.Request) -> web.Response:
        state = _batch_state(fake)
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        answer = getattr(fake, "batch_answer", None)
        if batch["status"] == "in_progress" and answer is not None:
            lines = state.files[batch["input_file_id"]].decode().splitlines()
            requests = [json.loads(line) for line in lines if line.strip()]
            for request_line in requests:
                invalid = check_request(request_line["body"])
                if invalid is not None and not fake.refusals_expected:
                    fake.errors.append(
                        f"batch line {request_line['custom_id']} breaks OpenAI's contract: "
                        f"{invalid.message}"
                    )
            output = [_batch_line(request_line, answer) for request_line in requests]
            output_id = f"file-fake{fake.next_number()}"
            state.files[output_id] = ("\n".join(output) + "\n").encode()
            batch.update(status="completed", output_file_id=output_id)
        return web.json_response(batch)

    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{file_id}/content", content)
    app.router.add_post("/v1/batches", create)
    app.router.add_get("/v1/batches/{batch_id}", retrieve)


def _file_card(file_id: str, size: int, purpose: str) -> JsonDict:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": "input.jsonl",
        "purpose": purpose,
        "status": "processed",
    }


def _batch_line(request_line: JsonDict, answer: Callable[[JsonDict], Any]) -> str:
    custom_id = request_line["custom_id"]
    invalid = check_request(request_line["body"])
    if invalid is not None:
        # The Batch API answers a line OpenAI refuses with that line's 400.
        return json.dumps(
            {
                "custom_id": custom_id,
                "response": {"status_code": 400, "body": invalid.body()},
                "error": None,
            }
        )
    result = answer(request_line["body"])
    if isinstance(result, Exception):
        line: JsonDict = {
            "custom_id": custom_id,
            "response": None,
            "error": {"code": "server_error", "message": str(result)},
        }
    else:
        line = {
            "custom_id": custom_id,
            "response": {
                "status_code": 200,
                "body": {
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": json.dumps(result)},
                        }
                    ],
                    "usage": _usage_dict((300, 40)),
                },
            },
            "error": None,
        }
    return json.dumps(line)


# --- Embeddings (/v1/embeddings, for the help center's semantic search) -------------
#
# Strict like the chat endpoint: a request OpenAI would refuse (unknown model or
# parameter, an empty string, more than 2048 inputs, `dimensions` on a model without
# it, an unknown encoding) gets OpenAI's 400 and fails the test. The vectors are
# deterministic: by default `hashed_embedding`, word and character-trigram features
# hashed into the requested dimensions, so texts that share words and spellings are
# close, as they are for a real model, and a typo stays near its word. A test can
# script its own with `fake.embed_with(fn)` (text, dimensions -> vector). Every
# request body is kept in `fake.embedding_requests` (not in `requests`, which is
# the chat's).

EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
EMBEDDING_PARAMETERS = {"model", "input", "encoding_format", "dimensions", "user"}
MAX_EMBEDDING_INPUTS = 2048
MAX_EMBEDDING_INPUT_CHARS = 8191 * 4  # about 8191 tokens


def hashed_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text` (the same in every process and run)."""
    import hashlib
    import math
    import re

    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        features = [(f"w:{word}", 1.0)]
        padded = f"<{word}>"
        features += [(f"t:{padded[i : i + 3]}", 0.5) for i in range(len(padded) - 2)]
        for feature, weight in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % dimensions
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[slot] += sign * weight
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _embedding_refusal(body: Any) -> tuple[str, str | None] | None:
    """(message, param) of the 400 OpenAI would answer, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object.", None
    for key in body:
        if key not in EMBEDDING_PARAMETERS:
            return f"Unrecognized request argument supplied: {key}", key
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "you must provide a model parameter", "model"
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    if not items or len(items) > MAX_EMBEDDING_INPUTS:
        return f"'$.input' must hold 1 to {MAX_EMBEDDING_INPUTS} items.", "input"
    for item in items:
        is_tokens = isinstance(item, list) and item and all(isinstance(t, int) for t in item)
        if not (isinstance(item, str) and item) and not is_tokens:
            return "'$.input' is invalid. Please check the API reference.", "input"
        if isinstance(item, str) and len(item) > MAX_EMBEDDING_INPUT_CHARS:
            return "This model's maximum context length is 8192 tokens.", "input"
    if body.get("encoding_format", "float") not in {"float", "base64"}:
        return "Invalid value for 'encoding_format': expected float or base64.", "encoding_format"
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not model.startswith("text-embedding-3"):
            return "This model does not support specifying dimensions.", "dimensions"
        if not isinstance(dimensions, int) or not 1 <= dimensions <= EMBEDDING_MODELS.get(model, 0):
            return "Invalid value for 'dimensions'.", "dimensions"
    return None


def add_embedding_routes(app: web.Application, fake: FakeOpenAI) -> None:
    async def embeddings(request: web.Request) -> web.Response:
        if fake.api_key and request.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return fake._fail("an embeddings request body was not JSON")
        fake.embedding_requests.append(body)
        refused = _embedding_refusal(body)
        if refused is None and body["model"] not in EMBEDDING_MODELS:
            message = f"The model `{body['model']}` does not exist or you do not have access."
            return web.json_response(
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                },
                status=404,
            )
        if refused is not None:
            message, param = refused
            payload = {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": param,
                    "code": None,
                }
            }
            fake.refusals.append(payload)
            if not fake.refusals_expected:
                fake.errors.append(f"embeddings request breaks OpenAI's contract: {message}")
            return web.json_response(payload, status=400)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dimensions = int(body.get("dimensions") or EMBEDDING_MODELS[body["model"]])
        embed = fake.embedder or hashed_embedding
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(str(t) for t in item)
            tokens += max(1, len(text) // 4)
            vector = [float(v) for v in embed(text, dimensions)]
            if len(vector) != dimensions:
                return fake._fail(f"scripted embedding has {len(vector)} dimensions")
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                import array
                import base64

                encoded = base64.b64encode(array.array("f", vector).tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    app.router.add_post("/v1/embeddings", embeddings)


# --- pytest -----------------------------------------------------------------------


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAI]:
    """A started fake server, with Django pointed at it and short timeouts and back-off."""
    fake = FakeOpenAI(api_key="test-key").start()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = fake.base_url
    settings.OPENAI_CONNECT_TIMEOUT = 1.0
    settings.OPENAI_READ_TIMEOUT = 2.0
    settings.OPENAI_MAX_RETRIES = 2
    settings.OPENAI_RETRY_BASE_DELAY = 0.05
    settings.OPENAI_RETRY_MAX_DELAY = 0.2
    settings.OPENAI_RETRY_AFTER_CAP = 5.0
    # The model-based input screen would make a second, concurrent request each turn;
    # tests that script it turn it on themselves (apps/chat/tests/test_model_screen.py).
    settings.SUPPORTBOT_MODEL_SCREEN = False
    try:
        yield fake
    finally:
        fake.stop()
    fake.raise_errors()


# --- standalone -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the scripted fake OpenAI server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--script", type=Path, help="JSON list of response specs")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(api_key=args.api_key or None, port=args.port)
    if args.script:
        fake.script(*(from_spec(spec) for spec in json.loads(args.script.read_text())))
    fake.start()
    print(f"fake OpenAI server on {fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
