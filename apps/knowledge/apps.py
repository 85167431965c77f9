from __future__ import annotations

from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "apps.knowledge"
    label = "knowledge"
    verbose_name = "Help center"

    def ready(self) -> None:
        # Registers the search_help_center tool and the index-keeping signals.
        from . import signals, tools  # noqa: F401
