"""The idle sweep closes quiet conversations once, through the normal close."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.chat.models import Conversation
from apps.reports.models import ConversationAnalysis
from apps.reports.tasks import close_idle_conversations_task

pytestmark = pytest.mark.django_db


def quiet_for(build, customer, minutes, status=Conversation.Status.BOT):
    b = build(timezone.now() - timedelta(minutes=minutes + 5), customer)
    b.customer("where is my order #W1234567?")
    b.bot("It shipped yesterday.")
    Conversation.objects.filter(pk=b.conversation.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes), status=status
    )
    return b.conversation


def test_the_sweep_closes_conversations_idle_longer_than_the_setting(
    build, customer, settings, committing
):
    settings.SUPPORTBOT_IDLE_CLOSE_MINUTES = 30
    idle = quiet_for(build, customer, 31)
    recent = quiet_for(build, customer, 5)
    waiting = quiet_for(build, customer, 90, status=Conversation.Status.QUEUED)
    # when
    with committing():
        closed = close_idle_conversations_task.delay().get()
    # then
    assert closed == 1
    idle.refresh_from_db()
    assert (idle.status, idle.close_reason) == ("closed", "idle")
    assert Conversation.objects.get(pk=recent.pk).status == "bot"
    assert Conversation.objects.get(pk=waiting.pk).status == "queued"
    # and the close was the normal one: a transcript and an analysis followed
    assert len(mail.outbox) == 1
    assert ConversationAnalysis.objects.filter(conversation=idle).count() == 1


def test_a_second_sweep_closes_nothing_and_sends_nothing(build, customer, settings, committing):
    settings.SUPPORTBOT_IDLE_CLOSE_MINUTES = 30
    quiet_for(build, customer, 45)
    with committing():
        assert close_idle_conversations_task.delay().get() == 1
    with committing():
        assert close_idle_conversations_task.delay().get() == 0
    assert len(mail.outbox) == 1


def test_a_conversation_with_a_turn_still_running_is_not_closed(build, customer, settings):
    settings.SUPPORTBOT_IDLE_CLOSE_MINUTES = 30
    busy = quiet_for(build, customer, 40)
    Conversation.objects.filter(pk=busy.pk).update(
        turn_owner="worker-1", turn_heartbeat=timezone.now()
    )
    assert close_idle_conversations_task.delay().get() == 0


def test_the_sweep_is_on_the_beat_schedule(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "apps.reports.tasks.close_idle_conversations_task" in tasks
