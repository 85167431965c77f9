"""Measuring the help-center search on labelled questions, on either path.

The labelled files live in eval/: `tuning*.jsonl` are what thresholds, synonyms and
the hybrid calibration (on `tuning.jsonl`) were chosen on; `heldout-*.jsonl` are
written after the algorithm was frozen and are only ever measured, never tuned on
(`calibrate` refuses them). See eval/README.md.

A covered question counts as found at k only if the search says it is covered
and the labelled article is among its first k articles: a right article behind
a "not covered" answer never reaches the customer.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embeddings import model_name
from .examples import excluding
from .hybrid import DEFAULT_RRF_K, Calibration, Candidates, candidates, fuse
from .models import IndexState, SearchCalibration
from .search import current_index
from .services import search_help_center

EVAL_DIR = Path(__file__).resolve().parent / "eval"
TUNING_FILE = EVAL_DIR / "tuning.jsonl"
QUESTIONS_FILE = TUNING_FILE  # the default set


def tuning_files() -> list[Path]:
    return sorted(EVAL_DIR.glob("tuning*.jsonl"))


def heldout_files() -> list[Path]:
    return sorted(EVAL_DIR.glob("heldout-*.jsonl"))


def is_heldout(path: Path) -> bool:
    return path.name.startswith("heldout")


@dataclass(frozen=True)
class LabelledQuestion:
    question: str
    slug: str | None  # None: the help center does not cover it
    source: str = ""  # the file's name: its own examples are left out when measuring it


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

    def add(self, item: LabelledQuestion, slugs: list[str], covered: bool) -> None:
        if item.slug is None:
            self.uncovered_total += 1
            if not covered:
                self.uncovered_recognised += 1
            else:
                self.misses.append(Miss(item.question, None, slugs, True))
            return
        self.covered_total += 1
        found_1 = covered and slugs[:1] == [item.slug]
        found_3 = covered and item.slug in slugs[:3]
        self.at_1 += found_1
        self.at_3 += found_3
        if not found_3:
            self.misses.append(Miss(item.question, item.slug, slugs, covered))


def load_questions(path: Path = QUESTIONS_FILE) -> list[LabelledQuestion]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("q"), str) or "slug" not in row:
            raise ValueError(f"{path.name}:{number}: needs 'q' and 'slug'")
        questions.append(LabelledQuestion(row["q"], row["slug"], path.name))
    return questions


def run_eval(questions: list[LabelledQuestion], *, semantic: bool = False) -> EvalReport:
    """Measure one path: offline lexical (`semantic=False`) or hybrid."""
    report = EvalReport()
    for item in questions:
        with excluding({item.source}):  # a tuning question never finds itself
            result = search_help_center(item.question, semantic=semantic)
        report.add(item, [hit.passage.slug for hit in result.hits], result.covered)
    return report


# --- Calibrating the hybrid path's "not covered" cut ------------------------------

RRF_KS = (5, DEFAULT_RRF_K, 30, 60)
SEMANTIC_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)
MARGINS = (0.1, 0.05, 0.0, -0.05)  # tried when there are labelled examples (examples.py)


@dataclass(frozen=True)
class _Ranked:
    """One question's fused top three under one k, before any threshold."""

    slugs: list[str]
    cosine: float  # of the first
    lexical_good: bool  # of the first


def load_tuning_questions() -> list[LabelledQuestion]:
    """Every tuning row, from every tuning file."""
    return [question for path in tuning_files() for question in load_questions(path)]


def calibrate(
    questions: list[LabelledQuestion], sources: Sequence[Path]
) -> tuple[Calibration, float]:
    """The (threshold, floor, k, semantic weight, margin) that maximise recall@3 plus
    "not covered" recognised (each file weighing the same) on the tuning questions read
    from `sources`. Returns it and that score. Refuses a held-out file."""
    for path in sources:
        if is_heldout(path):
            raise ValueError(f"{path.name} is held out: it is never used for tuning")
    return choose_calibration(ranked_questions(questions))


def ranked_questions(
    questions: list[LabelledQuestion], left_out: frozenset[str] = frozenset()
) -> list[tuple[LabelledQuestion, Candidates]]:
    """Both rankings of each question, with the labelled examples of its own file and
    of `left_out` unseen (examples.py)."""
    index = current_index()
    found: list[tuple[LabelledQuestion, Candidates]] = []
    for item in questions:
        with excluding(left_out | {item.source}):
            got = candidates(item.question, index)
        if got is None:
            raise ValueError("no embeddings to calibrate: embed first (a key or the local model)")
        found.append((item, got))
    return found


