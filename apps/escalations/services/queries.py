"""Reading escalations: the queue, its order, the card the console shows, who holds a chat."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, TypedDict

from django.db.models import Q, QuerySet

from apps.chat.models import Conversation
from apps.common.errors import Refusal

from ..models import (
    Escalation,
)

DEFAULT_WAIT_PER_POSITION = timedelta(minutes=5)


PRIORITIES = {label: value for value, label in Escalation.Priority.choices}


class EscalationError(Refusal):
    """A refusal shown to the agent (taken, at capacity, not yours, ...)."""


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


def whole_minutes(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds() / 60))
