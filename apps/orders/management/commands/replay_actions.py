from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.orders.services import replay_scenarios


class Command(BaseCommand):
    help = (
        "Replay order actions per scenario against the current store, each scenario "
        "isolated and rolled back, and print the records they touched as one JSON object."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "scenarios",
            help='JSON file {"<scenario id>": [{"name": ..., "arguments": {...}}, ...]} or -',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["scenarios"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            scenarios = json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read scenarios: {exc}") from exc
        if not isinstance(scenarios, dict) or not all(
            isinstance(actions, list) for actions in scenarios.values()
        ):
            raise CommandError("scenarios must be an object of scenario id to a list of actions")
        self.stdout.write(json.dumps(replay_scenarios(scenarios), ensure_ascii=False))
