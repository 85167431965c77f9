"""Admin pages of the knowledge gaps: drafts to edit, approve or reject; whether an
approved draft closed its gap; articles that duplicate or contradict each other."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from . import gaps
from .models import ArticleDraft


@admin.register(ArticleDraft)
class ArticleDraftAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "status", "asked", "sources", "gap", "created_at")
    list_filter = ("status", "kind", "source")
    search_fields = ("title", "questions", "body")
    fields = (
        "status",
        "kind",
        "target",
        "title",
        "category",
        "body",
        "questions",
        "agent_answers",
        "asked",
        "sources",
        "conflict_list",
        "gap",
        "source",
        "model",
        "reviewed_by",
        "reviewed_at",
    )
    # The manager edits the draft's text; the rest is where it came from and its review.
    readonly_fields = tuple(
        f for f in fields if f not in {"title", "category", "body", "questions"}
    )
    change_form_template = "reports/articledraft_change_form.html"
    change_list_template = "reports/articledraft_change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != ArticleDraft.Status.DRAFT:
            return False  # published or rejected: the article is edited in the help center
        return super().has_change_permission(request, obj)

    @admin.display(description="edits")
    def target(self, obj: ArticleDraft) -> str:
        if obj.article_id is None:
            return "—"
        url = reverse("admin:knowledge_article_change", args=[obj.article_id])
        return format_html('<a href="{}">{}</a>', url, obj.article)

    @admin.display(description="from conversations")
    def sources(self, obj: ArticleDraft) -> str:
        ids = list(obj.conversations.values_list("pk", flat=True)[:12])
        if not ids:
            return "— (the unanswered-questions report)"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:chat_conversation_change", args=[pk]), str(pk)[:8]) for pk in ids),
        )

    @admin.display(description="duplicates or contradicts")
    def conflict_list(self, obj: ArticleDraft) -> str:
        if not obj.conflicts:
            return "Nothing found."
        return format_html_join(
            "",
            "<div>{}: {} — {} ({})</div>",
            (
                (c["kind"], c["other"], c.get("other_heading") or "intro", c["detail"])
                for c in obj.conflicts
            ),
        )

    @admin.display(description="gap closed?")
    def gap(self, obj: ArticleDraft) -> str:
        status = gaps.gap_status(obj)
        if status is None:
            return "—"
        text = f"{status.answered}/{status.total} questions answered now"
        if status.asked_again:
            text += f", {status.asked_again} asked again unanswered"
        return f"{'closed' if status.closed else 'open'}: {text}"

    def response_change(self, request: HttpRequest, obj: ArticleDraft) -> HttpResponse:
        for action, run in (("_approve", gaps.do_approve_draft), ("_reject", gaps.do_reject_draft)):
            if action not in request.POST:
                continue
            if not request.user.has_perm("reports.approve_articledraft"):
                raise PermissionDenied
            try:
                run(obj.pk, user_id=request.user.pk)
            except gaps.DraftError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(request.path)
            done = "published and searchable" if action == "_approve" else "rejected"
            self.message_user(request, f"“{obj.title}” {done}.")
            return HttpResponseRedirect(reverse("admin:reports_articledraft_changelist"))
        return super().response_change(request, obj)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {
            **(extra_context or {}),
            "can_approve": request.user.has_perm("reports.approve_articledraft"),
        }
        return super().changeform_view(request, object_id, form_url, extra)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("article")


@require_POST
def find_gaps_now(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("reports.change_articledraft"):
        raise PermissionDenied
    report = gaps.do_find_gaps()
    messages.success(
        request,
        f"{report.questions} unanswered questions in {report.gaps} groups: "
        f"{len(report.drafts)} new drafts ({report.skipped} groups already drafted).",
    )
    return HttpResponseRedirect(reverse("admin:reports_articledraft_changelist"))


def article_conflicts(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("knowledge.view_article"):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Help-center articles that duplicate or contradict each other",
        "conflicts": gaps.find_conflicts(),
    }
    return TemplateResponse(request, "reports/article_conflicts.html", context)
