"""Who owns a conversation: the bot, the queue, a person, or no one (closed).

    bot -> queued -> agent -> bot      (an escalation, a claim, a hand-back)
    bot -> agent                       (an agent takes over)
    agent -> queued                    (a transfer to the queue, a stranded chat)
    any open state -> closed           (customer, agent or idle sweep)

Every change is a conditional update: it happens only from the state the caller saw,
so of two racing changes exactly one wins and the other learns it (False). The change
is told to the customer as a hand-off event (`announce`), which is stored in the
transcript and published to the conversation's sockets when the transaction commits.
The escalations app decides *when* a conversation moves; this module is *how*.
Reopening a closed conversation starts a new episode (chat.services).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from .events import do_append_event
from .models import Conversation, Message, PendingAction
from .signals import conversation_closed, conversation_closing

Status = Conversation.Status

MOVES = frozenset(
    {
        (Status.BOT, Status.QUEUED),
        (Status.BOT, Status.AGENT),
        (Status.QUEUED, Status.AGENT),
        (Status.AGENT, Status.QUEUED),
        (Status.AGENT, Status.BOT),
    }
)


def do_move(conversation_id: uuid.UUID | str, frm: str, to: str, **fields: Any) -> bool:
    """Move the conversation from `frm` to `to` (and set `fields`), if it is still in `frm`."""
    if (frm, to) not in MOVES:
        raise ValueError(f"a conversation does not move from {frm} to {to}")
    moved = Conversation.objects.filter(pk=conversation_id, status=frm).update(
        status=to, updated_at=timezone.now(), **fields
    )
    return moved == 1


def do_announce(
    conversation_id: uuid.UUID | str,
    state: str,
    text: str,
    *,
    author_id: int | None = None,
    **metadata: Any,
) -> Message:
    """The hand-off event the customer sees (`state`: queued, agent_joined,
    returned_to_bot, closed). Every change of owner stores one: a bot reply begun
    before it is not sent after it (turn_store.bot_kept_it)."""
    return do_append_event(
        conversation_id,
        kind=Message.Kind.HANDOFF,
        role=Message.Role.SYSTEM,
        text=text,
        metadata={"state": state, **metadata},
        author_id=author_id,
    )


CLOSE_TEXT = {
    "customer": "You ended the chat.",
    "agent": "The support team closed this conversation.",
    "idle": "This conversation was closed after a period of inactivity.",
}


def do_close_conversation(
    conversation_id: uuid.UUID | str, *, reason: str, actor_id: int | None = None
) -> bool:
    """Close the conversation (customer, agent or idle sweep). False if already closed."""
    now = timezone.now()
    with transaction.atomic():
        closed = (
            Conversation.objects.filter(pk=conversation_id)
            .exclude(status=Status.CLOSED)
            .update(status=Status.CLOSED, closed_at=now, close_reason=reason)
        )
        if closed != 1:
            return False
        PendingAction.objects.filter(
            conversation_id=conversation_id, status=PendingAction.Status.PENDING
        ).update(status=PendingAction.Status.EXPIRED, decided_at=now)
        do_announce(
            conversation_id,
            "closed",
            CLOSE_TEXT.get(reason, "This conversation was closed."),
            author_id=actor_id,
            reason=reason,
            csat=True,
        )
        conversation_closing.send(
            sender=Conversation, conversation_id=conversation_id, reason=reason
        )
        transaction.on_commit(
            lambda: conversation_closed.send(
                sender=Conversation, conversation_id=conversation_id, reason=reason
            )
        )
    return True
