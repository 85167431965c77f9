"""Sections of different published articles that say the same thing (duplicates) or the
same topic with different figures (contradictions: 30 vs 14 days)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from apps.knowledge.models import Article, Passage
from apps.knowledge.search import analyze

DUPLICATE = 0.6  # Jaccard of two sections' index terms
SAME_TOPIC = 0.25
_FIGURE = re.compile(
    r"(?i)(\$\s?\d+(?:\.\d+)?|\d+(?:\.\d+)?\s*(?:business\s+days?|days?|weeks?|hours?|months?|"
    r"years?|%|percent))"
)


@dataclass(frozen=True)
class Conflict:
    kind: str  # duplicate, contradiction
    article_id: int
    article_title: str
    heading: str
    other_id: int | None
    other_title: str
    other_heading: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "article_id": self.article_id,
            "article": self.article_title,
            "heading": self.heading,
            "other_id": self.other_id,
            "other": self.other_title,
            "other_heading": self.other_heading,
            "detail": self.detail,
        }


def figures(text: str) -> dict[str, set[str]]:
    """Figures by unit ("days": {"30"}, "$": {"5.99"})."""
    out: dict[str, set[str]] = {}
    for match in _FIGURE.findall(text):
        match = " ".join(match.lower().split())
        if match.startswith("$"):
            unit, number = "$", match.lstrip("$ ")
        else:
            number, _, unit = match.partition(" ")
            if not unit:
                number, unit = match.rstrip("%"), "%"
            unit = {"percent": "%"}.get(unit, unit.replace("business ", "business_"))
            unit = unit.rstrip("s") if unit != "%" else unit
        out.setdefault(unit, set()).add(number)
    return out


@dataclass(frozen=True)
class Section:
    article_id: int
    title: str
    heading: str
    terms: frozenset[str]
    figures: dict[str, set[str]]


def compare(a: Section, b: Section) -> Conflict | None:
    if not a.terms or not b.terms:
        return None
    similarity = len(a.terms & b.terms) / len(a.terms | b.terms)
    if similarity < SAME_TOPIC:
        return None
    kind, detail = "contradiction", _different_figures(a, b)
    if not detail:
        if similarity < DUPLICATE:
            return None
        kind, detail = "duplicate", f"{similarity:.0%} of the words are the same"
    return Conflict(
        kind, a.article_id, a.title, a.heading, b.article_id, b.title, b.heading, detail
    )


def _different_figures(a: Section, b: Section) -> str:
    # The same topic with different figures is a contradiction, however alike the words.
    for unit in sorted(a.figures.keys() & b.figures.keys()):
        if a.figures[unit].isdisjoint(b.figures[unit]):
            ours = ", ".join(sorted(a.figures[unit]))
            theirs = ", ".join(sorted(b.figures[unit]))
            return f"{ours} vs {theirs} ({unit.replace('_', ' ')})"
    return ""


def published_sections(exclude: Article | None = None) -> list[Section]:
    passages = Passage.objects.filter(article__published=True).select_related("article")
    if exclude is not None:
        passages = passages.exclude(article=exclude)
    return [
        Section(
            p.article_id,
            p.article.title,
            p.heading,
            frozenset(analyze(f"{p.heading} {p.text}")),
            figures(p.text),
        )
        for p in passages
    ]


def find_conflicts() -> list[Conflict]:
    """Pairs of sections in different published articles that say the same thing
    (duplicates) or the same topic with different figures (contradictions)."""
    sections = published_sections()
    found: list[Conflict] = []
    for a, b in itertools.combinations(sections, 2):
        if a.article_id == b.article_id:
            continue
        conflict = compare(a, b)
        if conflict is not None:
            found.append(conflict)
    return sorted(found, key=lambda c: (c.kind != "contradiction", c.article_title))
