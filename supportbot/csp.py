"""The Content-Security-Policy header on every response.

One policy for the site (`SUPPORTBOT_CSP` in settings, directive -> sources). A view
that needs more or other sources for a directive sets them on the response, either
with the `csp` decorator or by writing its own `Content-Security-Policy` header:
the directives it names win, every other directive comes from the site policy.
(The embeddable frame sets `frame-ancestors` to the allowed store origins so.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def parse(policy: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def render(directives: dict[str, list[str]]) -> str:
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


def csp(**directives: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Per view: `@csp(frame_ancestors=["'self'", "https://shop.example"])`."""
    override = {name.replace("_", "-"): sources for name, sources in directives.items()}

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            response = view(request, *args, **kwargs)
            response.csp_override = override
            return response

        return wrapped

    return decorate


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = {name: list(sources) for name, sources in settings.SUPPORTBOT_CSP.items()}
        policy.update(getattr(response, "csp_override", {}))
        if HEADER in response:
            policy.update(parse(response[HEADER]))
        if "'self'" in policy.get("connect-src", []):
            # Not every browser lets 'self' cover this host's WebSockets.
            host = request.get_host()
            policy["connect-src"] = [*policy["connect-src"], f"ws://{host}", f"wss://{host}"]
        response[HEADER] = render(policy)
        return response
