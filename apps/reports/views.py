"""The manager dashboard, an admin page: parse the date range, compute, render."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from . import charts
from .dashboard import Figures, Spread, compute_figures
from .models import StaffAuditEvent
from .quality_figures import QualityFigures, compute_quality
from .services import do_record_staff_event

MAX_RANGE_DAYS = 366
DEFAULT_DAYS = 30


class RangeForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        if (end - start).days >= MAX_RANGE_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_RANGE_DAYS} days.")
        data["start"], data["end"] = start, end
        return data


def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("reports.view_dashboard"):
        raise PermissionDenied
    form = RangeForm(request.GET or None)
    if request.GET and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        end = timezone.localdate()
        start = end - timedelta(days=DEFAULT_DAYS - 1)
        if not request.GET:
            form = RangeForm(initial={"start": start, "end": end})
    figures = compute_figures(start, end)
    quality = compute_quality(start, end)
    do_record_staff_event(
        request.user.pk,
        StaffAuditEvent.Action.DASHBOARD,
        detail={"start": start.isoformat(), "end": end.isoformat()},
    )
    context = {
        **admin.site.each_context(request),
        "title": "Support dashboard",
        "form": form,
        "f": figures,
        "cards": cards(figures),
        "charts": build_charts(figures),
        "quality": quality,
        "quality_cards": quality_cards(quality),
        "quality_charts": quality_charts(quality),
        "presets": presets(end),
        "list_query": f"created_at__gte={start.isoformat()}"
        f"&created_at__lt={(end + timedelta(days=1)).isoformat()}",
    }
    return TemplateResponse(request, "reports/dashboard.html", context)


def presets(end: date) -> list[tuple[str, str]]:
    today = timezone.localdate()
    return [
        (label, f"?start={(today - timedelta(days=days - 1)).isoformat()}&end={today.isoformat()}")
        for label, days in (("7 days", 7), ("30 days", 30), ("90 days", 90))
    ]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _spread(spread: Spread) -> str:
    return f"{_duration(spread.median)} / {_duration(spread.p90)}"


def cards(f: Figures) -> list[dict[str, str]]:
    """The headline figures, formatted; each with a short note of what it counts."""
    return [
        {"label": "Conversations", "value": f"{f.total:,}", "note": f"{f.start} – {f.end}"},
        {
            "label": "Bot resolution rate",
            "value": _pct(f.bot_resolution_rate),
            "note": f"of {f.analysed:,} analysed",
        },
        {
            "label": "Escalation rate",
            "value": _pct(f.escalation_rate),
            "note": f"{f.escalated:,} handed to a person",
        },
        {
            "label": "First response, bot",
            "value": _spread(f.first_response_bot),
            "note": f"median / p90 over {f.first_response_bot.count:,}",
        },
        {
            "label": "First response, human",
            "value": _spread(f.first_response_human),
            "note": f"median / p90 over {f.first_response_human.count:,}",
        },
        {
            "label": "Time to resolution",
            "value": _spread(f.resolution_time),
            "note": f"median / p90 over {f.resolution_time.count:,} closed",
        },
        {
            "label": "CSAT",
            "value": "–" if f.csat_average is None else f"{f.csat_average:.2f} / 5",
            "note": f"{f.csat_count:,} ratings",
        },
        {
            "label": "Cost",
            "value": f"${f.cost_total:,.2f}",
            "note": (
                "–"
                if f.cost_per_conversation is None
                else f"${f.cost_per_conversation:.4f} per conversation"
            ),
        },
        {
            "label": "Time to first token, p95",
            "value": "–" if math.isnan(f.ttft_p95_ms) else f"{f.ttft_p95_ms:,.0f} ms",
            "note": f"over {f.ttft_count:,} turns",
        },
        {
            "label": "Flagged attempts",
            "value": f"{f.flagged_messages:,}",
            "note": f"in {f.flagged_conversations:,} conversations",
        },
    ]


def build_charts(f: Figures) -> dict[str, Any]:
    total_csat = sum(f.csat_distribution.values()) or 1
    return {
        "per_day": charts.time_series(
            f.per_day, label="Conversations per day", y_title="conversations"
        ),
        "cost_per_day": charts.time_series(
            f.cost_per_day,
            label="Cost per day (USD)",
            kind="line",
            colour=charts.PALETTE["teal"],
            money=True,
        ),
        "flagged_per_day": charts.time_series(
            f.flagged_per_day,
            label="Flagged attempts per day",
            colour=charts.PALETTE["rose"],
            height=160,
        ),
        "csat": charts.horizontal_bars(
            [(f"{'★' * score}", n) for score, n in f.csat_distribution.items()],
            label="CSAT distribution",
            colours=charts.CSAT_COLOURS,
            value_text=lambda n: f"{n:,.0f} ({n / total_csat:.0%})",
        ),
        "intents": charts.horizontal_bars(
            [(intent.replace("_", " "), n) for intent, n in f.top_intents],
            label="Top intents",
        ),
        "resolutions": charts.horizontal_bars(
            [
                (name.replace("_", " "), f.resolutions.get(name, 0))
                for name in ("resolved_by_bot", "escalated", "abandoned")
            ],
            label="Resolutions",
            colours=[charts.PALETTE["teal"], charts.PALETTE["amber"], charts.PALETTE["axis"]],
        ),
    }


def quality_cards(q: QualityFigures) -> list[dict[str, str]]:
    return [
        {
            "label": "Quality score",
            "value": "–" if q.mean is None else f"{q.mean:.2f} / 5",
            "note": f"{q.reviewed:,} conversations reviewed",
        },
        {
            "label": "Low-scored",
            "value": f"{q.low:,}",
            "note": "below 3, or a criterion at 1–2",
        },
        {
            "label": "Managers agree",
            "value": _pct(q.agreement_rate),
            "note": f"{q.agreed + q.disagreed:,} criteria judged, {q.disagreed:,} disagreed",
        },
    ]


def quality_charts(q: QualityFigures) -> dict[str, Any]:
    palette = charts.CSAT_COLOURS
    return {
        "trend": charts.time_series(
            q.trend, label="Mean quality score per day", kind="line", y_title="score"
        ),
        "criteria": [
            {
                "c": c,
                "agreement": _pct(c.agreement_rate),
                "trend": charts.time_series(
                    c.trend,
                    label=f"{c.name}: mean score per day",
                    kind="line",
                    colour=charts.PALETTE["teal"],
                    height=140,
                ),
                "distribution": charts.horizontal_bars(
                    [
                        (f"{score}" if score is not None else "not judged", n)
                        for score, n in c.distribution.items()
                    ],
                    label=f"{c.name}: scores",
                    colours=[*palette, charts.PALETTE["axis"]],
                    width=320,
                ),
            }
            for c in q.criteria
        ],
    }
