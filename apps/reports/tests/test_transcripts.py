"""Transcripts: rendered, emailed once per close, resent by staff on request."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.chat import services as chat
from apps.chat.models import Message, PendingAction
from apps.reports.models import StaffAuditEvent, TranscriptDelivery
from apps.reports.services import do_send_transcript
from apps.reports.tasks import send_transcript_task

pytestmark = pytest.mark.django_db


def a_cancel_conversation(build, customer):
    b = build(timezone.now() - timedelta(minutes=10), customer)
    b.customer("Please cancel order #W1234567 <script>alert(1)</script>")
    b.at(2).bot("Let me look.", tools=[("get_order", {"order_id": "#W1234567"})])
    action = PendingAction.objects.create(
        conversation=b.conversation,
        tool_name="cancel_pending_order",
        arguments={"order_id": "#W1234567", "reason": "no longer needed"},
        summary="Cancel order #W1234567; refund $20.00 to your card.",
        details={},
        status=PendingAction.Status.DONE,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    b.at(5).event(
        Message.Role.SYSTEM,
        "Done: Cancel order #W1234567; refund $20.00 to your card.",
        kind="confirm_result",
        action_id=str(action.pk),
        status="done",
    )
    b.at(2).bot("Your order is cancelled.")
    return b


def test_closing_a_conversation_emails_one_transcript_in_text_and_html(build, customer, close):
    b = a_cancel_conversation(build, customer)
    # when
    close(b.conversation.pk, "customer")
    # then
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ana.lopez@example.com"]
    assert "Please cancel order #W1234567" in email.body
    assert "Looking up order #W1234567." in email.body  # tool activity in plain words
    assert "Changes you confirmed" in email.body
    assert "Cancel order #W1234567; refund $20.00 to your card." in email.body
    html, mimetype = email.alternatives[0]  # type: ignore[attr-defined]
    assert mimetype == "text/html"
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Your order is cancelled." in html
    delivery = TranscriptDelivery.objects.get(conversation=b.conversation)
    assert (delivery.status, delivery.send_count, delivery.episode) == ("sent", 1, 1)
    assert delivery.recipient == "ana.lopez@example.com"


def test_the_same_task_delivered_twice_sends_one_email(build, customer, close):
    b = a_cancel_conversation(build, customer)
    close(b.conversation.pk, "customer")
    # when: the broker redelivers the task, twice
    send_transcript_task.delay(str(b.conversation.pk))
    send_transcript_task.apply(args=(str(b.conversation.pk),))
    # then
    assert len(mail.outbox) == 1
    assert TranscriptDelivery.objects.get(conversation=b.conversation).send_count == 1


def test_closing_twice_closes_once_and_sends_one_email(build, customer, close):
    b = a_cancel_conversation(build, customer)
    assert close(b.conversation.pk, "customer") is True
    assert close(b.conversation.pk, "agent") is False
    assert len(mail.outbox) == 1


def test_a_delivery_running_elsewhere_is_not_sent_again_until_its_claim_is_stale(
    build, customer, close
):
    b = a_cancel_conversation(build, customer)
    TranscriptDelivery.objects.create(
        conversation=b.conversation, episode=1, status="sending", claimed_at=timezone.now()
    )
    # when: another worker holds a fresh claim
    assert do_send_transcript(b.conversation.pk).status == "busy"
    assert mail.outbox == []
    # when: that worker died ten minutes ago (acks_late redelivered the task)
    TranscriptDelivery.objects.update(claimed_at=timezone.now() - timedelta(minutes=11))
    assert do_send_transcript(b.conversation.pk).status == "sent"
    assert len(mail.outbox) == 1


def test_no_email_is_sent_without_a_verified_address(build, close):
    b = build(timezone.now() - timedelta(minutes=3))
    b.customer("hello")
    close(b.conversation.pk, "customer")
    assert mail.outbox == []
    assert TranscriptDelivery.objects.get(conversation=b.conversation).status == "skipped"


def test_a_reopened_conversation_gets_a_transcript_for_its_new_episode(build, customer, close):
    b = a_cancel_conversation(build, customer)
    close(b.conversation.pk, "customer")
    chat.do_store_customer_message(b.conversation.pk, client_id=uuid.uuid4(), text="one more thing")
    close(b.conversation.pk, "idle")
    assert len(mail.outbox) == 2
    assert "one more thing" in mail.outbox[1].body
    assert "You: Please cancel order" not in mail.outbox[1].body  # only the summary notice
    assert sorted(TranscriptDelivery.objects.values_list("episode", flat=True)) == [1, 2]


def test_an_agent_resends_from_the_admin_and_the_resend_is_logged(
    build, customer, agent, client, close, django_capture_on_commit_callbacks
):
    b = a_cancel_conversation(build, customer)
    close(b.conversation.pk, "customer")
    client.force_login(agent)
    # when: the button on the conversation page (the task goes out through the outbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/chat/conversation/{b.conversation.pk}/resend-transcript/")
    assert response.status_code == 302
    # when: the list action
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/chat/conversation/",
            {"action": "resend_transcripts", "_selected_action": [str(b.conversation.pk)]},
        )
    assert response.status_code == 302
    # then
    assert len(mail.outbox) == 3
    assert TranscriptDelivery.objects.get(conversation=b.conversation).send_count == 3
    events = StaffAuditEvent.objects.filter(action="resend_transcript", user=agent)
    assert events.count() == 2
    assert {e.conversation_id for e in events} == {b.conversation.pk}


def test_staff_without_the_permission_cannot_resend(build, customer, client, close):
    from apps.reports.tests.conftest import staff

    b = a_cancel_conversation(build, customer)
    close(b.conversation.pk, "customer")
    client.force_login(staff("viewer", None))
    response = client.post(f"/admin/chat/conversation/{b.conversation.pk}/resend-transcript/")
    assert response.status_code == 403
    assert len(mail.outbox) == 1
