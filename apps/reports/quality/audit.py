"""What the reviewers read of a conversation's latest episode: its messages, the tools
each turn called, failed turns, output-guard flags, proposed changes and the hand-off."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from apps.chat.models import Conversation, Message, PendingAction, Turn

from ..queries import escalated


@dataclass
class Line:
    seq: int
    role: str  # customer, assistant, agent, system
    kind: str
    text: str
    meta: dict[str, Any]


@dataclass
class ToolUse:
    answers_seq: int  # the customer message the turn answered
    reply_seq: int | None  # the assistant message the turn wrote
    name: str
    ok: bool
    error: str
    covered: bool | None  # search_help_center: did the help center have an answer


@dataclass
class Audit:
    lines: list[Line] = field(default_factory=list)
    tools: list[ToolUse] = field(default_factory=list)
    failed_turn_seqs: list[int] = field(default_factory=list)  # customer seqs left unanswered
    tripped_output_seqs: list[int] = field(default_factory=list)  # output guard flagged
    actions: list[tuple[PendingAction, int | None]] = field(default_factory=list)  # (, result seq)
    escalated: bool = False
    close_reason: str = ""
    csat: int | None = None

    def spoken(self, role: str | None = None) -> list[Line]:
        return [
            line
            for line in self.lines
            if line.kind == Message.Kind.MESSAGE
            and line.role != Message.Role.SYSTEM
            and (role is None or line.role == role)
        ]


def audit_of(conversation: Conversation) -> Audit:
    audit = Audit(close_reason=conversation.close_reason, csat=conversation.csat_score)
    messages = list(
        Message.objects.filter(
            conversation=conversation, seq__gt=conversation.episode_start_seq
        ).order_by("seq")
    )
    result_seq: dict[str, int] = {}
    for message in messages:
        meta = message.metadata or {}
        audit.lines.append(Line(message.seq, message.role, message.kind, message.text, meta))
        if message.kind == Message.Kind.CONFIRM_RESULT and meta.get("action_id"):
            result_seq[str(meta["action_id"])] = message.seq
    start = messages[0].created_at if messages else None
    turns = Turn.objects.filter(conversation=conversation).select_related("message")
    if start is not None:
        turns = turns.filter(started_at__gte=start)
    for turn in turns.order_by("started_at"):
        reply_seq = turn.message.seq if turn.message is not None else None
        if turn.status == Turn.Status.FAILED:
            audit.failed_turn_seqs.append(turn.answers_seq)
        for verdict in turn.verdicts or []:
            if (
                isinstance(verdict, dict)
                and verdict.get("tripwire")
                and str(verdict.get("check", "")).startswith("output")
            ):
                audit.tripped_output_seqs.append(reply_seq or turn.answers_seq)
        for call in turn.tool_calls or []:
            audit.tools.append(_tool_use(turn.answers_seq, reply_seq, call))
    actions = PendingAction.objects.filter(conversation=conversation)
    if start is not None:
        actions = actions.filter(created_at__gte=start)
    audit.actions = [(a, result_seq.get(str(a.pk))) for a in actions.order_by("created_at")]
    audit.escalated = (
        Conversation.objects.filter(pk=conversation.pk).filter(escalated()).exists()
        or bool(audit.spoken(Message.Role.AGENT))
        or any(line.meta.get("state") == "queued" for line in audit.lines)
    )
    return audit


def _tool_use(answers_seq: int, reply_seq: int | None, call: dict[str, Any]) -> ToolUse:
    result: Any = call.get("result", "")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except json.JSONDecodeError:
            result = {}
    result = result if isinstance(result, dict) else {}
    data = result.get("untrusted_data", result)
    data = data if isinstance(data, dict) else {}
    error = str(data.get("error") or result.get("error") or "")
    covered = data.get("covered") if call.get("name") == "search_help_center" else None
    return ToolUse(
        answers_seq=answers_seq,
        reply_seq=reply_seq,
        name=str(call.get("name", "")),
        ok=bool(call.get("ok", True)) and not error,
        error=error,
        covered=covered if isinstance(covered, bool) else None,
    )
