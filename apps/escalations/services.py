"""Every state change of a hand-off. Tools, consumers, views and tasks call these.

The conversation's owner is `Conversation.status`. Every change of it here is a
conditional UPDATE inside a transaction, checked to have changed exactly one
row, so two actors racing (two agents claiming, a bot turn finishing while an
agent takes over) cannot both win. The turn engine re-checks the status before
each piece of text it sends, so once a hand-off commits the bot says no more.

Customer-facing events go through the chat app (`do_append_event`); events for
staff go to the console groups below, after commit. Tasks are enqueued with
`on_commit`, take ids, and record their effect once (`EscalationEvent.key`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.chat.models import Conversation, Message, Turn
from apps.chat.ownership import do_announce, do_close_conversation, do_move
from apps.chat.services import do_append_event
from apps.chat.text import clean_text
from apps.outbox.services import enqueue

from . import detection, summaries
from .hours import within_support_hours
from .models import (
    AgentNote,
    AgentPresence,
    CopilotSuggestion,
    Escalation,
    EscalationEvent,
    HandoffOffer,
)

log = logging.getLogger(__name__)

CONSOLE_GROUP = "escalations.console"
ONLINE_WINDOW = timedelta(seconds=90)
POSITION_NOTICE_EVERY = timedelta(seconds=60)
DEFAULT_WAIT_PER_POSITION = timedelta(minutes=5)
PROVIDER_FAILURE_CODES = {
    "rate_limited",
    "timeout",
    "stream_broken",
    "provider_unavailable",
    "bad_response",
    "internal_error",
}
# Worth another try later (the task backs off); anything else falls back to rules at once.
TRANSIENT_PROVIDER_CODES = {"rate_limited", "timeout", "provider_unavailable", "stream_broken"}
PRIORITIES = {label: value for value, label in Escalation.Priority.choices}


class EscalationError(Exception):
    """A refusal shown to the agent (taken, at capacity, not yours, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EscalationCard(TypedDict):
    id: int
    conversation_id: str
    status: str
    priority: str
    priority_rank: int
    trigger: str
    trigger_label: str
    reason: str
    summary: dict[str, Any]
    customer: str
    created_at: str
    claimed_by: str | None
    claimed_by_id: int | None
    position: int | None
    email_requested: bool
    contact_email: str
    renotified_count: int


class ConsoleEvent(TypedDict):
    type: str  # "console.event"
    event: str  # created / updated / claimed / returned / closed / renotified / note
    escalation: EscalationCard | None
    data: dict[str, Any]


def console_group(conversation_id: uuid.UUID | str) -> str:
    """Staff-only events of one conversation (notes, escalation changes)."""
    return f"escalations.conversation.{conversation_id}"


def agent_name(user: Any) -> str:
    return str(user.first_name or user.get_username())


def holder_name(conversation_id: uuid.UUID | str, user_id: int | None) -> str | None:
    """The agent's name if this user has the conversation now (claimed, with an agent)."""
    escalation = (
        Escalation.objects.filter(
            conversation_id=conversation_id,
            conversation__status=Conversation.Status.AGENT,
            status=Escalation.Status.CLAIMED,
            claimed_by_id=user_id,
        )
        .select_related("claimed_by")
        .first()
    )
    if escalation is None or escalation.claimed_by is None:
        return None
    return agent_name(escalation.claimed_by)


# --- Reading ------------------------------------------------------------------------


def queue_position(escalation: Escalation) -> int:
    """1 for the next escalation an agent should take: higher priority first, then older."""
    ahead = Escalation.objects.filter(status=Escalation.Status.QUEUED).filter(
        Q(priority__gt=escalation.priority)
        | Q(priority=escalation.priority, created_at__lt=escalation.created_at)
        | Q(priority=escalation.priority, created_at=escalation.created_at, pk__lt=escalation.pk)
    )
    return ahead.count() + 1


def queued_escalations() -> QuerySet[Escalation]:
    return (
        Escalation.objects.filter(status=Escalation.Status.QUEUED)
        .select_related("customer", "claimed_by")
        .order_by("-priority", "created_at", "pk")
    )


def escalation_card(escalation: Escalation, *, position: int | None = None) -> EscalationCard:
    identity = escalation.identity or {}
    claimer = escalation.claimed_by
    if position is None and escalation.status == Escalation.Status.QUEUED:
        position = queue_position(escalation)
    return {
        "id": escalation.pk,
        "conversation_id": str(escalation.conversation_id),
        "status": escalation.status,
        "priority": escalation.get_priority_display(),
        "priority_rank": escalation.priority,
        "trigger": escalation.trigger,
        "trigger_label": escalation.get_trigger_display(),
        "reason": escalation.reason,
        "summary": escalation.summary or {},
        "customer": (
            f"{identity.get('first_name', '')} {identity.get('last_name', '')}".strip()
            or "Unverified customer"
        ),
        "created_at": escalation.created_at.isoformat(),
        "claimed_by": agent_name(claimer) if claimer is not None else None,
        "claimed_by_id": claimer.pk if claimer is not None else None,
        "position": position if escalation.status == Escalation.Status.QUEUED else None,
        "email_requested": escalation.email_requested,
        "contact_email": escalation.contact_email,
        "renotified_count": escalation.renotified_count,
    }


def open_escalation(conversation_id: uuid.UUID | str) -> Escalation | None:
    return (
        Escalation.objects.filter(conversation_id=conversation_id, status__in=Escalation.OPEN)
        .select_related("claimed_by")
        .first()
    )


def online_agents() -> QuerySet[AgentPresence]:
    """Agents who can answer now: the console open, seen recently, not away, and
    allowed to take conversations (a manager watching the inbox is not an agent)."""
    may_take = (
        Q(
            user__groups__permissions__codename="change_escalation",
            user__groups__permissions__content_type__app_label="escalations",
        )
        | Q(
            user__user_permissions__codename="change_escalation",
            user__user_permissions__content_type__app_label="escalations",
        )
        | Q(user__is_superuser=True)
    )
    available = AgentPresence.objects.filter(
        connections__gt=0,
        last_seen__gte=timezone.now() - ONLINE_WINDOW,
        status=AgentPresence.Status.ONLINE,
        user__is_active=True,
    )
    return available.filter(pk__in=available.filter(may_take).values("pk"))


def is_available(user: Any) -> bool:
    return online_agents().filter(user=user).exists()


def agent_capacity(user: Any) -> int:
    presence = AgentPresence.objects.filter(user=user).first()
    if presence is not None and presence.max_conversations:
        return presence.max_conversations
    return int(settings.SUPPORTBOT_AGENT_MAX_CONVERSATIONS)


def agent_load(user: Any) -> int:
    return Escalation.objects.filter(claimed_by=user, status=Escalation.Status.CLAIMED).count()


def expected_wait(position: int) -> timedelta:
    """A plain estimate: the recent average time to claim, times the queue position."""
    recent = list(
        Escalation.objects.filter(claimed_at__isnull=False)
        .exclude(trigger=Escalation.Trigger.AGENT)
        .order_by("-claimed_at")
        .values_list("created_at", "claimed_at")[:20]
    )
    if recent:
        total = sum(
            ((claimed - created) for created, claimed in recent if claimed is not None),
            timedelta(),
        )
        per = max(total / len(recent), timedelta(minutes=1))
    else:
        per = DEFAULT_WAIT_PER_POSITION
    return per * max(position, 1)


def _minutes(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds() / 60))


