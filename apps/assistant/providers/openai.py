"""The OpenAI provider: Chat Completions through `AsyncOpenAI`, streamed.

Failure policy, in one place:
- The SDK's own retries are off (`max_retries=0`); we retry here, so the
  policy is visible and bounded by our settings.
- A call is retried on 408/409/429/5xx, connection errors and timeouts, but
  only while nothing has reached the caller yet. Once a text delta has been
  handed over, a retry would repeat text the customer already saw, so a
  failure then is `stream_broken`.
- The wait between attempts is exponential with jitter. A `Retry-After`
  (seconds, or an HTTP date) is honoured; when it asks for longer than
  `OPENAI_RETRY_AFTER_CAP` we give up at once instead of retrying early.
- Connect and read timeouts are explicit (the SDK's default read timeout is
  600 s). Each chunk of a stream is also awaited under `asyncio.timeout` as a
  backstop, so a stalled stream ends in an error, never a hang.

A stream is read through the same client (`with_streaming_response`), but its
SSE lines are parsed here with one `json.loads` per chunk: the SDK would build
a pydantic chunk object per delta, which was about 15% of a turn's CPU. Errors
are turned into the SDK's own exceptions and classified by `_classify`, so they
map to the same codes as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import ssl
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, Unpack

import anyio
import httpx2
import openai
from django.conf import settings
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from .base import ErrorCode, JsonCall, ModelRequest, ProviderError, StreamEvent, Usage
from .stream import SSEEvents, StreamAssembler

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Extra time the asyncio backstops allow beyond the HTTP client's own timeouts,
# so the client's clearer error normally wins.
BACKSTOP_MARGIN = 1.0

RETRYABLE_STATUS = {408, 409, 429}

# What the HTTP client raises while a body is read (the SDK maps the same ones to
# APIConnectionError; timeouts, a subclass, to APITimeoutError).
READ_ERRORS: tuple[type[Exception], ...] = (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream)

# After `[DONE]`, how long the rest of an HTTP/1.1 body may take to read, so the
# connection goes back to the pool instead of being closed.
DRAIN_TIMEOUT = 0.1

# One client per event loop and configuration: reusing it across turns keeps its
# connections open (one TLS handshake, not one per model call). Its connection
# pool belongs to the loop it was made on, so a client is never shared between
# loops, and clients of closed loops (asyncio.run in a task) are dropped.
_clients: dict[tuple[Any, ...], tuple[weakref.ref[asyncio.AbstractEventLoop], AsyncOpenAI]] = {}


def json_body(model: str, call: JsonCall) -> dict[str, Any]:
    """The Chat Completions body of a structured-output call, sent now (`complete_json`)
    or as a line of a Batch API file (apps/reports/structured_output.py)."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": call["system"]},
            {"role": "user", "content": call["user"]},
        ],
        "max_completion_tokens": call["max_tokens"],
        "temperature": 0,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": call["schema_name"], "schema": call["schema"], "strict": True},
        },
    }


