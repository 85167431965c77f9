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

Its parts: `responses` (what a test can plan), `server` (FakeOpenAI and the chat
endpoint), `batches`, `embeddings`, and `__main__` (the standalone process). This
module re-exports what tests import and is the pytest plugin with the `fake_openai`
fixture (conftest.py's `pytest_plugins`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fake_openai.embeddings import hashed_embedding
from tests.fake_openai.responses import (
    FIXTURES,
    Completion,
    JsonDict,
    Planned,
    ScriptError,
    cut,
    dynamic,
    error,
    from_spec,
    json_output,
    raw_body,
    refusal,
    replay,
    slow,
    stall,
    text,
    tool_calls,
)
from tests.fake_openai.responses import _choice as _choice
from tests.fake_openai.responses import _chunk as _chunk
from tests.fake_openai.responses import _sse as _sse
from tests.fake_openai.responses import _usage_dict as _usage_dict
from tests.fake_openai.server import FakeOpenAI

# The `_` names above: benchmarks/streaming.py writes its own stream with the same builders.
__all__ = [
    "FIXTURES",
    "Completion",
    "FakeOpenAI",
    "JsonDict",
    "Planned",
    "ScriptError",
    "cut",
    "dynamic",
    "error",
    "fake_openai",
    "from_spec",
    "hashed_embedding",
    "json_output",
    "raw_body",
    "refusal",
    "replay",
    "slow",
    "stall",
    "text",
    "tool_calls",
]


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