# --- Events for staff -------------------------------------------------------------------


def publish_console(
    event: str, escalation: Escalation | None, *, conversation_id: Any = None, **data: Any
) -> None:
    """Tell the agent console (queue page and the conversation's page) after commit."""
    conversation_id = conversation_id or (escalation.conversation_id if escalation else None)

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        card = None
        if escalation is not None:
            fresh = Escalation.objects.select_related("claimed_by").filter(pk=escalation.pk).first()
            card = escalation_card(fresh) if fresh is not None else None
        message: ConsoleEvent = {
            "type": "console.event",
            "event": event,
            "escalation": card,
            "data": data,
        }
        try:
            async_to_sync(layer.group_send)(CONSOLE_GROUP, dict(message))
            if conversation_id is not None:
                async_to_sync(layer.group_send)(console_group(conversation_id), dict(message))
        except Exception:
            log.exception("could not publish console event %s", event)

    transaction.on_commit(send, robust=True)


def _log(escalation: Escalation, kind: str, actor: Any = None, **data: Any) -> None:
    EscalationEvent.objects.create(
        escalation=escalation, kind=kind, actor=actor if actor is not None else None, data=data
    )


def _once(escalation: Escalation, kind: str, key: str, **data: Any) -> bool:
    """Record a task's effect under a unique key; False if it was recorded before.
    Call inside the transaction that makes the effect, so both commit or neither."""
    try:
        with transaction.atomic():
            EscalationEvent.objects.create(escalation=escalation, kind=kind, key=key, data=data)
    except IntegrityError:
        return False
    return True


