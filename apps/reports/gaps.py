"""Knowledge gaps: questions the assistant could not answer, grouped and turned into
help-center article drafts (new articles or edits), citing the conversations they came
from; approving a draft publishes it and makes it searchable at once.

Where the questions come from: the unanswered-questions report (search found nothing),
the conversations whose help-center search found nothing, and escalations where a person
answered a question the help center does not cover. Similar questions are grouped by
their index terms (the help center's own analyser: stems and synonyms). With a key the
model writes the draft (strict structured output); offline the draft is the question as
a heading and what the agents answered, with a marked place to write when nobody did.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from pydantic import BaseModel, ValidationError

from apps.assistant.costs import cost_usd
from apps.assistant.recognisers import EMAIL, ORDER_ID, asks_for_human, without_person_request
from apps.assistant.tools import response_format
from apps.chat.models import Conversation, Message, Turn
from apps.knowledge.models import Article, ArticleQuestion, Passage, UnansweredQuestion
from apps.knowledge.search import analyze, current_index, normalize_question
from apps.knowledge.services import (
    do_add_article_question,
    do_link_unanswered,
    do_save_article,
    search_help_center,
)

from .models import ArticleDraft

log = logging.getLogger(__name__)

PROMPT_NAME = "gap_draft.v1"
PROMPT = (Path(__file__).parent / "prompt_templates" / f"{PROMPT_NAME}.txt").read_text()
MAX_OUTPUT_TOKENS = 1200
PLACEHOLDER = "[Write the answer here before approving.]"
LOOKBACK_DAYS = 90
SIMILAR = 0.45  # weighted Jaccard of index terms at or above which two questions are one gap
EDIT_COVERAGE = 0.45  # an article covering this much of a gap's question gets an edit
MAX_QUESTIONS = 12
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


# --- Drafting ----------------------------------------------------------------------------


class DraftResult(BaseModel):
    title: str
    category: str
    body: str  # Markdown; for an edit, the article's whole new body


SCHEMA_NAME = "help_center_draft"
SCHEMA: dict[str, Any] = response_format(SCHEMA_NAME, DraftResult)


def _target_article(gap: Gap, weights: dict[str, float]) -> Article | None:
    """The published article that already partly covers the gap, if any (an edit); none
    when the gap's words are ones no article uses (a new topic)."""
    if any(term not in weights for q in gap.questions for term in q.terms):
        return None
    result = current_index().search(gap.lead.text, limit=1)
    if result.hits and result.hits[0].coverage >= EDIT_COVERAGE:
        return Article.objects.filter(pk=result.hits[0].passage.article_id).first()
    return None


def _heading(question: str) -> str:
    text = question.strip().rstrip("?.! ")
    return (text[:1].upper() + text[1:])[:120] + "?"


def offline_draft(gap: Gap, article: Article | None) -> DraftResult:
    answers = [a for q in gap.questions for a in q.agent_answers]
    answer = "\n\n".join(dict.fromkeys(answers)) if answers else PLACEHOLDER
    section = f"## {_heading(gap.lead.text)}\n\n{answer}\n"
    if article is not None:
        return DraftResult(
            title=article.title,
            category=article.category,
            body=article.body.rstrip() + "\n\n" + section,
        )
    return DraftResult(title=_heading(gap.lead.text), category="General", body=section)


def model_draft(gap: Gap, article: Article | None) -> tuple[DraftResult, int, int, str]:
    from apps.assistant.prompts import wrap_untrusted
    from apps.assistant.providers import get_provider

    provider = get_provider()
    user = wrap_untrusted(
        "knowledge_gap",
        {
            "questions": [q.text for q in gap.questions[:MAX_QUESTIONS]],
            "agent_answers": [a for q in gap.questions for a in q.agent_answers][:8],
            "existing_article": (
                {"title": article.title, "category": article.category, "body": article.body}
                if article is not None
                else None
            ),
            "placeholder": PLACEHOLDER,
        },
    )
    parsed, usage = async_to_sync(provider.complete_json)(
        system=PROMPT,
        user=user,
        schema_name=SCHEMA_NAME,
        schema=SCHEMA,
        max_tokens=MAX_OUTPUT_TOKENS,
    )
    return (
        DraftResult.model_validate(parsed),
        usage.prompt_tokens,
        usage.completion_tokens,
        provider.model,
    )


