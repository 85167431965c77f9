"""Fixed-window rate limits on the Django cache (Redis when REDIS_URL is set), and
who the client is: its address, or behind a trusted proxy the address the proxy saw."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.module_loading import import_string

_counters: BaseCache | None = None
COUNTER_CONNECTIONS = 50  # Redis connections for rate counters, per process
COUNTER_CONNECTION_WAIT = 10.0  # seconds a counter waits for one of them


def counters() -> BaseCache:
    """The default cache, one client for the whole process. `django.core.cache.cache`
    is one per thread and async context, and each new Redis client connects anew:
    that was a TCP connect on every message."""
    global _counters
    if _counters is None:
        params: dict[str, Any] = dict(settings.CACHES["default"])
        backend = import_string(params.pop("BACKEND"))
        if issubclass(backend, RedisCache):
            # Shared by every thread (a sync view gets a thread of its own per request):
            # a burst waits for a free connection instead of failing at the pool's cap.
            params["OPTIONS"] = {
                **params.get("OPTIONS", {}),
                "pool_class": "redis.BlockingConnectionPool",
                "max_connections": COUNTER_CONNECTIONS,
                "timeout": COUNTER_CONNECTION_WAIT,
            }
        _counters = backend(params.pop("LOCATION", ""), params)
    return _counters


@receiver(setting_changed)
def _forget_counters(*, setting: str, **kwargs: Any) -> None:
    global _counters
    if setting == "CACHES":
        _counters = None


def check_rate(scope: str, key: str, *, limit: int, window: int = 60) -> bool:
    """Count one hit; True while `key` stays within `limit` hits per `window` seconds."""
    bucket = int(time.time() // window)
    return _count_hit(counters(), f"rate:{scope}:{key}:{bucket}", timeout=window * 2) <= limit


def _count_hit(cache: BaseCache, key: str, *, timeout: int) -> int:
    """Add one to the counter `key` (made at 0 if missing, kept `timeout` seconds); the
    count after it."""
    if isinstance(cache, RedisCache):
        # One round trip, atomic (MULTI/EXEC): Django's add and incr took three (SET NX,
        # then EXISTS and INCR). Counters are plain integers in Django's Redis encoding.
        # Each hit sets the expiry again: a counter is read only in its own window.
        redis_key = cache.make_and_validate_key(key)
        client = cache._cache.get_client(redis_key, write=True)  # type: ignore[attr-defined]
        with client.pipeline() as pipe:
            hits, _ = pipe.incr(redis_key).expire(redis_key, timeout).execute()
        return int(hits)
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def client_key(address: str | None, forwarded_for: str | None = None) -> str:
    """The client's address. `X-Forwarded-For` counts only when the peer is one of
    SUPPORTBOT_TRUSTED_PROXIES: then the client is the right-most address in it that
    is not itself a trusted proxy (a client can prepend anything, a proxy appends)."""
    if not address:
        return "unknown"
    if not forwarded_for or not _trusted(address):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not _valid(hop):
            break  # garbage from further out: trust nothing beyond it
        if not _trusted(hop):
            return hop
        address = hop
    return address


def request_client(request: HttpRequest) -> str:
    return client_key(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))


def scope_client(scope: Mapping[str, Any]) -> str:
    """The client of an ASGI connection (a socket), by the same rule."""
    peer = (scope.get("client") or [None])[0]
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or []
    forwarded = ",".join(
        value.decode("latin-1") for name, value in headers if name.lower() == b"x-forwarded-for"
    )
    return client_key(peer, forwarded or None)


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.SUPPORTBOT_TRUSTED_PROXIES)))


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(proxy, strict=False) for proxy in proxies]
