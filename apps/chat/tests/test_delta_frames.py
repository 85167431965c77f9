"""A reply's streamed text goes out in `delta` frames whose pace follows the process's
load: every SUPPORTBOT_DELTA_INTERVAL while few replies stream, less often with many,
so the process's frames stay within SUPPORTBOT_DELTA_FRAMES_PER_SECOND."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import pytest

from apps.chat import turn_frames
from apps.chat.turn_frames import DeltaCoalescer, delta_interval


@pytest.fixture
def pace(settings: Any) -> None:
    settings.SUPPORTBOT_DELTA_INTERVAL = 0.04
    settings.SUPPORTBOT_DELTA_FRAMES_PER_SECOND = 500.0
    settings.SUPPORTBOT_DELTA_MAX_INTERVAL = 0.12


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> dict[uuid.UUID, Any]:
    """The running turns of this process (turn_frames.relays), empty to start with."""
    running: dict[uuid.UUID, Any] = {}
    monkeypatch.setattr(turn_frames, "relays", running)
    return running


def _streaming(running: dict[uuid.UUID, Any], count: int) -> None:
    running.clear()
    running.update({uuid.uuid4(): object() for _ in range(count)})


@pytest.mark.usefixtures("pace")
def test_the_interval_grows_with_the_streams_of_the_process_between_its_bounds(
    streams: dict[uuid.UUID, Any],
) -> None:
    intervals = {}
    for count in (0, 1, 20, 40, 50, 60, 200, 5000):
        _streaming(streams, count)
        intervals[count] = delta_interval()
    assert intervals[0] == intervals[1] == intervals[20] == pytest.approx(0.04)
    assert intervals[40] == pytest.approx(0.08)  # 40 streams x 12.5 frames/s = 500/s
    assert intervals[50] == pytest.approx(0.1)
    assert intervals[60] == intervals[200] == intervals[5000] == pytest.approx(0.12)


async def _frames_of_a_stream(tokens: int, every: float) -> list[tuple[float, str]]:
    """The frames a coalescer sends for `tokens` words arriving `every` seconds apart."""
    sent: list[tuple[float, str]] = []

    async def send(text: str) -> None:
        sent.append((time.monotonic(), text))

    coalescer = DeltaCoalescer(send, delta_interval)
    for number in range(tokens):
        await coalescer.add(f"w{number} ")
        await asyncio.sleep(every)
    await coalescer.close()
    return sent


@pytest.mark.asyncio
@pytest.mark.usefixtures("pace")
async def test_with_many_streams_the_same_text_goes_in_fewer_frames_and_the_first_at_once(
    streams: dict[uuid.UUID, Any],
) -> None:
    text = "".join(f"w{number} " for number in range(40))
    _streaming(streams, 1)
    started = time.monotonic()
    few = await _frames_of_a_stream(40, 0.01)
    _streaming(streams, 200)
    many = await _frames_of_a_stream(40, 0.01)
    for frames in (few, many):
        assert "".join(chunk for _, chunk in frames) == text  # nothing lost or doubled
        assert frames[0][1] == "w0 "  # the first words are not held back
    assert few[0][0] - started < 0.03
    # 40 words over at least 0.4 s: every 40 ms is about 10 frames, every 120 ms about 4.
    assert len(many) < len(few)
    assert len(many) <= 0.4 / 0.12 + 3
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(many)]
    assert min(gaps[:-1]) >= 0.12 - 0.01  # the last frame is the close's own flush
