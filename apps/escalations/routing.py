from __future__ import annotations

from django.urls import path

from .consumers import ConversationConsumer, QueueConsumer

websocket_urlpatterns = [
    path("ws/agent/", QueueConsumer.as_asgi()),
    path("ws/agent/conversations/<str:conversation_id>/", ConversationConsumer.as_asgi()),
]
