"""The embeddable messenger: the store's one-line script, the chat frame it opens,
and the check that tells a store page whether it may embed us.

The frame is a page of our own origin, so the host page's CSS and scripts can't
touch it. Who may frame it is `SUPPORTBOT_EMBED_ORIGINS` (plus our own pages),
enforced by the browser through `Content-Security-Policy: frame-ancestors`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from .views import chat_context

WIDGET_SCRIPT = Path(settings.BASE_DIR) / "static" / "chat" / "widget.js"


def frame_ancestors() -> str:
    return " ".join(["'self'", *settings.SUPPORTBOT_EMBED_ORIGINS])


def origin_may_embed(origin: str) -> bool:
    return origin in settings.SUPPORTBOT_EMBED_ORIGINS


@cache
def _widget_source() -> bytes:
    return WIDGET_SCRIPT.read_bytes()


@require_safe
def widget_script(request: HttpRequest) -> HttpResponse:
    """`<script src="https://SUPPORT-HOST/widget.js">`: a stable URL stores can paste."""
    response = HttpResponse(_widget_source(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    # Any page may load the script; only allowed origins may frame the chat it opens.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@require_safe
@xframe_options_exempt  # framing is governed by frame-ancestors below, per origin
def embed_frame(request: HttpRequest) -> HttpResponse:
    response = render(request, "chat/embed.html", chat_context(request))
    response["Content-Security-Policy"] = f"frame-ancestors {frame_ancestors()}"
    return response


@require_safe
def embed_check(request: HttpRequest) -> JsonResponse:
    """Whether the calling page's origin may embed the messenger, in words a store
    developer reads in the console. The browser enforces the answer regardless."""
    origin = request.headers.get("Origin", "")
    # Browsers send no Origin on a same-origin GET: our own pages.
    own = not origin or origin == f"{request.scheme}://{request.get_host()}"
    allowed = own or origin_may_embed(origin)
    body: dict[str, object] = {"allowed": allowed, "origin": origin}
    if not allowed:
        body["message"] = (
            f"supportbot: {origin or 'this page'} may not embed the support chat. "
            "Add the origin to SUPPORTBOT_EMBED_ORIGINS on the support server."
        )
    response = JsonResponse(body)
    response["Access-Control-Allow-Origin"] = "*"
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"
    return response
