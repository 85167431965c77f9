"""Drafting and reviewing help-center articles for knowledge gaps.

Each new gap becomes a draft citing the conversations it came from: an edit when a
published article already covers part of it, else a new article. With a key the model
writes it (strict structured output); offline the draft is the question as a heading and
what the agents answered, with a marked place to write when nobody did. Approving a
draft publishes it and makes it searchable at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from pydantic import BaseModel, ValidationError

from apps.chat.models import Conversation
from apps.knowledge.models import Article, ArticleQuestion, UnansweredQuestion
from apps.knowledge.search import analyze, current_index, normalize_question
from apps.knowledge.services import (
    do_add_article_question,
    do_link_unanswered,
    do_save_article,
    search_help_center,
)

from ..models import ArticleDraft
from ..structured_output import NO_MODEL, ModelUsage, StructuredCall
from .conflicts import Conflict, Section, compare, figures, published_sections
from .questions import Gap, collect_questions, group_questions, term_weights

log = logging.getLogger(__name__)

PROMPT_NAME = "gap_draft.v1"
PROMPT = (Path(__file__).parent.parent / "prompt_templates" / f"{PROMPT_NAME}.txt").read_text()
PLACEHOLDER = "[Write the answer here before approving.]"
EDIT_COVERAGE = 0.45  # an article covering this much of a gap's question gets an edit
MAX_QUESTIONS = 12


class DraftResult(BaseModel):
    title: str
    category: str
    body: str  # Markdown; for an edit, the article's whole new body


DRAFT = StructuredCall("help_center_draft", DraftResult, max_tokens=1200)


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


def model_draft(gap: Gap, article: Article | None) -> tuple[DraftResult, ModelUsage]:
    from apps.assistant.prompts import wrap_untrusted

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
    return DRAFT.ask(PROMPT, user)


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
        source, usage = ArticleDraft.Source.RULES, NO_MODEL
        result = offline_draft(gap, article)
        if settings.OPENAI_API_KEY:
            try:
                result, usage = model_draft(gap, article)
                source = ArticleDraft.Source.MODEL
            except (ProviderError, ValidationError) as exc:
                log.warning("model draft failed, drafting offline: %s", exc)
        report.drafts.append(_store_draft(gap, article, result, source, usage))
        known.add(gap.signature)
    return report


def _store_draft(
    gap: Gap,
    article: Article | None,
    result: DraftResult,
    source: str,
    usage: ModelUsage,
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
            model=usage.model,
            cost_usd=usage.cost_usd,
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


def conflicts_of_text(body: str, *, exclude: Article | None = None) -> list[Conflict]:
    """A draft's sections against the published articles (the one it edits excepted)."""
    from apps.knowledge.markdown import split_sections, to_plain

    others = published_sections(exclude)
    found = []
    for section in split_sections(body):
        text = to_plain(section.markdown)
        if PLACEHOLDER in text:
            continue
        ours = Section(0, "this draft", section.heading, frozenset(analyze(text)), figures(text))
        for other in others:
            conflict = compare(ours, other)
            if conflict is not None:
                found.append(conflict)
    return found[:10]
