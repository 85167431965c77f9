"""Help-center articles, their searchable passages, and questions nobody answered."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse


class Article(models.Model):
    """One help-center page, written in Markdown and served at /help/<slug>/."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120, unique=True)
    category = models.CharField(max_length=80, db_index=True)
    body = models.TextField(help_text="Markdown: headings (##), lists, **bold**, *italic*, links.")
    published = models.BooleanField(default=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category", "title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("knowledge:article", kwargs={"slug": self.slug})


class Passage(models.Model):
    """A section of an article (split at its headings): the unit search ranks.

    Rebuilt from the article on every save, so it always matches the body."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="passages")
    position = models.PositiveIntegerField()
    heading = models.CharField(max_length=200, blank=True)
    anchor = models.SlugField(max_length=200, blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["article_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["article", "position"], name="passage_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.article.title} / {self.heading or '(intro)'}"


class IndexState(models.Model):
    """A single row whose stamp changes whenever the searchable content changes.

    Every process keeps its own in-memory index and rebuilds it when the stamp
    it built from is no longer the one stored here, so a save handled by one
    Daphne process is seen by all the others on their next search. The stamp is
    random rather than a counter so that a database that was reset or rolled
    back can never hand out a stamp an old in-memory index was built from."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    stamp = models.CharField(max_length=32, default="")
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"help-center index {self.stamp[:8]}"

    @classmethod
    def bump(cls) -> None:
        """Say the searchable content changed: every process rebuilds on its next search."""
        cls.objects.update_or_create(pk=1, defaults={"stamp": uuid.uuid4().hex})


class ArticleQuestion(models.Model):
    """A question this article answers, in a customer's words.

    Every search path indexes these beside the article's sections: the offline
    index as short documents of their own, the embeddings path as vectors. An
    operator adds them in the article's admin page, or in one click from the
    unanswered-questions report."""

    class Source(models.TextChoices):
        ADMIN = "admin", "written in the admin"
        UNANSWERED = "unanswered", "from the unanswered-questions report"

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=300)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.ADMIN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["article_id", "id"]
        verbose_name = "question this article answers"
        verbose_name_plural = "questions this article answers"
        constraints = [
            models.UniqueConstraint(fields=["article", "text"], name="article_question_unique")
        ]

    def __str__(self) -> str:
        return self.text


class SectionEmbedding(models.Model):
    """The embedding of one searchable text (a section or an alternate phrasing).

    Keyed by the embedding model and a hash of the exact text embedded, not by
    the passage row (passages are rebuilt on every save): an edited section gets
    a new hash and is embedded once; an unchanged one is never embedded again."""

    model = models.CharField(max_length=80)
    content_hash = models.CharField(max_length=64)
    dimensions = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float32, little-endian, unit length")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model", "content_hash"], name="section_embedding_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.content_hash[:12]}"


class SearchCalibration(models.Model):
    """Where the hybrid search draws the "not covered" line, for one embedding model.

    Computed on the tuning questions (`manage.py eval_help_center --calibrate`),
    never on a held-out file, against the embeddings endpoint this deployment uses.
    Without a row the semantic ranks only reorder, and the lexical rule decides."""

    model = models.CharField(max_length=80, unique=True)
    threshold = models.FloatField(help_text="cosine at or above which the best article covers")
    floor = models.FloatField(help_text="cosine below which even a lexical match does not")
    rrf_k = models.PositiveIntegerField(default=10)
    semantic_weight = models.FloatField(
        default=1.0, help_text="weight of the semantic rank in the fusion (lexical: 1)"
    )
    margin = models.FloatField(
        default=1e9,
        help_text="not covered when an unanswered labelled example is this much closer "
        "than the best article (1e9: never)",
    )
    tuned_on = models.CharField(max_length=200)
    questions = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return (
            f"{self.model}: threshold {self.threshold:.3f}, floor {self.floor:.3f}, "
            f"k {self.rrf_k}, semantic weight {self.semantic_weight}"
        )


class UnansweredQuestion(models.Model):
    """A customer question the help center had no good passage for."""

    normalized = models.CharField(max_length=300, unique=True)
    example = models.TextField(help_text="The latest wording a customer used.")
    count = models.PositiveIntegerField(default=1)
    first_asked_at = models.DateTimeField(auto_now_add=True)
    last_asked_at = models.DateTimeField()
    answered_by = models.ForeignKey(
        Article,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The article an operator linked as answering it.",
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-count", "-last_asked_at"]

    def __str__(self) -> str:
        return f"{self.example} ({self.count}×)"
