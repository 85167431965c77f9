from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from apps.chat.routing import websocket_urlpatterns as chat_routes
from apps.escalations.routing import websocket_urlpatterns as agent_routes


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any other socket path: refused cleanly (4404) before accept, not a server error."""

    async def connect(self) -> None:
        await self.close(code=4404)


websocket_urlpatterns = [*chat_routes, *agent_routes, re_path(r"", NoSuchSocket.as_asgi())]
