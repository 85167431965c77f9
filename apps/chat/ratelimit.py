"""Fixed-window rate limits on the Django cache (Redis when REDIS_URL is set)."""

from __future__ import annotations

import time

from django.core.cache import cache


def check_rate(scope: str, key: str, *, limit: int, window: int = 60) -> bool:
    """Count one hit; True while `key` stays within `limit` hits per `window` seconds."""
    bucket = int(time.time() // window)
    cache_key = f"rate:{scope}:{key}:{bucket}"
    cache.add(cache_key, 0, timeout=window * 2)
    try:
        hits = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window * 2)
        hits = 1
    return hits <= limit


def client_key(address: str | None) -> str:
    return address or "unknown"
