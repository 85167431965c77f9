"""What the agents' inbox reads: the open conversations with each agent's unread
counts, the agents one can transfer to, readable names for stored events, and how
far an agent has read a conversation.

State changes (claim, reply, transfer, hand back, close) stay in services/handoff.py;
this module only reads, apart from the agent's own read marks.
"""

from __future__ import annotations

import uuid
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest

from apps.chat.models import Message

from . import services
from .labels import CONFIRMATION, HANDOFF
from .models import AgentPresence, Escalation, EscalationEvent, ReadMark


class AgentOption(TypedDict):
    id: int
    name: str
    presence: str  # online / away / offline
    load: int
    capacity: int
    available: bool


def open_cards() -> list[services.EscalationCard]:
    """Every open escalation (waiting or with an agent), queue order first."""
    queued = [
        services.escalation_card(escalation, position=position)
        for position, escalation in enumerate(services.queued_escalations(), start=1)
    ]
    claimed = (
        Escalation.objects.filter(status=Escalation.Status.CLAIMED)
        .select_related("claimed_by")
        .order_by("claimed_at", "pk")
    )
    return queued + [services.escalation_card(escalation) for escalation in claimed]


def unread_counts(user: Any, conversation_ids: list[str]) -> dict[str, int]:
    """Customer messages after the agent's read mark, per conversation."""
    if not conversation_ids:
        return {}
    mark = ReadMark.objects.filter(user=user, conversation_id=OuterRef("conversation_id"))
    rows = (
        Message.objects.filter(
            conversation_id__in=conversation_ids,
            role=Message.Role.CUSTOMER,
            kind=Message.Kind.MESSAGE,
        )
        .annotate(read=Coalesce(Subquery(mark.values("seq")[:1]), 0))
        .filter(seq__gt=F("read"))
        .values("conversation_id")
        .annotate(unread=Count("pk"))
    )
    return {str(row["conversation_id"]): int(row["unread"]) for row in rows}


def do_mark_read(user: Any, conversation_id: uuid.UUID | str, seq: int) -> int:
    """The agent has seen the conversation up to `seq`. Marks only move forward."""
    seq = max(0, int(seq))
    updated = ReadMark.objects.filter(user=user, conversation_id=conversation_id).update(
        seq=Greatest(F("seq"), seq)
    )
    if not updated:
        try:
            with transaction.atomic():
                ReadMark.objects.create(user=user, conversation_id=conversation_id, seq=seq)
        except IntegrityError:  # another tab created it meanwhile
            ReadMark.objects.filter(user=user, conversation_id=conversation_id).update(
                seq=Greatest(F("seq"), seq)
            )
    return seq


def presence_of(user: Any) -> str:
    presence = AgentPresence.objects.filter(user=user).first()
    return presence.status if presence is not None else AgentPresence.Status.ONLINE


def transfer_targets(exclude: Any) -> list[AgentOption]:
    """Staff who may take escalations, with whether each can take one more now."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(services.holds_escalation_permission() | Q(is_superuser=True))
        .exclude(pk=exclude.pk)
        .distinct()
        .order_by("first_name", "username")
    )
    online = set(services.online_agents().values_list("user_id", flat=True))
    away = set(
        AgentPresence.objects.filter(status=AgentPresence.Status.AWAY).values_list(
            "user_id", flat=True
        )
    )
    options: list[AgentOption] = []
    for user in users:
        load = services.agent_load(user)
        capacity = services.agent_capacity(user)
        presence = "online" if user.pk in online else "away" if user.pk in away else "offline"
        options.append(
            {
                "id": user.pk,
                "name": services.agent_name(user),
                "presence": presence,
                "load": load,
                "capacity": capacity,
                "available": presence == "online" and load < capacity,
            }
        )
    return options


# --- Readable names -------------------------------------------------------------------

LOG_LABELS = {
    "created": "Escalated",
    "notified": "Agents notified",
    "renotified": "Agents reminded (still waiting)",
    "summarised": "Hand-over note written",
    "claimed": "Claimed",
    "taken_over": "Taken over from the assistant",
    "transferred": "Transferred",
    "requeued": "Put back in the queue",
    "returned": "Handed back to the assistant",
    "closed": "Closed",
    "email_offered": "Email offered to the customer",
    "email_requested": "Customer asked to continue by email",
}


def event_label(message: Message) -> str:
    """What a stored event is, in words an agent reads at a glance."""
    meta = message.metadata or {}
    if message.kind == Message.Kind.HANDOFF:
        label = HANDOFF.get(str(meta.get("state")), "Hand-off")
        if meta.get("state") == "agent_joined" and meta.get("agent_name"):
            label = f"{meta['agent_name']} joined"
        return label
    if message.kind == Message.Kind.CONFIRM_REQUEST:
        return "Asked the customer to confirm a change"
    if message.kind == Message.Kind.CONFIRM_RESULT:
        return CONFIRMATION.get(str(meta.get("status")), "Confirmation answered")
    if message.kind == Message.Kind.NOTICE:
        return "Notice to the customer"
    if message.role == Message.Role.AGENT:
        return f"{meta.get('agent_name') or 'Agent'} (agent)"
    if message.role == Message.Role.ASSISTANT:
        return "Assistant (offline)" if meta.get("offline") else "Assistant"
    if message.role == Message.Role.CUSTOMER:
        return "Customer"
    return "System"


def log_label(event: EscalationEvent) -> str:
    label = LOG_LABELS.get(event.kind, event.kind.replace("_", " ").capitalize())
    data = event.data or {}
    if event.kind == "transferred" and data.get("to"):
        label = f"Transferred to {data['to']}"
    if event.kind == "requeued" and data.get("reason") == "agent_unavailable":
        label = f"Back in the queue: {data.get('from', 'the agent')} was away or offline"
    return label
