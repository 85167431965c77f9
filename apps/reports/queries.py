"""Shared query pieces: what counts as escalated, flagged or handled by an agent.

The escalations app is looked up at run time, so reports work with or without it;
without it, a hand-off to the queue (a `handoff` event) marks an escalation.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Exists, OuterRef, Q

from apps.chat.models import Message


def escalation_model() -> Any:
    try:
        return apps.get_model("escalations", "Escalation")
    except LookupError:
        return None


def escalated() -> Q:
    """For a Conversation queryset: did this conversation go to a person? An Escalation
    row, or a hand-off to the queue stored in the conversation, counts. Written as
    `pk IN (...)` so PostgreSQL hashes each id list once instead of probing per row."""
    handed_off = Message.objects.filter(kind=Message.Kind.HANDOFF, metadata__state="queued").values(
        "conversation_id"
    )
    condition = Q(pk__in=handed_off)
    model = escalation_model()
    if model is not None:
        condition |= Q(pk__in=model.objects.values("conversation_id"))
    return condition


def flagged_message_q() -> Q:
    """Customer messages the input screen flagged."""
    return Q(role=Message.Role.CUSTOMER, metadata__has_key="screen")


def flagged() -> Q:
    """For a Conversation queryset: did the input screen flag any customer message?"""
    return Q(pk__in=Message.objects.filter(flagged_message_q()).values("conversation_id"))


def handled_by(user_id: int) -> Exists | Q:
    """For a Conversation queryset: did this agent write in it (or claim its escalation)?"""
    wrote = Exists(
        Message.objects.filter(
            conversation=OuterRef("pk"), role=Message.Role.AGENT, author_id=user_id
        )
    )
    model = escalation_model()
    if model is not None and _has_field(model, "claimed_by"):
        return wrote | Exists(
            model.objects.filter(conversation=OuterRef("pk"), claimed_by_id=user_id)
        )
    return wrote


def _has_field(model: Any, name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())
