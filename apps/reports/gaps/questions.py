"""Finding knowledge gaps: the questions the assistant could not answer, grouped.

Where the questions come from: the unanswered-questions report (search found nothing),
the conversations whose help-center search found nothing, and escalations where a person
answered a question the help center does not cover. Similar questions are grouped by
their index terms (the help center's own analyser: stems and synonyms), weighted by how
rarely the published articles use a word.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from apps.assistant.recognisers import EMAIL, ORDER_ID, asks_for_human, without_person_request
from apps.chat.models import Message, Turn
from apps.knowledge.models import Passage, UnansweredQuestion
from apps.knowledge.search import analyze, normalize_question
from apps.knowledge.services import search_help_center

LOOKBACK_DAYS = 90
SIMILAR = 0.45  # weighted Jaccard of index terms at or above which two questions are one gap
QUESTION_WORDS = re.compile(
    r"(?i)^\s*(how|what|when|where|which|why|who|do|does|did|can|could|is|are|will|would|"
    r"should|may|have|has)\b"
)

# --- Gap questions ---------------------------------------------------------------------


@dataclass
class GapQuestion:
    text: str
    key: str
    terms: frozenset[str]
    count: int = 1
    conversation_ids: set[Any] = field(default_factory=set)
    agent_answers: list[str] = field(default_factory=list)
    unanswered_id: int | None = None


def _mask(text: str) -> str:
    """An agent's answer without the customer's order ids and addresses."""
    return ORDER_ID.sub("[order]", EMAIL.sub("[email]", " ".join(text.split())))


def _is_question(text: str) -> bool:
    return "?" in text or bool(QUESTION_WORDS.match(text))


def collect_questions(*, since: datetime | None = None) -> list[GapQuestion]:
    """Every question the assistant could not answer since `since`, one entry per
    normalized wording, with its count, its conversations and agents' answers."""
    since = since or timezone.now() - timedelta(days=LOOKBACK_DAYS)
    by_key: dict[str, GapQuestion] = {}

    def add(text: str, *, count: int = 1, conversation_id: Any = None) -> GapQuestion | None:
        text = " ".join(text.split())[:300]
        terms = frozenset(analyze(text))
        if len(terms) < 2:
            return None
        key = normalize_question(text)
        entry = by_key.get(key)
        if entry is None:
            entry = by_key[key] = GapQuestion(text, key, terms, count=0)
        entry.count += count
        if conversation_id is not None:
            entry.conversation_ids.add(conversation_id)
        return entry

    for row in UnansweredQuestion.objects.filter(
        answered_by__isnull=True, last_asked_at__gte=since
    ):
        entry = add(row.example, count=row.count)
        if entry is not None:
            entry.unanswered_id = row.pk
    # Searches that found nothing, in their conversations (the report only counts them).
    turns = Turn.objects.filter(started_at__gte=since).exclude(tool_calls=[])
    for conversation_id, calls in turns.values_list("conversation_id", "tool_calls").iterator():
        for call in calls or []:
            if call.get("name") != "search_help_center" or _covered(call) is not False:
                continue
            query = str((call.get("arguments") or {}).get("query", ""))
            key = normalize_question(query)
            if key in by_key:
                by_key[key].conversation_ids.add(conversation_id)
            else:
                add(query, count=0, conversation_id=conversation_id)
    _escalated_questions(since, add)
    return [q for q in by_key.values() if q.count or q.conversation_ids]


def term_weights() -> dict[str, float]:
    """Inverse document frequency of index terms over the published sections: a word the
    help center rarely uses ("antarctica") says more about a question than "ship"."""
    passages = Passage.objects.filter(article__published=True).values_list("heading", "text")
    frequency: Counter[str] = Counter()
    total = 0
    for heading, text in passages.iterator():
        frequency.update(set(analyze(f"{heading} {text}")))
        total += 1
    default = math.log(total + 1) + 1
    return {term: math.log((total + 1) / (n + 1)) + 1 for term, n in frequency.items()} | {
        "": default
    }


def _covered(call: dict[str, Any]) -> bool | None:
    result: Any = call.get("result", "")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except json.JSONDecodeError:
            return None
    if not isinstance(result, dict):
        return None
    data = result.get("untrusted_data", result)
    covered = data.get("covered") if isinstance(data, dict) else None
    return covered if isinstance(covered, bool) else None


def _escalated_questions(since: datetime, add: Any) -> None:
    """Questions a person answered in a hand-off that the help center does not cover."""
    with_agents = (
        Message.objects.filter(role=Message.Role.AGENT, created_at__gte=since)
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    messages = (
        Message.objects.filter(conversation_id__in=with_agents, kind=Message.Kind.MESSAGE)
        .exclude(role=Message.Role.SYSTEM)
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", "role", "text")
    )
    for conversation_id, rows in itertools.groupby(messages.iterator(), key=lambda r: r[0]):
        pending: str | None = None
        for _, role, text in rows:
            if role == Message.Role.CUSTOMER:
                question = without_person_request(text) if asks_for_human(text) else text
                if _is_question(question) and not ORDER_ID.search(question):
                    pending = question
            elif role == Message.Role.AGENT and pending is not None:
                if not search_help_center(pending).covered:
                    entry = add(pending, count=0, conversation_id=conversation_id)
                    if entry is not None and len(entry.agent_answers) < 5:
                        entry.agent_answers.append(_mask(text))
                pending = None


# --- Grouping ----------------------------------------------------------------------------


@dataclass
class Gap:
    questions: list[GapQuestion]

    @property
    def asked(self) -> int:
        """How often: the report's count or the conversations found, whichever is more
        (the report counts searches, some of which are in the conversations)."""
        return max(sum(q.count for q in self.questions), len(self.conversation_ids))

    @property
    def conversation_ids(self) -> set[Any]:
        return set().union(*(q.conversation_ids for q in self.questions))

    @property
    def lead(self) -> GapQuestion:
        return max(self.questions, key=lambda q: (max(q.count, len(q.conversation_ids)), q.text))

    @property
    def signature(self) -> str:
        terms = Counter(t for q in self.questions for t in q.terms)
        return " ".join(sorted(t for t, _ in terms.most_common(6)))[:300]


def similarity(a: frozenset[str], b: frozenset[str], weights: dict[str, float]) -> float:
    """Weighted Jaccard: the shared terms' weight over the weight of all the terms."""
    unknown = weights[""]

    def weight(terms: frozenset[str]) -> float:
        return sum(weights.get(t, unknown) for t in terms)

    union = weight(a | b)
    return weight(a & b) / union if union else 0.0


def _same_gap(a: frozenset[str], b: frozenset[str], weights: dict[str, float]) -> bool:
    # A word no article uses ("antarctica", "wrap") is the very topic the help center
    # lacks: two questions sharing one ask about the same missing thing.
    if any(term not in weights for term in a & b):
        return True
    return similarity(a, b, weights) >= SIMILAR


def group_questions(
    questions: list[GapQuestion], weights: dict[str, float] | None = None
) -> list[Gap]:
    """Greedy single-link grouping, most asked first: a question joins the first gap
    holding a question similar to it."""
    weights = weights if weights is not None else term_weights()
    gaps: list[Gap] = []
    ordered = sorted(questions, key=lambda q: (-max(q.count, len(q.conversation_ids)), q.text))
    for question in ordered:
        for gap in gaps:
            if any(_same_gap(question.terms, other.terms, weights) for other in gap.questions):
                gap.questions.append(question)
                break
        else:
            gaps.append(Gap([question]))
    return sorted(gaps, key=lambda g: -g.asked)
