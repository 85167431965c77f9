"""Telling agents: the hand-over summary, emails to agents, and the SLA sweep (renotify,
requeue a chat whose agent stepped away). Run by tasks.py through the outbox."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from apps.chat.events import do_tell_customer
from apps.chat.models import Conversation, Message
from apps.chat.ownership import do_announce, do_move

from .. import summaries
from ..models import (
    AgentPresence,
    Escalation,
)
from .console import log_event, publish_console, record_once
from .email_offer import do_offer_email
from .handoff import discard_suggestions
from .presence import ONLINE_WINDOW, holds_escalation_permission, online_agents
from .queries import agent_name, expected_wait, queue_position, queued_escalations, whole_minutes

log = logging.getLogger(__name__)


TRANSIENT_PROVIDER_CODES = {"rate_limited", "timeout", "provider_unavailable", "stream_broken"}


def do_summarise(escalation_id: int, *, use_model: bool = True, last_try: bool = False) -> bool:
    """Write the agent's hand-over note once. A transient model failure is raised so
    the task can back off and retry, unless this is the last try; any other failure
    falls back to rules at once. Every escalation ends up with a note."""
    from apps.assistant.providers.base import ProviderError

    escalation = Escalation.objects.select_related("conversation").filter(pk=escalation_id).first()
    if escalation is None or escalation.summarized_at is not None:
        return False
    source = "extractive"
    summary: dict[str, Any]
    if use_model and settings.OPENAI_API_KEY:
        try:
            summary = summaries.model_summary(escalation)
            source = "model"
        except ProviderError as exc:
            if exc.code in TRANSIENT_PROVIDER_CODES and not last_try:
                raise  # the task backs off and tries again
            log.warning("summary by model failed (%s); using rules", exc.code)
            summary = summaries.extractive_summary(escalation)
    else:
        summary = summaries.extractive_summary(escalation)
    with transaction.atomic():
        if not record_once(escalation, "summarised", f"{escalation_id}:summarised", source=source):
            return False
        Escalation.objects.filter(pk=escalation_id).update(
            summary=summary, summary_source=source, summarized_at=timezone.now()
        )
        publish_console("updated", escalation)
    return True


def agent_recipients() -> list[str]:
    """Email addresses of active staff who may take escalations: those available
    now (online, not away) when there are any, else everyone who could answer."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(holds_escalation_permission())
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
    available = users.filter(pk__in=online_agents().values("user_id"))
    if available.exists():
        users = available
    return [str(user.email) for user in users]


def console_path(conversation_id: uuid.UUID | str) -> str:
    """Where an email sends the agent: the conversation open in the inbox."""
    return f"/admin/console/inbox/{conversation_id}/"


def do_notify_agents(escalation_id: int, round_number: int) -> bool:
    """Announce an escalation (round 0) or re-announce it (round N): a live event on
    the console and one email to agents. Recorded once per round."""
    escalation = Escalation.objects.select_related("conversation").filter(pk=escalation_id).first()
    if escalation is None or escalation.status != Escalation.Status.QUEUED:
        return False
    recipients = agent_recipients()
    with transaction.atomic():
        kind = "notified" if round_number == 0 else "renotified"
        if not record_once(
            escalation, kind, f"{escalation_id}:notify:{round_number}", recipients=recipients
        ):
            return False
        now = timezone.now()
        if round_number == 0:
            Escalation.objects.filter(pk=escalation_id).update(notified_at=now)
        if recipients:
            _email_agents(escalation, recipients, round_number)
        publish_console(kind, escalation, round=round_number)
    if round_number == 0:
        do_offer_email(escalation_id)
    return True


def _email_agents(escalation: Escalation, recipients: list[str], round_number: int) -> None:
    summary = escalation.summary or {}
    waited = whole_minutes(timezone.now() - escalation.created_at)
    subject = (
        f"[{escalation.get_priority_display()}] A customer is waiting for a person: "
        f"{escalation.reason[:80]}"
    )
    if round_number:
        subject = f"Still unclaimed after {waited} min: " + subject
    lines = [
        f"Priority: {escalation.get_priority_display()}",
        f"Trigger: {escalation.get_trigger_display()}",
        f"Reason: {escalation.reason}",
        f"Customer: {summaries.identity_text(escalation)}",
        f"Waiting: {waited} min",
    ]
    if summary:
        lines += [
            f"Goal: {summary.get('goal', '')}",
            f"Suggested next step: {summary.get('next_step', '')}",
        ]
    base = getattr(settings, "SUPPORTBOT_BASE_URL", "")
    lines += ["", f"Open it in the agents' inbox: {base}{console_path(escalation.conversation_id)}"]
    EmailMessage(
        subject=subject,
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[settings.DEFAULT_FROM_EMAIL],
        bcc=recipients,
        headers={"X-Supportbot-Escalation": str(escalation.pk)},
    ).send()


