"""Help-center editing for staff, and the list of questions it could not answer."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods

from .markdown import render
from .models import Article, ArticleQuestion, Passage, UnansweredQuestion
from .search import current_index
from .services import (
    do_link_unanswered,
    do_publish_article,
    do_save_article,
    do_unpublish_article,
)

LINK_PERMISSION = "knowledge.add_articlequestion"


class PassageInline(admin.TabularInline):
    model = Passage
    fields = ("position", "heading", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Search passages (rebuilt from the body on save)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ArticleQuestionInline(admin.TabularInline):
    """Questions this article answers, in customers' words: every search path uses them."""

    model = ArticleQuestion
    fields = ("text", "source", "created_by", "created_at")
    readonly_fields = ("source", "created_by", "created_at")
    extra = 1
    verbose_name = "question this article answers"
    verbose_name_plural = (
        "Questions this article answers (customers' wordings; search matches them too)"
    )


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "category", "published", "passage_count", "updated_at", "page_link")
    list_filter = ("published", "category")
    search_fields = ("title", "body", "slug")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("preview", "updated_at", "created_at")
    fields = ("title", "slug", "category", "published", "body", "preview", "updated_at")
    inlines = (ArticleQuestionInline, PassageInline)
    actions = ("publish_selected", "unpublish_selected")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Article]:
        return super().get_queryset(request).annotate(passage_total=Count("passages"))

    @admin.display(description="passages", ordering="passage_total")
    def passage_count(self, obj: Article) -> int:
        return getattr(obj, "passage_total", 0)

    @admin.display(description="page")
    def page_link(self, obj: Article) -> SafeString:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">view</a>', obj.get_absolute_url()
        )

    @admin.display(description="preview (as customers see it, after saving)")
    def preview(self, obj: Article) -> SafeString:
        if not obj.pk:
            return format_html("<em>{}</em>", "Save to see the preview.")
        # render() escapes every character of the body; only our own tags remain.
        return format_html('<div class="help-preview">{}</div>', render(obj.body))

    def save_model(self, request: HttpRequest, obj: Article, form: Any, change: bool) -> None:
        do_save_article(obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for instance in formset.save(commit=False):
            if isinstance(instance, ArticleQuestion):
                instance.text = " ".join(instance.text.split())
                if instance.created_by_id is None:
                    instance.created_by = request.user  # type: ignore[assignment]
            instance.save()
        for instance in formset.deleted_objects:
            instance.delete()
        formset.save_m2m()

    @admin.action(description="Publish selected articles")
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        for article in queryset:
            do_publish_article(article)
        self.message_user(request, f"Published {queryset.count()} article(s).", messages.SUCCESS)

    @admin.action(description="Unpublish selected articles (hide from pages and search)")
    def unpublish_selected(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        count = 0
        for article in queryset:
            do_unpublish_article(article)
            count += 1
        self.message_user(request, f"Unpublished {count} article(s).", messages.SUCCESS)


@admin.register(UnansweredQuestion)
class UnansweredQuestionAdmin(admin.ModelAdmin):
    """What customers asked that no article answers: the next articles to write, or
    wordings an existing article answers (one click adds the wording to it)."""

    list_display = ("example", "count", "last_asked_at", "answer", "first_asked_at")
    list_filter = (("answered_by", admin.EmptyFieldListFilter),)
    search_fields = ("example", "normalized")
    ordering = ("-count", "-last_asked_at")
    readonly_fields = (
        "normalized",
        "example",
        "count",
        "first_asked_at",
        "last_asked_at",
        "answered_by",
        "answered_at",
    )
    actions = ("delete_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[UnansweredQuestion]:
        return super().get_queryset(request).select_related("answered_by")

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/answer/",
                self.admin_site.admin_view(self.answer_view),
                name="knowledge_unansweredquestion_answer",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="answered by")
    def answer(self, obj: UnansweredQuestion) -> SafeString:
        """The linked article, or a one-click button for the article search ranks first.

        The button posts the changelist's own form (which carries the CSRF token) to
        the answer view; "another article" opens a page to choose one."""
        if obj.answered_by is not None:
            return format_html("✓ {}", obj.answered_by.title)
        url = reverse("admin:knowledge_unansweredquestion_answer", args=[obj.pk])
        hits = current_index().search(obj.example, limit=1).hits
        if not hits:
            return format_html('<a href="{}">Choose the article that answers it</a>', url)
        best = hits[0].passage
        return format_html(
            '<button type="submit" class="button" formaction="{}" name="article" value="{}" '
            'title="Add this wording to the article\'s questions">'
            "This article answers it: {}</button> "
            '<a href="{}">another article…</a>',
            url,
            best.article_id,
            best.title,
            url,
        )

    @method_decorator(require_http_methods(["GET", "POST"]))
    def answer_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not (
            request.user.has_perm(LINK_PERMISSION)
            and request.user.has_perm("knowledge.view_unansweredquestion")
        ):
            raise PermissionDenied
        unanswered = get_object_or_404(UnansweredQuestion, pk=pk)
        articles = Article.objects.filter(published=True).order_by("title")
        if request.method == "POST":
            article = get_object_or_404(articles, pk=_int_or_none(request.POST.get("article")))
            do_link_unanswered(unanswered, article, user_id=request.user.pk)
            self.message_user(
                request,
                f"“{unanswered.example}” added to the questions “{article.title}” answers.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:knowledge_unansweredquestion_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Which article answers this question?",
            "opts": self.model._meta,
            "unanswered": unanswered,
            "articles": articles,
            "suggested": [hit.passage for hit in current_index().search(unanswered.example).hits],
        }
        return TemplateResponse(request, "admin/knowledge/answer_unanswered.html", context)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None
