"""`python manage.py seed_demo_conversations --days 30`: demo history for the dashboard."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.reports.seed import seed_conversations


class Command(BaseCommand):
    help = "Create realistic conversation history (messages, turns, escalations, CSAT, analyses)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="days of history, ending now")
        parser.add_argument(
            "--per-day", type=int, default=None, help="mean conversations per day (default ~30)"
        )
        parser.add_argument(
            "--seed", type=int, default=7, help="random seed (same seed, same data)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            self.stderr.write("--days must be at least 1")
            return
        started = time.monotonic()
        stats = seed_conversations(
            days=options["days"], per_day=options["per_day"], seed=options["seed"]
        )
        if stats.replaced:
            self.stdout.write(f"Replaced {stats.replaced} earlier seeded conversations.")
        self.stdout.write(
            f"Seeded {stats.conversations} conversations, {stats.messages} messages, "
            f"{stats.turns} turns, {stats.escalations} escalations and {stats.analyses} analyses "
            f"in {time.monotonic() - started:.1f} s."
        )