# --- Hand-off ------------------------------------------------------------------------------


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
            identity=_identity(conversation),
            context_seq=conversation.last_seq,
            tool_turns=_tool_turns(conversation),
            model_note=note[:2000],
        )
        position = queue_position(escalation)
        _log(escalation, "created", trigger=trigger, reason=escalation.reason)
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


def _identity(conversation: Conversation) -> dict[str, Any]:
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


def _tool_turns(conversation: Conversation) -> list[str]:
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
    latest = (
        Message.objects.from_customer(conversation.pk)
        .order_by("-seq")
        .values_list("text", flat=True)
        .first()
    )
    if latest and detection.asks_for_human(latest):
        return Escalation.Trigger.CUSTOMER_REQUEST
    return Escalation.Trigger.MODEL


# --- Agents ----------------------------------------------------------------------------------


def _lock_agent(agent: Any) -> AgentPresence:
    AgentPresence.objects.get_or_create(user=agent)
    return AgentPresence.objects.select_for_update().get(user=agent)


def _check_capacity(agent: Any) -> None:
    _lock_agent(agent)  # one claim at a time per agent, so the count below holds
    if agent_load(agent) >= agent_capacity(agent):
        raise EscalationError(
            "at_capacity",
            f"You already have {agent_capacity(agent)} conversations open. "
            "Close or hand one back first.",
        )


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
        _check_capacity(agent)
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
        _log(escalation, "claimed", actor=agent)
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
        _check_capacity(agent)
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
            identity=_identity(conversation),
            context_seq=conversation.last_seq,
            tool_turns=_tool_turns(conversation),
        )
        _log(escalation, "taken_over", actor=agent)
        _announce_join(escalation, agent)
        publish_console("claimed", escalation)
        enqueue("escalations.summarise", escalation.pk)
    return escalation


def _held_by(conversation_id: uuid.UUID | str, agent: Any) -> Escalation:
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


def may_take_escalations(user: Any) -> bool:
    return bool(is_agent(user) and user.has_perm("escalations.change_escalation"))


def check_transfer(conversation_id: uuid.UUID | str, agent: Any, to: Any | None) -> Escalation:
    """The holding agent passes the conversation to another agent (`to`), or back to
    the queue (`to` None). The receiver must be able to take escalations, be online
    (not away) and under their cap; the customer is told who has them now."""
    with transaction.atomic():
        escalation = _held_by(conversation_id, agent)
        holder = escalation.claimed_by
        now = timezone.now()
        if to is not None:
            if to.pk == escalation.claimed_by_id:
                raise EscalationError("same_agent", "That agent already has this conversation.")
            if not may_take_escalations(to):
                raise EscalationError("not_an_agent", f"{agent_name(to)} cannot take chats.")
            if not is_available(to):
                raise EscalationError("unavailable", f"{agent_name(to)} is away or offline.")
            _lock_agent(to)
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
        _log(
            escalation,
            "transferred" if to is not None else "requeued",
            actor=agent,
            **({"to": agent_name(to), "to_id": to.pk} if to is not None else {}),
            **({"from": agent_name(holder)} if holder is not None else {}),
        )
        _discard_suggestions(conversation_id, holder)
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


