"""The hand-off: queue, claim, take over, transfer, hand back, close, notes. The change of
owner itself (conditional update, hand-off event, publish) is apps.chat.ownership."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.chat.models import Conversation, Message, Turn
from apps.chat.ownership import do_announce, do_close_conversation, do_move
from apps.chat.services import do_append_event
from apps.chat.text import clean_text
from apps.outbox.services import enqueue

from .. import detection
from ..models import (
    AgentNote,
    CopilotSuggestion,
    Escalation,
    HandoffOffer,
)
from .console import log_event, publish_console
from .presence import (
    agent_capacity,
    agent_load,
    check_capacity,
    is_available,
    lock_agent,
    may_take_escalations,
)
from .queries import EscalationError, agent_name, open_escalation, queue_position

QUEUED_TEXT = (
    "I've asked a person from our support team to join this chat. You're number {position} "
    "in the queue, and they'll see everything we've discussed."
)


def do_escalate(
    conversation_id: uuid.UUID | str,
    *,
    trigger: str,
    reason: str,
    priority: int = Escalation.Priority.NORMAL,
    note: str = "",
) -> tuple[Escalation | None, bool]:
    """Put the conversation in the queue for a person. Returns (escalation, created).

    Idempotent while one is open: a second call returns the open escalation. A
    closed conversation is not escalated (None).
    """
    with transaction.atomic():
        conversation = Conversation.objects.lock(conversation_id, "customer")
        if conversation is None:
            return None, False
        existing = open_escalation(conversation.pk)
        if existing is not None:
            return existing, False
        if conversation.status != Conversation.Status.BOT:
            return None, False
        if not do_move(conversation.pk, Conversation.Status.BOT, Conversation.Status.QUEUED):
            return None, False
        escalation = Escalation.objects.create(
            conversation=conversation,
            trigger=trigger,
            reason=reason[:300] or "The customer needs a person.",
            priority=priority,
            customer=conversation.customer,
            identity=customer_identity(conversation),
            context_seq=conversation.last_seq,
            tool_turns=tool_turns(conversation),
            model_note=note[:2000],
        )
        position = queue_position(escalation)
        log_event(escalation, "created", trigger=trigger, reason=escalation.reason)
        HandoffOffer.objects.filter(
            conversation=conversation, status=HandoffOffer.Status.OPEN
        ).update(status=HandoffOffer.Status.ACCEPTED)
        do_announce(
            conversation.pk,
            "queued",
            QUEUED_TEXT.format(position=position),
            position=position,
            escalation_id=escalation.pk,
        )
        publish_console("created", escalation)
        escalation_id = escalation.pk
        enqueue("escalations.summarise", escalation_id)
        enqueue("escalations.notify_agents", escalation_id, 0)
    return escalation, True


def customer_identity(conversation: Conversation) -> dict[str, Any]:
    customer = conversation.customer
    if customer is None:
        return {}
    return {
        "customer_id": customer.pk,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "verified_by": conversation.verified_by,
    }


def tool_turns(conversation: Conversation) -> list[str]:
    turns = (
        Turn.objects.filter(conversation=conversation)
        .exclude(tool_calls=[])
        .order_by("-started_at")
        .values_list("pk", flat=True)[:20]
    )
    return [str(pk) for pk in reversed(list(turns))]


def trigger_for_tool(conversation_id: uuid.UUID | str) -> str:
    """Why the model's escalate_to_human call happened, judged from the conversation,
    not from the model's words: too many failed verifications, the customer asking
    for a person, or the model's own judgement."""
    from apps.orders.tools import MAX_VERIFICATION_FAILURES

    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return Escalation.Trigger.MODEL
    if conversation.customer_id is None and (
        conversation.verification_failures >= MAX_VERIFICATION_FAILURES
    ):
        return Escalation.Trigger.VERIFICATION
    latest = Message.objects.latest_customer_text(conversation.pk)
    if latest and detection.asks_for_human(latest):
        return Escalation.Trigger.CUSTOMER_REQUEST
    return Escalation.Trigger.MODEL


JOINED_TEXT = "{name} from our support team joined the chat."


