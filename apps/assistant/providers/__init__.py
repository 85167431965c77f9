"""The model layer's single seam: every call to a model goes through a Provider."""

from __future__ import annotations

from django.conf import settings

from .base import Provider


def get_provider() -> Provider:
    """The configured provider: OpenAI when a key is set, else the local assistant."""
    if settings.OPENAI_API_KEY:
        from .openai import OpenAIProvider

        return OpenAIProvider(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL or None,
            model=settings.SUPPORTBOT_MODEL,
        )
    from apps.assistant.local import LocalProvider

    return LocalProvider()
