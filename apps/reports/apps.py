from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "apps.reports"
    label = "reports"

    def ready(self) -> None:
        from apps.chat.signals import conversation_closing

        from .signals import on_conversation_closing

        conversation_closing.connect(on_conversation_closing, dispatch_uid="reports.closing")
