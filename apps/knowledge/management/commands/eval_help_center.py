from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.test import override_settings

from apps.knowledge.embeddings import (
    do_embed_help_center,
    local_model_dir,
    model_name,
    openai_enabled,
    provider,
)
from apps.knowledge.evaluation import (
    EvalReport,
    calibrate,
    cross_validate,
    do_save_calibration,
    heldout_files,
    is_heldout,
    load_questions,
    load_tuning_questions,
    run_eval,
    tuning_files,
)
from apps.knowledge.examples import do_embed_examples
from apps.knowledge.hybrid import current_calibration
from apps.knowledge.services import do_load_help_center


class Command(BaseCommand):
    help = (
        "Measure help-center search on labelled questions: recall@1, recall@3 and "
        "'not covered' recognised: offline lexical, offline with the local model (when "
        "fetched) and (with OPENAI_API_KEY) with OpenAI embeddings."
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
            help="choose each embedding path's fusion and 'not covered' cut on every tuning "
            "file and store it (per model), before measuring",
        )
        parser.add_argument(
            "--cross-validate",
            action="store_true",
            help="for each embedding path and each tuning file: calibrate on the other "
            "files, measure on it (nothing is stored)",
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
        self._measure("offline lexical", files, options, semantic=False)
        # The keyless path: the local encoder, even when a key is set for the next one.
        with override_settings(OPENAI_API_KEY=""):
            if provider() == "local":
                self._semantic("offline local model", files, options)
            else:
                self.stdout.write(
                    "offline local model: no model in "
                    f"{local_model_dir()} (manage.py fetch_embedding_model)"
                )
        if openai_enabled():
            self._semantic("openai", files, options)
        elif options["calibrate"] and provider() is None:
            self.stdout.write("--calibrate: no embeddings (no key, no local model) to calibrate")

    def _semantic(self, name: str, files: list[Path], options: dict[str, Any]) -> None:
        embedded = do_embed_help_center() + do_embed_examples()
        self.stdout.write(f"embeddings ({model_name()}): {embedded} new section vector(s)")
        if options["calibrate"]:
            self._calibrate()
        if options["cross_validate"]:
            self._cross_validate(name, options)
        self.stdout.write(f"calibration ({model_name()}): {current_calibration()}")
        self._measure(name, files, options, semantic=True)

    def _measure(
        self, name: str, files: list[Path], options: dict[str, Any], *, semantic: bool
    ) -> None:
        for path in files:
            kind = "held-out" if is_heldout(path) else "tuning"
            report = run_eval(load_questions(path), semantic=semantic)
            self._print(f"{path.name} ({kind}), {name}", report, options["misses"])

    def _calibrate(self) -> None:
        sources = tuning_files()
        questions = load_tuning_questions()
        calibration, score = calibrate(questions, sources)
        do_save_calibration(calibration, sources, len(questions))
        names = ", ".join(path.name for path in sources)
        self.stdout.write(
            f"calibrated {model_name()} on {names} ({len(questions)} questions): "
            f"threshold {calibration.threshold:.3f}, floor {calibration.floor:.3f}, "
            f"k {calibration.rrf_k}, semantic weight {calibration.semantic_weight}, "
            f"margin {calibration.margin} (recall@3 + not covered = {score:.3f})"
        )

    def _cross_validate(self, name: str, options: dict[str, Any]) -> None:
        total = EvalReport()
        for path, calibration, report in cross_validate(tuning_files()):
            self.stdout.write(
                f"(calibrated on the other files: threshold {calibration.threshold:.3f}, "
                f"floor {calibration.floor:.3f}, k {calibration.rrf_k}, "
                f"semantic weight {calibration.semantic_weight}, margin {calibration.margin})"
            )
            self._print(f"{path.name} left out, {name}", report, options["misses"])
            for field in ("covered_total", "at_1", "at_3", "uncovered_total"):
                setattr(total, field, getattr(total, field) + getattr(report, field))
            total.uncovered_recognised += report.uncovered_recognised
        self._print(f"every tuning file left out in turn, {name}", total, misses=False)

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
