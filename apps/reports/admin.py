"""Read-only admin views of what the reports app records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.common.read_only_admin import ReadOnlyAdmin

# These register themselves on import: the conversation review (on chat's Conversation,
# it reads reports' analyses), saved cases, policy trials and the quality loop's pages.
from . import (  # noqa: F401
    admin_cases,
    admin_conversations,
    admin_gaps,
    admin_policy,
    admin_quality,
)
from .admin_conversations import conversation_link
from .models import AnalysisBatch, ConversationAnalysis, StaffAuditEvent, TranscriptDelivery


class ConversationRowAdmin(ReadOnlyAdmin):
    """A read-only row about one conversation, which links to its review."""

    @admin.display(description="conversation")
    def conversation(self, obj: Any) -> str:
        return conversation_link(obj)


@admin.register(StaffAuditEvent)
class StaffAuditEventAdmin(ConversationRowAdmin):
    list_display = ("created_at", "user", "action", "conversation", "detail")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter), "user")
    list_select_related = ("user",)
    date_hierarchy = "created_at"


@admin.register(ConversationAnalysis)
class ConversationAnalysisAdmin(ConversationRowAdmin):
    list_display = ("conversation", "intent", "sentiment", "resolution", "source", "updated_at")
    list_filter = ("resolution", "sentiment", "intent", "source", "status")
    search_fields = ("summary",)


@admin.register(TranscriptDelivery)
class TranscriptDeliveryAdmin(ConversationRowAdmin):
    list_display = ("conversation", "episode", "status", "recipient", "send_count", "sent_at")
    list_filter = ("status",)


@admin.register(AnalysisBatch)
class AnalysisBatchAdmin(ReadOnlyAdmin):
    list_display = ("openai_batch_id", "status", "remote_status", "request_count", "submitted_at")
    list_filter = ("status",)
