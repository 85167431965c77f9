"""Verification failures counted across conversations: per client and per identity tried
(the zip code with the email or the last name, hashed), kept for
SUPPORTBOT_VERIFY_COOLDOWN seconds in the cache. At a counter's cap the attempt is
logged to supportbot.security and `signals.verification_locked` tells staff."""

from __future__ import annotations

import hashlib
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from pydantic import BaseModel

from .models import Conversation
from .signals import verification_locked

security_log = logging.getLogger("supportbot.security")


def counter_keys(client: str, args: BaseModel) -> list[tuple[str, int]]:
    """Failure counters for a verification attempt: the client, and the identity it
    claimed (the zip code with the email or the last name), hashed."""
    if not hasattr(args, "zip"):
        return []
    keys = [
        (
            f"verify-fail:client:{client or 'unknown'}",
            settings.SUPPORTBOT_VERIFY_FAILURES_PER_CLIENT,
        )
    ]
    zip_code = "".join(ch for ch in str(getattr(args, "zip", "") or "") if ch.isalnum())
    who = str(getattr(args, "email", "") or getattr(args, "last_name", "") or "").strip().lower()
    if zip_code:
        identity = hashlib.sha256(f"{zip_code}|{who}".encode()).hexdigest()[:32]
        keys.append(
            (f"verify-fail:identity:{identity}", settings.SUPPORTBOT_VERIFY_FAILURES_PER_IDENTITY)
        )
    return keys


def cooling_down(keys: list[tuple[str, int]]) -> bool:
    """Whether any counter has reached its cap (the tool then sees the cap itself)."""
    return any((cache.get(key) or 0) >= limit for key, limit in keys)


def count_failure(conversation_id: uuid.UUID | str, keys: list[tuple[str, int]]) -> None:
    cooldown = settings.SUPPORTBOT_VERIFY_COOLDOWN
    for key, limit in keys:
        cache.add(key, 0, timeout=cooldown)
        try:
            count = cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=cooldown)
            count = 1
        if count == limit:
            security_log.warning(
                "verification locked: %s reached %s failures (conversation %s)",
                key,
                limit,
                conversation_id,
            )
            verification_locked.send(
                sender=Conversation, conversation_id=conversation_id, key=key, failures=count
            )


def log_failure(
    conversation_id: uuid.UUID | str, failures: int, keys: list[tuple[str, int]]
) -> None:
    security_log.info(
        "verification failed: conversation %s, attempt %s, %s",
        conversation_id,
        failures,
        ", ".join(key for key, _ in keys),
    )
