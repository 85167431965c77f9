from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "apps.escalations"
    label = "escalations"

    def ready(self) -> None:
        from apps.chat.signals import conversation_closed, verification_locked

        conversation_closed.connect(_closed, dispatch_uid="escalations.conversation_closed")
        verification_locked.connect(_locked, dispatch_uid="escalations.verification_locked")


def _closed(sender: Any, conversation_id: Any, **kwargs: Any) -> None:
    from .services import on_conversation_closed

    on_conversation_closed(conversation_id)


def _locked(sender: Any, conversation_id: Any, key: str, failures: int, **kwargs: Any) -> None:
    from .services import publish_console

    # The agents' queue hears of a likely brute force at once.
    publish_console(
        "verification_locked",
        None,
        conversation_id=conversation_id,
        conversation=str(conversation_id),
        counter=key.split(":")[1],
        failures=failures,
    )