def _discard_suggestions(conversation_id: uuid.UUID | str, agent: Any) -> None:
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
        escalation = _held_by(conversation_id, agent)
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
        escalation = _held_by(conversation_id, agent)
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
        _log(escalation, "returned", actor=agent)
        _discard_suggestions(conversation_id, agent)
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
            _held_by(conversation_id, agent)
        closed = do_close_conversation(conversation_id, reason="agent", actor_id=agent.pk)
        if escalation is not None:
            _close_escalation(escalation, actor=agent)
        _discard_suggestions(conversation_id, agent)
    return closed


def _close_escalation(escalation: Escalation, *, actor: Any = None) -> None:
    changed = Escalation.objects.filter(pk=escalation.pk, status__in=Escalation.OPEN).update(
        status=Escalation.Status.CLOSED, closed_at=timezone.now()
    )
    if changed:
        _log(escalation, "closed", actor=actor)
        publish_console("closed", escalation)


def on_conversation_closed(conversation_id: uuid.UUID | str, **_: Any) -> None:
    """The customer ended the chat (or it idled out): no escalation stays open."""
    escalation = open_escalation(conversation_id)
    if escalation is not None:
        with transaction.atomic():
            _close_escalation(escalation)


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


# --- Presence ------------------------------------------------------------------------------


def do_agent_connected(user_id: int) -> None:
    AgentPresence.objects.get_or_create(user_id=user_id)
    AgentPresence.objects.filter(user_id=user_id).update(
        connections=F("connections") + 1, last_seen=timezone.now()
    )


def do_agent_seen(user_id: int) -> None:
    AgentPresence.objects.filter(user_id=user_id).update(last_seen=timezone.now())


def do_agent_disconnected(user_id: int) -> None:
    AgentPresence.objects.filter(user_id=user_id).update(
        connections=Greatest(F("connections") - 1, 0), last_seen=timezone.now()
    )


def do_set_presence(agent: Any, status: str) -> AgentPresence:
    """The agent says they are online or away. Away agents are not offered
    transfers, are not counted as available (so a waiting customer is offered
    email), and are not emailed by the SLA sweep while others are online."""
    if status not in AgentPresence.Status.values:
        raise EscalationError("invalid_status", "Presence is online or away.")
    with transaction.atomic():
        presence = _lock_agent(agent)
        if presence.status != status:
            now = timezone.now()
            AgentPresence.objects.filter(pk=presence.pk).update(
                status=status, status_changed_at=now
            )
            presence.status = status
            presence.status_changed_at = now
            publish_console(
                "presence", None, agent=agent_name(agent), agent_id=agent.pk, status=status
            )
    return presence


# --- Hooks from the chat app -----------------------------------------------------------------


OFFER_TEXT = {
    Escalation.Trigger.FRUSTRATION: (
        "I'm sorry this has been frustrating. Would you like me to bring in a person from our "
        'support team? Reply "yes" and I\'ll connect you.'
    ),
}


def do_offer_handoff(
    conversation_id: uuid.UUID | str,
    *,
    reason: str,
    trigger: str = Escalation.Trigger.LIMIT,
    text: str = "",
) -> HandoffOffer | None:
    """The bot offers a person; the customer's next message may accept it.

    Called by the turn engine when a guardrail cap is hit (its reply already asks
    the question, so no extra text), and here on a frustration signal.
    """
    with transaction.atomic():
        conversation = Conversation.objects.lock(conversation_id)
        if conversation is None or conversation.status != Conversation.Status.BOT:
            return None
        HandoffOffer.objects.filter(
            conversation=conversation, status=HandoffOffer.Status.OPEN
        ).update(status=HandoffOffer.Status.LAPSED)
        offer = HandoffOffer.objects.create(
            conversation=conversation,
            episode=conversation.episode,
            trigger=trigger,
            reason=reason[:300],
            after_seq=conversation.last_seq,
        )
        if text:
            message = do_append_event(
                conversation.pk,
                kind=Message.Kind.NOTICE,
                role=Message.Role.SYSTEM,
                text=text,
                metadata={"notice": "handoff_offer", "trigger": trigger},
            )
            HandoffOffer.objects.filter(pk=offer.pk).update(after_seq=message.seq)
    return offer


