"""State changes of the reports app: idle closes, transcript emails, staff audit events.

Tasks, admin actions and views call these; each is safe to run twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from apps.chat.models import Conversation, Message, PendingAction, Turn
from apps.chat.ownership import do_close_conversation

from .models import StaffAuditEvent, TranscriptDelivery

log = logging.getLogger(__name__)

# A claim older than this is from a worker that died mid-send; the task may take it over.
STALE_CLAIM = timedelta(minutes=10)


# --- Idle close -------------------------------------------------------------------


def do_close_idle_conversations(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Close every open conversation with no new event for SUPPORTBOT_IDLE_CLOSE_MINUTES.

    Conversations waiting for an agent are left to the escalation sweep: the customer
    is waiting for us there, not idle. Returns the ids this call closed."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.SUPPORTBOT_IDLE_CLOSE_MINUTES)
    candidates = Conversation.objects.filter(
        status__in=[Conversation.Status.BOT, Conversation.Status.AGENT],
        updated_at__lt=cutoff,
        last_seq__gt=0,
    ).exclude(
        # A turn still running keeps its lease fresh; don't close under it.
        Q(turn_heartbeat__gte=cutoff) & ~Q(turn_owner="")
    )
    closed = []
    for conversation_id in candidates.values_list("pk", flat=True)[:500]:
        # do_close_conversation is a conditional update: a second sweep closes nothing.
        if do_close_conversation(conversation_id, reason="idle"):
            closed.append(conversation_id)
    return closed


# --- Transcripts ------------------------------------------------------------------


@dataclass
class TranscriptEntry:
    at: datetime
    who: str  # "You", "Assistant", the agent's first name, "Activity", "Change"
    kind: str  # customer, assistant, agent, activity, change, notice
    text: str


@dataclass
class Transcript:
    conversation: Conversation
    episode: int
    customer_name: str
    entries: list[TranscriptEntry] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def tool_activity_text(name: str, arguments: Any) -> str:
    """A tool call in plain words, as the customer saw it in the status line."""
    from apps.assistant.tools import get_tool

    spec = get_tool(name)
    if spec is not None:
        try:
            raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
            return spec.status_text(spec.parse(raw)).rstrip("…").rstrip(".") + "."
        except Exception:
            log.debug("could not describe tool call %s", name, exc_info=True)
    return f"The assistant used {name.replace('_', ' ')}."


def build_transcript(conversation: Conversation, *, episode: int | None = None) -> Transcript:
    """The customer's view of one episode: messages, tool activity and confirmed changes."""
    episode = episode or conversation.episode
    start_seq = conversation.episode_start_seq if episode == conversation.episode else 0
    messages = list(
        Message.objects.filter(conversation=conversation, seq__gt=start_seq)
        .select_related("author")
        .order_by("seq")
    )
    # Each entry sorts by (seq, order): tool activity goes just before the reply it led to.
    keyed: list[tuple[float, TranscriptEntry]] = []
    for message in messages:
        entry = _message_entry(message)
        if entry is not None:
            keyed.append((float(message.seq), entry))
    seq_of_message = {m.pk: m.seq for m in messages}
    turns = Turn.objects.filter(conversation=conversation, answers_seq__gte=start_seq).order_by(
        "started_at"
    )
    for turn in turns:
        if turn.message_id in seq_of_message:
            position = seq_of_message[turn.message_id] - 0.5
        else:
            position = turn.answers_seq + 0.5
        for call in turn.tool_calls or []:
            keyed.append(
                (
                    position,
                    TranscriptEntry(
                        at=turn.started_at,
                        who="Activity",
                        kind="activity",
                        text=tool_activity_text(call.get("name", "?"), call.get("arguments")),
                    ),
                )
            )
    keyed.sort(key=lambda pair: pair[0])
    changes = [
        action.summary
        for action in PendingAction.objects.filter(
            conversation=conversation,
            status=PendingAction.Status.DONE,
            created_at__gte=messages[0].created_at if messages else conversation.created_at,
        ).order_by("created_at")
    ]
    customer = conversation.customer
    return Transcript(
        conversation=conversation,
        episode=episode,
        customer_name=customer.first_name if customer is not None else "",
        entries=[entry for _, entry in keyed],
        changes=changes,
    )


def _message_entry(message: Message) -> TranscriptEntry | None:
    if message.kind == Message.Kind.MESSAGE:
        if message.role == Message.Role.CUSTOMER:
            return TranscriptEntry(message.created_at, "You", "customer", message.text)
        if message.role == Message.Role.ASSISTANT:
            return TranscriptEntry(message.created_at, "Assistant", "assistant", message.text)
        if message.role == Message.Role.AGENT:
            name = (message.metadata or {}).get("agent_name") or (
                message.author.first_name if message.author else ""
            )
            return TranscriptEntry(
                message.created_at, name or "Support agent", "agent", message.text
            )
        return TranscriptEntry(message.created_at, "Notice", "notice", message.text)
    if message.kind == Message.Kind.CONFIRM_RESULT:
        status = (message.metadata or {}).get("status")
        kind = "change" if status == PendingAction.Status.DONE else "notice"
        return TranscriptEntry(message.created_at, "Change", kind, message.text)
    if message.kind == Message.Kind.CONFIRM_REQUEST:
        return TranscriptEntry(message.created_at, "Confirmation asked", "notice", message.text)
    if message.kind in (Message.Kind.HANDOFF, Message.Kind.NOTICE) and message.text:
        return TranscriptEntry(message.created_at, "Notice", "notice", message.text)
    return None


