"""The system notices the hand-off shows the customer in the chat (an offer of a
person, their place in the queue, continuing by email)."""

from __future__ import annotations

import uuid
from typing import Any

from apps.chat.models import Message
from apps.chat.services import do_append_event


def do_tell_customer(
    conversation_id: uuid.UUID | str, notice: str, text: str, **details: Any
) -> Message:
    """Store one notice; `notice` names it for the chat page (metadata["notice"])."""
    return do_append_event(
        conversation_id,
        kind=Message.Kind.NOTICE,
        role=Message.Role.SYSTEM,
        text=text,
        metadata={"notice": notice, **details},
    )
