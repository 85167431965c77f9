"""Signals other apps listen to. Sent after the change has committed, except the
`*_closing` ones, sent inside its transaction."""

from __future__ import annotations

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
