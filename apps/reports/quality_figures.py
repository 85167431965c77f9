"""The dashboard's quality figures: the review score's trend and distribution per criterion,
and how often managers agree with the reviews. Aggregate queries, no row loops."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDate

from .dashboard import day_bounds
from .models import CriterionScore, QualityReview, RubricCriterion
from .quality import ensure_rubric


@dataclass
class CriterionFigures:
    key: str
    name: str
    mean: float | None
    distribution: dict[int | None, int]  # score (None: not judged) -> reviews
    trend: list[tuple[date, float]]  # mean per day (0 where nothing was judged)
    agreed: int
    disagreed: int

    @property
    def agreement_rate(self) -> float | None:
        judged = self.agreed + self.disagreed
        return self.agreed / judged if judged else None


@dataclass
class QualityFigures:
    reviewed: int = 0
    low: int = 0
    mean: float | None = None
    trend: list[tuple[date, float]] = field(default_factory=list)
    criteria: list[CriterionFigures] = field(default_factory=list)
    agreed: int = 0
    disagreed: int = 0

    @property
    def agreement_rate(self) -> float | None:
        judged = self.agreed + self.disagreed
        return self.agreed / judged if judged else None


def compute_quality(start: date, end: date) -> QualityFigures:
    """Reviews of the conversations started from `start` to `end`, both inclusive."""
    since, until = day_bounds(start, end)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    reviews = QualityReview.objects.filter(
        status=QualityReview.Status.DONE,
        conversation__created_at__gte=since,
        conversation__created_at__lt=until,
    )
    totals = reviews.aggregate(
        n=Count("id"), low=Count("id", filter=Q(low=True)), mean=Avg("score")
    )
    figures = QualityFigures(reviewed=totals["n"], low=totals["low"], mean=totals["mean"])
    daily = (
        reviews.annotate(day=TruncDate("conversation__created_at"))
        .values("day")
        .annotate(mean=Avg("score"))
    )
    by_day = {row["day"]: row["mean"] or 0.0 for row in daily}
    figures.trend = [(day, float(by_day.get(day, 0.0))) for day in days]

    scores = CriterionScore.objects.filter(review__in=reviews)
    distribution = scores.values("key", "score").annotate(n=Count("id"))
    summary = {
        row["key"]: row
        for row in scores.values("key").annotate(
            mean=Avg("score"),
            agreed=Count("id", filter=Q(verdict=CriterionScore.Verdict.AGREE)),
            disagreed=Count("id", filter=Q(verdict=CriterionScore.Verdict.DISAGREE)),
        )
    }
    trend_rows = (
        scores.filter(score__isnull=False)
        .annotate(day=TruncDate("review__conversation__created_at"))
        .values("key", "day")
        .annotate(mean=Avg("score"))
    )
    trends: dict[str, dict[date, float]] = {}
    for point in trend_rows:
        trends.setdefault(point["key"], {})[point["day"]] = float(point["mean"])
    counts: dict[str, dict[int | None, int]] = {}
    for cell in distribution:
        counts.setdefault(cell["key"], {})[cell["score"]] = cell["n"]
    ensure_rubric()
    for criterion in RubricCriterion.objects.all():
        row = summary.get(criterion.key)
        if row is None and not criterion.active:
            continue
        per_score = counts.get(criterion.key, {})
        figures.criteria.append(
            CriterionFigures(
                key=criterion.key,
                name=criterion.name,
                mean=row["mean"] if row else None,
                distribution={s: per_score.get(s, 0) for s in (1, 2, 3, 4, 5, None)},
                trend=[(day, trends.get(criterion.key, {}).get(day, 0.0)) for day in days],
                agreed=row["agreed"] if row else 0,
                disagreed=row["disagreed"] if row else 0,
            )
        )
    figures.agreed = sum(c.agreed for c in figures.criteria)
    figures.disagreed = sum(c.disagreed for c in figures.criteria)
    return figures