def render_transcript(transcript: Transcript) -> tuple[str, str, str]:
    """(subject, text, html). The HTML template autoescapes every customer and model text."""
    context = {"t": transcript, "store_name": "our store"}
    subject = f"Your support conversation of {transcript.conversation.created_at:%d %b %Y}"
    text = render_to_string("reports/transcript.txt", context)
    html = render_to_string("reports/transcript.html", context)
    return subject, text, html


@dataclass
class SendResult:
    status: str  # sent, already_sent, busy, skipped, gone
    delivery_id: int | None = None


def do_send_transcript(
    conversation_id: uuid.UUID | str, *, force: bool = False, actor_id: int | None = None
) -> SendResult:
    """Email the transcript of the conversation's current episode to the verified customer.

    The (conversation, episode) row is the claim: it is inserted once (a unique
    constraint), then taken with a conditional update, so of two deliveries of the
    same task exactly one sends. `force` (an agent's resend) sends again once sent."""
    conversation = (
        Conversation.objects.select_related("customer").filter(pk=conversation_id).first()
    )
    if conversation is None:
        return SendResult("gone")
    episode = conversation.episode
    delivery = _delivery_row(conversation.pk, episode)
    email = conversation.customer.email if conversation.customer is not None else ""
    if not email:
        TranscriptDelivery.objects.filter(
            pk=delivery.pk, status=TranscriptDelivery.Status.PENDING
        ).update(status=TranscriptDelivery.Status.SKIPPED, error="no verified email address")
        return SendResult("skipped", delivery.pk)

    now = timezone.now()
    claimable = Q(status__in=[TranscriptDelivery.Status.PENDING, TranscriptDelivery.Status.FAILED])
    claimable |= Q(status=TranscriptDelivery.Status.SENDING, claimed_at__lt=now - STALE_CLAIM)
    if force:
        claimable |= Q(
            status__in=[TranscriptDelivery.Status.SENT, TranscriptDelivery.Status.SKIPPED]
        )
    claimed = (
        TranscriptDelivery.objects.filter(pk=delivery.pk)
        .filter(claimable)
        .update(status=TranscriptDelivery.Status.SENDING, claimed_at=now, error="")
    )
    if claimed != 1:
        current = TranscriptDelivery.objects.values_list("status", flat=True).get(pk=delivery.pk)
        return SendResult(
            "already_sent" if current == TranscriptDelivery.Status.SENT else "busy", delivery.pk
        )

    subject, text, html = render_transcript(build_transcript(conversation, episode=episode))
    mail = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [email])
    mail.attach_alternative(html, "text/html")
    try:
        mail.send(fail_silently=False)
    except Exception as exc:
        TranscriptDelivery.objects.filter(pk=delivery.pk).update(
            status=TranscriptDelivery.Status.FAILED, error=repr(exc)[:2000]
        )
        raise
    with transaction.atomic():
        row = TranscriptDelivery.objects.select_for_update().get(pk=delivery.pk)
        row.status = TranscriptDelivery.Status.SENT
        row.sent_at = timezone.now()
        row.recipient = email
        row.send_count += 1
        row.save(update_fields=["status", "sent_at", "recipient", "send_count"])
        if force:
            do_record_staff_event(
                actor_id,
                StaffAuditEvent.Action.RESEND,
                conversation_id=conversation.pk,
                detail={"episode": episode, "recipient": email, "send_count": row.send_count},
            )
    return SendResult("sent", delivery.pk)


def _delivery_row(conversation_id: uuid.UUID, episode: int) -> TranscriptDelivery:
    try:
        with transaction.atomic():
            row, _ = TranscriptDelivery.objects.get_or_create(
                conversation_id=conversation_id, episode=episode
            )
            return row
    except IntegrityError:
        # Another delivery inserted it between our look-up and insert.
        return TranscriptDelivery.objects.get(conversation_id=conversation_id, episode=episode)


# --- Staff audit --------------------------------------------------------------------


def do_record_staff_event(
    user_id: int | None,
    action: str,
    *,
    conversation_id: uuid.UUID | str | None = None,
    detail: dict[str, Any] | None = None,
) -> StaffAuditEvent:
    return StaffAuditEvent.objects.create(
        user_id=user_id, action=action, conversation_id=conversation_id, detail=detail or {}
    )
