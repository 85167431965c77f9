from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
# Django must be set up before the consumers import models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from apps.chat import warmup  # noqa: E402
from supportbot.origins import SocketOriginValidator  # noqa: E402
from supportbot.routing import websocket_urlpatterns  # noqa: E402

http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SUPPORTBOT_SERVE_STATIC else None

application = ProtocolTypeRouter(
    {
        "http": http_app or django_asgi_app,
        "websocket": SocketOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# The first customer after a restart should not pay for imports and indexes.
warmup.start()
