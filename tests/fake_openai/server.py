"""The fake server itself: scripting, recording, its life cycle on a background thread,
and the chat completions and models endpoints (batches and embeddings add their own)."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import threading
from collections.abc import Callable

from aiohttp import web

from tests.fake_openai.batches import add_batch_routes
from tests.fake_openai.embeddings import add_embedding_routes
from tests.fake_openai.responses import JsonDict, Planned, ScriptError, error, from_spec
from tests.openai_contract import check_request


class FakeOpenAI:
    """The server; `start()` runs it on a background thread."""

    def __init__(
        self, *, api_key: str | None = "test-key", port: int = 0, backlog: int = 128
    ) -> None:
        self.api_key = api_key
        self.requested_port = port
        self.backlog = backlog  # connections waiting to be accepted (a benchmark opens 200)
        self.requests: list[JsonDict] = []
        self.headers: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.refusals: list[JsonDict] = []  # the 400 bodies sent for contract violations
        self.hung_up = 0  # answers the client stopped reading (a stopped turn): not an error
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
        site = web.TCPSite(runner, "127.0.0.1", self.requested_port, backlog=self.backlog)
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
        except ConnectionResetError:
            # The client closed the stream mid-answer, as the product does when a turn is
            # stopped (a hand-off); OpenAI takes that quietly, so the fake does too.
            with self._lock:
                self.hung_up += 1
            return web.Response(status=499)
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
