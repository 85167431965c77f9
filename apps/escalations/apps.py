from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "apps.escalations"
    label = "escalations"

    def ready(self) -> None:
        from apps.chat.signals import conversation_closed

        conversation_closed.connect(_closed, dispatch_uid="escalations.conversation_closed")


def _closed(sender: Any, conversation_id: Any, **kwargs: Any) -> None:
    from .services import on_conversation_closed

    on_conversation_closed(conversation_id)
