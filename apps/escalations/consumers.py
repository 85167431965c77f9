"""The agent console's sockets (staff only).

- /ws/agent/ : the live queue. Events for every escalation (created, summarised,
  claimed, re-announced, closed) and a snapshot on connect.
- /ws/agent/conversations/<id>/ : one conversation, live: every frame the customer
  sees (from the conversation's group) plus staff-only events (private notes).

Both refuse before `accept` anyone who is not active staff with
`escalations.view_escalation`. They only read; changes go through the console's
POST views (CSRF-protected), which call the services.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.chat import live
from apps.chat.asyncdb import in_db_thread
from apps.chat.frames import FrameError, decode_frame
from apps.chat.models import Conversation, group_for, staff_group_for

from . import services

log = logging.getLogger(__name__)
TYPING_EVERY = 2.0  # seconds between "still typing" frames to the customer


class _StaffConsumer(AsyncWebsocketConsumer):
    groups_joined: list[str]
    user_id: int | None = None

    async def refuse_unless_agent(self) -> bool:
        user = self.scope.get("user")
        if not await in_db_thread(services.is_agent)(user):
            await self.close(code=4403)  # before accept: the handshake fails
            return False
        assert user is not None
        self.user_id = user.pk
        return True

    async def join(self, *groups: str) -> None:
        self.groups_joined = list(groups)
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.user_id is not None and getattr(self, "groups_joined", None):
            await in_db_thread(services.do_agent_disconnected)(self.user_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = decode_frame(text_data, max_bytes=settings.SUPPORTBOT_MAX_FRAME_BYTES)
            if frame.get("type") == "typing" and isinstance(frame.get("typing"), bool):
                await self.cmd_typing(frame["typing"])
            elif frame.get("type") == "ping" and self.user_id is not None:
                await in_db_thread(services.do_agent_seen)(self.user_id)
                await self.send_frame({"type": "pong"})
            elif frame.get("type") == "refresh":
                await self.send_snapshot()
            else:
                await self.send_frame(
                    {"type": "error", "code": "unknown_type", "message": "Unknown frame type."}
                )
        except FrameError as exc:
            await self.send_frame({"type": "error", "code": exc.code, "message": exc.message})
        except Exception:
            # The protocol promises an error frame, never a dropped socket.
            log.exception("staff frame failed")
            await self.send_frame(
                {"type": "error", "code": "internal_error", "message": "Please try again."}
            )

    async def send_snapshot(self) -> None:
        pass

    async def cmd_typing(self, typing: bool) -> None:
        await self.send_frame({"type": "error", "code": "unknown_type"})

    # --- Group handlers -------------------------------------------------------------

    async def console_event(self, event: dict[str, Any]) -> None:
        await self.send_frame(
            {
                "type": "event",
                "event": event["event"],
                "escalation": event.get("escalation"),
                "data": event.get("data") or {},
            }
        )

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, default=str))


class QueueConsumer(_StaffConsumer):
    async def connect(self) -> None:
        if not await self.refuse_unless_agent():
            return
        await self.join(services.CONSOLE_GROUP)
        await self.accept()
        assert self.user_id is not None
        await in_db_thread(services.do_agent_connected)(self.user_id)
        await self.send_snapshot()

    async def send_snapshot(self) -> None:
        await self.send_frame(await in_db_thread(_queue_snapshot)(self.user_id))


class ConversationConsumer(_StaffConsumer):
    conversation_id: uuid.UUID
    typing_announced_at = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen_seqs: set[int] = set()  # stored events come in-process and by the layer
        self.ready = asyncio.Lock()  # frames wait for the snapshot

    async def connect(self) -> None:
        if not await self.refuse_unless_agent():
            return
        raw = self.scope["url_route"]["kwargs"]["conversation_id"]
        try:
            self.conversation_id = uuid.UUID(str(raw))
        except ValueError:
            await self.close(code=4404)
            return
        exists = await in_db_thread(Conversation.objects.filter(pk=self.conversation_id).exists)()
        if not exists:
            await self.close(code=4404)
            return
        await self.join(
            group_for(self.conversation_id),
            staff_group_for(self.conversation_id),
            services.console_group(self.conversation_id),
        )
        await self.accept()
        async with self.ready:
            live.join(self.conversation_id, self)
            assert self.user_id is not None
            await in_db_thread(services.do_agent_connected)(self.user_id)
            await self.send_snapshot()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "conversation_id"):
            live.leave(self.conversation_id, self)
        await super().disconnect(code)

    async def send_snapshot(self) -> None:
        await self.send_frame(await in_db_thread(_conversation_snapshot)(self.conversation_id))

    async def chat_event(self, event: dict[str, Any]) -> None:
        """A frame the customer sees, shown to the agent as it happens (and the staff-only
        ones about the customer: typing, read). Frames of this process's turns and stored
        events come through `apps.chat.live` too; each is shown once."""
        if event.get("origin") == live.ORIGIN:
            return
        frame = event["frame"]
        if frame.get("type") == "typing" and frame.get("who") == "agent":
            return  # the agent's own typing, echoed to the customer
        if event.get("stored"):
            await self.stored_frame(frame)
        else:
            await self.live_frame(frame)

    async def live_frame(self, frame: dict[str, Any]) -> None:
        async with self.ready:
            await self.send_frame({"type": "chat", "frame": frame})

    async def stored_frame(self, frame: dict[str, Any]) -> None:
        seen = self.seen_seqs  # show each stored event once
        if frame["seq"] in seen:
            return
        seen.add(frame["seq"])
        if len(seen) > 1000:
            seen.difference_update(sorted(seen)[:500])
        if frame["type"] == "handoff":
            live.saw_handoff(self.conversation_id, frame["seq"])
        await self.live_frame(frame)

    async def cmd_typing(self, typing: bool) -> None:
        """The agent holding the chat is typing: the customer sees "Alex is typing…".
        The console debounces; this caps it too."""
        now = asyncio.get_running_loop().time()
        if typing and now - self.typing_announced_at < TYPING_EVERY:
            return
        if not typing and not self.typing_announced_at:
            return
        name = await in_db_thread(services.holder_name)(self.conversation_id, self.user_id)
        if name is None:
            return  # only the agent who has the chat speaks to the customer
        self.typing_announced_at = now if typing else 0.0
        await self.channel_layer.group_send(
            group_for(self.conversation_id),
            {
                "type": "chat.event",
                "frame": {"type": "typing", "who": "agent", "agent_name": name, "typing": typing},
            },
        )


def _queue_snapshot(user_id: int | None) -> dict[str, Any]:
    cards = [
        services.escalation_card(escalation, position=position)
        for position, escalation in enumerate(services.queued_escalations(), start=1)
    ]
    from django.contrib.auth import get_user_model

    from . import inbox

    open_cards = inbox.open_cards()
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    unread = (
        inbox.unread_counts(user, [card["conversation_id"] for card in open_cards])
        if user is not None
        else {}
    )
    return {
        "type": "snapshot",
        "escalations": cards,
        "open": open_cards,  # queued and claimed, for the inbox's lists
        "unread": unread,  # this agent's unread customer messages per conversation
        "online_agents": services.online_agents().count(),
    }


def _conversation_snapshot(conversation_id: uuid.UUID) -> dict[str, Any]:
    conversation = Conversation.objects.get(pk=conversation_id)
    escalation = services.open_escalation(conversation_id)
    return {
        "type": "snapshot",
        "status": conversation.status,
        "last_seq": conversation.last_seq,
        "read_seq": conversation.customer_read_seq,
        "escalation": services.escalation_card(escalation) if escalation else None,
    }
