"""Celery tasks of the reports app: ids in, one service call, safe to run twice."""

from __future__ import annotations

import smtplib

from celery import shared_task

from . import analysis, gaps, quality, services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def close_idle_conversations_task() -> int:
    return len(services.do_close_idle_conversations())


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def send_transcript_task(
    conversation_id: str, force: bool = False, actor_id: int | None = None
) -> str:
    return services.do_send_transcript(conversation_id, force=force, actor_id=actor_id).status


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=3)
def analyze_conversation_task(conversation_id: str) -> str:
    result = analysis.do_analyze_conversation(conversation_id)
    return result.status if result is not None else "gone"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def submit_analysis_batch_task() -> str:
    batch = analysis.do_submit_analysis_batch()
    return batch.openai_batch_id if batch is not None else ""


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_analysis_batches_task() -> int:
    return analysis.do_poll_analysis_batches()


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=3)
def review_conversation_task(conversation_id: str, now: bool = False) -> str:
    review = quality.do_review_conversation(conversation_id, now=now)
    return review.status if review is not None else "gone"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def submit_review_batch_task() -> str:
    batch = quality.do_submit_review_batch()
    return batch.openai_batch_id if batch is not None else ""


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_review_batches_task() -> int:
    return quality.do_poll_review_batches()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def find_knowledge_gaps_task() -> int:
    return len(gaps.do_find_gaps().drafts)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_policy_trial_task(trial_id: int) -> str:
    from . import policy_trials

    trial = policy_trials.do_run_policy_trial(trial_id)
    return trial.status if trial is not None else "gone"
