"""Which web origins may open which sockets.

Every socket accepts pages of our own hosts (`DJANGO_ALLOWED_HOSTS`). The customer
socket (`/ws/chat/`) also accepts the store sites that embed the messenger
(`SUPPORTBOT_EMBED_ORIGINS`); staff sockets never do. Anything else is refused
before the consumer runs, with a log line naming the origin.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import ParseResult, urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings

log = logging.getLogger(__name__)

CUSTOMER_SOCKET_PREFIX = "/ws/chat/"


def own_host_patterns() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


class SocketOriginValidator(OriginValidator):
    def __init__(self, application: Any) -> None:
        super().__init__(application, [])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SocketOriginValidator only guards WebSocket connections")
        origin = _origin(scope)
        customer = str(scope.get("path", "")).startswith(CUSTOMER_SOCKET_PREFIX)
        # Read per handshake (a few list items), so settings changed in tests apply.
        patterns = own_host_patterns()
        if customer:
            patterns += settings.SUPPORTBOT_EMBED_ORIGINS
        if origin is not None and any(
            pattern == "*" or self.match_allowed_origin(origin, pattern) for pattern in patterns
        ):
            return await self.application(scope, receive, send)
        log.warning(
            "socket refused: origin %r may not open %s",
            origin.geturl() if origin is not None else None,
            scope.get("path"),
        )
        return await WebsocketDenier()(scope, receive, send)


def _origin(scope: Any) -> ParseResult | None:
    for name, value in scope.get("headers", []):
        if name == b"origin":
            try:
                return urlparse(value.decode("latin1"))
            except (UnicodeDecodeError, ValueError):
                return None
    return None
