"""Reports listen to the chat's life cycle: a closed conversation gets its transcript,
its analysis and its quality review."""

from __future__ import annotations

import uuid
from typing import Any

from apps.outbox.services import enqueue


def on_conversation_closing(
    sender: Any, *, conversation_id: uuid.UUID | str, reason: str, **kwargs: Any
) -> None:
    # Inside the closing transaction: the close and its background work commit
    # together, and the outbox sends the work even if the broker is down right now.
    enqueue("apps.reports.tasks.send_transcript_task", str(conversation_id))
    enqueue("apps.reports.tasks.analyze_conversation_task", str(conversation_id))
    enqueue("apps.reports.tasks.review_conversation_task", str(conversation_id))
