from __future__ import annotations

from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "apps.assistant"
    label = "assistant"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each app declares its tools in tools.py; importing registers them.
        autodiscover_modules("tools")
        # The assistant's own tool, and the model screen's structured-output schema.
        from . import calculator, classifier  # noqa: F401
