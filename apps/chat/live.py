"""Frames to the sockets of this process directly; the channel layer only for the rest.

A turn's streamed text goes straight to the sockets of its conversation that are
connected to this process (usually the customer's: the turn runs where the message
arrived), with no channel layer, Redis or serialisation in between. The layer carries
only what must cross processes (another tab, the agent's console, another Daphne):
live frames coalesced by `LayerRelay` to a few messages per second per stream, sent
only while some socket of another process listens, and stored events as before.

Stored events (the reply, a hand-off, a confirmation card) also reach this process's
sockets directly when they commit here, so the layer's capacity never decides whether
the customer sees them; a socket receives each stored event once, in seq order, and
fetches from the database any gap the layer left (see ChatConsumer.stored_frame).

Who owns a conversation is known here too: every hand-off event, made in this
process or seen by one of its sockets, is noted by `saw_handoff`, and a turn's
`OwnerWatch` turns true at once; the database check at the turn's start and end
stays the guarantee (engine._store_final).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from channels.layers import InMemoryChannelLayer, get_channel_layer

from .models import group_for

log = logging.getLogger(__name__)

# Frames of a turn in progress: never stored, delivered live.
LIVE_FRAMES = frozenset({"delta", "status", "turn"})
# This process, as the `origin` of the live frames it puts on the layer.
ORIGIN = uuid.uuid4().hex


class LiveSocket(Protocol):
    async def live_frame(self, frame: dict[str, Any]) -> None: ...

    async def stored_frame(self, frame: dict[str, Any]) -> None: ...


# conversation -> socket -> the event loop it runs on
_sockets: dict[uuid.UUID, dict[LiveSocket, asyncio.AbstractEventLoop]] = {}
_watches: dict[uuid.UUID, set[OwnerWatch]] = {}


def join(conversation_id: uuid.UUID, socket: LiveSocket) -> None:
    _sockets.setdefault(conversation_id, {})[socket] = asyncio.get_running_loop()


def leave(conversation_id: uuid.UUID, socket: LiveSocket) -> None:
    sockets = _sockets.get(conversation_id)
    if sockets is not None:
        sockets.pop(socket, None)
        if not sockets:
            del _sockets[conversation_id]


def listening_here(conversation_id: uuid.UUID) -> int:
    return len(_sockets.get(conversation_id, ()))


# --- Ownership ------------------------------------------------------------------------


class OwnerWatch:
    """Turns `changed` once a hand-off event stored after `since_seq` is seen (a person
    takes over, or hands back: a reply begun before either must not go on).

    Opened before the turn reads its starting seq, so no hand-off can fall between."""

    def __init__(self, conversation_id: uuid.UUID) -> None:
        self.conversation_id = conversation_id
        self.since_seq: int | None = None  # set once the turn has begun
        self.handoffs: list[int | None] = []

    @property
    def changed(self) -> bool:
        since = self.since_seq
        return since is not None and any(seq is None or seq > since for seq in self.handoffs)

    def __enter__(self) -> OwnerWatch:
        _watches.setdefault(self.conversation_id, set()).add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        watches = _watches.get(self.conversation_id)
        if watches is not None:
            watches.discard(self)
            if not watches:
                del _watches[self.conversation_id]


def saw_handoff(conversation_id: uuid.UUID | str, seq: int | None) -> None:
    """A hand-off event was stored (seen here or through the layer). Thread-safe."""
    for watch in list(_watches.get(uuid.UUID(str(conversation_id)), ())):
        watch.handoffs.append(seq)


# --- Delivery -------------------------------------------------------------------------


async def deliver_live(conversation_id: uuid.UUID, frame: dict[str, Any]) -> None:
    """A live frame to this process's sockets of the conversation, from its event loop."""
    for socket in list(_sockets.get(conversation_id, ())):
        try:
            await socket.live_frame(frame)
        except Exception:  # one broken socket must not stop the stream for the others
            log.exception("live frame to a socket failed")


