"""`python manage.py find_knowledge_gaps`: group the questions the assistant could not answer
and draft a help-center article (or an edit) for each new group; prints the figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from apps.reports import gaps


class Command(BaseCommand):
    help = "Draft help-center articles from unanswered questions and escalations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=gaps.LOOKBACK_DAYS)
        parser.add_argument("--limit", type=int, default=20, help="at most this many drafts")
        parser.add_argument("--conflicts", action="store_true", help="also list conflicts")

    def handle(self, *args: Any, **options: Any) -> None:
        since = timezone.now() - timedelta(days=options["days"])
        report = gaps.do_find_gaps(since=since, limit=options["limit"])
        self.stdout.write(
            f"{report.questions} unanswered questions in {report.gaps} groups; "
            f"{len(report.drafts)} new drafts, {report.skipped} groups already drafted."
        )
        for draft in report.drafts:
            self.stdout.write(
                f"  [{draft.kind}] {draft.title} (asked {draft.asked}x, "
                f"{draft.conversations.count()} conversations, {len(draft.conflicts)} conflicts)"
            )
        if options["conflicts"]:
            for conflict in gaps.find_conflicts():
                self.stdout.write(
                    f"  {conflict.kind}: {conflict.article_title} / {conflict.heading or 'intro'}"
                    f" <> {conflict.other_title} / {conflict.other_heading or 'intro'}:"
                    f" {conflict.detail}"
                )
