"""Read-only admin views of what the reports app records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

# These register themselves on import: the conversation review (on chat's Conversation,
# it reads reports' analyses), saved cases, policy trials and the quality loop's pages.
from . import (  # noqa: F401
    admin_cases,
    admin_conversations,
    admin_gaps,
    admin_policy,
    admin_quality,
)
from .models import AnalysisBatch, ConversationAnalysis, StaffAuditEvent, TranscriptDelivery


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def conversation_link(obj: Any) -> str:
    if not obj.conversation_id:
        return "—"
    url = reverse("admin:chat_conversation_change", args=[obj.conversation_id])
    return format_html('<a href="{}">{}</a>', url, str(obj.conversation_id)[:8])


@admin.register(StaffAuditEvent)
class StaffAuditEventAdmin(ReadOnly):
    list_display = ("created_at", "user", "action", "conversation", "detail")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter), "user")
    list_select_related = ("user",)
    date_hierarchy = "created_at"

    @admin.display(description="conversation")
    def conversation(self, obj: StaffAuditEvent) -> str:
        return conversation_link(obj)


@admin.register(ConversationAnalysis)
class ConversationAnalysisAdmin(ReadOnly):
    list_display = ("conversation", "intent", "sentiment", "resolution", "source", "updated_at")
    list_filter = ("resolution", "sentiment", "intent", "source", "status")
    search_fields = ("summary",)

    @admin.display(description="conversation")
    def conversation(self, obj: ConversationAnalysis) -> str:
        return conversation_link(obj)


@admin.register(TranscriptDelivery)
class TranscriptDeliveryAdmin(ReadOnly):
    list_display = ("conversation", "episode", "status", "recipient", "send_count", "sent_at")
    list_filter = ("status",)

    @admin.display(description="conversation")
    def conversation(self, obj: TranscriptDelivery) -> str:
        return conversation_link(obj)


@admin.register(AnalysisBatch)
class AnalysisBatchAdmin(ReadOnly):
    list_display = ("openai_batch_id", "status", "remote_status", "request_count", "submitted_at")
    list_filter = ("status",)