def due_renotifications(now: Any = None) -> list[tuple[int, int]]:
    """(escalation id, next round) for every queued escalation unclaimed for too long."""
    now = now or timezone.now()
    every = timedelta(minutes=settings.SUPPORTBOT_ESCALATION_RENOTIFY_MINUTES)
    due = []
    for pk, created_at, count in queued_escalations().values_list(
        "pk", "created_at", "renotified_count"
    ):
        if now - created_at >= every * (count + 1):
            due.append((pk, count + 1))
    return due


def _unavailable_since(presence: AgentPresence | None, now: Any) -> Any:
    """Since when an agent cannot answer (away, or the console closed or silent), or
    None while they are available."""
    if presence is None:
        return None
    if presence.status == AgentPresence.Status.AWAY:
        return presence.status_changed_at or presence.last_seen
    if presence.connections == 0 or (
        presence.last_seen is not None and presence.last_seen < now - ONLINE_WINDOW
    ):
        return presence.last_seen
    return None


def _customer_waiting(conversation_id: uuid.UUID | str) -> bool:
    """The customer wrote after the last agent message."""
    last_customer = Message.objects.latest_customer_seq(conversation_id)
    last_agent = (
        Message.objects.filter(conversation_id=conversation_id, role=Message.Role.AGENT)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    ) or 0
    return last_customer > last_agent


def _stranded(escalation: Escalation, now: Any) -> bool:
    if escalation.claimed_by_id is None:
        return False
    presence = AgentPresence.objects.filter(user_id=escalation.claimed_by_id).first()
    since = _unavailable_since(presence, now)
    wait = timedelta(minutes=settings.SUPPORTBOT_AGENT_AWAY_REQUEUE_MINUTES)
    return (
        since is not None and since <= now - wait and _customer_waiting(escalation.conversation_id)
    )


def due_requeues(now: Any = None) -> list[int]:
    """Claimed escalations whose agent is away or offline past the limit while the
    customer waits for an answer: the SLA sweep puts them back in the queue."""
    now = now or timezone.now()
    claimed = Escalation.objects.filter(
        status=Escalation.Status.CLAIMED, claimed_by__isnull=False
    ).order_by("pk")
    return [escalation.pk for escalation in claimed if _stranded(escalation, now)]


STRANDED_TEXT = (
    "{name} had to step away, so your chat goes to the next free person on our team. "
    "You're number {position} in the queue."
)


def do_requeue_stranded(escalation_id: int) -> bool:
    """Back to the queue, if the agent is still unavailable and the customer still waits."""
    with transaction.atomic():
        escalation = (
            Escalation.objects.select_for_update(of=("self",))
            .select_related("claimed_by")
            .filter(pk=escalation_id, status=Escalation.Status.CLAIMED)
            .first()
        )
        if escalation is None or not _stranded(escalation, timezone.now()):
            return False
        holder = escalation.claimed_by
        if not do_move(
            escalation.conversation_id, Conversation.Status.AGENT, Conversation.Status.QUEUED
        ):
            return False
        Escalation.objects.filter(pk=escalation.pk).update(
            status=Escalation.Status.QUEUED, claimed_by=None, claimed_at=None
        )
        escalation.refresh_from_db()
        name = agent_name(holder) if holder is not None else "The agent"
        log_event(escalation, "requeued", reason="agent_unavailable", **{"from": name})
        discard_suggestions(escalation.conversation_id, holder)
        position = queue_position(escalation)
        do_announce(
            escalation.conversation_id,
            "queued",
            STRANDED_TEXT.format(name=name, position=position),
            position=position,
            escalation_id=escalation.pk,
        )
        publish_console("requeued", escalation, by=name, reason="agent_unavailable")
    return True


def do_renotify(escalation_id: int, round_number: int) -> bool:
    """The SLA step for one escalation: tell agents again, tell the customer the
    expected wait, and offer email when no one can answer."""
    with transaction.atomic():
        stepped = Escalation.objects.filter(
            pk=escalation_id,
            status=Escalation.Status.QUEUED,
            renotified_count=round_number - 1,
        ).update(renotified_count=round_number, renotified_at=timezone.now())
        if stepped != 1:
            return False
        escalation = Escalation.objects.get(pk=escalation_id)
        position = queue_position(escalation)
        wait = whole_minutes(expected_wait(position))
        do_tell_customer(
            escalation.conversation_id,
            "expected_wait",
            f"Thanks for waiting. You're number {position} in the queue; the expected "
            f"wait is about {wait} minute{'s' if wait != 1 else ''}.",
            position=position,
            minutes=wait,
        )
    do_notify_agents(escalation_id, round_number)
    do_offer_email(escalation_id)
    return True