@dataclass
class FindReport:
    questions: int = 0
    gaps: int = 0
    drafts: list[ArticleDraft] = field(default_factory=list)
    skipped: int = 0  # gaps that already have a draft


def do_find_gaps(*, since: datetime | None = None, limit: int = 20) -> FindReport:
    """Group the unanswered questions and draft an article for each new gap."""
    from apps.assistant.providers.base import ProviderError

    questions = collect_questions(since=since)
    weights = term_weights()
    gaps = group_questions(questions, weights)
    report = FindReport(questions=len(questions), gaps=len(gaps))
    known = set(
        ArticleDraft.objects.exclude(status=ArticleDraft.Status.REJECTED).values_list(
            "signature", flat=True
        )
    )
    for gap in gaps:
        if len(report.drafts) >= limit:
            break
        if gap.signature in known:
            report.skipped += 1
            continue
        article = _target_article(gap, weights)
        source, model, cost = ArticleDraft.Source.RULES, "", Decimal(0)
        result = offline_draft(gap, article)
        if settings.OPENAI_API_KEY:
            try:
                result, prompt, completion, model = model_draft(gap, article)
                source, cost = ArticleDraft.Source.MODEL, cost_usd(model, prompt, completion)
            except (ProviderError, ValidationError) as exc:
                log.warning("model draft failed, drafting offline: %s", exc)
        report.drafts.append(_store_draft(gap, article, result, source, model, cost))
        known.add(gap.signature)
    return report


def _store_draft(
    gap: Gap,
    article: Article | None,
    result: DraftResult,
    source: str,
    model: str,
    cost: Decimal,
) -> ArticleDraft:
    with transaction.atomic():
        draft = ArticleDraft.objects.create(
            kind=ArticleDraft.Kind.EDIT if article is not None else ArticleDraft.Kind.NEW,
            source=source,
            signature=gap.signature,
            title=result.title[:200],
            category=result.category[:80],
            body=result.body,
            questions="\n".join(q.text for q in gap.questions[:MAX_QUESTIONS]),
            agent_answers="\n\n".join(a for q in gap.questions for a in q.agent_answers),
            asked=gap.asked,
            article=article,
            model=model,
            cost_usd=cost,
            conflicts=[c.as_dict() for c in conflicts_of_text(result.body, exclude=article)],
        )
        draft.conversations.set(Conversation.objects.filter(pk__in=gap.conversation_ids))
        draft.unanswered.set([q.unanswered_id for q in gap.questions if q.unanswered_id])
    return draft


# --- Review: approve (publish) or reject ---------------------------------------------------


class DraftError(Exception):
    pass


def do_approve_draft(draft_id: int, *, user_id: int | None) -> Article:
    """Publish the draft: a new article or the edit, its questions attached, its
    unanswered questions marked answered; the search index follows at once."""
    with transaction.atomic():
        draft = ArticleDraft.objects.select_for_update().get(pk=draft_id)
        if draft.status != ArticleDraft.Status.DRAFT:
            raise DraftError(f"this draft is already {draft.get_status_display().lower()}")
        if PLACEHOLDER in draft.body or not draft.body.strip():
            raise DraftError("write the answer where the draft says so before approving")
        if draft.kind == ArticleDraft.Kind.EDIT and draft.article is not None:
            article = draft.article
            article.body = draft.body
            article.published = True
        else:
            article = Article(
                title=draft.title,
                slug=_free_slug(draft.title),
                category=draft.category or "General",
                body=draft.body,
                published=True,
            )
        do_save_article(article)
        for question in draft.question_list():
            do_add_article_question(
                article, question, source=ArticleQuestion.Source.UNANSWERED, user_id=user_id
            )
        for unanswered in draft.unanswered.filter(answered_by__isnull=True):
            do_link_unanswered(unanswered, article, user_id=user_id)
        ArticleDraft.objects.filter(pk=draft.pk).update(
            status=ArticleDraft.Status.APPROVED,
            article=article,
            reviewed_by_id=user_id,
            reviewed_at=timezone.now(),
        )
    return article