def _announce_join(escalation: Escalation, agent: Any) -> None:
    do_announce(
        escalation.conversation_id,
        "agent_joined",
        JOINED_TEXT.format(name=agent_name(agent)),
        author_id=agent.pk,
        agent_name=agent_name(agent),
        escalation_id=escalation.pk,
    )


def check_claim(escalation_id: int, agent: Any) -> Escalation:
    """Take a queued escalation. Of two agents claiming together exactly one wins;
    the other gets `taken`. The agent's cap on open conversations is enforced."""
    with transaction.atomic():
        check_capacity(agent)
        now = timezone.now()
        won = Escalation.objects.filter(pk=escalation_id, status=Escalation.Status.QUEUED).update(
            status=Escalation.Status.CLAIMED, claimed_by=agent, claimed_at=now
        )
        if won != 1:
            current = Escalation.objects.select_related("claimed_by").filter(pk=escalation_id)
            taken = current.first()
            if taken is None:
                raise EscalationError("not_found", "This escalation no longer exists.")
            who = agent_name(taken.claimed_by) if taken.claimed_by else "someone else"
            raise EscalationError(
                "taken", f"Already taken by {who}." if taken.is_open else "No longer waiting."
            )
        escalation = Escalation.objects.get(pk=escalation_id)
        if not do_move(
            escalation.conversation_id, Conversation.Status.QUEUED, Conversation.Status.AGENT
        ):
            # The customer closed the chat meanwhile: the exception undoes the claim.
            raise EscalationError("not_available", "This conversation is no longer waiting.")
        log_event(escalation, "claimed", actor=agent)
        _announce_join(escalation, agent)
        publish_console("claimed", escalation)
    return escalation


def check_take_over(conversation_id: uuid.UUID | str, agent: Any) -> Escalation:
    """An agent steps into a conversation the bot is handling (or one in the queue).
    A bot turn streaming at that moment stops: its text is re-checked before sending."""
    queued = open_escalation(conversation_id)
    if queued is not None and queued.status == Escalation.Status.QUEUED:
        return check_claim(queued.pk, agent)
    if queued is not None:
        raise EscalationError("taken", f"Already with {agent_name(queued.claimed_by)}.")
    with transaction.atomic():
        check_capacity(agent)
        conversation = Conversation.objects.lock(conversation_id, "customer")
        if conversation is None:
            raise EscalationError("not_found", "No such conversation.")
        now = timezone.now()
        if not do_move(conversation.pk, Conversation.Status.BOT, Conversation.Status.AGENT):
            raise EscalationError("not_available", "This conversation is not with the assistant.")
        escalation = Escalation.objects.create(
            conversation=conversation,
            trigger=Escalation.Trigger.AGENT,
            reason=f"Taken over by {agent_name(agent)}",
            status=Escalation.Status.CLAIMED,
            claimed_by=agent,
            claimed_at=now,
            notified_at=now,
            customer=conversation.customer,
            identity=customer_identity(conversation),
            context_seq=conversation.last_seq,
            tool_turns=tool_turns(conversation),
        )
        log_event(escalation, "taken_over", actor=agent)
        _announce_join(escalation, agent)
        publish_console("claimed", escalation)
        enqueue("escalations.summarise", escalation.pk)
    return escalation


def held_by(conversation_id: uuid.UUID | str, agent: Any) -> Escalation:
    escalation = open_escalation(conversation_id)
    if escalation is None or escalation.status != Escalation.Status.CLAIMED:
        raise EscalationError("not_claimed", "Claim this conversation first.")
    if escalation.claimed_by_id != agent.pk and not agent.is_superuser:
        raise EscalationError("not_yours", f"{agent_name(escalation.claimed_by)} has this one.")
    return escalation


TRANSFERRED_TEXT = "{name} passed your chat to {to}, who can see everything so far."


REQUEUED_TEXT = (
    "{name} passed your chat to the next free person on our team. You're number {position} "
    "in the queue."
)


