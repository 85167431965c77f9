"""Running a review: the model on demand, the rules without a key, or a place in the
nightly batch; storing it; and a manager's agreement with a criterion's score."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from apps.chat.models import Conversation

from ..models import AnalysisBatch, CriterionScore, QualityReview, RubricCriterion
from ..structured_output import NO_MODEL, ModelUsage
from .audit import audit_of
from .model import MAX_REASON, model_review
from .rubric import Judged, active_rubric
from .rules import rules_review

log = logging.getLogger(__name__)


def store_review(
    conversation: Conversation,
    judged: dict[str, Judged],
    rubric: list[RubricCriterion],
    *,
    source: str,
    usage: ModelUsage = NO_MODEL,
    batch: AnalysisBatch | None = None,
) -> QualityReview:
    """Replace the conversation's review with this one (a manager's verdicts on an older
    review of the same episode are kept for the criteria whose score did not change)."""
    scores = [j.score for j in judged.values() if j.score is not None]
    mean = sum(scores) / len(scores) if scores else None
    low = (mean is not None and mean < QualityReview.LOW_SCORE) or any(s <= 2 for s in scores)
    with transaction.atomic():
        review, _ = QualityReview.objects.select_for_update().update_or_create(
            conversation=conversation,
            defaults={
                "episode": conversation.episode,
                "status": QualityReview.Status.DONE,
                "source": source,
                "score": mean,
                "low": low,
                **usage.fields(),
                "batch": batch,
                "reviewed_at": timezone.now(),
            },
        )
        kept = {
            s.key: s
            for s in review.scores.exclude(verdict="")
            if s.key in judged and judged[s.key].score == s.score
        }
        review.scores.exclude(key__in=kept).delete()
        for criterion in rubric:
            j = judged[criterion.key]
            if criterion.key in kept:
                CriterionScore.objects.filter(pk=kept[criterion.key].pk).update(
                    reason=j.reason[:MAX_REASON], turn_seq=j.turn, name=criterion.name
                )
                continue
            CriterionScore.objects.create(
                review=review,
                criterion=criterion,
                key=criterion.key,
                name=criterion.name,
                score=j.score,
                reason=j.reason[:MAX_REASON],
                turn_seq=j.turn,
            )
    return review


def batch_mode() -> bool:
    return bool(settings.OPENAI_API_KEY) and settings.SUPPORTBOT_REVIEW_MODE == "batch"


def do_review_conversation(
    conversation_id: uuid.UUID | str, *, now: bool = False
) -> QualityReview | None:
    """Review a closed conversation: queue it for the nightly batch (with a key, unless
    `now`), ask the model now (with a key), or apply the rules (without one)."""
    from apps.assistant.providers.base import ProviderError

    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return None
    if batch_mode() and not now:
        review, _ = QualityReview.objects.update_or_create(
            conversation=conversation,
            defaults={"status": QualityReview.Status.QUEUED, "batch": None},
        )
        return review
    rubric = active_rubric()
    audit = audit_of(conversation)
    if settings.OPENAI_API_KEY:
        try:
            judged, usage = model_review(audit, rubric)
        except (ProviderError, ValidationError) as exc:
            log.warning("model review of %s failed, using rules: %s", conversation_id, exc)
        else:
            return store_review(
                conversation,
                judged,
                rubric,
                source=QualityReview.Source.MODEL,
                usage=usage,
            )
    return store_review(
        conversation, rules_review(audit, rubric), rubric, source=QualityReview.Source.RULES
    )


def do_judge_criterion(
    score: CriterionScore, *, verdict: str, user_id: int | None, note: str = ""
) -> None:
    if verdict not in CriterionScore.Verdict.values:
        raise ValueError(f"unknown verdict {verdict!r}")
    CriterionScore.objects.filter(pk=score.pk).update(
        verdict=verdict,
        verdict_note=note[:MAX_REASON],
        verdict_by_id=user_id if verdict else None,
        verdict_at=timezone.now() if verdict else None,
    )
