"""The manager-facing conversation review in the admin: a filterable, searchable list with
cost and duration, exports of the filtered list, and a read-only detail with the full
transcript and audit. Staff actions here are recorded (StaffAuditEvent). It registers
the chat app's Conversation: the review reads reports' analyses, so it lives here, above chat."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter, SimpleListFilter
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from apps.chat.models import Conversation, Message

from .analysis import INTENTS
from .dashboard import MillisBetween
from .models import ConversationAnalysis, StaffAuditEvent
from .queries import escalated, flagged, handled_by
from .review import build_review
from .services import do_record_staff_event


def conversation_link(obj: Any) -> str:
    """A link from a row about a conversation (`obj.conversation_id`) to its review."""
    if not obj.conversation_id:
        return "—"
    url = reverse("admin:chat_conversation_change", args=[obj.conversation_id])
    return format_html('<a href="{}">{}</a>', url, str(obj.conversation_id)[:8])


# --- Filters ----------------------------------------------------------------------------


class ResolutionFilter(SimpleListFilter):
    title = "resolution"
    parameter_name = "resolution"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*ConversationAnalysis.Resolution.choices, ("none", "Not analysed yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value == "none":
            return queryset.filter(
                Q(analysis__isnull=True) | ~Q(analysis__status=ConversationAnalysis.Status.DONE)
            )
        if value in ConversationAnalysis.Resolution.values:
            return queryset.filter(
                analysis__resolution=value, analysis__status=ConversationAnalysis.Status.DONE
            )
        return queryset


class YesNoFilter(SimpleListFilter):
    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def condition(self) -> Any:
        raise NotImplementedError

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "yes":
            return queryset.filter(self.condition())
        if self.value() == "no":
            return queryset.exclude(self.condition())
        return queryset


class EscalatedFilter(YesNoFilter):
    title = "escalated to a person"
    parameter_name = "escalated"

    def condition(self) -> Any:
        return escalated()


class FlaggedFilter(YesNoFilter):
    title = "flagged by the input screen"
    parameter_name = "flagged"

    def condition(self) -> Any:
        return flagged()


class CsatFilter(SimpleListFilter):
    title = "CSAT"
    parameter_name = "csat"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            *((str(n), "★" * n) for n in range(5, 0, -1)),
            ("low", "Low (1–2)"),
            ("none", "Not rated"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value == "low":
            return queryset.filter(csat_score__lte=2)
        if value == "none":
            return queryset.filter(csat_score__isnull=True)
        if value in {"1", "2", "3", "4", "5"}:
            return queryset.filter(csat_score=int(value))
        return queryset


class IntentFilter(SimpleListFilter):
    title = "intent"
    parameter_name = "intent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        stored = ConversationAnalysis.objects.exclude(intent="").values_list("intent", flat=True)
        names = sorted(set(INTENTS) | set(stored.distinct()))
        return [(name, name.replace("_", " ")) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value():
            return queryset.filter(analysis__intent=self.value())
        return queryset


class AgentFilter(SimpleListFilter):
    title = "agent"
    parameter_name = "agent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        agents = (
            get_user_model()
            .objects.filter(is_staff=True)
            .filter(
                Q(groups__name="Support agents")
                | Exists(Message.objects.filter(author=OuterRef("pk"), role=Message.Role.AGENT))
            )
            .distinct()
            .order_by("first_name", "username")
        )
        return [(str(u.pk), u.get_full_name() or u.get_username()) for u in agents]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(handled_by(int(value)))
        return queryset


# --- Export ------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _seconds(millis: int | None) -> float | None:
    return None if millis is None else round(millis / 1000, 1)


def _text(value: str | None) -> str:
    return value or ""


def _as_is(value: Any) -> Any:
    return value


# Each exported column: its name, the value it is read from, and how it is written.
EXPORT_COLUMNS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("id", "id", str),
    ("created_at", "created_at", _iso),
    ("closed_at", "closed_at", _iso),
    ("status", "status", _as_is),
    ("close_reason", "close_reason", _as_is),
    ("customer_id", "customer_id", _as_is),
    ("episode", "episode", _as_is),
    ("turn_count", "turn_count", _as_is),
    ("prompt_tokens", "prompt_tokens", _as_is),
    ("completion_tokens", "completion_tokens", _as_is),
    ("cost_usd", "cost_usd", str),
    ("duration_s", "duration_ms", _seconds),
    ("csat_score", "csat_score", _as_is),
    ("csat_comment", "csat_comment", _as_is),
    ("escalated", "is_escalated", bool),
    ("flagged", "is_flagged", bool),
    ("intent", "analysis__intent", _text),
    ("sentiment", "analysis__sentiment", _text),
    ("resolution", "analysis__resolution", _text),
    ("summary", "analysis__summary", _text),
]
EXPORT_FIELDS = [name for name, _, _ in EXPORT_COLUMNS]


def export_rows(queryset: QuerySet[Any]) -> Iterator[dict[str, Any]]:
    rows = queryset.values(*(source for _, source, _ in EXPORT_COLUMNS))
    for row in rows.iterator(chunk_size=500):
        yield {name: write(row[source]) for name, source, write in EXPORT_COLUMNS}


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ runs as a formula in spreadsheets: quote it.
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


def csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for row in rows:
        writer.writerow([_csv_cell(row[name]) for name in EXPORT_FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def jsonl_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


# --- The conversation admin ------------------------------------------------------------


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "short_id",
        "created_at",
        "status",
        "customer_name",
        "intent",
        "resolution",
        "escalated_mark",
        "flagged_mark",
        "csat_score",
        "turn_count",
        "cost",
        "duration",
    )
    list_filter = (
        ("created_at", DateFieldListFilter),
        "status",
        ResolutionFilter,
        EscalatedFilter,
        CsatFilter,
        IntentFilter,
        AgentFilter,
        FlaggedFilter,
    )
    search_fields = ("messages__text",)  # replaced by get_search_results; shows the box
    search_help_text = "Search the text of every message (full-text on PostgreSQL), or an id."
    list_select_related = ("customer", "analysis")
    list_per_page = 50
    date_hierarchy = None
    ordering = ("-created_at",)
    actions = ["resend_transcripts"]
    change_list_template = "reports/conversation_change_list.html"
    change_form_template = "reports/conversation_detail.html"
    fieldsets = (
        (None, {"fields": (("status", "customer", "verified_by"), ("created_at", "episode"))}),
        (
            "Close and rating",
            {"fields": (("closed_at", "close_reason"), ("csat_score", "csat_comment"))},
        ),
        ("Usage", {"fields": (("turn_count", "prompt_tokens", "completion_tokens", "cost_usd"),)}),
    )
    readonly_fields = (
        "status",
        "customer",
        "verified_by",
        "created_at",
        "episode",
        "closed_at",
        "close_reason",
        "csat_score",
        "csat_comment",
        "turn_count",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    )

    # --- queryset, columns

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                is_escalated=ExpressionWrapper(escalated(), output_field=BooleanField()),
                is_flagged=ExpressionWrapper(flagged(), output_field=BooleanField()),
                duration_ms=MillisBetween(
                    Coalesce(F("closed_at"), F("updated_at")), F("created_at")
                ),
            )
        )

    @admin.display(description="id", ordering="created_at")
    def short_id(self, obj: Conversation) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="customer", ordering="customer__last_name")
    def customer_name(self, obj: Conversation) -> str:
        return obj.customer.full_name if obj.customer is not None else "—"

    def _analysis(self, obj: Conversation) -> ConversationAnalysis | None:
        try:
            return obj.analysis
        except ConversationAnalysis.DoesNotExist:
            return None

    @admin.display(description="intent", ordering="analysis__intent")
    def intent(self, obj: Conversation) -> str:
        analysis = self._analysis(obj)
        return analysis.intent.replace("_", " ") if analysis and analysis.intent else "—"

    @admin.display(description="resolution", ordering="analysis__resolution")
    def resolution(self, obj: Conversation) -> str:
        analysis = self._analysis(obj)
        return analysis.get_resolution_display() if analysis and analysis.resolution else "—"

    @admin.display(description="escalated", boolean=True, ordering="is_escalated")
    def escalated_mark(self, obj: Any) -> bool:
        return bool(obj.is_escalated)

    @admin.display(description="flagged", boolean=True, ordering="is_flagged")
    def flagged_mark(self, obj: Any) -> bool:
        return bool(obj.is_flagged)

    @admin.display(description="cost", ordering="cost_usd")
    def cost(self, obj: Conversation) -> str:
        return f"${obj.cost_usd.quantize(Decimal('0.0001'))}"

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: Any) -> str:
        if obj.duration_ms is None:
            return "—"
        seconds = obj.duration_ms / 1000
        if seconds < 60:
            return f"{seconds:.0f} s"
        if seconds < 3600:
            return f"{seconds / 60:.1f} min"
        return f"{seconds / 3600:.1f} h"

    # --- search

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            matching: QuerySet[Any] = (
                Message.objects.filter(conversation=OuterRef("pk"))
                .annotate(document=SearchVector("text", config="english"))
                .filter(document=SearchQuery(term, config="english", search_type="websearch"))
            )
        else:
            matching = Message.objects.filter(conversation=OuterRef("pk"), text__icontains=term)
        condition = Q(Exists(matching)) | Q(customer__email__iexact=term)
        with contextlib.suppress(ValueError):
            condition |= Q(pk=uuid.UUID(term))
        return queryset.filter(condition), False

    # --- read-only where it matters

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(getattr(request.user, "is_superuser", False))

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reports.resend_transcript")

    # --- views

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "export/<str:fmt>/",
                self.admin_site.admin_view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            path(
                "<path:object_id>/resend-transcript/",
                self.admin_site.admin_view(self.resend_view),
                name="{}_{}_resend".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        query = request.GET.urlencode()
        extra = {
            "export_csv_url": reverse("admin:chat_conversation_export", args=["csv"])
            + (f"?{query}" if query else ""),
            "export_jsonl_url": reverse("admin:chat_conversation_export", args=["jsonl"])
            + (f"?{query}" if query else ""),
            "can_view_dashboard": request.user.has_perm("reports.view_dashboard"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        conversation = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if conversation is not None and self.has_view_permission(request, conversation):
            if request.method == "GET":
                do_record_staff_event(
                    request.user.pk, StaffAuditEvent.Action.VIEW, conversation_id=conversation.pk
                )
            extra["review"] = build_review(conversation)
            extra["can_resend"] = self.has_resend_permission(request)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        if not self.has_view_permission(request) or fmt not in {"csv", "jsonl"}:
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request)
        everything = request.user.has_perm("chat.export_conversation")
        if not everything:
            # An agent exports only the conversations they handled; managers, any.
            queryset = queryset.filter(handled_by(int(request.user.pk or 0)))
        filters = {key: value for key, value in request.GET.items()}
        do_record_staff_event(
            request.user.pk,
            StaffAuditEvent.Action.EXPORT,
            detail={
                "format": fmt,
                "filters": filters,
                "count": queryset.count(),
                "scope": "all" if everything else "handled",
            },
        )
        rows = export_rows(queryset)
        if fmt == "csv":
            response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv")
        else:
            response = StreamingHttpResponse(jsonl_lines(rows), content_type="application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="conversations.{fmt}"'
        return response

    def resend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST" or not self.has_resend_permission(request):
            raise PermissionDenied
        conversation = get_object_or_404(Conversation, pk=object_id)
        self._resend(request, [conversation.pk])
        return HttpResponseRedirect(
            reverse("admin:chat_conversation_change", args=[conversation.pk])
        )

    @admin.action(description="Resend the transcript to the customer", permissions=["resend"])
    def resend_transcripts(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._resend(request, list(queryset.values_list("pk", flat=True)))

    def _resend(self, request: HttpRequest, ids: list[uuid.UUID]) -> None:
        from apps.outbox.services import enqueue

        with transaction.atomic():
            for conversation_id in ids:
                enqueue(
                    "apps.reports.tasks.send_transcript_task",
                    str(conversation_id),
                    force=True,
                    actor_id=request.user.pk,
                )
        self.message_user(
            request,
            f"Transcript resend requested for {len(ids)} conversation(s).",
            messages.SUCCESS,
        )
