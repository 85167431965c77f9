"""Reports listen to the chat's life cycle: a closed conversation gets its transcript
and its analysis."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction


def on_conversation_closed(
    sender: Any, *, conversation_id: uuid.UUID | str, reason: str, **kwargs: Any
) -> None:
    from .tasks import analyze_conversation_task, send_transcript_task

    def enqueue() -> None:
        send_transcript_task.delay(str(conversation_id))
        analyze_conversation_task.delay(str(conversation_id))

    # robust: a broker hiccup must not break the close that already committed.
    transaction.on_commit(enqueue, robust=True)
