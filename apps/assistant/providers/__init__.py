"""The model layer's single seam: every call to a model goes through a Provider."""

from __future__ import annotations

from typing import Any

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


def openai_client(*, read_timeout: float | None = None) -> Any:
    """A blocking OpenAI client with the configured key, address, timeouts and retries,
    for work off the chat path (embeddings, Batch API jobs)."""
    import openai

    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL or None,
        timeout=openai.Timeout(
            read_timeout or settings.OPENAI_READ_TIMEOUT, connect=settings.OPENAI_CONNECT_TIMEOUT
        ),
        max_retries=settings.OPENAI_MAX_RETRIES,
    )
