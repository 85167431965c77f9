"""The agents' inbox (/admin/console/inbox/): three panes on one page.

The list of open conversations, the open conversation, and its context. The page
renders what is stored; the staff sockets keep the list and the conversation live.
Changes are the console's CSRF-protected POSTs (claim, reply, note, hand back,
close) plus the ones below (transfer, presence, read marks); the copilot's
endpoints are in copilot_views.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from apps.chat.models import Conversation, Message, Turn

from . import inbox, services
from .labels import labels_for_page
from .models import CopilotSuggestion, EscalationEvent
from .services import EscalationError
from .views import _refused, _turn_audit, console_view, conversation_context

EMPTY_ID = "00000000-0000-0000-0000-000000000000"


def _inbox_url(conversation_id: uuid.UUID | str | None = None) -> str:
    if conversation_id is None:
        return reverse("escalations:inbox")
    return reverse("escalations:inbox-conversation", args=[conversation_id])


@console_view("escalations.view_escalation")
@require_safe
def workspace(request: HttpRequest, conversation_id: uuid.UUID | None = None) -> HttpResponse:
    user = request.user
    cards = inbox.open_cards()
    unread = inbox.unread_counts(user, [card["conversation_id"] for card in cards])
    context: dict[str, Any] = {
        "title": "Inbox",
        "cards": cards,
        "unread": unread,
        "presence": inbox.presence_of(user),
        "agent_name": services.agent_name(user),
        "load": services.agent_load(user),
        "capacity": services.agent_capacity(user),
        "can_change": user.has_perm("escalations.change_escalation"),
        "is_manager": user.has_perm("escalations.view_copilotsuggestion"),
        "convo": None,
    }
    state: dict[str, Any] = {
        "me": user.pk,
        "conversation_id": None,
        "cards": cards,
        "unread": unread,
        "labels": labels_for_page(),
        "urls": {
            "inbox": _inbox_url(),
            "conversation": _inbox_url(EMPTY_ID),
            "claim": reverse("escalations:claim", args=[0]),
            "presence": reverse("escalations:presence"),
        },
    }
    if conversation_id is not None:
        convo = get_object_or_404(
            Conversation.objects.select_related("customer"), pk=conversation_id
        )
        context.update(_conversation_context(request, convo))
        state.update(
            conversation_id=str(convo.pk),
            last_seq=convo.last_seq,
            read_seq=convo.customer_read_seq,
            status=convo.status,
            mine=context["mine"],
            socket=f"/ws/agent/conversations/{convo.pk}/",
        )
        inbox.do_mark_read(user, convo.pk, convo.last_seq)
        unread.pop(str(convo.pk), None)
    context["inbox_state"] = state
    return render(request, "escalations/inbox.html", context)


def _conversation_context(request: HttpRequest, convo: Conversation) -> dict[str, Any]:
    user = request.user
    context = conversation_context(user, convo)
    turns = list(Turn.objects.filter(conversation=convo).order_by("started_at"))
    log = [
        {"event": event, "label": inbox.log_label(event)}
        for event in EscalationEvent.objects.filter(escalation__conversation=convo)
        .select_related("actor")
        .order_by("created_at", "pk")
    ]
    return {
        **context,
        "timeline": _timeline(convo, turns),
        "audits": [{"turn": turn, "audit": _turn_audit(turn)} for turn in reversed(turns)],
        "log": log,
        "targets": inbox.transfer_targets(user) if context["mine"] else [],
    }


def _timeline(convo: Conversation, turns: list[Turn]) -> list[dict[str, Any]]:
    """The stored events in order, each with a readable label; the tool activity of
    a bot turn folded in after the message it produced."""
    items: list[tuple[float, dict[str, Any]]] = []
    by_id: dict[int, Message] = {}
    for message in Message.objects.filter(conversation=convo).order_by("seq"):
        by_id[message.pk] = message
        items.append(
            (
                float(message.seq),
                {"kind": "event", "message": message, "label": inbox.event_label(message)},
            )
        )
    for turn in turns:
        calls = turn.tool_calls or []
        if not calls:
            continue
        anchor = by_id.get(turn.message_id) if turn.message_id else None
        position = anchor.seq - 0.5 if anchor is not None else turn.answers_seq + 0.25
        items.append((position, {"kind": "tools", "turn": turn, "calls": _turn_audit(turn)}))
    items.sort(key=lambda item: item[0])
    return [item for _, item in items]


# --- Changes ------------------------------------------------------------------------------


@console_view("escalations.change_escalation")
@require_POST
def transfer(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """To another agent (`to` = their id) or back to the queue (`to` = "queue")."""
    raw = request.POST.get("to", "")
    target = None
    if raw != "queue":
        try:
            target = get_user_model().objects.get(pk=int(raw))
        except (ValueError, get_user_model().DoesNotExist):
            return _refused(
                request,
                EscalationError("no_target", "Choose an agent or the queue."),
                _inbox_url(conversation_id),
            )
    try:
        services.check_transfer(conversation_id, request.user, target)
    except EscalationError as error:
        return _refused(request, error, _inbox_url(conversation_id))
    to = services.agent_name(target) if target is not None else "the queue"
    return JsonResponse(
        {"ok": True, "redirect": _inbox_url(conversation_id), "message": f"Transferred to {to}."}
    )


@console_view("escalations.view_escalation")
@require_POST
def presence(request: HttpRequest) -> HttpResponse:
    try:
        result = services.do_set_presence(request.user, request.POST.get("status", ""))
    except EscalationError as error:
        return JsonResponse({"ok": False, "code": error.code, "message": error.message}, status=400)
    return JsonResponse({"ok": True, "status": result.status})


@console_view("escalations.view_escalation")
@require_POST
def mark_read(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    get_object_or_404(Conversation, pk=conversation_id)
    try:
        seq = int(request.POST.get("seq", "0"))
    except ValueError:
        seq = 0
    return JsonResponse({"ok": True, "seq": inbox.do_mark_read(request.user, conversation_id, seq)})


# --- For managers -------------------------------------------------------------------------


@console_view("escalations.view_copilotsuggestion")
@require_safe
def copilot_report(request: HttpRequest) -> HttpResponse:
    """How much the copilot helps: what agents did with its suggestions."""
    from django.db.models import Count

    counts = {
        row["status"]: row["n"]
        for row in CopilotSuggestion.objects.filter(kind=CopilotSuggestion.Kind.REPLY)
        .values("status")
        .annotate(n=Count("pk"))
    }
    decided = sum(counts.get(s, 0) for s in ("sent", "edited", "discarded"))
    rows = [
        {
            "status": label,
            "count": counts.get(value, 0),
            "share": round(100 * counts.get(value, 0) / decided) if decided else None,
        }
        for value, label in CopilotSuggestion.Outcome.choices
        if value in {"shown", "sent", "edited", "discarded", "failed"}
    ]
    recent = CopilotSuggestion.objects.select_related("agent")[:50]
    summaries = CopilotSuggestion.objects.filter(kind=CopilotSuggestion.Kind.SUMMARY).count()
    return render(
        request,
        "escalations/copilot_report.html",
        {
            "title": "Copilot",
            "rows": rows,
            "recent": recent,
            "summaries": summaries,
            "decided": decided,
            "agent_name": services.agent_name(request.user),
        },
    )
