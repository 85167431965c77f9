from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.knowledge.embeddings import do_embed_help_center, embeddings_enabled, model_name
from apps.knowledge.evaluation import (
    EvalReport,
    calibrate,
    do_save_calibration,
    heldout_files,
    is_heldout,
    load_questions,
    load_tuning_questions,
    run_eval,
    tuning_files,
)
from apps.knowledge.hybrid import current_calibration
from apps.knowledge.services import do_load_help_center


class Command(BaseCommand):
    help = (
        "Measure help-center search on labelled questions: recall@1, recall@3 and "
        "'not covered' recognised, offline and (with OPENAI_API_KEY) hybrid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--questions",
            type=Path,
            action="append",
            help="a labelled .jsonl file (repeatable); default: every tuning and every "
            "held-out file",
        )
        parser.add_argument("--misses", action="store_true", help="list every miss")
        parser.add_argument(
            "--calibrate",
            action="store_true",
            help="with a key: choose the hybrid 'not covered' threshold on every tuning "
            "file and store it, before measuring",
        )
        parser.add_argument(
            "--no-load",
            action="store_true",
            help="search the articles already in the database instead of loading the demo ones",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("httpx", "httpx2", "openai"):  # a log line per embedding call otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        if not options["no_load"]:
            do_load_help_center()
        files: list[Path] = options["questions"] or [*tuning_files(), *heldout_files()]
        paths = ["offline"]
        if embeddings_enabled():
            embedded = do_embed_help_center()
            self.stdout.write(f"embeddings ({model_name()}): {embedded} new section vector(s)")
            paths.append("hybrid")
            if options["calibrate"]:
                self._calibrate()
            self.stdout.write(f"hybrid calibration: {current_calibration()}")
        elif options["calibrate"]:
            self.stdout.write("--calibrate: no OPENAI_API_KEY, so no hybrid path to calibrate")
        for path in files:
            questions = load_questions(path)
            kind = "held-out" if is_heldout(path) else "tuning"
            for name in paths:
                report = run_eval(questions, semantic=name == "hybrid")
                self._print(f"{path.name} ({kind}), {name}", report, options["misses"])

    def _calibrate(self) -> None:
        sources = tuning_files()
        questions = load_tuning_questions()
        calibration, score = calibrate(questions, sources)
        do_save_calibration(calibration, sources, len(questions))
        names = ", ".join(path.name for path in sources)
        self.stdout.write(
            f"calibrated on {names} ({len(questions)} questions): "
            f"threshold {calibration.threshold:.3f}, floor {calibration.floor:.3f}, "
            f"k {calibration.rrf_k}, semantic weight {calibration.semantic_weight} "
            f"(recall@3 + not covered = {score:.3f})"
        )

    def _print(self, title: str, report: EvalReport, misses: bool) -> None:
        self.stdout.write(
            f"== {title}\n"
            f"questions: {report.covered_total} covered, {report.uncovered_total} not covered\n"
            f"recall@1: {report.recall_at_1:.3f} ({report.at_1}/{report.covered_total})\n"
            f"recall@3: {report.recall_at_3:.3f} ({report.at_3}/{report.covered_total})\n"
            f"not covered recognised: {report.not_covered_rate:.3f} "
            f"({report.uncovered_recognised}/{report.uncovered_total})"
        )
        if misses:
            for miss in report.misses:
                state = "covered" if miss.covered else "NOT covered"
                self.stdout.write(
                    f"- {miss.question!r}: expected {miss.expected}, got {miss.got} ({state})"
                )
