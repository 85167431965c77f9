"""`python manage.py review_conversations`: score closed conversations that have no review.

Without OPENAI_API_KEY the rule-based reviewer scores them at once; with a key they are
reviewed by the model one by one (`--now`) or sent as one Batch API job (the default, as
the nightly task does). Prints how many were scored and the score distribution."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Avg, Count

from apps.chat.models import Conversation
from apps.reports import quality
from apps.reports.models import CriterionScore, QualityReview


class Command(BaseCommand):
    help = "Score closed conversations without a quality review; print the distribution."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", action="store_true", help="with a key: no batch, review now")
        parser.add_argument("--again", action="store_true", help="also re-review reviewed ones")
        parser.add_argument("--limit", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        waiting = quality.waiting_for_review()
        if options["again"]:
            waiting = Conversation.objects.filter(status=Conversation.Status.CLOSED)
        if settings.OPENAI_API_KEY and quality.batch_mode() and not options["now"]:
            batch = quality.do_submit_review_batch()
            count = batch.request_count if batch else 0
            self.stdout.write(f"Submitted {count} conversations as batch {batch}.")
            return
        ids = list(waiting.order_by("closed_at").values_list("pk", flat=True))
        if options["limit"]:
            ids = ids[: options["limit"]]
        for conversation_id in ids:
            quality.do_review_conversation(conversation_id, now=True)
        self.stdout.write(f"Reviewed {len(ids)} conversations.")
        self.print_distribution()

    def print_distribution(self) -> None:
        done = QualityReview.objects.filter(status=QualityReview.Status.DONE)
        totals = done.aggregate(n=Count("id"), mean=Avg("score"))
        sources = Counter(done.values_list("source", flat=True))
        low = done.filter(low=True).count()
        mean = totals["mean"]
        self.stdout.write(
            f"{totals['n']} reviews ({dict(sources)}), mean score "
            f"{'–' if mean is None else f'{mean:.2f}'}, {low} low"
        )
        buckets = Counter(
            "–" if s is None else f"{int(s)}"  # the overall score, rounded down
            for s in done.values_list("score", flat=True)
        )
        self.stdout.write(
            "overall score: " + ", ".join(f"{k}: {v}" for k, v in sorted(buckets.items()))
        )
        rows = CriterionScore.objects.filter(review__in=done).values("key", "score")
        table: dict[str, Counter[str]] = {}
        for row in rows.annotate(n=Count("id")):
            key = "n/a" if row["score"] is None else str(row["score"])
            table.setdefault(row["key"], Counter())[key] += row["n"]
        for key, counts in table.items():
            cells = ", ".join(f"{s}: {counts[s]}" for s in ("1", "2", "3", "4", "5", "n/a"))
            self.stdout.write(f"  {key:<9} {cells}")
