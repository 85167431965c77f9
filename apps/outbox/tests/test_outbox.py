"""The outbox: work is stored with the change that needs it and sent until the broker
takes it (the broker outage itself: tests/integration/test_fault_broker_outage.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import shared_task
from django.db import transaction
from django.utils import timezone

from apps.outbox import services
from apps.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)

RAN: list[Any] = []


@shared_task(name="outbox.tests.record")
def record(value: str, *, twice: bool = False) -> None:
    RAN.append((value, twice))


@pytest.fixture(autouse=True)
def _clean() -> None:
    RAN.clear()


def test_work_is_stored_and_sent_with_the_change_that_commits():
    with transaction.atomic():
        services.enqueue("outbox.tests.record", "a", twice=True)
    assert RAN == [("a", True)]
    [message] = OutboxMessage.objects.all()
    assert message.sent_at is not None and message.attempts == 1


def test_work_of_a_change_that_rolls_back_is_never_stored_or_sent():
    with pytest.raises(RuntimeError), transaction.atomic():
        services.enqueue("outbox.tests.record", "a")
        raise RuntimeError("the change failed")
    assert not OutboxMessage.objects.exists()
    assert RAN == []


def test_a_send_that_fails_stays_pending_with_a_backoff_and_is_sent_later():
    message = OutboxMessage.objects.create(task="outbox.tests.no-such-task")
    assert services.dispatch_one(message.pk) is False
    message.refresh_from_db()
    assert message.sent_at is None and message.attempts == 1
    assert message.available_at > timezone.now()
    assert "no-such-task" in message.last_error
    # when the task can be sent and the backoff has passed
    OutboxMessage.objects.filter(pk=message.pk).update(
        task="outbox.tests.record", args=["b"], available_at=timezone.now()
    )
    assert services.dispatch_due() == 1
    assert RAN == [("b", False)]


def test_a_claimed_message_is_not_sent_by_a_second_dispatcher():
    message = OutboxMessage.objects.create(task="outbox.tests.record", args=["c"])
    # another dispatcher claimed it a moment ago
    OutboxMessage.objects.filter(pk=message.pk).update(
        available_at=timezone.now() + timedelta(seconds=services.CLAIM_SECONDS)
    )
    assert services.dispatch_one(message.pk) is False
    assert services.dispatch_due() == 0
    assert RAN == []