def on_turn_failed(conversation_id: uuid.UUID | str, *, code: str) -> Escalation | None:
    """After each failed turn: several provider failures in a row go to a person."""
    if code not in PROVIDER_FAILURE_CODES:
        return None
    needed = settings.SUPPORTBOT_ESCALATE_AFTER_FAILURES
    recent = list(
        Turn.objects.filter(conversation_id=conversation_id)
        .exclude(status=Turn.Status.RUNNING)
        .order_by("-started_at")
        .values_list("status", "error_code")[:needed]
    )
    failed = [
        status == Turn.Status.FAILED and error in PROVIDER_FAILURE_CODES for status, error in recent
    ]
    if len(failed) < needed or not all(failed):
        return None
    escalation, _ = do_escalate(
        conversation_id,
        trigger=Escalation.Trigger.PROVIDER_FAILURE,
        reason=f"The assistant failed {needed} times in a row ({code}).",
        priority=Escalation.Priority.HIGH,
    )
    return escalation


def on_customer_message(conversation_id: uuid.UUID | str) -> None:
    """After each new customer message (before the bot is asked to answer)."""
    try:
        _on_customer_message(conversation_id)
    except Exception:
        # A hand-off side effect must never break the customer's socket.
        log.exception("escalation hook failed for conversation %s", conversation_id)


def _on_customer_message(conversation_id: uuid.UUID | str) -> None:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return
    latest = Message.objects.from_customer(conversation.pk).order_by("-seq").first()
    if latest is None:
        return
    if conversation.status in {Conversation.Status.QUEUED, Conversation.Status.AGENT}:
        escalation = open_escalation(conversation.pk)
        if escalation is not None:
            # The inbox counts unread customer messages live.
            publish_console("message", escalation, seq=latest.seq, preview=latest.text[:140])
            if conversation.status == Conversation.Status.QUEUED:
                _while_queued(escalation, latest)
    elif conversation.status == Conversation.Status.BOT:
        _while_with_bot(conversation, latest)


def _while_with_bot(conversation: Conversation, latest: Message) -> None:
    offer = (
        HandoffOffer.objects.filter(conversation=conversation, status=HandoffOffer.Status.OPEN)
        .order_by("-pk")
        .first()
    )
    if offer is not None:
        answered = (
            Message.objects.from_customer(conversation.pk)
            .filter(seq__gt=offer.after_seq, seq__lt=latest.seq)
            .exists()
        )
        if not answered and detection.is_yes(latest.text):
            do_escalate(conversation.pk, trigger=offer.trigger, reason=offer.reason)
            return
        HandoffOffer.objects.filter(pk=offer.pk).update(status=HandoffOffer.Status.LAPSED)
    if detection.asks_for_human(latest.text):
        return  # the assistant hands over itself (escalate_to_human)
    recent = list(
        Message.objects.from_customer(conversation.pk)
        .filter(seq__gt=conversation.episode_start_seq)
        .order_by("-seq")
        .values_list("text", flat=True)[:4]
    )
    recent.reverse()
    if not detection.is_frustrated(recent):
        return
    if not _offers_person_when_frustrated():
        # The operator's rule: a frustrated customer is helped, not handed off.
        return
    already = HandoffOffer.objects.filter(
        conversation=conversation,
        episode=conversation.episode,
        trigger=Escalation.Trigger.FRUSTRATION,
    ).exists()
    if not already:
        do_offer_handoff(
            conversation.pk,
            reason="The customer sounds frustrated.",
            trigger=Escalation.Trigger.FRUSTRATION,
            text=OFFER_TEXT[Escalation.Trigger.FRUSTRATION],
        )


def _offers_person_when_frustrated() -> bool:
    from apps.assistant.models import OperatorPolicy

    return OperatorPolicy.current().handoff_rule == OperatorPolicy.HandoffRule.ALSO_FRUSTRATED


