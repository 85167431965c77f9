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
from collections.abc import Coroutine
from typing import Any, Protocol

from channels.layers import InMemoryChannelLayer, get_channel_layer

from .models import group_for

log = logging.getLogger(__name__)

# Frames of a turn in progress: never stored, delivered live.
LIVE_FRAMES = frozenset({"delta", "status", "turn"})
# This process, as the `origin` of the live frames it puts on the layer.
ORIGIN = uuid.uuid4().hex
# How long a turn's relay may take to send its last frames once the turn ended.
RELAY_CLOSE_SECONDS = 5.0


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
        except Exception as exc:  # one broken socket must not stop the stream for the others
            # Usually its client has just closed it, and its disconnect is still queued.
            log.warning("live frame to a socket of %s failed: %r", conversation_id, exc)


def deliver_committed(
    conversation_id: uuid.UUID | str, frame: dict[str, Any], *, stored: bool
) -> None:
    """A committed change to this process's sockets of the conversation (`stored`: an
    event with its seq). Called from the thread that committed it, and never waits for
    a socket: a busy event loop must not hold a database thread. Each loop gets the
    frames in the order they were committed in that thread (its callbacks run first in,
    first out), and a socket puts stored events in seq order itself, reading any gap
    from the store (ChatConsumer.stored_frame)."""
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
        if _in_loop_thread(loop):
            _start(_committed_to(sockets, frame, stored))
            continue
        try:
            loop.call_soon_threadsafe(_start_committed, sockets, frame, stored)
        except RuntimeError:  # the loop closed meanwhile: its sockets are gone
            continue


def group_send_soon(
    loop: asyncio.AbstractEventLoop, group: str, event: dict[str, Any], *, delivered_here: bool
) -> None:
    """Put an event on the channel layer from `loop`, without waiting (from a thread).
    `delivered_here`: this process's sockets of the group have it already, so when no
    socket of another process is in the group, the layer is not used at all."""
    try:
        loop.call_soon_threadsafe(lambda: _start(_group_send(group, event, delivered_here)))
    except RuntimeError:  # the loop closed: the event is stored, clients `resume`
        log.warning("event for %s not sent: its event loop closed", group)


_running: set[asyncio.Task[None]] = set()  # started here, kept until they end


def _start(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _running.add(task)
    task.add_done_callback(_running.discard)


def _start_committed(sockets: list[LiveSocket], frame: dict[str, Any], stored: bool) -> None:
    _start(_committed_to(sockets, frame, stored))


async def _group_send(group: str, event: dict[str, Any], delivered_here: bool) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # One membership read instead of a group send (four Redis commands) that
        # would only come back to this process's own inbox to be dropped as a copy.
        # No race: the event is committed before the read, and a socket reads the
        # conversation's state after it joins the group.
        if delivered_here and not await others_in(group):
            return
        await layer.group_send(group, event)
    except Exception:  # the event is stored; clients catch up with `resume`
        log.exception("could not publish to %s", group)


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
    """Whether a socket of another process is in the conversation's group."""
    return await others_in(group_for(conversation_id))


async def others_in(group: str) -> bool:
    """Whether a socket of another process is in the group.

    Only an optimisation: when unsure (a layer other than channels_redis's), yes."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return False  # one process: every socket is here
    client_prefix = getattr(layer, "client_prefix", None)
    group_key = getattr(layer, "_group_key", None)
    connection_for = getattr(layer, "connection", None)
    if not (client_prefix and callable(group_key) and callable(connection_for)):
        return True
    try:
        connection = connection_for(layer.consistent_hash(group))
        members = await connection.zrange(group_key(group), 0, -1)
    except Exception:
        log.exception("could not read the members of %s", group)
        return True
    ours = f"specific.{client_prefix}!".encode()
    return any(not member.startswith(ours) for member in members)


class LayerRelay:
    """A turn's live frames for sockets of other processes, sent by a task of its own so
    the turn never waits for the layer: text coalesced to one layer message per
    `interval`, other frames at once (after the text before them), and nothing at all
    while no other process listens (re-checked every `recheck` s)."""

    def __init__(self, conversation_id: uuid.UUID, interval: float, recheck: float = 1.0) -> None:
        self.conversation_id = conversation_id
        self.interval = interval
        self.recheck = recheck
        self.pending: list[dict[str, Any]] = []  # frames not sent yet, text merged
        self.sent_at = 0.0
        self.checked_at = -recheck
        self.listening = False
        self.closing = False
        self.wakeup = asyncio.Event()
        self.sender: asyncio.Task[None] | None = None

    def frame(self, frame: dict[str, Any]) -> None:
        """Queue a frame; it goes out in order, from the relay's own task."""
        last = self.pending[-1] if self.pending else None
        if frame["type"] == "delta" and last is not None and last["type"] == "delta":
            self.pending[-1] = {**last, "text": last["text"] + frame["text"]}
        else:
            self.pending.append(frame)
        if self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._send_pending())
        self.wakeup.set()

    async def _others(self) -> bool:
        now = time.monotonic()
        if now - self.checked_at >= self.recheck:
            self.checked_at = now
            self.listening = await others_listen(self.conversation_id)
        return self.listening

    async def _send_pending(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.pending:
                only_text = all(frame["type"] == "delta" for frame in self.pending)
                wait = self.interval - (time.monotonic() - self.sent_at)
                if only_text and wait > 0 and not self.closing:
                    await asyncio.sleep(wait)  # more text joins this message meanwhile
                batch, self.pending = self.pending, []
                self.sent_at = time.monotonic()
                if await self._others():
                    for frame in batch:
                        await _layer_send(self.conversation_id, frame)
            if self.closing:
                return

    async def close(self) -> None:
        """Send what is queued (the turn's last frames), then stop."""
        self.closing = True
        self.wakeup.set()
        if self.sender is None:
            return
        try:
            async with asyncio.timeout(RELAY_CLOSE_SECONDS):
                await asyncio.shield(self.sender)
        except TimeoutError:
            self.sender.cancel()
            log.warning("live frames to the layer for %s left unsent", self.conversation_id)


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
