"""Measuring the help-center search on the labelled questions in eval/questions.jsonl.

A covered question counts as found at k only if the search says it is covered
and the labelled article is among its first k articles: a right article behind
a "not covered" answer never reaches the customer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .services import do_search_help_center

QUESTIONS_FILE = Path(__file__).resolve().parent / "eval" / "tuning.jsonl"


@dataclass(frozen=True)
class LabelledQuestion:
    question: str
    slug: str | None  # None: the help center does not cover it


@dataclass
class Miss:
    question: str
    expected: str | None
    got: list[str]
    covered: bool


@dataclass
class EvalReport:
    covered_total: int = 0
    at_1: int = 0
    at_3: int = 0
    uncovered_total: int = 0
    uncovered_recognised: int = 0
    misses: list[Miss] = field(default_factory=list)

    @property
    def recall_at_1(self) -> float:
        return self.at_1 / self.covered_total if self.covered_total else 0.0

    @property
    def recall_at_3(self) -> float:
        return self.at_3 / self.covered_total if self.covered_total else 0.0

    @property
    def not_covered_rate(self) -> float:
        if not self.uncovered_total:
            return 0.0
        return self.uncovered_recognised / self.uncovered_total


def load_questions(path: Path = QUESTIONS_FILE) -> list[LabelledQuestion]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("q"), str) or "slug" not in row:
            raise ValueError(f"{path.name}:{number}: needs 'q' and 'slug'")
        questions.append(LabelledQuestion(row["q"], row["slug"]))
    return questions


def run_eval(questions: list[LabelledQuestion]) -> EvalReport:
    report = EvalReport()
    for item in questions:
        result = do_search_help_center(item.question, record=False)
        slugs = [hit.passage.slug for hit in result.hits]
        if item.slug is None:
            report.uncovered_total += 1
            if not result.covered:
                report.uncovered_recognised += 1
            else:
                report.misses.append(Miss(item.question, None, slugs, True))
            continue
        report.covered_total += 1
        found_1 = result.covered and slugs[:1] == [item.slug]
        found_3 = result.covered and item.slug in slugs[:3]
        report.at_1 += found_1
        report.at_3 += found_3
        if not found_1:
            report.misses.append(Miss(item.question, item.slug, slugs, result.covered))
    return report