def _while_queued(escalation: Escalation, latest: Message) -> None:
    offered = escalation.email_offered_at and not escalation.email_requested
    if offered and detection.wants_email(latest.text):
        do_record_email_request(escalation.pk, detection.email_in(latest.text))
        return
    now = timezone.now()
    due = now - POSITION_NOTICE_EVERY
    # At most one "still waiting" notice a minute, however much the customer writes.
    noticed = Escalation.objects.filter(pk=escalation.pk, status=Escalation.Status.QUEUED).filter(
        Q(wait_notice_at__isnull=True) | Q(wait_notice_at__lt=due)
    )
    with transaction.atomic():
        if noticed.update(wait_notice_at=now) != 1:
            return
        position = queue_position(escalation)
        do_append_event(
            escalation.conversation_id,
            kind=Message.Kind.NOTICE,
            role=Message.Role.SYSTEM,
            text=f"Still waiting for a person from our team: you're number {position} in the "
            "queue. Your messages are saved and they'll see them.",
            metadata={"notice": "queue_position", "position": position},
        )
        publish_console("updated", escalation)


# --- Email instead of waiting -------------------------------------------------------------


def email_offer_text(*, outside_hours: bool) -> str:
    why = (
        "We're outside our support hours right now"
        if outside_hours
        else "No one from our team is available right now"
    )
    return (
        f"{why}. If you'd rather not wait, we can continue by email: reply with your email "
        'address, or "yes" to use the one on your account.'
    )


def should_offer_email(moment: Any = None) -> tuple[bool, bool]:
    """(offer email?, because outside hours?)"""
    outside = not within_support_hours(moment or timezone.now())
    return outside or not online_agents().exists(), outside


def do_offer_email(escalation_id: int) -> bool:
    """Offer to continue by email, once per escalation."""
    offer, outside = should_offer_email()
    if not offer:
        return False
    with transaction.atomic():
        offered = Escalation.objects.filter(
            pk=escalation_id, status=Escalation.Status.QUEUED, email_offered_at__isnull=True
        ).update(email_offered_at=timezone.now())
        if offered != 1:
            return False
        escalation = Escalation.objects.get(pk=escalation_id)
        _log(escalation, "email_offered", outside_hours=outside)
        do_append_event(
            escalation.conversation_id,
            kind=Message.Kind.NOTICE,
            role=Message.Role.SYSTEM,
            text=email_offer_text(outside_hours=outside),
            metadata={"notice": "email_offer"},
        )
    return True


def do_record_email_request(escalation_id: int, address: str | None) -> bool:
    """The customer asked to continue by email: record it and the address to use."""
    with transaction.atomic():
        escalation = (
            Escalation.objects.select_for_update(of=("self",))
            .select_related("conversation__customer")
            .filter(pk=escalation_id)
            .first()
        )
        if escalation is None or escalation.email_requested:
            return False
        customer = escalation.conversation.customer
        address = address or (customer.email if customer is not None else "")
        if not address:
            do_append_event(
                escalation.conversation_id,
                kind=Message.Kind.NOTICE,
                role=Message.Role.SYSTEM,
                text="Which email address should we use? Type it here.",
                metadata={"notice": "email_address_needed"},
            )
            return False
        now = timezone.now()
        Escalation.objects.filter(pk=escalation_id).update(
            email_requested=True, email_requested_at=now, contact_email=address[:254]
        )
        _log(escalation, "email_requested", email=address)
        do_append_event(
            escalation.conversation_id,
            kind=Message.Kind.NOTICE,
            role=Message.Role.SYSTEM,
            text=f"Thanks. Our team will continue by email at {address}. You can also stay "
            "here in case someone becomes free sooner.",
            metadata={"notice": "email_requested"},
        )
        publish_console("updated", escalation)
    return True


# --- Task bodies ------------------------------------------------------------------------------


def do_summarise(escalation_id: int, *, use_model: bool = True, last_try: bool = False) -> bool:
    """Write the agent's hand-over note once. A transient model failure is raised so
    the task can back off and retry, unless this is the last try; any other failure
    falls back to rules at once. Every escalation ends up with a note."""
    from apps.assistant.providers.base import ProviderError

    escalation = Escalation.objects.select_related("conversation").filter(pk=escalation_id).first()
    if escalation is None or escalation.summarized_at is not None:
        return False
    source = "extractive"
    summary: dict[str, Any]
    if use_model and settings.OPENAI_API_KEY:
        try:
            summary = summaries.model_summary(escalation)
            source = "model"
        except ProviderError as exc:
            if exc.code in TRANSIENT_PROVIDER_CODES and not last_try:
                raise  # the task backs off and tries again
            log.warning("summary by model failed (%s); using rules", exc.code)
            summary = summaries.extractive_summary(escalation)
    else:
        summary = summaries.extractive_summary(escalation)
    with transaction.atomic():
        if not _once(escalation, "summarised", f"{escalation_id}:summarised", source=source):
            return False
        Escalation.objects.filter(pk=escalation_id).update(
            summary=summary, summary_source=source, summarized_at=timezone.now()
        )
        publish_console("updated", escalation)
    return True


