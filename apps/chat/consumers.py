"""The customer's socket: /ws/chat/<conversation_id>/?token=<secret>.

Reads top to bottom in three parts: socket handlers, commands, group handlers.
Bad input gets an `error` frame and the socket stays usable.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic import ValidationError

from . import engine, events, frames, leases, live, ownership, services
from .asyncdb import in_db_thread
from .frames import (
    FRAME_TYPES,
    ClientFrame,
    ConfirmFrame,
    EndFrame,
    FrameError,
    MessageFrame,
    RateFrame,
    ReadFrame,
    ResumeFrame,
    RetryFrame,
    TypingFrame,
    client_frame,
    decode_frame,
)
from .models import Conversation, Message, group_for, staff_group_for
from .ratelimit import check_rate, scope_client
from .services import ChatError
from .signals import customer_message_stored, send_on_commit

log = logging.getLogger(__name__)

# Text frames of a bot turn in progress (the stored reply is guarded by the engine).
LIVE_BOT_FRAMES = {"delta", "status"}
# A customer still typing is announced to staff at most this often (seconds).
TYPING_EVERY = 2.0


class ChatConsumer(AsyncWebsocketConsumer):
    conversation_id: uuid.UUID
    client: str
    bot_speaks = True
    typing_announced_at = 0.0  # loop time of the last "typing" sent to staff; 0: not typing
    last_seq = 0  # the last stored event this socket has sent (or the session covered)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Stored events arrive in-process and through the layer: one at a time, in order.
        self.stored_lock = asyncio.Lock()

    # --- Socket handlers ----------------------------------------------------------

    async def connect(self) -> None:
        raw_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [""])[0]
        conversation = await in_db_thread(services.access_conversation)(raw_id, token)
        if conversation is None:
            await self.close(code=4403)  # refused before accept: the handshake fails
            return
        self.conversation_id = conversation.pk
        self.client = scope_client(self.scope)
        await self.channel_layer.group_add(group_for(self.conversation_id), self.channel_name)
        await self.accept()
        engine.ensure_sweeper()
        # Events stored before the session is read are the client's to `resume`; those
        # delivered here after it wait for the session frame, then go out in order.
        async with self.stored_lock:
            live.join(self.conversation_id, self)
            session, needs_runner = await in_db_thread(_session)(self.conversation_id)
            self.bot_speaks = session["status"] == Conversation.Status.BOT
            self.last_seq = session["last_seq"]
            await self.send_frame(session)
        if needs_runner:
            # A turn owed while nobody was connected, or left running by a process
            # that died: pick it up now.
            engine.kick(self.conversation_id)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "conversation_id"):
            live.leave(self.conversation_id, self)
            await self.channel_layer.group_discard(
                group_for(self.conversation_id), self.channel_name
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = self.parse(text_data, bytes_data)
            if isinstance(frame, MessageFrame):
                await self.cmd_message(frame)
            elif isinstance(frame, ResumeFrame):
                await self.cmd_resume(frame)
            elif isinstance(frame, ConfirmFrame):
                await self.cmd_confirm(frame)
            elif isinstance(frame, RetryFrame):
                await self.cmd_retry()
            elif isinstance(frame, EndFrame):
                await self.cmd_end()
            elif isinstance(frame, RateFrame):
                await self.cmd_rate(frame)
            elif isinstance(frame, TypingFrame):
                await self.cmd_typing(frame)
            elif isinstance(frame, ReadFrame):
                await self.cmd_read(frame)
        except (ChatError, FrameError) as exc:
            await self.send_frame({"type": "error", "code": exc.code, "message": exc.message})
        except Exception:
            # The protocol promises an error frame, never a dropped socket.
            log.exception("frame failed on conversation %s", self.conversation_id)
            await self.send_frame(
                {
                    "type": "error",
                    "code": "internal_error",
                    "message": "Something went wrong on our side. Please try again.",
                }
            )

    def parse(self, text_data: str | None, bytes_data: bytes | None) -> ClientFrame:
        payload = decode_frame(text_data, max_bytes=settings.SUPPORTBOT_MAX_FRAME_BYTES)
        if payload.get("type") not in FRAME_TYPES:
            raise ChatError(
                "unknown_type", f"Unknown frame type {str(payload.get('type'))[:40]!r}."
            )
        try:
            return client_frame.validate_python(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"][1:]) or "frame"
            raise ChatError("invalid_frame", f"{where}: {first['msg']}") from None

    # --- Commands -------------------------------------------------------------------

    async def cmd_message(self, frame: MessageFrame) -> None:
        text = services.check_customer_text(frame.text, allow_empty=frame.attachment_id is not None)
        if self.typing_announced_at:
            await self.cmd_typing(TypingFrame(type="typing", typing=False))
        # Stored in the same database step that begins the turn, when one can begin.
        message, created = await engine.store_and_kick(
            self.conversation_id,
            functools.partial(_store_message, self.conversation_id, self.client, frame, text),
        )
        if not created:
            # A resent frame: echo the stored message again, answer nothing twice.
            await self.send_frame(frames.message_frame(message))

    async def cmd_resume(self, frame: ResumeFrame) -> None:
        allowed = await in_db_thread(check_rate)(
            "resume", self.client, limit=settings.SUPPORTBOT_RATE_RESUMES
        )
        if not allowed:
            raise ChatError("rate_limited", "Too many requests. Please wait a bit.")
        async with self.stored_lock:
            frames = await in_db_thread(events.events_after)(self.conversation_id, frame.last_seq)
            for event in frames:
                # Marked, so a page can tell the replay from live frames that race it.
                await self.send_frame({**event, "replay": True})
            if frames:
                self.last_seq = max(self.last_seq, frames[-1]["seq"])
        await self.send_frame(
            {"type": "resumed", "last_seq": frames[-1]["seq"] if frames else frame.last_seq}
        )

    async def cmd_confirm(self, frame: ConfirmFrame) -> None:
        await engine.store_and_kick(
            self.conversation_id,
            functools.partial(
                services.check_decide_action, self.conversation_id, frame.action_id, frame.decision
            ),
        )

    async def cmd_retry(self) -> None:
        await engine.store_and_kick(
            self.conversation_id, functools.partial(services.do_request_turn, self.conversation_id)
        )

    async def cmd_end(self) -> None:
        await in_db_thread(ownership.do_close_conversation)(self.conversation_id, reason="customer")

    async def cmd_rate(self, frame: RateFrame) -> None:
        await in_db_thread(services.check_rate_conversation)(
            self.conversation_id, frame.score, frame.comment
        )

    async def cmd_typing(self, frame: TypingFrame) -> None:
        """Tell the staff watching that the customer is typing. Clients debounce;
        this caps a chatty one too: "still typing" at most every TYPING_EVERY seconds."""
        now = asyncio.get_running_loop().time()
        if frame.typing and now - self.typing_announced_at < TYPING_EVERY:
            return
        if not frame.typing and not self.typing_announced_at:
            return
        self.typing_announced_at = now if frame.typing else 0.0
        await self.channel_layer.group_send(
            staff_group_for(self.conversation_id),
            {
                "type": "chat.event",
                "frame": {"type": "typing", "who": "customer", "typing": frame.typing},
            },
        )

    async def cmd_read(self, frame: ReadFrame) -> None:
        await in_db_thread(services.do_mark_read, background=True)(self.conversation_id, frame.seq)

    # --- Group handlers -------------------------------------------------------------

    async def chat_event(self, event: dict[str, Any]) -> None:
        """A frame through the channel layer (from another process, or stored here too)."""
        if event.get("origin") == live.ORIGIN:
            return  # a live frame of a turn in this process: this socket has it already
        frame = event["frame"]
        if event.get("stored"):
            await self.stored_frame(frame)
        else:
            await self.live_frame(frame)

    async def live_frame(self, frame: dict[str, Any]) -> None:
        async with self.stored_lock:  # after the session frame and any gap being filled
            if frame["type"] in LIVE_BOT_FRAMES and not self.bot_speaks:
                # A person owns the conversation now: streamed bot text that raced the
                # hand-off is dropped here, at the last step.
                return
            await self.send_frame(frame)

    async def stored_frame(self, frame: dict[str, Any]) -> None:
        """A stored event, once and in seq order: a copy already sent is dropped, and a
        gap (an event the layer dropped or has not brought yet) is read from the store."""
        async with self.stored_lock:
            if frame["seq"] <= self.last_seq:
                return
            frames = [frame]
            if frame["seq"] > self.last_seq + 1:
                frames = await in_db_thread(events.events_after)(
                    self.conversation_id, self.last_seq
                )
            for event in frames:
                if event["seq"] <= self.last_seq:
                    continue
                if event["type"] == "handoff":
                    self.bot_speaks = event.get("state") == "returned_to_bot"
                    live.saw_handoff(self.conversation_id, event["seq"])
                    if self.bot_speaks:
                        # A question asked while a person had the chat may still be
                        # waiting; the hand-back happened over HTTP, so the engine is
                        # woken here.
                        engine.kick(self.conversation_id)
                await self.send_frame(event)
                self.last_seq = event["seq"]

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, default=str))


def _session(conversation_id: uuid.UUID) -> tuple[dict[str, Any], bool]:
    """The session frame, and whether the conversation needs a runner (one query for both)."""
    read = leases.with_needs_runner(conversation_id, "customer")
    if read is None:
        raise Conversation.DoesNotExist
    conversation, needs_runner = read
    customer = conversation.customer
    frame = {
        "type": "session",
        "conversation_id": str(conversation.pk),
        "status": conversation.status,
        "last_seq": conversation.last_seq,
        "verified": customer is not None,
        "customer_name": customer.first_name if customer is not None else None,
        "assistant": "offline" if not settings.OPENAI_API_KEY else "ai",
        "turn_running": bool(conversation.turn_owner),
        "csat_score": conversation.csat_score,
        "assistant_name": settings.SUPPORTBOT_ASSISTANT_NAME,
        "agent_name": _current_agent_name(conversation),
    }
    return frame, needs_runner


def _current_agent_name(conversation: Conversation) -> str | None:
    """Who has the chat now, for the header of a page that loads mid-hand-off."""
    if conversation.status != Conversation.Status.AGENT:
        return None
    joined = (
        Message.objects.filter(conversation=conversation, kind=Message.Kind.HANDOFF)
        .order_by("-seq")
        .values_list("metadata", flat=True)
        .first()
    )
    name = (joined or {}).get("agent_name")
    return str(name) if name else None


def _store_message(
    conversation_id: uuid.UUID, client: str, frame: MessageFrame, text: str
) -> tuple[Message, bool]:
    """A customer message, in one database step: the client's rate (per client across
    all its conversations: opening more does not buy more), the message stored once,
    and other apps told (escalations: queue notices)."""
    if not check_rate("message", client, limit=settings.SUPPORTBOT_RATE_MESSAGES):
        raise ChatError("rate_limited", "You're sending messages too fast. Please wait a bit.")
    message, created = services.do_store_customer_message(
        conversation_id, client_id=frame.client_id, text=text, attachment_id=frame.attachment_id
    )
    if created:
        send_on_commit(customer_message_stored, conversation_id)
    return message, created
