"""Celery tasks of the help center: ids in, one service call, safe to run twice."""

from __future__ import annotations

import openai
from celery import shared_task

from . import embeddings, examples


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def embed_article_task(article_id: int) -> int:
    """Embed the article's sections and questions that are not in the cache yet (and,
    with the local model, the labelled examples the first time)."""
    if not embeddings.embeddings_enabled():
        return 0
    return embeddings.do_embed_article(article_id) + examples.do_embed_examples()
