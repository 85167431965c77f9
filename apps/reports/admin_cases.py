"""Admin pages of the saved test cases: saved from a conversation (drafted from its
transcript, then edited), listed with their last results."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from apps.chat.models import Conversation

from . import cases
from .models import SavedCase, SavedCaseRun


class SavedCaseRunInline(admin.TabularInline):
    model = SavedCaseRun
    fields = ("ran_at", "label", "result", "why", "termination", "turns", "cost_usd")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-ran_at",)
    verbose_name_plural = "results (newest first)"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("reports.view_savedcase")

    @admin.display(description="result")
    def result(self, obj: SavedCaseRun) -> str:
        return "passed" if obj.passed else "FAILED"

    @admin.display(description="why it failed")
    def why(self, obj: SavedCaseRun) -> str:
        return format_html_join("", "<div>{}</div>", ((f,) for f in obj.failures or []))


@admin.register(SavedCase)
class SavedCaseAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "escalation", "last_result", "last_run", "active")
    list_filter = ("active", "escalation")
    search_fields = ("name", "goal")
    fields = (
        "name",
        "conversation",
        "goal",
        "facts",
        "behaviour",
        "expected_actions",
        "check_store",
        "escalation",
        "must_include",
        "must_not_include",
        "active",
    )
    raw_id_fields = ("conversation",)
    inlines = [SavedCaseRunInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        last = SavedCaseRun.objects.filter(case=OuterRef("pk")).order_by("-ran_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_passed=Subquery(last.values("passed")[:1]),
                last_ran_at=Subquery(last.values("ran_at")[:1]),
            )
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        conversation_id = request.GET.get("conversation")
        if conversation_id:
            conversation = Conversation.objects.filter(pk=conversation_id).first()
            if conversation is not None:
                return cases.draft_case(conversation)
        return super().get_changeform_initial_data(request)

    def save_model(self, request: HttpRequest, obj: SavedCase, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.display(description="from")
    def source(self, obj: SavedCase) -> str:
        if obj.conversation_id is None:
            return "—"
        url = reverse("admin:chat_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.conversation_id)[:8])

    @admin.display(description="last result", ordering="last_passed")
    def last_result(self, obj: Any) -> str:
        if obj.last_passed is None:
            return "not run yet"
        return "passed" if obj.last_passed else "FAILED"

    @admin.display(description="last run", ordering="last_ran_at")
    def last_run(self, obj: Any) -> Any:
        return obj.last_ran_at or "—"


def save_case(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """ "Save as test case": the add form, drafted from the conversation's transcript."""
    if not request.user.has_perm("reports.add_savedcase"):
        raise PermissionDenied
    conversation = get_object_or_404(Conversation, pk=conversation_id)
    query = urlencode({"conversation": str(conversation.pk)})
    return HttpResponseRedirect(f"{reverse('admin:reports_savedcase_add')}?{query}")
