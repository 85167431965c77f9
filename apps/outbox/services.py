"""A transactional outbox for background work.

`enqueue` writes the task into the caller's transaction: if the change commits, the
task is stored with it; if it rolls back, so does the task. After the commit the
task is sent at once; if the broker is down, the beat's `outbox.dispatch` sends it
later, until the broker accepts it. A dispatcher that dies between the broker's
acceptance and marking the row sent leaves the row to be sent again, so delivery is
at least once; every task behind the outbox is idempotent (exactly once in effect).

This app imports no other app: tasks are named, not imported.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from .models import OutboxMessage

log = logging.getLogger(__name__)

# A claimed row is left alone this long; a dispatcher that died mid-send frees it so.
CLAIM_SECONDS = 30
MAX_BACKOFF_SECONDS = 60


def enqueue(task: str, *args: Any, **kwargs: Any) -> OutboxMessage:
    """Store `task(*args, **kwargs)` with the current transaction, send it after commit."""
    message = OutboxMessage.objects.create(task=task, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: dispatch_one(message.pk))
    return message


def dispatch_one(message_id: int) -> bool:
    """Send one due message to the broker; True if the broker accepted it."""
    now = timezone.now()
    claimed = OutboxMessage.objects.filter(
        pk=message_id, sent_at__isnull=True, available_at__lte=now
    ).update(available_at=now + timedelta(seconds=CLAIM_SECONDS))
    if claimed != 1:
        return False
    message = OutboxMessage.objects.get(pk=message_id)
    try:
        # retry=False: a down broker fails fast here; the beat's dispatch tries again.
        _task(message.task).apply_async(args=message.args, kwargs=message.kwargs, retry=False)
    except Exception as exc:
        attempts = message.attempts + 1
        backoff = min(MAX_BACKOFF_SECONDS, 2**attempts)
        OutboxMessage.objects.filter(pk=message_id).update(
            attempts=attempts,
            available_at=timezone.now() + timedelta(seconds=backoff),
            last_error=repr(exc)[:2000],
        )
        log.warning("outbox: %s #%s not sent (%s), retrying", message.task, message_id, exc)
        return False
    OutboxMessage.objects.filter(pk=message_id).update(
        sent_at=timezone.now(), attempts=message.attempts + 1, last_error=""
    )
    return True


def _task(name: str) -> Any:
    if name not in current_app.tasks:
        # Web processes import task modules lazily: load the autodiscovered ones.
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def dispatch_due(limit: int = 200) -> int:
    """Send every due message (the beat's job); returns how many the broker accepted."""
    due = list(
        OutboxMessage.objects.filter(sent_at__isnull=True, available_at__lte=timezone.now())
        .order_by("available_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(dispatch_one(message_id) for message_id in due)


def purge_sent(older_than: timedelta = timedelta(days=7)) -> int:
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=timezone.now() - older_than).delete()
    return deleted
