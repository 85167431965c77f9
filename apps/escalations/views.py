"""The agent console, inside the Django admin (/admin/console/).

Pages render what is stored; the live parts come over the staff socket (see
consumers.py). Every change is a CSRF-protected POST that calls one service.
A POST sent by the console's JavaScript (Accept: application/json) gets JSON;
a plain form post gets a redirect with a message, so the console also works
without scripts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from apps.chat.models import Conversation, Message, Turn

from . import services
from .labels import escalation_event_label, event_label, labels_for_page
from .models import AgentNote, CannedReply, Escalation
from .services import EscalationError

View = Callable[..., HttpResponseBase]


def console_view(permission: str) -> Callable[[View], View]:
    """Staff only (the admin's own login and checks), plus one permission."""

    def decorate(view: View) -> View:
        checked = permission_required(permission, raise_exception=True)(view)
        return admin.site.admin_view(checked)

    return decorate


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _done(request: HttpRequest, url: str, message: str = "") -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": True, "redirect": url, "message": message})
    if message:
        messages.success(request, message)
    return redirect(url)


def _refused(request: HttpRequest, error: EscalationError, url: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            {"ok": False, "code": error.code, "message": error.message, "redirect": url},
            status=409,
        )
    messages.error(request, error.message)
    return redirect(url)


def _conversation_url(conversation_id: uuid.UUID | str) -> str:
    return reverse("escalations:conversation", args=[conversation_id])


# --- Queue ----------------------------------------------------------------------------


@console_view("escalations.view_escalation")
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    cards = [
        services.escalation_card(escalation, position=position)
        for position, escalation in enumerate(services.queued_escalations(), start=1)
    ]
    mine = (
        Escalation.objects.filter(claimed_by_id=request.user.pk, status=Escalation.Status.CLAIMED)
        .select_related("claimed_by")
        .order_by("claimed_at")
    )
    live = (
        Conversation.objects.filter(
            status=Conversation.Status.BOT,
            updated_at__gte=timezone.now() - timedelta(minutes=30),
        )
        .select_related("customer")
        .order_by("-updated_at")[:20]
    )
    others = (
        Escalation.objects.filter(status=Escalation.Status.CLAIMED)
        .exclude(claimed_by_id=request.user.pk)
        .select_related("claimed_by")
        .order_by("claimed_at")[:50]
    )
    return render(
        request,
        "escalations/queue.html",
        _context(
            request,
            "Agent console",
            cards=cards,
            mine=[services.escalation_card(e) for e in mine],
            others=[services.escalation_card(e) for e in others],
            live=live,
            load=services.agent_load(request.user),
            capacity=services.agent_capacity(request.user),
            online=services.online_agents().count(),
        ),
    )


@console_view("escalations.change_escalation")
@require_POST
def claim(request: HttpRequest, escalation_id: int) -> HttpResponse:
    try:
        escalation = services.check_claim(escalation_id, request.user)
    except EscalationError as error:
        return _refused(request, error, reverse("escalations:queue"))
    return _done(request, _conversation_url(escalation.conversation_id))


@console_view("escalations.change_escalation")
@require_POST
def take_over(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    try:
        services.check_take_over(conversation_id, request.user)
    except EscalationError as error:
        return _refused(request, error, _conversation_url(conversation_id))
    return _done(request, _conversation_url(conversation_id))


# --- One conversation ---------------------------------------------------------------------


@console_view("escalations.view_escalation")
@require_safe
def conversation(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    convo = get_object_or_404(Conversation.objects.select_related("customer"), pk=conversation_id)
    shared = conversation_context(request.user, convo)
    escalation = shared["escalation"]
    return render(
        request,
        "escalations/conversation.html",
        _context(
            request,
            f"Conversation {str(convo.pk)[:8]}",
            **shared,
            events=[
                {"event": event, "label": escalation_event_label(event.kind)}
                for event in (escalation.events.select_related("actor") if escalation else [])
            ],
            timeline=_timeline(convo),
            console_state={
                "conversation_id": str(convo.pk),
                "last_seq": convo.last_seq,
                "read_seq": convo.customer_read_seq,
                "status": convo.status,
                "mine": shared["mine"],
                "labels": labels_for_page(),
            },
        ),
    )


def conversation_context(user: Any, convo: Conversation) -> dict[str, Any]:
    """What both pages of one conversation (this console's and the inbox's) show
    alike: its latest escalation, whether this agent holds it, the customer and
    their orders, canned replies filled in, and the private notes."""
    escalation = (
        Escalation.objects.filter(conversation=convo)
        .select_related("claimed_by")
        .order_by("-pk")
        .first()
    )
    customer_first = convo.customer.first_name if convo.customer else "there"
    agent_first = services.agent_name(user)
    canned = [
        {
            "id": reply.pk,
            "title": reply.title,
            "text": reply.text.replace("{customer_first_name}", customer_first).replace(
                "{agent_first_name}", agent_first
            ),
        }
        for reply in CannedReply.objects.filter(active=True)
    ]
    return {
        "convo": convo,
        "escalation": escalation,
        "card": services.escalation_card(escalation) if escalation else None,
        "customer": convo.customer,
        "orders": _orders(convo) if user.has_perm("orders.view_order") else [],
        "canned": canned,
        "notes": (
            AgentNote.objects.filter(conversation=convo).select_related("author")
            if user.has_perm("escalations.view_agentnote")
            else AgentNote.objects.none()
        ),
        "can_note": user.has_perm("escalations.add_agentnote"),
        "mine": (
            escalation is not None
            and escalation.status == Escalation.Status.CLAIMED
            and escalation.claimed_by_id == user.pk
            and convo.status == Conversation.Status.AGENT
        ),
        "can_claim": user.has_perm("escalations.change_escalation")
        and convo.status in {Conversation.Status.BOT, Conversation.Status.QUEUED},
    }


def _timeline(convo: Conversation) -> list[dict[str, Any]]:
    """Every stored event in order, with each bot turn's audit placed after the
    message it produced (or, for a turn that stopped or failed, after the
    customer message it answered)."""
    items: list[tuple[float, dict[str, Any]]] = []
    messages_by_id = {}
    for message in Message.objects.filter(conversation=convo).order_by("seq"):
        messages_by_id[message.pk] = message
        label = event_label(message.kind, message.role, message.metadata)
        items.append((float(message.seq), {"kind": "event", "message": message, "label": label}))
    for turn in Turn.objects.filter(conversation=convo).order_by("started_at"):
        anchor = messages_by_id.get(turn.message_id) if turn.message_id else None
        position = anchor.seq + 0.5 if anchor is not None else turn.answers_seq + 0.25
        items.append((position, {"kind": "turn", "turn": turn, "audit": _turn_audit(turn)}))
    items.sort(key=lambda item: item[0])
    return [item for _, item in items]


def _turn_audit(turn: Turn) -> dict[str, Any]:
    calls = []
    for call in turn.tool_calls or []:
        calls.append(
            {
                "name": call.get("name"),
                "ok": call.get("ok"),
                "arguments": json.dumps(call.get("arguments"), default=str, indent=1),
                "result": str(call.get("result", "")),
                "ms": call.get("ms"),
            }
        )
    return {
        "calls": calls,
        "verdicts": [v for v in (turn.verdicts or []) if isinstance(v, dict)],
        "layers": turn.layers or {},
    }


def _orders(convo: Conversation) -> list[Any]:
    if convo.customer is None:
        return []
    from apps.orders.models import Order

    return list(
        Order.objects.filter(customer=convo.customer)
        .prefetch_related("lines", "fulfilments")
        .order_by("position")[:20]
    )


@console_view("escalations.change_escalation")
@require_POST
def reply(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    try:
        message = services.do_agent_message(
            conversation_id, request.user, request.POST.get("text", "")
        )
    except EscalationError as error:
        return _refused(request, error, _conversation_url(conversation_id))
    suggestion_id = request.POST.get("suggestion_id", "")
    if suggestion_id.isdigit():
        from .copilot import do_record_sent

        do_record_sent(int(suggestion_id), request.user, message)
    if _wants_json(request):
        return JsonResponse({"ok": True, "seq": message.seq})
    return redirect(_conversation_url(conversation_id))


@console_view("escalations.change_escalation")
@require_POST
def hand_back(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    try:
        services.do_hand_back(conversation_id, request.user)
    except EscalationError as error:
        return _refused(request, error, _conversation_url(conversation_id))
    return _done(request, reverse("escalations:queue"), "Handed back to the assistant.")


@console_view("escalations.change_escalation")
@require_POST
def close(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    try:
        services.do_close(conversation_id, request.user)
    except EscalationError as error:
        return _refused(request, error, _conversation_url(conversation_id))
    return _done(request, reverse("escalations:queue"), "Conversation closed.")


@console_view("escalations.add_agentnote")
@require_POST
def add_note(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    try:
        note = services.do_add_note(conversation_id, request.user, request.POST.get("text", ""))
    except EscalationError as error:
        return _refused(request, error, _conversation_url(conversation_id))
    if _wants_json(request):
        return JsonResponse({"ok": True, "id": note.pk})
    return redirect(_conversation_url(conversation_id) + "#notes")
