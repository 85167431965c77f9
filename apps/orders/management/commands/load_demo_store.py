from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.orders.loader import load_store


class Command(BaseCommand):
    help = "Load the bundled demo store (500 customers, 1,000 orders); idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="wipe the store tables and load again"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        counts = load_store(reset=bool(options["reset"]))
        elapsed = time.monotonic() - started
        if not counts:
            self.stdout.write("The demo store is already loaded (use --reset to reload).")
            return
        summary = ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Loaded the demo store in {elapsed:.1f}s: {summary}"))
