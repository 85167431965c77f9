"""Signals other apps listen to. Sent after the change has committed, except the
`*_closing` ones, sent inside its transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

# sender=Conversation, conversation_id=..., reason="customer"|"agent"|"idle"
conversation_closed = Signal()
# The same, sent inside the closing transaction: for rows that must commit with the
# close or not at all (background work in the outbox).
conversation_closing = Signal()
# sender=Conversation, conversation_id=..., episode=N
conversation_reopened = Signal()
# sender=Conversation, conversation_id=..., key=<counter>, failures=N: verification
# failures for one client or one claimed identity reached the cap (staff are told).
verification_locked = Signal()
# sender=Conversation, conversation_id=...: a customer message was stored (before the
# bot is asked to answer).
customer_message_stored = Signal()
# sender=Conversation, conversation_id=..., code=...: a turn failed with this code.
turn_failed = Signal()
# sender=Conversation, conversation_id=..., reason=...: a guardrail cap was hit and the
# reply asks whether the customer wants a person (escalations records the offer).
handoff_offered = Signal()


def send_on_commit(signal: Signal, conversation_id: Any, **kwargs: Any) -> None:
    """Send `signal` once the current transaction commits (now, outside one)."""
    from .models import Conversation

    transaction.on_commit(
        lambda: signal.send(sender=Conversation, conversation_id=conversation_id, **kwargs)
    )
