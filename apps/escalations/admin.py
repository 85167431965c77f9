from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.common.read_only_admin import ReadOnlyAdmin, ReadOnlyInline

from .models import (
    AgentNote,
    AgentPresence,
    CannedReply,
    CopilotSuggestion,
    Escalation,
    EscalationEvent,
)


class EscalationEventInline(ReadOnlyInline):
    model = EscalationEvent
    fields = ("created_at", "kind", "actor", "data")


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    """A read-only record; agents act in the console, where every change is checked."""

    list_display = (
        "id",
        "console_link",
        "status",
        "priority",
        "trigger",
        "reason",
        "claimed_by",
        "created_at",
        "email_requested",
    )
    list_filter = ("status", "priority", "trigger", "email_requested")
    search_fields = ("reason", "conversation__id", "customer__email")
    date_hierarchy = "created_at"
    inlines = [EscalationEventInline]
    change_list_template = "escalations/admin_change_list.html"

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # Open hand-offs first (waiting, then with an agent), then the newest closed ones;
        # not the model's queue order, which would open on the oldest closed escalations.
        open_first = Case(
            When(status=Escalation.Status.QUEUED, then=Value(0)),
            When(status=Escalation.Status.CLAIMED, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
        return [open_first.asc(), "-created_at", "-pk"]

    @admin.display(description="Conversation")
    def console_link(self, obj: Escalation) -> str:
        url = reverse("escalations:conversation", args=[obj.conversation_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.conversation_id)[:8])


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("title", "active", "position", "updated_at")
    list_editable = ("active", "position")
    search_fields = ("title", "text")


@admin.register(AgentNote)
class AgentNoteAdmin(admin.ModelAdmin):
    list_display = ("conversation", "author", "created_at", "text")
    search_fields = ("text",)
    readonly_fields = ("conversation", "escalation", "author", "text", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ("user", "status", "connections", "last_seen", "max_conversations")
    list_editable = ("max_conversations",)
    readonly_fields = ("connections", "last_seen")


@admin.register(CopilotSuggestion)
class CopilotSuggestionAdmin(ReadOnlyAdmin):
    """What the copilot suggested and what the agent did with it (read-only)."""

    list_display = ("created_at", "agent", "kind", "source", "status", "text")
    list_filter = ("kind", "source", "status")
    search_fields = ("text", "sent_text")
    date_hierarchy = "created_at"
