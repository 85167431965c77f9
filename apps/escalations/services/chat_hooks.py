"""What escalations does on chat's signals (connected in apps.py): each customer message
(queue notices, accepting an offer, frustration), a failed turn, a cap that offers a person."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.chat.events import do_tell_customer
from apps.chat.models import Conversation, Message, Turn

from .. import detection
from ..models import (
    Escalation,
    HandoffOffer,
)
from .console import publish_console
from .email_offer import do_record_email_request
from .handoff import do_escalate
from .queries import open_escalation, queue_position

log = logging.getLogger(__name__)


POSITION_NOTICE_EVERY = timedelta(seconds=60)


PROVIDER_FAILURE_CODES = {
    "rate_limited",
    "timeout",
    "stream_broken",
    "provider_unavailable",
    "bad_response",
    "internal_error",
}


OFFER_TEXT = {
    Escalation.Trigger.FRUSTRATION: (
        "I'm sorry this has been frustrating. Would you like me to bring in a person from our "
        'support team? Reply "yes" and I\'ll connect you.'
    ),
}


def do_offer_handoff(
    conversation_id: uuid.UUID | str,
    *,
    reason: str,
    trigger: str = Escalation.Trigger.LIMIT,
    text: str = "",
) -> HandoffOffer | None:
    """The bot offers a person; the customer's next message may accept it.

    Called by the turn engine when a guardrail cap is hit (its reply already asks
    the question, so no extra text), and here on a frustration signal.
    """
    with transaction.atomic():
        conversation = Conversation.objects.lock(conversation_id)
        if conversation is None or conversation.status != Conversation.Status.BOT:
            return None
        HandoffOffer.objects.filter(
            conversation=conversation, status=HandoffOffer.Status.OPEN
        ).update(status=HandoffOffer.Status.LAPSED)
        offer = HandoffOffer.objects.create(
            conversation=conversation,
            episode=conversation.episode,
            trigger=trigger,
            reason=reason[:300],
            after_seq=conversation.last_seq,
        )
        if text:
            message = do_tell_customer(conversation.pk, "handoff_offer", text, trigger=trigger)
            HandoffOffer.objects.filter(pk=offer.pk).update(after_seq=message.seq)
    return offer


def on_turn_failed(conversation_id: uuid.UUID | str, *, code: str) -> Escalation | None:
    """After each failed turn: several provider failures in a row go to a person."""
    if code not in PROVIDER_FAILURE_CODES:
        return None
    needed = settings.SUPPORTBOT_ESCALATE_AFTER_FAILURES
    recent = list(
        Turn.objects.filter(conversation_id=conversation_id)
        .exclude(status=Turn.Status.RUNNING)
        .order_by("-started_at")
        .values_list("status", "error_code")[:needed]
    )
    failed = [
        status == Turn.Status.FAILED and error in PROVIDER_FAILURE_CODES for status, error in recent
    ]
    if len(failed) < needed or not all(failed):
        return None
    escalation, _ = do_escalate(
        conversation_id,
        trigger=Escalation.Trigger.PROVIDER_FAILURE,
        reason=f"The assistant failed {needed} times in a row ({code}).",
        priority=Escalation.Priority.HIGH,
    )
    return escalation


def on_customer_message(conversation_id: uuid.UUID | str) -> None:
    """After each new customer message (before the bot is asked to answer)."""
    try:
        _on_customer_message(conversation_id)
    except Exception:
        # A hand-off side effect must never break the customer's socket.
        log.exception("escalation hook failed for conversation %s", conversation_id)


def _on_customer_message(conversation_id: uuid.UUID | str) -> None:
    # One query: the latest customer messages, newest first (the one just stored, and
    # those before it that a frustration check reads, with the bot only), each with
    # the conversation's row and whether an offer of a person is open.
    open_offer = HandoffOffer.objects.filter(
        conversation_id=OuterRef("conversation_id"), status=HandoffOffer.Status.OPEN
    )
    latest_ones = list(
        Message.objects.from_customer(conversation_id)
        .select_related("conversation")
        # Only what the checks read: building every column of eight rows cost more
        # than the query itself, on the step a customer's message waits for.
        .only(
            "seq", "text", "conversation", *(f"conversation__{name}" for name in _CONVERSATION_READ)
        )
        .annotate(offer_open=Exists(open_offer))
        .order_by("-seq")[:RECENT_MESSAGES]
    )
    if not latest_ones:
        return
    latest = latest_ones[0]
    conversation = latest.conversation
    if conversation.status in {Conversation.Status.QUEUED, Conversation.Status.AGENT}:
        escalation = open_escalation(conversation.pk)
        if escalation is not None:
            # The inbox counts unread customer messages live.
            publish_console("message", escalation, seq=latest.seq, preview=latest.text[:140])
            if conversation.status == Conversation.Status.QUEUED:
                _while_queued(escalation, latest)
    elif conversation.status == Conversation.Status.BOT:
        offer_open: bool = latest.offer_open  # type: ignore[attr-defined]
        _while_with_bot(conversation, latest_ones, offer_open=offer_open)


# Customer messages a frustration check reads (the one just stored among them).
RECENT_MESSAGES = 4
# The conversation's columns the checks after a customer message read.
_CONVERSATION_READ = ("status", "episode", "episode_start_seq")


def _while_with_bot(
    conversation: Conversation, latest_ones: list[Message], *, offer_open: bool
) -> None:
    """`latest_ones`: the conversation's last customer messages, newest first;
    `offer_open`: whether an offer of a person is open (read with the conversation)."""
    latest = latest_ones[0]
    offer = None
    if offer_open:
        offer = (
            HandoffOffer.objects.filter(conversation=conversation, status=HandoffOffer.Status.OPEN)
            .order_by("-pk")
            .first()
        )
    if offer is not None:
        answered = (
            Message.objects.from_customer(conversation.pk)
            .filter(seq__gt=offer.after_seq, seq__lt=latest.seq)
            .exists()
        )
        if not answered and detection.is_yes(latest.text):
            do_escalate(conversation.pk, trigger=offer.trigger, reason=offer.reason)
            return
        HandoffOffer.objects.filter(pk=offer.pk).update(status=HandoffOffer.Status.LAPSED)
    if detection.asks_for_human(latest.text):
        return  # the assistant hands over itself (escalate_to_human)
    recent = [m.text for m in reversed(latest_ones) if m.seq > conversation.episode_start_seq]
    if not detection.is_frustrated(recent):
        return
    if not _offers_person_when_frustrated():
        # The operator's rule: a frustrated customer is helped, not handed off.
        return
    already = HandoffOffer.objects.filter(
        conversation=conversation,
        episode=conversation.episode,
        trigger=Escalation.Trigger.FRUSTRATION,
    ).exists()
    if not already:
        do_offer_handoff(
            conversation.pk,
            reason="The customer sounds frustrated.",
            trigger=Escalation.Trigger.FRUSTRATION,
            text=OFFER_TEXT[Escalation.Trigger.FRUSTRATION],
        )


def _offers_person_when_frustrated() -> bool:
    from apps.assistant.models import OperatorPolicy

    return OperatorPolicy.current().handoff_rule == OperatorPolicy.HandoffRule.ALSO_FRUSTRATED


def _while_queued(escalation: Escalation, latest: Message) -> None:
    offered = escalation.email_offered_at and not escalation.email_requested
    if offered and detection.wants_email(latest.text):
        do_record_email_request(escalation.pk, detection.email_in(latest.text))
        return
    now = timezone.now()
    due = now - POSITION_NOTICE_EVERY
    # At most one "still waiting" notice a minute, however much the customer writes.
    noticed = Escalation.objects.filter(pk=escalation.pk, status=Escalation.Status.QUEUED).filter(
        Q(wait_notice_at__isnull=True) | Q(wait_notice_at__lt=due)
    )
    with transaction.atomic():
        if noticed.update(wait_notice_at=now) != 1:
            return
        position = queue_position(escalation)
        do_tell_customer(
            escalation.conversation_id,
            "queue_position",
            f"Still waiting for a person from our team: you're number {position} in the "
            "queue. Your messages are saved and they'll see them.",
            position=position,
        )
        publish_console("updated", escalation)
