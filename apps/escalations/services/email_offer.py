"""Email instead of waiting: the offer when no one can answer, and the customer's request."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.chat.events import do_tell_customer

from ..hours import within_support_hours
from ..models import (
    Escalation,
)
from .console import log_event, publish_console
from .presence import online_agents


def email_offer_text(*, outside_hours: bool) -> str:
    why = (
        "We're outside our support hours right now"
        if outside_hours
        else "No one from our team is available right now"
    )
    return (
        f"{why}. If you'd rather not wait, we can continue by email: reply with your email "
        'address, or "yes" to use the one on your account.'
    )


def should_offer_email(moment: Any = None) -> tuple[bool, bool]:
    """(offer email?, because outside hours?)"""
    outside = not within_support_hours(moment or timezone.now())
    return outside or not online_agents().exists(), outside


def do_offer_email(escalation_id: int) -> bool:
    """Offer to continue by email, once per escalation."""
    offer, outside = should_offer_email()
    if not offer:
        return False
    with transaction.atomic():
        offered = Escalation.objects.filter(
            pk=escalation_id, status=Escalation.Status.QUEUED, email_offered_at__isnull=True
        ).update(email_offered_at=timezone.now())
        if offered != 1:
            return False
        escalation = Escalation.objects.get(pk=escalation_id)
        log_event(escalation, "email_offered", outside_hours=outside)
        do_tell_customer(
            escalation.conversation_id, "email_offer", email_offer_text(outside_hours=outside)
        )
    return True


def do_record_email_request(escalation_id: int, address: str | None) -> bool:
    """The customer asked to continue by email: record it and the address to use."""
    with transaction.atomic():
        escalation = (
            Escalation.objects.select_for_update(of=("self",))
            .select_related("conversation__customer")
            .filter(pk=escalation_id)
            .first()
        )
        if escalation is None or escalation.email_requested:
            return False
        customer = escalation.conversation.customer
        address = address or (customer.email if customer is not None else "")
        if not address:
            do_tell_customer(
                escalation.conversation_id,
                "email_address_needed",
                "Which email address should we use? Type it here.",
            )
            return False
        now = timezone.now()
        Escalation.objects.filter(pk=escalation_id).update(
            email_requested=True, email_requested_at=now, contact_email=address[:254]
        )
        log_event(escalation, "email_requested", email=address)
        do_tell_customer(
            escalation.conversation_id,
            "email_requested",
            f"Thanks. Our team will continue by email at {address}. You can also stay "
            "here in case someone becomes free sooner.",
        )
        publish_console("updated", escalation)
    return True