class _Attempt(Exception):
    """A failed attempt: the error to raise if we stop, and how long to wait if not."""

    def __init__(self, error: ProviderError, *, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, api_key: str, base_url: str | None, model: str) -> None:
        self.model = model
        self._api_key = api_key
        self._base_url = base_url or None
        self.connect_timeout = float(settings.OPENAI_CONNECT_TIMEOUT)
        self.read_timeout = float(settings.OPENAI_READ_TIMEOUT)
        self.max_retries = int(settings.OPENAI_MAX_RETRIES)
        self.backoff_base = float(getattr(settings, "OPENAI_RETRY_BASE_DELAY", 0.5))
        self.backoff_max = float(getattr(settings, "OPENAI_RETRY_MAX_DELAY", 8.0))
        self.retry_after_cap = float(getattr(settings, "OPENAI_RETRY_AFTER_CAP", 20.0))

    # --- The provider interface -------------------------------------------------

    def stream_params(self, request: ModelRequest) -> dict[str, Any]:
        """The exact Chat Completions body of a streamed turn step."""
        params: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_completion_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.cache_key:
            # Requests sharing a key and a prefix are routed to the same cache.
            params["prompt_cache_key"] = request.cache_key
        if request.tools:
            params["tools"] = request.tools
            # Strict schemas are only guaranteed for one call per response, and the
            # product confirms one change at a time.
            params["parallel_tool_calls"] = False
        return params

    def json_params(self, **call: Unpack[JsonCall]) -> dict[str, Any]:
        """The exact Chat Completions body of a structured-output call."""
        return json_body(self.model, call)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        params = self.stream_params(request)
        attempt = 0
        while True:
            assembler = StreamAssembler()
            delivered = False
            try:
                # aclosing: when our caller stops early, the HTTP response closes now.
                async with contextlib.aclosing(self._stream_once(params, assembler)) as events:
                    async for event in events:
                        delivered = True
                        yield event
                return
            except _Attempt as failed:
                if delivered:
                    raise ProviderError(
                        ErrorCode.STREAM_BROKEN,
                        f"the model stream broke after it started: {failed.error.message}",
                    ) from failed.__cause__
                await self._wait_before_retry(attempt, failed)
                attempt += 1

    async def complete_json(self, **call: Unpack[JsonCall]) -> tuple[dict[str, Any], Usage]:
        params = self.json_params(**call)
        completion = await self._with_retries(lambda: self._create(params))
        if not completion.choices:
            raise ProviderError(ErrorCode.BAD_RESPONSE, "the model returned no choices")
        choice = completion.choices[0]
        usage = _usage_of(completion.usage)
        if choice.message.refusal:
            raise ProviderError(
                ErrorCode.BAD_RESPONSE, f"the model refused: {choice.message.refusal}"
            )
        if choice.finish_reason != "stop":
            raise ProviderError(
                ErrorCode.BAD_RESPONSE, f"structured output ended with {choice.finish_reason!r}"
            )
        try:
            parsed = json.loads(choice.message.content or "")
        except json.JSONDecodeError as exc:
            raise ProviderError(
                ErrorCode.BAD_RESPONSE, f"structured output is not JSON: {exc}"
            ) from exc
        if not isinstance(parsed, dict):
            raise ProviderError(ErrorCode.BAD_RESPONSE, "structured output is not a JSON object")
        return parsed, usage

    # --- One attempt --------------------------------------------------------------

    async def _stream_once(
        self, params: dict[str, Any], assembler: StreamAssembler
    ) -> AsyncGenerator[StreamEvent, None]:
        """One streamed call; any failure is raised as `_Attempt`."""
        async with contextlib.AsyncExitStack() as stack:
            http = await self._open_stream(params, stack)
            lines = http.aiter_lines()
            sse = SSEEvents()
            idle_limit = self.read_timeout + BACKSTOP_MARGIN
            while True:
                try:
                    async with asyncio.timeout(idle_limit):
                        data = await _next_data(lines, sse)
                except TimeoutError as exc:
                    raise _Attempt(
                        ProviderError(
                            ErrorCode.TIMEOUT, f"no data from the model for {idle_limit:.1f}s"
                        )
                    ) from exc
                except httpx2.TimeoutException as exc:
                    raise _classify(openai.APITimeoutError(request=http.request)) from exc
                except READ_ERRORS as exc:
                    raise _classify(openai.APIConnectionError(request=http.request)) from exc
                if data is None:
                    break
                if data.startswith("[DONE]"):
                    if http.http_version == "HTTP/1.1":
                        await _drain(lines)
                    break
                chunk = json.loads(data)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise _classify(_stream_error(chunk["error"], http.request))
                try:
                    deltas = assembler.feed(chunk)
                except ProviderError as exc:
                    raise _Attempt(exc) from exc
                for delta in deltas:
                    yield delta
            try:
                closing = assembler.finish()
            except ProviderError as exc:
                raise _Attempt(exc) from exc
            for event in closing:
                yield event

    async def _open_stream(
        self, params: dict[str, Any], stack: contextlib.AsyncExitStack
    ) -> httpx2.Response:
        """Send a streamed request and wait for the response head; it closes with `stack`.

        Bodies go out through the client's `post`, the SDK's own route for a body built
        by the caller: `chat.completions.create` would first walk every message and tool
        schema of it to "transform" a body that is already plain JSON (the same dict
        back, 8.7 ms of CPU for a turn with history and 17 tools, on the event loop every
        customer's stream shares)."""
        stream = await self._response_head(
            self._client().post(
                "/chat/completions",
                body=params,
                cast_to=ChatCompletion,
                options={"security": {"bearer_auth": True}},
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
        )
        stack.push_async_callback(stream.close)
        return stream.response

    async def _create(self, params: dict[str, Any]) -> ChatCompletion:
        """Send the request and wait for the response; failures become `_Attempt`."""
        completion: object = await self._response_head(
            self._client().post(
                "/chat/completions",
                body=params,
                cast_to=ChatCompletion,
                options={"security": {"bearer_auth": True}},
            )
        )
        if not isinstance(completion, ChatCompletion):
            # The SDK hands back a body that is not JSON as text (a proxy's page, a
            # stream answering a request that asked for none) instead of raising.
            raise _Attempt(
                ProviderError(ErrorCode.BAD_RESPONSE, "the answer is not a chat completion")
            )
        return completion

    async def _response_head(self, request: Awaitable[T]) -> T:
        """Await a request's response head within one bound; failures become `_Attempt`."""
        # The client's timeouts apply per connect and per socket read; this bounds
        # the whole wait for the response head as well.
        limit = self.connect_timeout + 2 * self.read_timeout + BACKSTOP_MARGIN
        try:
            async with asyncio.timeout(limit):
                return await request
        except TimeoutError as exc:
            raise _Attempt(
                ProviderError(ErrorCode.TIMEOUT, f"no answer from the model in {limit:.1f}s")
            ) from exc
        except openai.OpenAIError as exc:
            raise _classify(exc) from exc

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except _Attempt as failed:
                await self._wait_before_retry(attempt, failed)
                attempt += 1

    async def _wait_before_retry(self, attempt: int, failed: _Attempt) -> None:
        """Sleep before attempt `attempt + 1`, or raise the failure if we stop here."""
        delay = self._retry_delay(attempt, failed)
        if delay is None:
            raise failed.error from failed.__cause__
        logger.warning(
            "model call failed (%s: %s), retry %d/%d in %.2fs",
            failed.error.code,
            failed.error.message,
            attempt + 1,
            self.max_retries,
            delay,
        )
        await asyncio.sleep(delay)

    def _retry_delay(self, attempt: int, failed: _Attempt) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if not failed.error.retryable or attempt >= self.max_retries:
            return None
        if failed.retry_after is not None:
            if failed.retry_after > self.retry_after_cap:
                return None
            # A little jitter on top, so many waiting turns do not return at once.
            return failed.retry_after + random.uniform(0, 0.1 * self.backoff_base)
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _client(self) -> AsyncOpenAI:
        loop = asyncio.get_running_loop()
        key = (id(loop), self._api_key, self._base_url, self.connect_timeout, self.read_timeout)
        cached = _clients.get(key)
        if cached is not None and cached[0]() is loop:
            return cached[1]
        for stale_key, (loop_ref, _) in list(_clients.items()):
            stale_loop = loop_ref()
            if stale_loop is None or stale_loop.is_closed():
                del _clients[stale_key]
        client = AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=openai.Timeout(
                connect=self.connect_timeout,
                read=self.read_timeout,
                write=self.read_timeout,
                pool=self.connect_timeout,
            ),
            max_retries=0,
        )
        _clients[key] = (weakref.ref(loop), client)
        return client


