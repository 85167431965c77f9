"""A running turn's frames on their way out: to this process's sockets at once, to
other processes through the turn's `LayerRelay`, and its streamed text coalesced into
`delta` frames that stop as soon as a person owns the conversation."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from . import live

# The running turns' relays to other processes, by conversation.
relays: dict[uuid.UUID, live.LayerRelay] = {}


class HandedOff(Exception):
    """The conversation left bot mode mid-turn: stop without another word."""


async def send(conversation_id: uuid.UUID, frame: dict[str, Any]) -> None:
    """A frame of the turn in progress: to this process's sockets at once, and queued
    for those of other processes (the relay sends it from its own task, coalesced, and
    only if any listen), so the turn never waits for the channel layer."""
    await live.deliver_live(conversation_id, frame)
    relay = relays.get(conversation_id)
    if relay is not None:
        relay.frame(frame)


class DeltaSender:
    """Sends a turn's streamed text, stopping the turn once a person owns the conversation.

    Who owns it is known in memory (`live.OwnerWatch`, moved by hand-off events), so no
    frame waits for the database; the customer's socket drops any text frame that
    arrives after the hand-off itself (consumers.LIVE_BOT_FRAMES), and the final reply
    is stored only under the row lock (`turn_store.store_final`).
    """

    def __init__(self, conversation_id: uuid.UUID, turn_id: uuid.UUID, watch: live.OwnerWatch):
        self.conversation_id = conversation_id
        self.turn_id = str(turn_id)
        self.watch = watch

    async def __call__(self, text: str) -> None:
        if self.watch.changed:
            raise HandedOff
        await send(self.conversation_id, {"type": "delta", "turn_id": self.turn_id, "text": text})


def delta_interval() -> float:
    """How long a stream's text gathers before it goes out as one `delta` frame.

    Each frame costs the event loop every stream shares a write and a wakeup (for 200
    streams, frames of 100 ms instead of 40 ms cut the server's CPU per turn by 13%),
    so the process as a whole sends at most SUPPORTBOT_DELTA_FRAMES_PER_SECOND of them:
    SUPPORTBOT_DELTA_INTERVAL while it streams few replies, longer with more, up to
    SUPPORTBOT_DELTA_MAX_INTERVAL. A reply's first words always go at once."""
    base = settings.SUPPORTBOT_DELTA_INTERVAL
    shared = len(relays) / settings.SUPPORTBOT_DELTA_FRAMES_PER_SECOND
    return max(base, min(shared, settings.SUPPORTBOT_DELTA_MAX_INTERVAL))


class DeltaCoalescer:
    """Gathers streamed text and sends it as one frame every `interval()` seconds."""

    def __init__(self, send: Callable[[str], Awaitable[None]], interval: Callable[[], float]):
        self.send = send
        self.interval = interval
        self.buffer = ""
        self.last_flush = 0.0
        self.error: BaseException | None = None
        self.ticker: asyncio.Task[None] | None = None

    async def add(self, text: str) -> None:
        if self.error is not None:
            raise self.error
        if not text:
            return
        self.buffer += text
        if time.monotonic() - self.last_flush >= self.interval():
            await self.flush()
        elif self.ticker is None or self.ticker.done():
            self.ticker = asyncio.get_running_loop().create_task(self._flush_later())

    async def flush(self) -> None:
        if not self.buffer:
            return
        text, self.buffer = self.buffer, ""
        self.last_flush = time.monotonic()
        await self.send(text)

    async def _flush_later(self) -> None:
        await asyncio.sleep(max(0.0, self.last_flush + self.interval() - time.monotonic()))
        try:
            await self.flush()
        except BaseException as exc:  # surfaced on the next add() or close()
            self.error = exc

    async def close(self, *, flush: bool = True) -> None:
        if self.ticker is not None and not self.ticker.done():
            self.ticker.cancel()
        if self.error is not None and flush:
            raise self.error
        if flush:
            await self.flush()
        else:
            self.buffer = ""