def agent_recipients() -> list[str]:
    """Email addresses of active staff who may take escalations: those available
    now (online, not away) when there are any, else everyone who could answer."""
    perm = Q(
        groups__permissions__codename="change_escalation",
        groups__permissions__content_type__app_label="escalations",
    ) | Q(
        user_permissions__codename="change_escalation",
        user_permissions__content_type__app_label="escalations",
    )
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(perm)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
    available = users.filter(pk__in=online_agents().values("user_id"))
    if available.exists():
        users = available
    return [str(user.email) for user in users]


def console_path(conversation_id: uuid.UUID | str) -> str:
    """Where an email sends the agent: the conversation open in the inbox."""
    return f"/admin/console/inbox/{conversation_id}/"


def do_notify_agents(escalation_id: int, round_number: int) -> bool:
    """Announce an escalation (round 0) or re-announce it (round N): a live event on
    the console and one email to agents. Recorded once per round."""
    escalation = Escalation.objects.select_related("conversation").filter(pk=escalation_id).first()
    if escalation is None or escalation.status != Escalation.Status.QUEUED:
        return False
    recipients = agent_recipients()
    with transaction.atomic():
        kind = "notified" if round_number == 0 else "renotified"
        if not _once(
            escalation, kind, f"{escalation_id}:notify:{round_number}", recipients=recipients
        ):
            return False
        now = timezone.now()
        if round_number == 0:
            Escalation.objects.filter(pk=escalation_id).update(notified_at=now)
        if recipients:
            _email_agents(escalation, recipients, round_number)
        publish_console(kind, escalation, round=round_number)
    if round_number == 0:
        do_offer_email(escalation_id)
    return True


def _email_agents(escalation: Escalation, recipients: list[str], round_number: int) -> None:
    summary = escalation.summary or {}
    waited = _minutes(timezone.now() - escalation.created_at)
    subject = (
        f"[{escalation.get_priority_display()}] A customer is waiting for a person: "
        f"{escalation.reason[:80]}"
    )
    if round_number:
        subject = f"Still unclaimed after {waited} min: " + subject
    lines = [
        f"Priority: {escalation.get_priority_display()}",
        f"Trigger: {escalation.get_trigger_display()}",
        f"Reason: {escalation.reason}",
        f"Customer: {summaries.identity_text(escalation)}",
        f"Waiting: {waited} min",
    ]
    if summary:
        lines += [
            f"Goal: {summary.get('goal', '')}",
            f"Suggested next step: {summary.get('next_step', '')}",
        ]
    base = getattr(settings, "SUPPORTBOT_BASE_URL", "")
    lines += ["", f"Open it in the agents' inbox: {base}{console_path(escalation.conversation_id)}"]
    EmailMessage(
        subject=subject,
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[settings.DEFAULT_FROM_EMAIL],
        bcc=recipients,
        headers={"X-Supportbot-Escalation": str(escalation.pk)},
    ).send()


def due_renotifications(now: Any = None) -> list[tuple[int, int]]:
    """(escalation id, next round) for every queued escalation unclaimed for too long."""
    now = now or timezone.now()
    every = timedelta(minutes=settings.SUPPORTBOT_ESCALATION_RENOTIFY_MINUTES)
    due = []
    for pk, created_at, count in queued_escalations().values_list(
        "pk", "created_at", "renotified_count"
    ):
        if now - created_at >= every * (count + 1):
            due.append((pk, count + 1))
    return due