async def _next_data(lines: AsyncIterator[str], sse: SSEEvents) -> str | None:
    """The data of the stream's next event, or None at its end."""
    async for line in lines:
        data = sse.feed(line)
        if data is not None:
            return data
    return None


async def _drain(lines: AsyncIterator[str]) -> None:
    with contextlib.suppress(TimeoutError, *READ_ERRORS):
        async with asyncio.timeout(DRAIN_TIMEOUT):
            async for _ in lines:
                pass


def _stream_error(error: Any, request: httpx2.Request) -> openai.APIError:
    """The SDK's exception for an error event inside a stream, as it would raise it."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message, request, body=error)


def _classify(exc: openai.OpenAIError) -> _Attempt:
    """Our error code for an SDK error, and whether another attempt may help."""
    if isinstance(exc, openai.APITimeoutError):
        return _Attempt(ProviderError(ErrorCode.TIMEOUT, "the model did not answer in time"))
    if isinstance(exc, openai.APIConnectionError):
        return _Attempt(
            ProviderError(ErrorCode.PROVIDER_UNAVAILABLE, f"cannot reach the model: {exc}")
        )
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc)
    if isinstance(exc, openai.APIError):
        # An error event inside an otherwise good stream, e.g. a server_error.
        return _Attempt(
            ProviderError(ErrorCode.PROVIDER_UNAVAILABLE, f"the model failed: {exc.message}")
        )
    return _Attempt(
        ProviderError(
            ErrorCode.PROVIDER_UNAVAILABLE, f"the model call failed: {exc}", retryable=False
        )
    )


def _classify_status(exc: openai.APIStatusError) -> _Attempt:
    status = exc.status_code
    message = f"HTTP {status} from the model: {exc.message}"
    retry_after = _retry_after_seconds(exc.response.headers)
    should_retry = exc.response.headers.get("x-should-retry")
    if status == 429:
        # Out of quota is a 429 too, and waiting does not fix it.
        retryable = exc.code != "insufficient_quota"
        error = ProviderError(ErrorCode.RATE_LIMITED, message, retryable=retryable)
    elif status in (401, 403):
        error = ProviderError(ErrorCode.AUTH, message)
    elif status == 408:
        error = ProviderError(ErrorCode.TIMEOUT, message)
    elif status >= 500 or status in RETRYABLE_STATUS:
        error = ProviderError(ErrorCode.PROVIDER_UNAVAILABLE, message)
    else:
        error = ProviderError(ErrorCode.BAD_REQUEST, message)
    if should_retry == "false":
        error.retryable = False
    elif should_retry == "true":
        error.retryable = True
    return _Attempt(error, retry_after=retry_after)


def _retry_after_seconds(headers: Any) -> float | None:
    """`retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _usage_of(usage: Any) -> Usage:
    if usage is None:
        return Usage(prompt_tokens=0, completion_tokens=0)
    details = getattr(usage, "prompt_tokens_details", None)
    return Usage(
        prompt_tokens=int(usage.prompt_tokens or 0),
        completion_tokens=int(usage.completion_tokens or 0),
        cached_tokens=int(getattr(details, "cached_tokens", 0) or 0),
    )


__all__ = ["OpenAIProvider"]
