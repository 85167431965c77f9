from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.signing import BadSignature, Signer
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_POST, require_safe

from . import services
from .models import ATTACHMENT_SALT, Attachment, SuggestedQuestion
from .photos import PhotoError
from .ratelimit import check_rate, request_client
from .ui_text import ui_text


def chat_context(request: HttpRequest) -> dict[str, Any]:
    """What the chat page and the messenger frame both render."""
    return {
        "offline": not settings.OPENAI_API_KEY,
        "model": settings.SUPPORTBOT_MODEL,
        "assistant_name": settings.SUPPORTBOT_ASSISTANT_NAME,
        "max_photo_bytes": settings.SUPPORTBOT_MAX_PHOTO_BYTES,
        "ui_text": ui_text(),
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
    client = request_client(request)
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
            identity_token=identity,
            client_key=client,
            # The page's language, chosen from the browser (LocaleMiddleware).
            language=(get_language() or "en").split("-")[0],
        )
    except services.ChatError as exc:
        return _error(400, exc.code, exc.message)
    return JsonResponse({"conversation_id": str(conversation.pk), "token": token}, status=201)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt  # authenticated by the conversation's secret, never by a cookie
@require_POST
def upload_photo(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """`POST /api/conversations/<id>/photos/` with `Authorization: Bearer <secret>` and
    a multipart `photo`. The photo is sent by the next `message` frame naming it."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    conversation = services.access_conversation(conversation_id, secret)
    if scheme.lower() != "bearer" or conversation is None:
        return _error(403, "forbidden", "This chat could not be found.")
    client = request_client(request)
    if not check_rate("photo", client, limit=settings.SUPPORTBOT_RATE_PHOTOS):
        return _error(429, "rate_limited", "Too many photos at once. Please wait a minute.")
    # Refused before Django reads a body far over the limit into a temporary file.
    declared = (
        int(request.META.get("CONTENT_LENGTH") or 0)
        if request.META.get("CONTENT_LENGTH", "0").isdigit()
        else 0
    )
    if declared > settings.SUPPORTBOT_MAX_PHOTO_BYTES + MULTIPART_OVERHEAD:
        return _photo_too_large()
    upload = request.FILES.get("photo")
    if upload is None:
        return _error(400, "photo_missing", "Choose a photo to send.")
    if upload.size is not None and upload.size > settings.SUPPORTBOT_MAX_PHOTO_BYTES:
        return _photo_too_large()
    try:
        attachment = services.do_store_photo(
            conversation.pk, upload.read(settings.SUPPORTBOT_MAX_PHOTO_BYTES + 1)
        )
    except PhotoError as exc:
        status = 413 if exc.code == "photo_too_large" else 400
        return _error(status, exc.code, exc.message)
    return JsonResponse(
        {
            "attachment_id": str(attachment.pk),
            **attachment.as_metadata(),
            "url": attachment.signed_url(),
        },
        status=201,
    )


MULTIPART_OVERHEAD = 64 * 1024  # the form's other fields and boundaries


def _photo_too_large() -> JsonResponse:
    limit = settings.SUPPORTBOT_MAX_PHOTO_BYTES // (1024 * 1024)
    return _error(413, "photo_too_large", f"That photo is too large. The limit is {limit} MB.")


@require_safe
def attachment(request: HttpRequest, signed: str) -> FileResponse:
    """A stored photo, for whoever was given its signed URL (the customer's page and
    the agent console get it in the message frame)."""
    try:
        attachment_id = Signer(salt=ATTACHMENT_SALT).unsign(signed)
    except BadSignature:
        raise Http404("No such photo.") from None
    photo = Attachment.objects.filter(pk=attachment_id).first()
    if photo is None:
        raise Http404("No such photo.")
    response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
