"""Signals other apps listen to. Sent only after the change has committed."""

from __future__ import annotations

from django.dispatch import Signal

# sender=Conversation, conversation_id=..., reason="customer"|"agent"|"idle"
conversation_closed = Signal()
# sender=Conversation, conversation_id=..., episode=N
conversation_reopened = Signal()
