from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.knowledge.evaluation import QUESTIONS_FILE, load_questions, run_eval
from apps.knowledge.services import do_load_help_center


class Command(BaseCommand):
    help = "Measure help-center search on the labelled questions: recall@1, recall@3, not covered."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--questions", type=Path, default=QUESTIONS_FILE)
        parser.add_argument("--misses", action="store_true", help="list every miss")
        parser.add_argument(
            "--no-load",
            action="store_true",
            help="search the articles already in the database instead of loading the demo ones",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_load"]:
            do_load_help_center()
        questions = load_questions(options["questions"])
        report = run_eval(questions)
        self.stdout.write(
            f"questions: {report.covered_total} covered, {report.uncovered_total} not covered\n"
            f"recall@1: {report.recall_at_1:.3f} ({report.at_1}/{report.covered_total})\n"
            f"recall@3: {report.recall_at_3:.3f} ({report.at_3}/{report.covered_total})\n"
            f"not covered recognised: {report.not_covered_rate:.3f} "
            f"({report.uncovered_recognised}/{report.uncovered_total})"
        )
        if options["misses"]:
            for miss in report.misses:
                state = "covered" if miss.covered else "NOT covered"
                self.stdout.write(
                    f"- {miss.question!r}: expected {miss.expected}, got {miss.got} ({state})"
                )
