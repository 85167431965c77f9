"""The manager's view of one conversation: every event in order, with each turn's audit
(prompt layers, guardrail verdicts, tool calls, confirmations, tokens, cost, latency),
escalations, agent actions and staff actions. Built as plain data; the template escapes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from apps.chat.models import Conversation, Message, PendingAction, Turn

from .models import QualityReview, StaffAuditEvent, TranscriptDelivery
from .queries import escalation_model
from .services import tool_activity_text


@dataclass
class ToolCallView:
    name: str
    plain: str
    arguments: str
    ok: bool | None
    result: str
    ms: Any
    action_id: str
    screen: dict[str, Any] | None


@dataclass
class TurnView:
    turn: Turn
    tool_calls: list[ToolCallView]
    verdicts: list[dict[str, Any]]
    flagged_verdicts: int
    layers: list[tuple[str, str]]


@dataclass
class Event:
    kind: str  # message, turn
    message: Message | None = None
    turn: TurnView | None = None
    screen: dict[str, Any] | None = None


@dataclass
class ActionView:
    action: PendingAction
    outcome: str


def action_outcome(action: PendingAction) -> str:
    """What came of a confirmation, in words; a stored result may carry a message, an
    error, both or neither (pending, expired)."""
    result = action.result if isinstance(action.result, dict) else {}
    for key in ("message", "error", "detail"):
        value = result.get(key)
        if value:
            return str(value)
    return ""


@dataclass
class Review:
    conversation: Conversation
    events: list[Event] = field(default_factory=list)
    actions: list[ActionView] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    agent_notes: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[TranscriptDelivery] = field(default_factory=list)
    staff_events: list[StaffAuditEvent] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    quality: QualityReview | None = None


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    return json.dumps(value, indent=1, ensure_ascii=False, default=str)


def turn_view(turn: Turn) -> TurnView:
    calls = []
    for call in turn.tool_calls or []:
        calls.append(
            ToolCallView(
                name=str(call.get("name", "?")),
                plain=tool_activity_text(str(call.get("name", "?")), call.get("arguments")),
                arguments=_pretty(call.get("arguments", {})),
                ok=call.get("ok"),
                result=_pretty(call.get("result", "")),
                ms=call.get("ms"),
                action_id=str(call.get("action_id", "")),
                screen=call.get("screen"),
            )
        )
    verdicts = [v for v in turn.verdicts or [] if isinstance(v, dict)]
    return TurnView(
        turn=turn,
        tool_calls=calls,
        verdicts=verdicts,
        flagged_verdicts=sum(1 for v in verdicts if v.get("tripwire")),
        layers=sorted((str(k), str(v)) for k, v in (turn.layers or {}).items()),
    )


def build_review(conversation: Conversation) -> Review:
    review = Review(conversation=conversation)
    messages = list(
        Message.objects.filter(conversation=conversation).select_related("author").order_by("seq")
    )
    seq_of = {m.pk: m.seq for m in messages}
    keyed: list[tuple[float, Event]] = [
        (float(m.seq), Event("message", message=m, screen=(m.metadata or {}).get("screen")))
        for m in messages
    ]
    turns = list(Turn.objects.filter(conversation=conversation).order_by("started_at"))
    for turn in turns:
        position = (
            seq_of[turn.message_id] - 0.5 if turn.message_id in seq_of else turn.answers_seq + 0.5
        )
        keyed.append((position, Event("turn", turn=turn_view(turn))))
    keyed.sort(key=lambda pair: pair[0])
    review.events = [event for _, event in keyed]
    review.actions = [
        ActionView(action, action_outcome(action))
        for action in PendingAction.objects.filter(conversation=conversation).order_by("created_at")
    ]
    review.transcripts = list(
        TranscriptDelivery.objects.filter(conversation=conversation).order_by("episode")
    )
    review.staff_events = list(
        StaffAuditEvent.objects.filter(conversation=conversation).select_related("user")[:50]
    )
    review.totals = {
        "turns": len(turns),
        "tool_calls": sum(len(t.tool_calls or []) for t in turns),
        "prompt_tokens": sum(t.prompt_tokens for t in turns),
        "completion_tokens": sum(t.completion_tokens for t in turns),
        "cost_usd": sum((t.cost_usd for t in turns), start=conversation.cost_usd * 0),
        "flagged_messages": sum(1 for m in messages if (m.metadata or {}).get("screen")),
    }
    review.escalations, review.agent_notes = _escalation_events(conversation)
    review.quality = (
        QualityReview.objects.filter(conversation=conversation).prefetch_related("scores").first()
    )
    return review


def _escalation_events(
    conversation: Conversation,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Escalations and private agent notes, as field name -> value rows (the escalations app
    is optional to this one, so its models are read generically)."""
    from django.apps import apps

    escalations: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    model = escalation_model()
    if model is not None:
        for row in model.objects.filter(conversation=conversation).order_by("pk"):
            escalations.append(_row(row))
        try:
            event_model = apps.get_model("escalations", "EscalationEvent")
        except LookupError:
            event_model = None
        if event_model is not None:
            events = event_model.objects.filter(escalation__conversation=conversation)
            for event in events.select_related("actor").order_by("created_at", "pk"):
                notes_or_events = {
                    "when": event.created_at,
                    "event": event.kind,
                    "by": event.actor or "",
                    "data": _pretty(event.data) if event.data else "",
                }
                escalations.append({"escalation event": "", **notes_or_events})
    try:
        note_model = apps.get_model("escalations", "AgentNote")
    except LookupError:
        note_model = None
    if note_model is not None and any(
        f.name == "conversation" for f in note_model._meta.get_fields()
    ):
        for row in note_model.objects.filter(conversation=conversation).order_by("pk"):
            notes.append(_row(row))
    return escalations, notes


def _row(instance: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in instance._meta.concrete_fields:
        if f.name in {"id", "conversation"}:
            continue
        value = getattr(instance, f.name)
        if isinstance(value, dict | list):
            value = _pretty(value)
        out[f.verbose_name] = "" if value is None else value
    return out
