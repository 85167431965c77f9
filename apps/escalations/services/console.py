"""Live events for staff (the console and inbox groups), sent after commit, and the
escalation's event log (each task's effect recorded once under its key)."""

from __future__ import annotations

import logging
import uuid
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction

from ..models import (
    Escalation,
    EscalationEvent,
)
from .queries import EscalationCard, escalation_card

log = logging.getLogger(__name__)


CONSOLE_GROUP = "escalations.console"


class ConsoleEvent(TypedDict):
    type: str  # "console.event"
    event: str  # created / updated / claimed / returned / closed / renotified / note
    escalation: EscalationCard | None
    data: dict[str, Any]


def console_group(conversation_id: uuid.UUID | str) -> str:
    """Staff-only events of one conversation (notes, escalation changes)."""
    return f"escalations.conversation.{conversation_id}"


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


def log_event(escalation: Escalation, kind: str, actor: Any = None, **data: Any) -> None:
    EscalationEvent.objects.create(
        escalation=escalation, kind=kind, actor=actor if actor is not None else None, data=data
    )


def record_once(escalation: Escalation, kind: str, key: str, **data: Any) -> bool:
    """Record a task's effect under a unique key; False if it was recorded before.
    Call inside the transaction that makes the effect, so both commit or neither."""
    try:
        with transaction.atomic():
            EscalationEvent.objects.create(escalation=escalation, kind=kind, key=key, data=data)
    except IntegrityError:
        return False
    return True
