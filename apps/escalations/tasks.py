"""Celery tasks of the hand-off. Each takes ids, re-fetches, and calls one service.

All are safe to run twice (`acks_late`: a task whose worker dies is delivered
again): the services record each effect under a unique key and do nothing the
second time. Without a broker (the embedded default) they run in-process.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from apps.assistant.providers.base import ProviderError

from . import services


@shared_task(
    name="escalations.summarise",
    bind=True,
    autoretry_for=(ProviderError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=4,
    acks_late=True,
    reject_on_worker_lost=True,
)
def summarise_escalation(self: Task[Any, Any], escalation_id: int) -> bool:
    """The agent's hand-over note. A transient model failure is retried with backoff;
    the last try (and an in-process run, which cannot wait) falls back to rules, so
    every escalation gets a note even when the model is down."""
    last_try = bool(self.request.is_eager) or self.request.retries >= (self.max_retries or 0)
    return services.do_summarise(escalation_id, last_try=last_try)


@shared_task(
    name="escalations.notify_agents",
    autoretry_for=(OSError,),  # the mail server refused or was unreachable
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
    acks_late=True,
    reject_on_worker_lost=True,
)
def notify_agents(escalation_id: int, round_number: int = 0) -> bool:
    return services.do_notify_agents(escalation_id, round_number)


@shared_task(name="escalations.renotify", acks_late=True, reject_on_worker_lost=True)
def renotify_escalation(escalation_id: int, round_number: int) -> bool:
    return services.do_renotify(escalation_id, round_number)


@shared_task(name="escalations.requeue_stranded", acks_late=True, reject_on_worker_lost=True)
def requeue_stranded(escalation_id: int) -> bool:
    return services.do_requeue_stranded(escalation_id)


@shared_task(name="escalations.sweep", acks_late=True, reject_on_worker_lost=True)
def sweep_escalations() -> int:
    """On celery beat: every unclaimed escalation past its time gets its next SLA step,
    and a customer waiting on an agent who is away or offline goes back to the queue."""
    due = services.due_renotifications()
    for escalation_id, round_number in due:
        renotify_escalation.delay(escalation_id, round_number)
    stranded = services.due_requeues()
    for escalation_id in stranded:
        requeue_stranded.delay(escalation_id)
    return len(due) + len(stranded)
