"""Help-center editing for staff, and the list of questions it could not answer."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .markdown import render
from .models import Article, Passage, UnansweredQuestion
from .services import do_publish_article, do_save_article, do_unpublish_article


class PassageInline(admin.TabularInline):
    model = Passage
    fields = ("position", "heading", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Search passages (rebuilt from the body on save)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "category", "published", "passage_count", "updated_at", "page_link")
    list_filter = ("published", "category")
    search_fields = ("title", "body", "slug")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("preview", "updated_at", "created_at")
    fields = ("title", "slug", "category", "published", "body", "preview", "updated_at")
    inlines = (PassageInline,)
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
    """What customers asked that no article answers: the next articles to write."""

    list_display = ("example", "count", "last_asked_at", "first_asked_at", "normalized")
    search_fields = ("example", "normalized")
    ordering = ("-count", "-last_asked_at")
    readonly_fields = ("normalized", "example", "count", "first_asked_at", "last_asked_at")
    actions = ("delete_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