def check_transfer(conversation_id: uuid.UUID | str, agent: Any, to: Any | None) -> Escalation:
    """The holding agent passes the conversation to another agent (`to`), or back to
    the queue (`to` None). The receiver must be able to take escalations, be online
    (not away) and under their cap; the customer is told who has them now."""
    with transaction.atomic():
        escalation = held_by(conversation_id, agent)
        holder = escalation.claimed_by
        now = timezone.now()
        if to is not None:
            if to.pk == escalation.claimed_by_id:
                raise EscalationError("same_agent", "That agent already has this conversation.")
            if not may_take_escalations(to):
                raise EscalationError("not_an_agent", f"{agent_name(to)} cannot take chats.")
            if not is_available(to):
                raise EscalationError("unavailable", f"{agent_name(to)} is away or offline.")
            lock_agent(to)
            if agent_load(to) >= agent_capacity(to):
                raise EscalationError(
                    "at_capacity", f"{agent_name(to)} already has {agent_capacity(to)} open."
                )
            moved = Escalation.objects.filter(
                pk=escalation.pk, status=Escalation.Status.CLAIMED, claimed_by=holder
            ).update(claimed_by=to, claimed_at=now)
        else:
            moved = Escalation.objects.filter(
                pk=escalation.pk, status=Escalation.Status.CLAIMED, claimed_by=holder
            ).update(status=Escalation.Status.QUEUED, claimed_by=None, claimed_at=None)
            if moved == 1:
                moved = do_move(
                    conversation_id, Conversation.Status.AGENT, Conversation.Status.QUEUED
                )
        if moved != 1:
            raise EscalationError("not_available", "This conversation changed meanwhile.")
        escalation.refresh_from_db()
        log_event(
            escalation,
            "transferred" if to is not None else "requeued",
            actor=agent,
            **({"to": agent_name(to), "to_id": to.pk} if to is not None else {}),
            **({"from": agent_name(holder)} if holder is not None else {}),
        )
        discard_suggestions(conversation_id, holder)
        name = agent_name(agent)
        if to is not None:
            do_announce(
                conversation_id,
                "agent_joined",
                TRANSFERRED_TEXT.format(name=name, to=agent_name(to)),
                author_id=agent.pk,
                agent_name=agent_name(to),
                escalation_id=escalation.pk,
                transferred_from=name,
            )
        else:
            position = queue_position(escalation)
            do_announce(
                conversation_id,
                "queued",
                REQUEUED_TEXT.format(name=name, position=position),
                author_id=agent.pk,
                position=position,
                escalation_id=escalation.pk,
            )
        publish_console(
            "transferred" if to is not None else "requeued",
            escalation,
            by=name,
            to=agent_name(to) if to is not None else None,
            to_id=to.pk if to is not None else None,
        )
    return escalation


def discard_suggestions(conversation_id: uuid.UUID | str, agent: Any) -> None:
    """Copilot suggestions an agent never sent are discarded when the chat leaves them."""
    if agent is None:
        return
    CopilotSuggestion.objects.filter(
        conversation_id=conversation_id,
        agent=agent,
        kind=CopilotSuggestion.Kind.REPLY,
        status__in=[CopilotSuggestion.Outcome.PENDING, CopilotSuggestion.Outcome.SHOWN],
    ).update(status=CopilotSuggestion.Outcome.DISCARDED, resolved_at=timezone.now())


def do_agent_message(conversation_id: uuid.UUID | str, agent: Any, text: str) -> Message:
    """The agent's reply, shown to the customer with the agent's first name."""
    text = clean_text(text).strip()
    if not text:
        raise EscalationError("empty", "Write a message first.")
    if len(text) > settings.SUPPORTBOT_MAX_MESSAGE_CHARS:
        raise EscalationError("too_long", "That message is too long.")
    with transaction.atomic():
        escalation = held_by(conversation_id, agent)
        locked = Conversation.objects.lock(conversation_id)
        if locked is None or locked.status != Conversation.Status.AGENT:
            raise EscalationError("not_available", "This conversation is not with you.")
        message = do_append_event(
            conversation_id,
            role=Message.Role.AGENT,
            text=text,
            metadata={"agent_name": agent_name(agent), "escalation_id": escalation.pk},
            author_id=agent.pk,
        )
    return message


RETURNED_TEXT = (
    "{name} handed you back to the AI assistant, which can see this conversation so far."
)


RETURNED_NOTHING_PENDING_TEXT = RETURNED_TEXT + " Is there anything else I can help with?"


