"""Admin login throttling: after too many failed logins for one username, or from one
client, the login form refuses further tries for a while (HTTP 429)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from apps.chat.ratelimit import request_client

log = logging.getLogger(__name__)

WINDOW = 15 * 60  # seconds


def _keys(request: HttpRequest) -> list[tuple[str, int]]:
    username = str(request.POST.get("username", "")).strip().lower()[:150]
    client = request_client(request)
    bucket = int(time.time() // WINDOW)
    keys = [(f"login-fail:client:{client}:{bucket}", settings.SUPPORTBOT_LOGIN_FAILURES_PER_CLIENT)]
    if username:
        keys.append(
            (f"login-fail:user:{username}:{bucket}", settings.SUPPORTBOT_LOGIN_FAILURES_PER_USER)
        )
    return keys


class AdminLoginThrottleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != reverse("admin:login"):
            return self.get_response(request)
        keys = _keys(request)
        if any((cache.get(key) or 0) >= limit for key, limit in keys):
            log.warning("admin login throttled for %s", request_client(request))
            return HttpResponse(
                "Too many failed sign-in attempts. Please wait 15 minutes and try again.",
                status=429,
                content_type="text/plain",
            )
        response = self.get_response(request)
        # A failed login shows the form again (200); a successful one redirects.
        if response.status_code == 200:
            for key, _ in keys:
                cache.add(key, 0, timeout=WINDOW * 2)
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, timeout=WINDOW * 2)
            log.info("admin login failed from %s", request_client(request))
        return response
