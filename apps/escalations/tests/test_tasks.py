"""The tasks (run in-process here; tests/integration runs them on real workers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.chat import services as chat_services
from apps.chat.models import Message
from apps.escalations import services, tasks
from apps.escalations.hours import parse_hours
from apps.escalations.models import Escalation, EscalationEvent
from tests import fake_openai as fake

from .conftest import queued

pytestmark = pytest.mark.django_db(transaction=True)

BROKEN_LAMP = "my lamp arrived broken"
NOTE = {
    "goal": "Return a broken lamp",
    "tried": ["get_order (ok)"],
    "identity": "not verified",
    "sentiment": "negative",
    "next_step": "Offer a return label.",
}


def notices(escalation: Escalation, kind: str) -> list[str]:
    return list(
        Message.objects.filter(
            conversation_id=escalation.conversation_id, metadata__notice=kind
        ).values_list("text", flat=True)
    )


def test_summarise_and_notify_delivered_twice_change_nothing_the_second_time(make_agent):
    make_agent("alex", "Alex")
    escalation = queued(BROKEN_LAMP)
    before = (escalation.summary, escalation.summarized_at, escalation.notified_at)
    assert escalation.summary["goal"] == "my lamp arrived broken"
    assert len(mail.outbox) == 1
    assert tasks.summarise_escalation.delay(escalation.pk).get() is False
    assert tasks.notify_agents.delay(escalation.pk, 0).get() is False
    escalation.refresh_from_db()
    assert (escalation.summary, escalation.summarized_at, escalation.notified_at) == before
    assert len(mail.outbox) == 1
    assert EscalationEvent.objects.filter(kind="summarised").count() == 1
    assert EscalationEvent.objects.filter(kind="notified").count() == 1


def test_a_task_for_a_deleted_escalation_returns_quietly():
    escalation = queued(BROKEN_LAMP)
    Escalation.objects.filter(pk=escalation.pk).delete()
    assert tasks.summarise_escalation.delay(escalation.pk).get() is False
    assert tasks.notify_agents.delay(escalation.pk, 0).get() is False
    assert tasks.renotify_escalation.delay(escalation.pk, 1).get() is False


def test_the_model_writes_the_note_from_the_conversation_as_untrusted_data(fake_openai):
    fake_openai.script(fake.json_output(NOTE))
    escalation = queued(BROKEN_LAMP)
    assert escalation.summary == NOTE and escalation.summary_source == "model"
    [sent] = fake_openai.requests
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert '"untrusted_data"' in sent["messages"][1]["content"]
    assert "my lamp arrived broken" in sent["messages"][1]["content"]


def test_in_process_a_failing_model_falls_back_to_a_note_made_by_rules(fake_openai, settings):
    # (On a real worker the task backs off and retries: tests/integration.)
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.script(fake.error(503))
    escalation = queued(BROKEN_LAMP)
    assert escalation.summary_source == "extractive"
    assert escalation.summary["goal"] == "my lamp arrived broken"
    assert len(fake_openai.requests) == 1


def test_the_sla_sweep_renotifies_tells_the_wait_and_offers_email(make_agent, settings):
    settings.SUPPORTBOT_ESCALATION_RENOTIFY_MINUTES = 5
    make_agent("alex", "Alex")
    escalation = queued(BROKEN_LAMP)
    assert len(mail.outbox) == 1
    # no agent has the console open: email was offered once, right away
    assert len(notices(escalation, "email_offer")) == 1
    assert tasks.sweep_escalations.delay().get() == 0  # not due yet
    Escalation.objects.filter(pk=escalation.pk).update(
        created_at=timezone.now() - timedelta(minutes=6)
    )
    assert tasks.sweep_escalations.delay().get() == 1
    assert tasks.sweep_escalations.delay().get() == 0  # once per round
    assert len(mail.outbox) == 2 and "Still unclaimed" in mail.outbox[1].subject
    [wait] = notices(escalation, "expected_wait")
    assert "number 1 in the queue" in wait and "about 5 minutes" in wait
    assert len(notices(escalation, "email_offer")) == 1
    escalation.refresh_from_db()
    assert escalation.renotified_count == 1


def test_email_is_offered_outside_hours_even_with_agents_online(make_agent, settings):
    settings.SUPPORTBOT_SUPPORT_HOURS = "mon-fri 09:00-17:00"
    settings.SUPPORTBOT_SUPPORT_TIMEZONE = "UTC"
    alex = make_agent("alex", "Alex")
    services.do_agent_connected(alex.pk)
    hours = parse_hours("mon-fri 09:00-17:00", "UTC")
    assert hours is not None
    assert hours.open_at(datetime(2026, 1, 5, 10, tzinfo=UTC))  # a Monday
    assert not hours.open_at(datetime(2026, 1, 4, 10, tzinfo=UTC))  # a Sunday
    inside = services.should_offer_email(datetime(2026, 1, 5, 10, tzinfo=UTC))
    outside = services.should_offer_email(datetime(2026, 1, 5, 20, tzinfo=UTC))
    assert inside == (False, False) and outside == (True, True)


def test_a_customer_who_asks_for_email_is_recorded_with_the_address(make_agent):
    escalation = queued(BROKEN_LAMP)
    assert notices(escalation, "email_offer")
    chat_services.do_append_event(
        escalation.conversation_id, role="customer", text="please email me at jo@example.com"
    )
    services.on_customer_message(escalation.conversation_id)
    escalation.refresh_from_db()
    assert escalation.email_requested and escalation.contact_email == "jo@example.com"
    assert "jo@example.com" in notices(escalation, "email_requested")[0]
    assert services.escalation_card(escalation)["email_requested"] is True