def _unavailable_since(presence: AgentPresence | None, now: Any) -> Any:
    """Since when an agent cannot answer (away, or the console closed or silent), or
    None while they are available."""
    if presence is None:
        return None
    if presence.status == AgentPresence.Status.AWAY:
        return presence.status_changed_at or presence.last_seen
    if presence.connections == 0 or (
        presence.last_seen is not None and presence.last_seen < now - ONLINE_WINDOW
    ):
        return presence.last_seen
    return None


def _customer_waiting(conversation_id: uuid.UUID | str) -> bool:
    """The customer wrote after the last agent message."""
    last_customer = Message.objects.latest_customer_seq(conversation_id)
    last_agent = (
        Message.objects.filter(conversation_id=conversation_id, role=Message.Role.AGENT)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    ) or 0
    return last_customer > last_agent


def _stranded(escalation: Escalation, now: Any) -> bool:
    if escalation.claimed_by_id is None:
        return False
    presence = AgentPresence.objects.filter(user_id=escalation.claimed_by_id).first()
    since = _unavailable_since(presence, now)
    wait = timedelta(minutes=settings.SUPPORTBOT_AGENT_AWAY_REQUEUE_MINUTES)
    return (
        since is not None and since <= now - wait and _customer_waiting(escalation.conversation_id)
    )


def due_requeues(now: Any = None) -> list[int]:
    """Claimed escalations whose agent is away or offline past the limit while the
    customer waits for an answer: the SLA sweep puts them back in the queue."""
    now = now or timezone.now()
    claimed = Escalation.objects.filter(
        status=Escalation.Status.CLAIMED, claimed_by__isnull=False
    ).order_by("pk")
    return [escalation.pk for escalation in claimed if _stranded(escalation, now)]


STRANDED_TEXT = (
    "{name} had to step away, so your chat goes to the next free person on our team. "
    "You're number {position} in the queue."
)


def do_requeue_stranded(escalation_id: int) -> bool:
    """Back to the queue, if the agent is still unavailable and the customer still waits."""
    with transaction.atomic():
        escalation = (
            Escalation.objects.select_for_update(of=("self",))
            .select_related("claimed_by")
            .filter(pk=escalation_id, status=Escalation.Status.CLAIMED)
            .first()
        )
        if escalation is None or not _stranded(escalation, timezone.now()):
            return False
        holder = escalation.claimed_by
        if not do_move(
            escalation.conversation_id, Conversation.Status.AGENT, Conversation.Status.QUEUED
        ):
            return False
        Escalation.objects.filter(pk=escalation.pk).update(
            status=Escalation.Status.QUEUED, claimed_by=None, claimed_at=None
        )
        escalation.refresh_from_db()
        name = agent_name(holder) if holder is not None else "The agent"
        _log(escalation, "requeued", reason="agent_unavailable", **{"from": name})
        _discard_suggestions(escalation.conversation_id, holder)
        position = queue_position(escalation)
        do_announce(
            escalation.conversation_id,
            "queued",
            STRANDED_TEXT.format(name=name, position=position),
            position=position,
            escalation_id=escalation.pk,
        )
        publish_console("requeued", escalation, by=name, reason="agent_unavailable")
    return True


def do_renotify(escalation_id: int, round_number: int) -> bool:
    """The SLA step for one escalation: tell agents again, tell the customer the
    expected wait, and offer email when no one can answer."""
    with transaction.atomic():
        stepped = Escalation.objects.filter(
            pk=escalation_id,
            status=Escalation.Status.QUEUED,
            renotified_count=round_number - 1,
        ).update(renotified_count=round_number, renotified_at=timezone.now())
        if stepped != 1:
            return False
        escalation = Escalation.objects.get(pk=escalation_id)
        position = queue_position(escalation)
        wait = _minutes(expected_wait(position))
        do_append_event(
            escalation.conversation_id,
            kind=Message.Kind.NOTICE,
            role=Message.Role.SYSTEM,
            text=f"Thanks for waiting. You're number {position} in the queue; the expected "
            f"wait is about {wait} minute{'s' if wait != 1 else ''}.",
            metadata={"notice": "expected_wait", "position": position, "minutes": wait},
        )
    do_notify_agents(escalation_id, round_number)
    do_offer_email(escalation_id)
    return True


def is_agent(user: Any) -> bool:
    """May use the agent console (and its socket)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("escalations.view_escalation")
    )
