from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "apps.reports"
    label = "reports"

    def ready(self) -> None:
        from apps.chat.signals import conversation_closed

        from .signals import on_conversation_closed

        conversation_closed.connect(on_conversation_closed, dispatch_uid="reports.closed")
