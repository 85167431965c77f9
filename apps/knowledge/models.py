"""Help-center articles, their searchable passages, and questions nobody answered."""

from __future__ import annotations

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


class UnansweredQuestion(models.Model):
    """A customer question the help center had no good passage for."""

    normalized = models.CharField(max_length=300, unique=True)
    example = models.TextField(help_text="The latest wording a customer used.")
    count = models.PositiveIntegerField(default=1)
    first_asked_at = models.DateTimeField(auto_now_add=True)
    last_asked_at = models.DateTimeField()

    class Meta:
        ordering = ["-count", "-last_asked_at"]

    def __str__(self) -> str:
        return f"{self.example} ({self.count}×)"
