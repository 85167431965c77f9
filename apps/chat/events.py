"""A conversation's stored events: each stored with the next seq, announced once its
transaction commits, and read back in the order the chat page shows them.

Events reach clients through the conversation's group on the channel layer, and
only after the transaction that stored them commits, so no client ever sees an
event that was rolled back. This process's sockets get them directly (live.py).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from . import live
from .asyncdb import calling_loop
from .errors import ChatError
from .frames import message_frame
from .models import Conversation, Message, Turn, group_for, staff_group_for

log = logging.getLogger(__name__)


def publish(
    conversation_id: uuid.UUID | str,
    frame: dict[str, Any],
    *,
    staff_only: bool = False,
    stored: bool = False,
) -> None:
    """Send a frame to everyone on the conversation (or only the staff watching it)
    once the current transaction commits: to this process's sockets directly (so no
    layer capacity can drop it for them), and through the channel layer to the others.
    A `stored` frame is an event with its seq, which sockets show once and in order."""
    group = staff_group_for(conversation_id) if staff_only else group_for(conversation_id)

    def send() -> None:
        event: dict[str, Any] = {"type": "chat.event", "frame": frame}
        if stored:
            event["stored"] = True  # this process's sockets drop the copy by its seq
        if not staff_only:
            live.deliver_committed(conversation_id, frame, stored=stored)
            if not stored:
                event["origin"] = live.ORIGIN  # this process's sockets have it
        loop = calling_loop()
        if loop is not None:
            # Committed in a turn's or a socket's database step: its loop sends it.
            live.group_send_soon(loop, group, event, delivered_here=not staff_only)
            return
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, event)
        except Exception:
            # The event is stored; clients catch up with `resume`.
            log.exception("could not publish to conversation %s", conversation_id)

    transaction.on_commit(send)


def do_append_event(
    conversation_id: uuid.UUID | str,
    *,
    kind: str = Message.Kind.MESSAGE,
    role: str,
    text: str = "",
    metadata: dict[str, Any] | None = None,
    client_id: uuid.UUID | None = None,
    author_id: int | None = None,
    open_only: bool = False,
) -> Message:
    """Store one event with the conversation's next seq, and announce it after commit.
    `open_only`: raise ConversationClosed, storing nothing, if it is closed or gone."""
    # No savepoint: nothing inside is recovered from, so a caller's transaction suffices.
    with transaction.atomic(savepoint=False):
        seq = _next_seq(conversation_id, open_only=open_only)
        if seq is None and open_only:
            raise ConversationClosed(str(conversation_id))
        if seq is None:
            raise ChatError("not_found", "This conversation does not exist.")
        message = Message.objects.create(
            conversation_id=conversation_id,
            seq=seq,
            kind=kind,
            role=role,
            text=text,
            client_id=client_id,
            author_id=author_id,
            metadata=metadata or {},
        )
        publish(conversation_id, message_frame(message), stored=True)
    return message


def do_tell_customer(
    conversation_id: uuid.UUID | str, notice: str, text: str, **details: Any
) -> Message:
    """Store one system notice; `notice` names it for the chat page (metadata["notice"])."""
    return do_append_event(
        conversation_id,
        kind=Message.Kind.NOTICE,
        role=Message.Role.SYSTEM,
        text=text,
        metadata={"notice": notice, **details},
    )


NEXT_SEQ_SQL = (
    'UPDATE "chat_conversation" SET "last_seq" = "last_seq" + 1, "updated_at" = %s '
    'WHERE "id" = %s RETURNING "last_seq"'
)
OPEN_NEXT_SEQ_SQL = NEXT_SEQ_SQL.replace(" RETURNING", ' AND "status" <> %s RETURNING')


class ConversationClosed(Exception):
    """do_append_event(open_only=True) found the conversation closed, or gone."""


def _next_seq(conversation_id: uuid.UUID | str, *, open_only: bool = False) -> int | None:
    """The conversation's next seq, counted up in one statement (UPDATE ... RETURNING,
    PostgreSQL and SQLite alike); its row lock hands seqs out one at a time.
    `open_only`: not if the conversation is closed (None, as when it is gone)."""
    meta = Conversation._meta
    row_id = meta.get_field("id").get_db_prep_value(conversation_id, connection)
    now = meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        if open_only:
            cursor.execute(OPEN_NEXT_SEQ_SQL, [now, row_id, Conversation.Status.CLOSED.value])
        else:
            cursor.execute(NEXT_SEQ_SQL, [now, row_id])
        row = cursor.fetchone()
    return int(row[0]) if row else None


def events_after(conversation_id: uuid.UUID | str, last_seq: int) -> list[dict[str, Any]]:
    """Stored events after `last_seq`, in the order the chat page shows them live.

    That is `seq` order, except for a reply the customer wrote over: a message sent
    while the reply was streaming is stored before it, yet the live page shows the
    reply under the question it answers (where it started streaming), so a replay
    puts it there too."""
    messages = list(
        Message.objects.filter(conversation_id=conversation_id, seq__gt=last_seq).order_by("seq")
    )
    turn_ids = [
        (m.metadata or {}).get("turn_id")
        for m in messages
        if m.role == Message.Role.ASSISTANT and (m.metadata or {}).get("turn_id")
    ]
    answers = dict(
        Turn.objects.filter(pk__in=turn_ids, trigger="message").values_list("id", "answers_seq")
    )
    customer_seqs = [m.seq for m in messages if m.role == Message.Role.CUSTOMER]

    def position(message: Message) -> float:
        turn_id = (message.metadata or {}).get("turn_id")
        try:
            answered = answers.get(uuid.UUID(str(turn_id))) if turn_id else None
        except ValueError:
            answered = None
        if answered is None or message.role != Message.Role.ASSISTANT:
            return float(message.seq)
        written_over = any(answered < seq < message.seq for seq in customer_seqs)
        return answered + 0.5 if written_over else float(message.seq)

    return [message_frame(message) for message in sorted(messages, key=position)]
