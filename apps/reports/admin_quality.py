"""Admin pages of the quality loop: the rubric, the reviews (filter by low score, agree or
disagree per criterion), and the conversation page's "review now" button."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import SimpleListFilter
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from apps.chat.models import Conversation

from . import quality
from .admin_conversations import conversation_link
from .models import CriterionScore, QualityReview, RubricCriterion


@admin.register(RubricCriterion)
class RubricCriterionAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "position", "active")
    list_editable = ("position", "active")
    fields = ("key", "name", "guidance", "position", "active")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The key is what the reviewers and the stored scores know a criterion by.
        return ("key",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: old reviews keep their scores


class LowScoreFilter(SimpleListFilter):
    title = "score"
    parameter_name = "low"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Low (below 3, or a criterion at 1–2)"), ("no", "Not low")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in {"yes", "no"}:
            return queryset.filter(low=self.value() == "yes")
        return queryset


class LowCriterionFilter(SimpleListFilter):
    title = "low on criterion"
    parameter_name = "low_on"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(c.key, c.name) for c in RubricCriterion.objects.all()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value():
            return queryset.filter(scores__key=self.value(), scores__score__lte=2).distinct()
        return queryset


class VerdictFilter(SimpleListFilter):
    title = "manager verdict"
    parameter_name = "verdict"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("disagree", "Has a disagreement"), ("none", "Not judged yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "disagree":
            return queryset.filter(scores__verdict="disagree").distinct()
        if self.value() == "none":
            return queryset.exclude(scores__verdict__in=["agree", "disagree"])
        return queryset


class VerdictFormSet(BaseInlineFormSet):  # type: ignore[type-arg,unused-ignore]
    request: HttpRequest

    def save(self, commit: bool = True) -> list[Any]:
        # The admin's change message reads these; verdicts go through the service instead.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.forms:
            if form.has_changed():
                quality.do_judge_criterion(
                    form.instance,
                    verdict=form.cleaned_data.get("verdict", ""),
                    note=form.cleaned_data.get("verdict_note", ""),
                    user_id=self.request.user.pk,
                )
        return []


class CriterionScoreInline(admin.TabularInline):
    model = CriterionScore
    formset = VerdictFormSet
    fields = ("name", "score_text", "reason", "turn", "verdict", "verdict_note", "verdict_by")
    readonly_fields = ("name", "score_text", "reason", "turn", "verdict_by")
    extra = 0
    can_delete = False
    verbose_name = "criterion"
    verbose_name_plural = "scores per criterion (agree or disagree with each)"

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.request = request  # type: ignore[attr-defined]
        return formset

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("reports.view_qualityreview")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("reports.judge_qualityreview")

    @admin.display(description="score")
    def score_text(self, obj: CriterionScore) -> str:
        return "not judged" if obj.score is None else f"{obj.score} / 5"

    @admin.display(description="message")
    def turn(self, obj: CriterionScore) -> str:
        if obj.turn_seq is None:
            return "—"
        url = reverse("admin:chat_conversation_change", args=[obj.review.conversation_id])
        return format_html('<a href="{}#seq-{}">#{}</a>', url, obj.turn_seq, obj.turn_seq)


@admin.register(QualityReview)
class QualityReviewAdmin(admin.ModelAdmin):
    list_display = ("short_id", "score_text", "criteria", "source", "reviewed_at", "conversation")
    list_filter = (LowScoreFilter, LowCriterionFilter, VerdictFilter, "source", "status")
    list_select_related = ("conversation",)
    ordering = ("-reviewed_at",)
    date_hierarchy = "reviewed_at"
    inlines = [CriterionScoreInline]
    readonly_fields = (
        "conversation",
        "score_text",
        "status",
        "source",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "reviewed_at",
    )
    fields = readonly_fields
    actions = ["review_now"]
    change_form_template = "reports/qualityreview_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("scores")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("reports.judge_qualityreview")

    @admin.display(description="review")
    def short_id(self, obj: QualityReview) -> str:
        return str(obj.conversation_id)[:8]

    @admin.display(description="conversation")
    def conversation(self, obj: QualityReview) -> str:
        return conversation_link(obj)

    @admin.display(description="score", ordering="score")
    def score_text(self, obj: QualityReview) -> str:
        if obj.status == QualityReview.Status.QUEUED:
            return "queued"
        text = "—" if obj.score is None else f"{obj.score:.1f}"
        return format_html('<b class="sb-low">{} low</b>', text) if obj.low else text

    @admin.display(description="criteria")
    def criteria(self, obj: QualityReview) -> str:
        return format_html_join(
            " ",
            '<span title="{}">{}:&nbsp;{}</span>',
            ((s.reason, s.name, "n/a" if s.score is None else s.score) for s in obj.scores.all()),
        )

    @admin.action(description="Review again now (the model with a key, else the rules)")
    def review_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        ids = list(queryset.values_list("conversation_id", flat=True)[:21])
        if len(ids) > 20:
            self.message_user(request, "Choose at most 20 conversations.", messages.ERROR)
            return
        for conversation_id in ids:
            quality.do_review_conversation(conversation_id, now=True)
        self.message_user(request, f"Reviewed {len(ids)} conversation(s).")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        review = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "can_save_case": _can_save_case(request)}
        if review is not None:
            extra_context["transcript_lines"] = quality.audit_of(review.conversation).lines
            extra_context["save_case_url"] = save_case_url(review.conversation_id)
        return super().change_view(request, object_id, form_url, extra_context)


def save_case_url(conversation_id: Any) -> str:
    return reverse("reports:save_case", args=[conversation_id])


def _can_save_case(request: HttpRequest) -> bool:
    return request.user.has_perm("reports.add_savedcase")


@require_POST
def review_now(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """On demand: review one conversation now, then show its review."""
    if not request.user.has_perm("reports.judge_qualityreview"):
        raise PermissionDenied
    conversation = get_object_or_404(Conversation, pk=conversation_id)
    review = quality.do_review_conversation(conversation.pk, now=True)
    assert review is not None
    messages.success(request, f"Reviewed ({review.get_source_display()}).")
    return HttpResponseRedirect(reverse("admin:reports_qualityreview_change", args=[review.pk]))