def choose_calibration(
    found: list[tuple[LabelledQuestion, Candidates]],
) -> tuple[Calibration, float]:
    index = current_index()
    cosines = sorted({round(max(c.similarity.values()), 3) for _, c in found if c.similarity})
    thresholds = [*cosines, math.inf]
    floors = [-math.inf, *cosines[:: max(1, len(cosines) // 25)]]
    none_similarity = np.array([c.none_similarity for _, c in found])
    margins = [math.inf, *MARGINS] if (none_similarity > -1.0).any() else [math.inf]
    covered_weight, uncovered_weight = _weights([item for item, _ in found])
    best: tuple[float, Calibration] = (-1.0, Calibration(math.inf, -math.inf))
    for k, weight in itertools.product(RRF_KS, SEMANTIC_WEIGHTS):
        probe = Calibration(math.inf, -math.inf, k, weight)  # ranks only; goodness below
        ranked = []
        for item, got in found:
            result = fuse(item.question, got, index, probe)
            lexical = {h.passage.article_id: h.good for h in got.lexical.hits}
            first = result.hits[0] if result.hits else None
            ranked.append(
                (
                    item,
                    _Ranked(
                        [h.passage.slug for h in result.hits],
                        _cosine(first),
                        bool(first and lexical.get(first.passage.article_id, False)),
                    ),
                )
            )
        # Every threshold at once: one row per threshold, one column per question.
        cosine = np.array([r.cosine for _, r in ranked])
        has_hits = np.array([bool(r.slugs) for _, r in ranked])
        lexical_good = np.array([r.lexical_good for _, r in ranked])
        uncovered = np.array([item.slug is None for item, _ in ranked])
        in_top_3 = np.array(
            [item.slug is not None and item.slug in r.slugs[:3] for item, r in ranked]
        )
        above = cosine[None, :] >= np.array(thresholds)[:, None]
        for floor, margin in itertools.product(floors, margins):
            kept = none_similarity < cosine + margin
            covered = has_hits & kept & (above | (lexical_good & (cosine >= floor))[None, :])
            scores = (covered & in_top_3) @ covered_weight + (
                ~covered & uncovered
            ) @ uncovered_weight
            for threshold, score in zip(thresholds, scores.tolist(), strict=True):
                if score > best[0] + 1e-9:
                    best = (score, Calibration(threshold, floor, k, weight, margin))
    return best[1], best[0]


def _weights(items: list[LabelledQuestion]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's weight in recall@3 and in "not covered" recognised: every file counts
    the same, so the big first file does not drown the later, chattier ones (chosen by
    leaving one file out: it generalised better than weighting every row the same)."""
    files = {item.source for item in items}
    covered = {f: sum(1 for i in items if i.source == f and i.slug is not None) for f in files}
    uncovered = {f: sum(1 for i in items if i.source == f and i.slug is None) for f in files}
    covered_files = sum(1 for f in files if covered[f]) or 1
    uncovered_files = sum(1 for f in files if uncovered[f]) or 1
    covered_weight = np.array(
        [1.0 / (covered[i.source] * covered_files) if i.slug is not None else 0.0 for i in items]
    )
    uncovered_weight = np.array(
        [1.0 / (uncovered[i.source] * uncovered_files) if i.slug is None else 0.0 for i in items]
    )
    return covered_weight, uncovered_weight


def cross_validate(sources: Sequence[Path]) -> list[tuple[Path, Calibration, EvalReport]]:
    """Leave one file out: calibrate on the other files, measure on it. What a fresh
    file is likely to show, unlike the figures on the files the cut was chosen on."""
    for path in sources:
        if is_heldout(path):
            raise ValueError(f"{path.name} is held out: it is never used for tuning")
    index = current_index()
    results = []
    for left_out in sources:
        # The left-out file's examples are unseen both when calibrating and measuring.
        unseen = frozenset({left_out.name})
        rest = [
            pair
            for path in sources
            if path != left_out
            for pair in ranked_questions(load_questions(path), unseen)
        ]
        calibration, _ = choose_calibration(rest)
        report = EvalReport()
        for item, got in ranked_questions(load_questions(left_out)):
            result = fuse(item.question, got, index, calibration)
            report.add(item, [hit.passage.slug for hit in result.hits], result.covered)
        results.append((left_out, calibration, report))
    return results


def _cosine(hit: object) -> float:
    similarity = getattr(hit, "similarity", None)
    return -1.0 if similarity is None else float(similarity)


def do_save_calibration(calibration: Calibration, sources: Sequence[Path], questions: int) -> None:
    SearchCalibration.objects.update_or_create(
        model=model_name(),
        defaults={
            # JSON-safe and storable: "never" and "always" as large finite numbers.
            "threshold": min(calibration.threshold, 1e9),
            "floor": max(calibration.floor, -1e9),
            "rrf_k": calibration.rrf_k,
            "semantic_weight": calibration.semantic_weight,
            "margin": min(calibration.margin, 1e9),
            "tuned_on": ", ".join(path.name for path in sources)[:200],
            "questions": questions,
        },
    )
    IndexState.bump()
