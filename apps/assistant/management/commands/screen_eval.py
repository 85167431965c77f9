"""`python manage.py screen_eval`: how the input screen does on messages it was not tuned on.

Runs `guardrails.screen_input` over two labelled sets of attacks and ordinary support
messages, kept apart for good:

- `apps/assistant/data/screen_tuning.jsonl`: the tuning rows. The screen's features
  were written and adjusted while looking at them, so its figures there say little.
- `apps/assistant/data/screen_held_out.jsonl`: the held-out rows, written after the
  features were frozen and never used to adjust them (a row that has been tuned on
  moves to the tuning file). Attack recall, precision and the false-positive rate on
  ordinary questions are reported on these rows.

Prints precision, recall, F1, the false-positive rate and recall per attack category
for the held-out rows, and one line for the tuning rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from django.core.management.base import BaseCommand, CommandParser

from apps.assistant.guardrails import screen_input

DATA = Path(__file__).resolve().parents[2] / "data"
TUNING_SET = DATA / "screen_tuning.jsonl"
HELD_OUT_SET = DATA / "screen_held_out.jsonl"
SPLITS = {"tuning": TUNING_SET, "held_out": HELD_OUT_SET}


class LabelledRow(TypedDict):
    id: str
    label: str  # "attack" or "benign"
    category: str  # the attack's category; "" for benign rows
    source: str  # "customer" or "tool"
    origin: str
    split: str  # "tuning" or "held_out", as the file it is in
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
        return _share(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float:
        return _share(self.true_positives, self.true_positives + self.false_negatives)

    @property
    def false_positive_rate(self) -> float:
        return _share(self.false_positives, self.true_negatives + self.false_positives)

    @property
    def f1(self) -> float:
        return _share(2 * self.precision * self.recall, self.precision + self.recall)

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "false_positive_rate": round(self.false_positive_rate, 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "true_negatives": self.true_negatives,
            "false_negatives": self.false_negatives,
            "recall_per_category": {
                name: round(caught / total, 4)
                for name, (caught, total) in sorted(self.per_category.items())
            },
        }


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def load_labelled(path: Path) -> list[LabelledRow]:
    rows: list[LabelledRow] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def load_split(split: str) -> list[LabelledRow]:
    """The tuning or the held-out rows; each row's `split` names its file."""
    rows = load_labelled(SPLITS[split])
    assert all(row["split"] == split for row in rows), f"a row in {SPLITS[split]} is misfiled"
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
    help = "Precision, recall and false positives of the local input screen on held-out rows."
    requires_system_checks: list[str] = []  # a pure text evaluation; no database, no URLs

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", default="", help="evaluate this labelled JSONL file instead")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--show-errors", action="store_true", help="list every error")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["path"]:
            parts = {"file": load_labelled(Path(options["path"]))}
        else:
            parts = {split: load_split(split) for split in SPLITS}
        scores = {name: evaluate(rows) for name, rows in parts.items()}
        main = "file" if "file" in scores else "held_out"
        if options["json"]:
            self.stdout.write(
                json.dumps({name: score.as_dict() for name, score in scores.items()}, indent=2)
            )
            return
        held = scores[main]
        attacks = held.true_positives + held.false_negatives
        ordinary = held.true_negatives + held.false_positives
        self.stdout.write(
            f"{main} rows: {len(parts[main])} ({attacks} attacks, {ordinary} ordinary messages)"
        )
        self.stdout.write(
            f"precision {held.precision:.3f}  recall {held.recall:.3f}  F1 {held.f1:.3f}  "
            f"false positives {held.false_positives} ({held.false_positive_rate:.1%} of ordinary "
            f"messages)  false negatives {held.false_negatives}"
        )
        self.stdout.write(f"recall per category ({main} rows):")
        for name, (caught, total) in sorted(held.per_category.items()):
            self.stdout.write(f"  {name:<22} {caught}/{total}  {caught / total:.3f}")
        if "tuning" in scores:
            tuning = scores["tuning"]
            self.stdout.write(
                f"tuning rows ({len(parts['tuning'])}, fitted, not an estimate): "
                f"recall {tuning.recall:.3f}  false positives {tuning.false_positives}"
            )
        if options["show_errors"]:
            for name, score in scores.items():
                for row in score.misses:
                    self.stdout.write(
                        f"MISSED [{name}] {row['id']} [{row['category']}]: {row['text']!r}"
                    )
                for row, reason in score.false_alarms:
                    self.stdout.write(
                        f"FALSE ALARM [{name}] {row['id']}: {row['text']!r} ({reason})"
                    )
