"""The manager dashboard's figures, computed in the database.

Every figure is an aggregate query (Count, Sum, Avg, TruncDate; percentiles with
PostgreSQL's percentile_cont). SQLite has no percentile aggregate, so there a
percentile is two small queries: the count, then the one or two rows around the
wanted rank (ORDER BY ... LIMIT 2 OFFSET k), with the same interpolation as
percentile_cont. No query loops over rows in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    Expression,
    F,
    FloatField,
    Func,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.chat.models import Conversation, Message, Turn

from .models import ConversationAnalysis
from .queries import escalated, flagged_message_q


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile: PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY x)."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= float(fraction) <= 1:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


class MillisBetween(Func):
    """Milliseconds from `start` to `end` (two datetimes), as a float; NULL when `end` is
    before `start` (a greeting before the question is no response time)."""

    output_field = FloatField()
    arity = 2

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "postgresql":
            gap = f"EXTRACT(EPOCH FROM (({end_sql}) - ({start_sql}))) * 1000.0"
        elif connection.vendor == "sqlite":
            gap = f"(julianday({end_sql}) - julianday({start_sql})) * 86400000.0"
        else:
            raise NotImplementedError(f"MillisBetween is not written for {connection.vendor}")
        sql = f"(CASE WHEN ({end_sql}) >= ({start_sql}) THEN {gap} END)"
        params = [*end_params, *start_params, *end_params, *start_params]
        return sql, params


def percentiles(qs: QuerySet[Any], field_name: str, fractions: tuple[float, ...]) -> list[float]:
    """Continuous percentiles of one annotated column; NaN when there are no values."""
    if connection.vendor == "postgresql":
        row = qs.aggregate(
            **{f"p{i}": Percentile(field_name, frac) for i, frac in enumerate(fractions)}
        )
        return [
            math.nan if row[f"p{i}"] is None else float(row[f"p{i}"]) for i in range(len(fractions))
        ]
    present = qs.filter(**{f"{field_name}__isnull": False})
    count = present.count()
    out = []
    for frac in fractions:
        if count == 0:
            out.append(math.nan)
            continue
        rank = frac * (count - 1)
        low = math.floor(rank)
        pair = list(present.order_by(field_name).values_list(field_name, flat=True)[low : low + 2])
        value = float(pair[0])
        if len(pair) > 1:
            value += (float(pair[1]) - value) * (rank - low)
        out.append(value)
    return out


@dataclass
class Spread:
    median: float  # seconds (NaN when there is nothing to measure)
    p90: float
    count: int = 0


@dataclass
class Figures:
    start: date
    end: date  # inclusive
    total: int = 0
    per_day: list[tuple[date, int]] = field(default_factory=list)
    cost_per_day: list[tuple[date, Decimal]] = field(default_factory=list)
    cost_total: Decimal = Decimal("0")
    cost_per_conversation: Decimal | None = None
    escalated: int = 0
    escalation_rate: float | None = None
    analysed: int = 0
    resolutions: dict[str, int] = field(default_factory=dict)
    bot_resolution_rate: float | None = None
    first_response_bot: Spread = field(default_factory=lambda: Spread(math.nan, math.nan))
    first_response_human: Spread = field(default_factory=lambda: Spread(math.nan, math.nan))
    resolution_time: Spread = field(default_factory=lambda: Spread(math.nan, math.nan))
    csat_average: float | None = None
    csat_count: int = 0
    csat_distribution: dict[int, int] = field(default_factory=dict)
    ttft_p95_ms: float = math.nan
    ttft_count: int = 0
    flagged_messages: int = 0
    flagged_conversations: int = 0
    flagged_per_day: list[tuple[date, int]] = field(default_factory=list)
    top_intents: list[tuple[str, int]] = field(default_factory=list)


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _fill(days: list[date], values: dict[date, Any], empty: Any) -> list[tuple[date, Any]]:
    return [(day, values.get(day, empty)) for day in days]


def compute_figures(start: date, end: date) -> Figures:
    """The dashboard for conversations started from `start` to `end`, both inclusive."""
    since, until = day_bounds(start, end)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    figures = Figures(start=start, end=end)
    conversations = Conversation.objects.filter(created_at__gte=since, created_at__lt=until)

    # Conversations and cost per day, in one GROUP BY.
    daily = (
        conversations.order_by()
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), cost=Sum("cost_usd"))
    )
    counts = {row["day"]: row["n"] for row in daily}
    costs = {row["day"]: row["cost"] or Decimal("0") for row in daily}
    figures.per_day = _fill(days, counts, 0)
    figures.cost_per_day = _fill(days, costs, Decimal("0"))

    totals = conversations.order_by().aggregate(
        total=Count("id"),
        cost=Sum("cost_usd"),
        escalated=Count("id", filter=escalated()),
        csat_avg=Avg("csat_score"),
        csat_n=Count("csat_score"),
    )
    figures.total = totals["total"]
    figures.cost_total = totals["cost"] or Decimal("0")
    if figures.total:
        figures.cost_per_conversation = figures.cost_total / figures.total
        figures.escalated = totals["escalated"]
        figures.escalation_rate = figures.escalated / figures.total
    figures.csat_average = totals["csat_avg"]
    figures.csat_count = totals["csat_n"]
    csat = conversations.filter(csat_score__isnull=False).order_by()
    found = {
        row["csat_score"]: row["n"] for row in csat.values("csat_score").annotate(n=Count("id"))
    }
    figures.csat_distribution = {score: found.get(score, 0) for score in range(1, 6)}

    # Resolution and intent come from the conversation analyses.
    analyses = ConversationAnalysis.objects.filter(
        conversation__created_at__gte=since,
        conversation__created_at__lt=until,
        status=ConversationAnalysis.Status.DONE,
    ).order_by()
    figures.resolutions = {
        row["resolution"]: row["n"] for row in analyses.values("resolution").annotate(n=Count("id"))
    }
    figures.analysed = sum(figures.resolutions.values())
    if figures.analysed:
        resolved = figures.resolutions.get(ConversationAnalysis.Resolution.RESOLVED_BY_BOT, 0)
        figures.bot_resolution_rate = resolved / figures.analysed
    figures.top_intents = [
        (row["intent"], row["n"])
        for row in analyses.exclude(intent="")
        .values("intent")
        .annotate(n=Count("id"))
        .order_by("-n", "intent")[:8]
    ]

    _response_times(figures, since, until)

    ttft = Turn.objects.filter(
        started_at__gte=since, started_at__lt=until, ttft_ms__isnull=False
    ).order_by()
    figures.ttft_count = ttft.count()
    (figures.ttft_p95_ms,) = percentiles(ttft, "ttft_ms", (0.95,))

    flagged = Message.objects.filter(
        flagged_message_q(), created_at__gte=since, created_at__lt=until
    ).order_by()
    flag_totals = flagged.aggregate(
        n=Count("id"), conversations=Count("conversation", distinct=True)
    )
    figures.flagged_messages = flag_totals["n"]
    figures.flagged_conversations = flag_totals["conversations"]
    flag_days = {
        row["day"]: row["n"]
        for row in flagged.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    }
    figures.flagged_per_day = _fill(days, flag_days, 0)
    return figures


SPOKEN = [Message.Role.CUSTOMER, Message.Role.ASSISTANT, Message.Role.AGENT]


def _response_times(figures: Figures, since: datetime, until: datetime) -> None:
    """First response (bot, human) and resolution times, per conversation, in one grouped query:
    bot: first customer message to first assistant message;
    human: hand-off to the queue to the first agent message;
    resolution: first to last message of a closed conversation (an idle close's wait
    does not count)."""
    closed = Q(conversation__status=Conversation.Status.CLOSED)
    per_conversation: QuerySet[Any] = (
        Message.objects.filter(
            conversation__created_at__gte=since, conversation__created_at__lt=until
        )
        .order_by()
        .values("conversation")
        .annotate(
            bot=_gap(
                Min("created_at", filter=Q(role=Message.Role.ASSISTANT, kind="message")),
                Min("created_at", filter=Q(role=Message.Role.CUSTOMER, kind="message")),
            ),
            human=_gap(
                Min("created_at", filter=Q(role=Message.Role.AGENT, kind="message")),
                Min("created_at", filter=Q(kind=Message.Kind.HANDOFF, metadata__state="queued")),
            ),
            resolution=_gap(
                Max("created_at", filter=Q(role__in=SPOKEN, kind="message") & closed),
                Min("created_at", filter=closed),
            ),
        )
    )
    names = {
        "bot": "first_response_bot",
        "human": "first_response_human",
        "resolution": "resolution_time",
    }
    if connection.vendor == "postgresql":
        # One pass: every percentile and count over the per-conversation rows at once.
        aggregates: dict[str, Any] = {}
        for name in names:
            aggregates[f"{name}_p50"] = Percentile(name, 0.5)
            aggregates[f"{name}_p90"] = Percentile(name, 0.9)
            aggregates[f"{name}_n"] = Count(name)
        row = per_conversation.aggregate(**aggregates)
        for name, attribute in names.items():
            median, p90 = (row[f"{name}_p{p}"] for p in (50, 90))
            spread = Spread(
                math.nan if median is None else median / 1000,
                math.nan if p90 is None else p90 / 1000,
                row[f"{name}_n"],
            )
            setattr(figures, attribute, spread)
        return
    for name, attribute in names.items():
        values = per_conversation.filter(**{f"{name}__isnull": False})
        median, p90 = percentiles(values, name, (0.5, 0.9))
        setattr(figures, attribute, Spread(median / 1000, p90 / 1000, values.count()))


def _gap(end: Expression | F, start: Expression | F) -> MillisBetween:
    return MillisBetween(end, start)
