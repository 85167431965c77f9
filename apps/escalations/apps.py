from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    """Escalations sits above chat: it learns of chat's events through chat's signals."""

    name = "apps.escalations"
    label = "escalations"

    def ready(self) -> None:
        from apps.chat import signals

        # In the closing transaction: the escalation closes with the conversation, so
        # nobody who sees the close (the customer's socket first) sees it still open.
        signals.conversation_closing.connect(_closed, dispatch_uid="escalations.closed")
        signals.customer_message_stored.connect(
            _customer_message, dispatch_uid="escalations.customer_message"
        )
        signals.turn_failed.connect(_turn_failed, dispatch_uid="escalations.turn_failed")
        signals.handoff_offered.connect(_handoff_offered, dispatch_uid="escalations.offer")
        signals.verification_locked.connect(_locked, dispatch_uid="escalations.verification_locked")


def _closed(sender: Any, conversation_id: Any, **kwargs: Any) -> None:
    from .services.handoff import on_conversation_closed

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


def _customer_message(sender: Any, conversation_id: Any, **kwargs: Any) -> None:
    from .services.chat_hooks import on_customer_message

    on_customer_message(conversation_id)


def _turn_failed(sender: Any, conversation_id: Any, code: str, **kwargs: Any) -> None:
    from .services.chat_hooks import on_turn_failed

    on_turn_failed(conversation_id, code=code)


def _handoff_offered(sender: Any, conversation_id: Any, reason: str, **kwargs: Any) -> None:
    from .services.chat_hooks import do_offer_handoff

    do_offer_handoff(conversation_id, reason=reason)
