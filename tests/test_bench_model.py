"""The benchmarks' fake model answers like the API: a stream to a streamed request, one
JSON completion to the input screen's, and only the stream is timed as the turn's."""

from __future__ import annotations

from typing import Any

import pytest

from apps.assistant.classifier import classify
from apps.assistant.providers import get_provider
from apps.assistant.providers.base import ModelRequest
from benchmarks._model import ModelStream, Recorder
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.asyncio

MARK = "bench-0123456789ab"


async def test_the_screen_gets_a_verdict_and_the_turn_a_stream_timed_once(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    recorder = Recorder()
    stream = ModelStream(["Your", "order", "ships", "today."], 0.0, 0.0, recorder)
    fake_openai.script(stream, stream)
    provider = get_provider()
    text = f"Where is my order? {MARK}"

    verdict, usage = await classify(provider, [text])
    events = [
        event
        async for event in provider.stream(
            ModelRequest(messages=[{"role": "user", "content": text}], tools=[])
        )
    ]

    assert verdict is not None and verdict.tripwire is False
    assert verdict.reason == "ordinary"  # the screen's own answer, not a failure
    assert usage is not None and usage.prompt_tokens == 400
    assert "".join(getattr(event, "text", "") for event in events) == "Your order ships today."
    timed = recorder.take()
    key = MARK.removeprefix("bench-")
    assert list(timed.requested) == [key] and list(timed.first_token) == [key]
