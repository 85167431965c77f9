from __future__ import annotations

from apps.chat.routing import websocket_urlpatterns as chat_routes
from apps.escalations.routing import websocket_urlpatterns as agent_routes

websocket_urlpatterns = [*chat_routes, *agent_routes]
