"""The nightly Batch API job of quality reviews (half the price of reviewing on demand);
a line that failed falls back to the rules. The job itself: apps/reports/openai_batch.py."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apps.chat.models import Conversation

from .. import openai_batch
from ..models import AnalysisBatch, QualityReview, RubricCriterion
from ..structured_output import ModelUsage
from .audit import Audit, audit_of
from .model import REVIEW, ReviewResult, judged_from_model, model_prompt
from .reviews import batch_mode, store_review
from .rubric import active_rubric
from .rules import rules_review


def batch_request_line(
    conversation_id: uuid.UUID | str, audit: Audit, rubric: list[RubricCriterion], model: str
) -> str:
    return REVIEW.batch_line(conversation_id, *model_prompt(audit, rubric), model)


def waiting_for_review() -> QuerySet[Conversation]:
    return openai_batch.waiting(AnalysisBatch.Purpose.QUALITY)


def do_submit_review_batch(client: Any | None = None) -> AnalysisBatch | None:
    """Send every closed conversation without a review as one Batch API job."""
    if not batch_mode():
        return None
    rubric = functools.cache(active_rubric)  # read once, if any conversation waits
    model = settings.SUPPORTBOT_REVIEW_MODEL
    return openai_batch.submit(
        AnalysisBatch.Purpose.QUALITY,
        lambda c: batch_request_line(c.pk, audit_of(c), rubric(), model),
        client,
    )


def do_poll_review_batches(client: Any | None = None) -> int:
    """Collect every finished quality batch; a failed line falls back to the rules."""
    rubric = functools.cache(active_rubric)  # read once, when a finished job is collected

    def from_batch(
        batch: AnalysisBatch, conversation: Conversation, result: ReviewResult, usage: ModelUsage
    ) -> None:
        seqs = {a.seq for a in audit_of(conversation).lines}
        judged = judged_from_model(result, rubric(), seqs)
        store_review(
            conversation,
            judged,
            rubric(),
            source=QualityReview.Source.BATCH,
            usage=usage,
            batch=batch,
        )

    def from_rules(batch: AnalysisBatch, conversation: Conversation) -> None:
        judged = rules_review(audit_of(conversation), rubric())
        store_review(conversation, judged, rubric(), source=QualityReview.Source.RULES)

    storing = openai_batch.Storing(
        ReviewResult, settings.SUPPORTBOT_REVIEW_MODEL, from_batch, from_rules
    )
    return openai_batch.poll(AnalysisBatch.Purpose.QUALITY, storing, client)