def do_reject_draft(draft_id: int, *, user_id: int | None) -> None:
    updated = ArticleDraft.objects.filter(pk=draft_id, status=ArticleDraft.Status.DRAFT).update(
        status=ArticleDraft.Status.REJECTED, reviewed_by_id=user_id, reviewed_at=timezone.now()
    )
    if updated != 1:
        raise DraftError("only a draft waiting for review can be rejected")


def _free_slug(title: str) -> str:
    base = (slugify(title) or "article")[:100]
    slug, n = base, 2
    while Article.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- Did it close the gap? ---------------------------------------------------------------


@dataclass
class GapStatus:
    answered: int
    total: int
    asked_again: int  # unanswered-report rows asked again after approval (still a gap)

    @property
    def closed(self) -> bool:
        return self.total > 0 and self.answered == self.total and not self.asked_again


def gap_status(draft: ArticleDraft) -> GapStatus | None:
    """For an approved draft: are its questions now answered by its article?"""
    if draft.status != ArticleDraft.Status.APPROVED or draft.article_id is None:
        return None
    questions = draft.question_list()
    answered = 0
    for question in questions:
        result = search_help_center(question)
        if result.covered and result.hits[0].passage.article_id == draft.article_id:
            answered += 1
    asked_again = UnansweredQuestion.objects.filter(
        normalized__in=[normalize_question(q) for q in questions],
        answered_by__isnull=True,
        last_asked_at__gt=draft.reviewed_at or timezone.now(),
    ).count()
    return GapStatus(answered, len(questions), asked_again)


# --- Articles that duplicate or contradict each other ---------------------------------------

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


def _figures(text: str) -> dict[str, set[str]]:
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
class _Section:
    article_id: int
    title: str
    heading: str
    terms: frozenset[str]
    figures: dict[str, set[str]]


def _compare(a: _Section, b: _Section) -> Conflict | None:
    if not a.terms or not b.terms:
        return None
    similarity = len(a.terms & b.terms) / len(a.terms | b.terms)
    if similarity < SAME_TOPIC:
        return None
    # The same topic with different figures is a contradiction, however alike the words.
    for unit in sorted(a.figures.keys() & b.figures.keys()):
        if a.figures[unit].isdisjoint(b.figures[unit]):
            ours = ", ".join(sorted(a.figures[unit]))
            theirs = ", ".join(sorted(b.figures[unit]))
            detail = f"{ours} vs {theirs} ({unit.replace('_', ' ')})"
            return Conflict(
                "contradiction",
                a.article_id,
                a.title,
                a.heading,
                b.article_id,
                b.title,
                b.heading,
                detail,
            )
    if similarity >= DUPLICATE:
        detail = f"{similarity:.0%} of the words are the same"
        return Conflict(
            "duplicate",
            a.article_id,
            a.title,
            a.heading,
            b.article_id,
            b.title,
            b.heading,
            detail,
        )
    return None


def _published_sections(exclude: Article | None = None) -> list[_Section]:
    passages = Passage.objects.filter(article__published=True).select_related("article")
    if exclude is not None:
        passages = passages.exclude(article=exclude)
    return [
        _Section(
            p.article_id,
            p.article.title,
            p.heading,
            frozenset(analyze(f"{p.heading} {p.text}")),
            _figures(p.text),
        )
        for p in passages
    ]


def find_conflicts() -> list[Conflict]:
    """Pairs of sections in different published articles that say the same thing
    (duplicates) or the same topic with different figures (contradictions)."""
    sections = _published_sections()
    found: list[Conflict] = []
    for a, b in itertools.combinations(sections, 2):
        if a.article_id == b.article_id:
            continue
        conflict = _compare(a, b)
        if conflict is not None:
            found.append(conflict)
    return sorted(found, key=lambda c: (c.kind != "contradiction", c.article_title))


def conflicts_of_text(body: str, *, exclude: Article | None = None) -> list[Conflict]:
    """A draft's sections against the published articles (the one it edits excepted)."""
    from apps.knowledge.markdown import split_sections, to_plain

    others = _published_sections(exclude)
    found = []
    for section in split_sections(body):
        text = to_plain(section.markdown)
        if PLACEHOLDER in text:
            continue
        ours = _Section(0, "this draft", section.heading, frozenset(analyze(text)), _figures(text))
        for other in others:
            conflict = _compare(ours, other)
            if conflict is not None:
                found.append(conflict)
    return found[:10]
