"""Every state change of the help center, and its search as a service.

Saving an article (admin, loader or code) rebuilds its passages and changes the
index stamp in the same transaction; every process then rebuilds its in-memory
index on its next search (see search.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .embeddings import embeddings_enabled
from .hybrid import hybrid_search
from .markdown import split_sections, to_plain
from .models import Article, ArticleQuestion, IndexState, Passage, UnansweredQuestion
from .search import SearchResult, current_index, normalize_question

ARTICLES_DIR = Path(__file__).resolve().parent / "articles"


def do_rebuild_passages(article: Article) -> int:
    """Replace the article's passages with its current sections. Returns how many."""
    with transaction.atomic():
        Passage.objects.filter(article=article).delete()
        rows = []
        for position, section in enumerate(split_sections(article.body)):
            text = to_plain(section.markdown)
            if not text:
                continue
            rows.append(
                Passage(
                    article=article,
                    position=position,
                    heading=section.heading[:200],
                    anchor=section.anchor[:200],
                    text=text,
                )
            )
        Passage.objects.bulk_create(rows)
        IndexState.bump()
    return len(rows)


def do_save_article(article: Article) -> Article:
    """Save an article; its passages and the search index follow (see signals)."""
    with transaction.atomic():
        article.save()
    return article


def do_unpublish_article(article: Article) -> Article:
    """Take an article off the help pages and out of search."""
    article.published = False
    return do_save_article(article)


def do_publish_article(article: Article) -> Article:
    article.published = True
    return do_save_article(article)


def do_record_unanswered(question: str) -> UnansweredQuestion | None:
    """Count a question the help center had no good answer for."""
    text = " ".join(question.split())[:1000]
    if not text:
        return None
    key = normalize_question(text)
    now = timezone.now()
    with transaction.atomic():
        row, created = UnansweredQuestion.objects.select_for_update().get_or_create(
            normalized=key, defaults={"example": text, "last_asked_at": now}
        )
        if not created:
            UnansweredQuestion.objects.filter(pk=row.pk).update(
                count=F("count") + 1, example=text, last_asked_at=now
            )
            row.refresh_from_db()
    return row


def clean_question_text(text: str) -> str:
    return " ".join(text.split())[:300]


def do_add_article_question(
    article: Article,
    text: str,
    *,
    source: str = ArticleQuestion.Source.ADMIN,
    user_id: int | None = None,
) -> ArticleQuestion:
    """Attach a question the article answers; every search path uses it from now on.

    Adding the same wording twice keeps the one row; the index follows (see signals)."""
    cleaned = clean_question_text(text)
    if not cleaned:
        raise ValueError("a question needs some words")
    with transaction.atomic():
        question, _ = ArticleQuestion.objects.get_or_create(
            article=article,
            text=cleaned,
            defaults={"source": source, "created_by_id": user_id},
        )
    return question


def do_link_unanswered(
    unanswered: UnansweredQuestion, article: Article, *, user_id: int | None = None
) -> ArticleQuestion:
    """An operator says `article` answers an unanswered question: its wording becomes one
    of the article's questions, and the report row records the link."""
    with transaction.atomic():
        row = UnansweredQuestion.objects.select_for_update().get(pk=unanswered.pk)
        question = do_add_article_question(
            article, row.example, source=ArticleQuestion.Source.UNANSWERED, user_id=user_id
        )
        row.answered_by = article
        row.answered_at = timezone.now()
        row.save(update_fields=["answered_by", "answered_at"])
    return question


def search_help_center(query: str, *, limit: int = 3, semantic: bool | None = None) -> SearchResult:
    """Hybrid search with a key (embeddings + lexical), else the offline lexical search.

    `semantic` forces one path (the evaluation measures both)."""
    if embeddings_enabled() if semantic is None else semantic:
        return hybrid_search(query, limit=limit)
    return current_index().search(query, limit=limit)


def do_search_help_center(query: str, *, record: bool = True, limit: int = 3) -> SearchResult:
    """Search the published articles; a question with no good passage is recorded."""
    result = search_help_center(query, limit=limit)
    if record and not result.covered:
        do_record_unanswered(query)
    return result


# --- Loading the demo help center from Markdown files ------------------------------


@dataclass(frozen=True)
class ArticleFile:
    slug: str
    title: str
    category: str
    body: str
    published: bool


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def parse_article_file(path: Path) -> ArticleFile:
    """An article file: front matter (title, category, optional slug/published), then Markdown."""
    text = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ValueError(f"{path.name}: missing front matter")
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{path.name}: bad front matter line {line!r}")
        meta[key.strip().lower()] = value.strip()
    for required in ("title", "category"):
        if not meta.get(required):
            raise ValueError(f"{path.name}: front matter needs {required}")
    return ArticleFile(
        slug=meta.get("slug") or path.stem,
        title=meta["title"],
        category=meta["category"],
        body=text[match.end() :].strip() + "\n",
        published=meta.get("published", "true").lower() not in {"false", "no", "0"},
    )


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def do_load_help_center(directory: Path = ARTICLES_DIR, *, update: bool = False) -> LoadReport:
    """Create the articles found in `directory` that are missing (idempotent).

    Existing articles are left as they are, since staff may have edited them in the
    admin, unless `update` is set: then any that differ from their file are rewritten.
    """
    files = [parse_article_file(path) for path in sorted(directory.glob("*.md"))]
    existing = {a.slug: a for a in Article.objects.filter(slug__in=[f.slug for f in files])}
    report = LoadReport()
    with transaction.atomic():
        for item in files:
            article = existing.get(item.slug)
            if article is None:
                do_save_article(
                    Article(
                        slug=item.slug,
                        title=item.title,
                        category=item.category,
                        body=item.body,
                        published=item.published,
                    )
                )
                report.created += 1
                continue
            fields = {
                "title": item.title,
                "category": item.category,
                "body": item.body,
                "published": item.published,
            }
            if not update or all(getattr(article, k) == v for k, v in fields.items()):
                report.unchanged += 1
                continue
            for key, value in fields.items():
                setattr(article, key, value)
            do_save_article(article)
            report.updated += 1
    return report