def deliver_committed(
    conversation_id: uuid.UUID | str, frame: dict[str, Any], *, stored: bool
) -> None:
    """A committed change to this process's sockets of the conversation (`stored`: an
    event with its seq). Called from the thread that committed it; returns once the
    sockets have it, so events reach them in the order they were stored."""
    conversation_id = uuid.UUID(str(conversation_id))
    if stored and frame.get("type") == "handoff":
        saw_handoff(conversation_id, frame.get("seq"))
    by_loop: dict[asyncio.AbstractEventLoop, list[LiveSocket]] = {}
    for socket, loop in list(_sockets.get(conversation_id, {}).items()):
        by_loop.setdefault(loop, []).append(socket)
    for loop, sockets in by_loop.items():
        if loop.is_closed() or not loop.is_running():
            for socket in sockets:  # left behind by a loop that ended (tests)
                leave(conversation_id, socket)
            continue
        coroutine = _committed_to(sockets, frame, stored)
        if _in_loop_thread(loop):
            loop.create_task(coroutine)
            continue
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop is closed: its sockets are gone
            coroutine.close()
            continue
        try:
            future.result(timeout=5)
        except FutureTimeout:
            # The loop is stuck: the layer's copy and `resume` still carry the event.
            future.cancel()
            log.warning("stored frame not delivered in-process to %s", conversation_id)


async def _committed_to(sockets: list[LiveSocket], frame: dict[str, Any], stored: bool) -> None:
    for socket in sockets:
        try:
            if stored:
                await socket.stored_frame(frame)
            else:  # a change with no event to replay (verified, rated)
                await socket.live_frame(frame)
        except Exception:
            log.exception("stored frame to a socket failed")


def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


# --- Across processes ----------------------------------------------------------------


async def others_listen(conversation_id: uuid.UUID) -> bool:
    """Whether a socket of another process is in the conversation's group.

    Only an optimisation: when unsure (a layer other than channels_redis's), yes."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return False  # one process: every socket is here
    client_prefix = getattr(layer, "client_prefix", None)
    group_key = getattr(layer, "_group_key", None)
    connection_for = getattr(layer, "connection", None)
    if not (client_prefix and callable(group_key) and callable(connection_for)):
        return True
    group = group_for(conversation_id)
    try:
        connection = connection_for(layer.consistent_hash(group))
        members = await connection.zrange(group_key(group), 0, -1)
    except Exception:
        log.exception("could not read the members of %s", group)
        return True
    ours = f"specific.{client_prefix}!".encode()
    return any(not member.startswith(ours) for member in members)


class LayerRelay:
    """A turn's live frames for sockets of other processes: text coalesced to one layer
    message per `interval`, other frames at once (after the text before them), and
    nothing at all while no other process listens (re-checked every `recheck` s)."""

    def __init__(self, conversation_id: uuid.UUID, interval: float, recheck: float = 1.0) -> None:
        self.conversation_id = conversation_id
        self.interval = interval
        self.recheck = recheck
        self.text = ""
        self.turn_id = ""
        self.sent_at = 0.0
        self.checked_at = -recheck
        self.listening = False
        self.ticker: asyncio.Task[None] | None = None

    async def _others(self) -> bool:
        now = time.monotonic()
        if now - self.checked_at >= self.recheck:
            self.checked_at = now
            self.listening = await others_listen(self.conversation_id)
        return self.listening

    async def frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "delta":
            self.turn_id = frame["turn_id"]
            self.text += frame["text"]
            if time.monotonic() - self.sent_at >= self.interval:
                await self.flush()
            elif self.ticker is None or self.ticker.done():
                self.ticker = asyncio.get_running_loop().create_task(self._flush_later())
            return
        await self.flush()
        if await self._others():
            await _layer_send(self.conversation_id, frame)

    async def flush(self) -> None:
        if not self.text:
            return
        text, self.text = self.text, ""
        self.sent_at = time.monotonic()
        if await self._others():
            await _layer_send(
                self.conversation_id, {"type": "delta", "turn_id": self.turn_id, "text": text}
            )

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.interval)
        await self.flush()

    async def close(self) -> None:
        if self.ticker is not None and not self.ticker.done():
            self.ticker.cancel()
        await self.flush()


async def _layer_send(conversation_id: uuid.UUID, frame: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(
            group_for(conversation_id), {"type": "chat.event", "frame": frame, "origin": ORIGIN}
        )
    except Exception:  # the stream goes on for this process's sockets
        log.exception("live frame to the layer failed for %s", conversation_id)
