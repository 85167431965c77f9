"""The copilot's endpoints in the inbox. CSRF-protected POSTs, staff only; a
suggestion is only ever written into the agent's composer, never sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.http import require_POST

from . import copilot
from .models import CopilotSuggestion
from .services import EscalationError
from .views import console_view


def _line(frame: dict[str, object]) -> bytes:
    return (json.dumps(frame, ensure_ascii=False) + "\n").encode()


@console_view("escalations.change_escalation")
@require_POST
def suggest(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponseBase:
    """A suggested reply, streamed as JSON lines: `start`, `delta`..., then `done`
    (or `error`). Only the agent holding the conversation may ask."""
    try:
        suggestion = copilot.do_start_suggestion(conversation_id, request.user)
    except EscalationError as error:
        return JsonResponse({"ok": False, "code": error.code, "message": error.message}, status=409)
    agent = request.user

    async def frames() -> AsyncIterator[bytes]:
        yield _line({"type": "start", "id": suggestion.pk, "source": suggestion.source})
        text = []
        try:
            async for piece in copilot.stream_reply(suggestion, agent):
                text.append(piece)
                yield _line({"type": "delta", "text": piece})
        except Exception as exc:  # the agent sees why; the record says failed
            message = getattr(exc, "message", "The copilot could not write a suggestion.")
            yield _line(
                {"type": "error", "code": getattr(exc, "code", "error"), "message": message}
            )
            return
        yield _line({"type": "done", "id": suggestion.pk, "text": "".join(text).strip()})

    response = StreamingHttpResponse(frames(), content_type="application/x-ndjson")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@console_view("escalations.change_escalation")
@require_POST
def discard(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    return JsonResponse({"ok": copilot.do_discard(suggestion_id, request.user)})


@console_view("escalations.view_escalation")
@require_POST
def summarise(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """One click: the conversation so far and a suggested next step."""
    from django.shortcuts import get_object_or_404

    from apps.chat.models import Conversation

    get_object_or_404(Conversation, pk=conversation_id)
    suggestion = copilot.do_summarise_now(conversation_id, request.user)
    return JsonResponse(
        {
            "ok": True,
            "id": suggestion.pk,
            "source": suggestion.source,
            "summary": suggestion.data,
            "model_failed": suggestion.error_code or None,
        }
    )


__all__ = ["CopilotSuggestion", "discard", "suggest", "summarise"]
