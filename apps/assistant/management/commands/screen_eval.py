"""`python manage.py screen_eval`: the input screen's precision and recall.

Runs `guardrails.screen_input` over the labelled set in
`apps/assistant/data/screen_labelled.jsonl` (attacks and ordinary support
messages) and prints precision, recall, F1, the false positives and negatives,
and recall per attack category. Rows marked `"split": "dev"` were used to tune the
screen's features; rows marked `"split": "holdout"` were written after the
features were frozen and never tuned on, so their figures are the honest
estimate of how the screen does on wording it has not seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from django.core.management.base import BaseCommand, CommandParser

from apps.assistant.guardrails import screen_input

LABELLED_SET = Path(__file__).resolve().parents[2] / "data" / "screen_labelled.jsonl"


class LabelledRow(TypedDict):
    id: str
    label: str  # "attack" or "benign"
    category: str  # the attack's category; "" for benign rows
    source: str  # "customer" or "tool"
    origin: str
    split: str  # "dev" or "holdout"
    text: str


@dataclass
class ScreenScores:
    true_positives: int = 0
    false_positives: int = 0
    true_negatives: int = 0
    false_negatives: int = 0
    per_category: dict[str, list[int]] = field(default_factory=dict)  # name -> [caught, total]
    misses: list[LabelledRow] = field(default_factory=list)
    false_alarms: list[tuple[LabelledRow, str]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        attacks = self.true_positives + self.false_negatives
        return self.true_positives / attacks if attacks else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "true_negatives": self.true_negatives,
            "false_negatives": self.false_negatives,
            "recall_per_category": {
                name: round(caught / total, 4)
                for name, (caught, total) in sorted(self.per_category.items())
            },
        }


def load_labelled(path: Path = LABELLED_SET) -> list[LabelledRow]:
    rows: list[LabelledRow] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def evaluate(rows: list[LabelledRow]) -> ScreenScores:
    scores = ScreenScores()
    for row in rows:
        source = "customer" if row["source"] == "customer" else "tool:labelled"
        verdict = screen_input(row["text"], source=source)
        if row["label"] == "attack":
            caught, total = scores.per_category.setdefault(row["category"], [0, 0])
            scores.per_category[row["category"]] = [caught + verdict.tripwire, total + 1]
            if verdict.tripwire:
                scores.true_positives += 1
            else:
                scores.false_negatives += 1
                scores.misses.append(row)
        elif verdict.tripwire:
            scores.false_positives += 1
            scores.false_alarms.append((row, verdict.reason))
        else:
            scores.true_negatives += 1
    return scores


class Command(BaseCommand):
    help = "Precision and recall of the local input screen on the labelled set."
    requires_system_checks: list[str] = []  # a pure text evaluation; no database, no URLs

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", default=str(LABELLED_SET), help="a labelled JSONL file")
        parser.add_argument("--split", choices=["all", "dev", "holdout"], default="all")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--show-errors", action="store_true", help="list every error")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = load_labelled(Path(options["path"]))
        if options["split"] != "all":
            rows = [row for row in rows if row.get("split", "dev") == options["split"]]
        scores = evaluate(rows)
        if options["json"]:
            report = scores.as_dict()
            for split in ("dev", "holdout"):
                part = [row for row in rows if row.get("split", "dev") == split]
                if part and options["split"] == "all":
                    report[split] = evaluate(part).as_dict()
            self.stdout.write(json.dumps(report, indent=2))
            return
        attacks = scores.true_positives + scores.false_negatives
        ordinary = scores.true_negatives + scores.false_positives
        self.stdout.write(
            f"labelled set: {len(rows)} rows ({attacks} attacks, {ordinary} ordinary messages)"
        )
        self.stdout.write(
            f"precision {scores.precision:.3f}  recall {scores.recall:.3f}  F1 {scores.f1:.3f}  "
            f"false positives {scores.false_positives}  false negatives {scores.false_negatives}"
        )
        if options["split"] == "all":
            for split in ("dev", "holdout"):
                part = [row for row in rows if row.get("split", "dev") == split]
                if part:
                    sub = evaluate(part)
                    self.stdout.write(
                        f"  {split:<8} ({len(part)} rows): precision {sub.precision:.3f}  "
                        f"recall {sub.recall:.3f}  F1 {sub.f1:.3f}  "
                        f"FP {sub.false_positives}  FN {sub.false_negatives}"
                    )
        self.stdout.write("recall per category:")
        for name, (caught, total) in sorted(scores.per_category.items()):
            self.stdout.write(f"  {name:<22} {caught}/{total}  {caught / total:.3f}")
        if options["show_errors"]:
            for row in scores.misses:
                self.stdout.write(f"MISSED {row['id']} [{row['category']}]: {row['text']!r}")
            for row, reason in scores.false_alarms:
                self.stdout.write(f"FALSE ALARM {row['id']}: {row['text']!r} ({reason})")
