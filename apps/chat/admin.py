"""Read-only admin views of the chat app's audit rows. The conversation review itself
(list, filters, exports, detail) is in apps/reports/admin_conversations.py."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from apps.common.read_only_admin import ReadOnlyAdmin

from .models import Message, PendingAction, SuggestedQuestion, Turn

# --- Read-only views of the audit rows ---------------------------------------------------


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("conversation_link", "seq", "kind", "role", "short_text", "created_at")
    list_filter = ("kind", "role")
    list_select_related = ("conversation",)
    search_fields = ("text",)

    @admin.display(description="conversation")
    def conversation_link(self, obj: Message) -> str:
        url = reverse("admin:chat_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.conversation_id)[:8])

    @admin.display(description="text")
    def short_text(self, obj: Message) -> str:
        return obj.text if len(obj.text) <= 80 else obj.text[:79] + "…"


@admin.register(Turn)
class TurnAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "conversation_id",
        "status",
        "model",
        "steps",
        "prompt_tokens",
        "cached",
        "completion_tokens",
        "cost_usd",
        "finish_reason",
        "ttft_ms",
        "duration_ms",
        "started_at",
    )
    list_filter = ("status", "provider", "finish_reason")

    @admin.display(description="cached input")
    def cached(self, obj: Turn) -> str:
        return f"{obj.cached_share:.0%}"


@admin.register(PendingAction)
class PendingActionAdmin(ReadOnlyAdmin):
    list_display = ("tool_name", "conversation_id", "status", "summary", "created_at", "decided_at")
    list_filter = ("status", "tool_name")


@admin.register(SuggestedQuestion)
class SuggestedQuestionAdmin(admin.ModelAdmin[SuggestedQuestion]):
    """The first questions offered as chips in the chat, per language."""

    list_display = ["text", "language", "position", "active"]
    list_editable = ["language", "position", "active"]
    list_filter = ["language", "active"]
    search_fields = ["text"]