def handled_by_agent_seq(conversation_id: uuid.UUID | str) -> int:
    """The last customer message a person has replied to: the latest one stored before
    the agent's last message. Customer messages after it are still waiting for an answer."""
    last_reply = (
        Message.objects.filter(
            conversation_id=conversation_id,
            role=Message.Role.AGENT,
            kind=Message.Kind.MESSAGE,
        )
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    if last_reply is None:
        return 0
    return (
        Message.objects.from_customer(conversation_id)
        .filter(seq__lt=last_reply)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    ) or 0


def do_hand_back(conversation_id: uuid.UUID | str, agent: Any) -> Escalation:
    """Agent -> bot. The context stays (same episode). Messages the agent replied to
    are not answered again; a question the customer asked after the agent's last reply
    is still pending, and the bot answers it (the customer's socket wakes the engine
    when it sees the hand-back)."""
    with transaction.atomic():
        escalation = held_by(conversation_id, agent)
        handled = handled_by_agent_seq(conversation_id)
        pending = Message.objects.latest_customer_seq(conversation_id) > max(
            handled, Conversation.objects.get(pk=conversation_id).answered_seq
        )
        moved = do_move(
            conversation_id,
            Conversation.Status.AGENT,
            Conversation.Status.BOT,
            answered_seq=Greatest(F("answered_seq"), handled),
            turn_requested=False,
        )
        if not moved:
            raise EscalationError("not_available", "This conversation is not with an agent.")
        now = timezone.now()
        Escalation.objects.filter(pk=escalation.pk).update(
            status=Escalation.Status.RETURNED, returned_at=now
        )
        log_event(escalation, "returned", actor=agent)
        discard_suggestions(conversation_id, agent)
        do_announce(
            conversation_id,
            "returned_to_bot",
            (RETURNED_TEXT if pending else RETURNED_NOTHING_PENDING_TEXT).format(
                name=agent_name(agent)
            ),
            author_id=agent.pk,
            agent_name=agent_name(agent),
            pending=pending,
        )
        publish_console("returned", escalation)
    return escalation


def do_close(conversation_id: uuid.UUID | str, agent: Any) -> bool:
    """The agent closes the conversation (and its escalation)."""
    with transaction.atomic():
        escalation = open_escalation(conversation_id)
        if escalation is not None and escalation.status == Escalation.Status.CLAIMED:
            held_by(conversation_id, agent)
        closed = do_close_conversation(conversation_id, reason="agent", actor_id=agent.pk)
        if escalation is not None:
            close_escalation(escalation, actor=agent)
        discard_suggestions(conversation_id, agent)
    return closed


def close_escalation(escalation: Escalation, *, actor: Any = None) -> None:
    changed = Escalation.objects.filter(pk=escalation.pk, status__in=Escalation.OPEN).update(
        status=Escalation.Status.CLOSED, closed_at=timezone.now()
    )
    if changed:
        log_event(escalation, "closed", actor=actor)
        publish_console("closed", escalation)


def on_conversation_closed(conversation_id: uuid.UUID | str, **_: Any) -> None:
    """The customer ended the chat (or it idled out): no escalation stays open."""
    escalation = open_escalation(conversation_id)
    if escalation is not None:
        with transaction.atomic():
            close_escalation(escalation)


def do_add_note(conversation_id: uuid.UUID | str, agent: Any, text: str) -> AgentNote:
    """A private note. It is stored apart from messages and only staff see it."""
    text = clean_text(text).strip()
    if not text:
        raise EscalationError("empty", "Write a note first.")
    with transaction.atomic():
        if not Conversation.objects.filter(pk=conversation_id).exists():
            raise EscalationError("not_found", "No such conversation.")
        escalation = (
            Escalation.objects.filter(conversation_id=conversation_id).order_by("-pk").first()
        )
        note = AgentNote.objects.create(
            conversation_id=conversation_id, escalation=escalation, author=agent, text=text[:5000]
        )
        publish_console(
            "note",
            None,
            conversation_id=conversation_id,
            note={
                "id": note.pk,
                "author": agent_name(agent),
                "text": note.text,
                "created_at": note.created_at.isoformat(),
            },
        )
    return note
