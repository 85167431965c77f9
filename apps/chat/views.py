from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_POST, require_safe

from . import services
from .models import SuggestedQuestion
from .ratelimit import check_rate, client_key


def chat_context(request: HttpRequest) -> dict[str, Any]:
    """What the chat page and the messenger frame both render."""
    return {
        "offline": not settings.OPENAI_API_KEY,
        "model": settings.SUPPORTBOT_MODEL,
        "assistant_name": settings.SUPPORTBOT_ASSISTANT_NAME,
        "suggestions": SuggestedQuestion.for_language(get_language() or "en"),
    }


@require_safe
@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/index.html", chat_context(request))


# A JSON API for the chat page and the store's own site. It holds no session
# state a forged cross-site request could abuse, and a cross-site form cannot
# send application/json without a CORS preflight, which we never grant.
@csrf_exempt
@require_POST
def create_conversation(request: HttpRequest) -> JsonResponse:
    client = client_key(request.META.get("REMOTE_ADDR"))
    if not check_rate("conversation", client, limit=settings.SUPPORTBOT_RATE_CONVERSATIONS):
        return _error(429, "rate_limited", "Too many new conversations. Please wait a minute.")
    identity = None
    if request.body:
        if request.content_type != "application/json":
            return _error(415, "unsupported_media_type", "Send JSON (application/json).")
        try:
            payload = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "invalid_json", "The body is not valid JSON.")
        if not isinstance(payload, dict):
            return _error(400, "invalid_json", "The body must be a JSON object.")
        identity = payload.get("identity")
        if identity is not None and not isinstance(identity, str):
            return _error(400, "invalid_identity", "identity must be a string.")
    try:
        conversation, token = services.do_create_conversation(
            identity_token=identity, client_key=client
        )
    except services.ChatError as exc:
        return _error(400, exc.code, exc.message)
    return JsonResponse({"conversation_id": str(conversation.pk), "token": token}, status=201)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)
