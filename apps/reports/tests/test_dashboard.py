"""Dashboard figures against figures computed independently, row by row, in the test."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.chat.models import Conversation, Message, Turn
from apps.reports.dashboard import compute_figures
from apps.reports.models import ConversationAnalysis
from apps.reports.seed import seed_conversations

pytestmark = pytest.mark.django_db


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (what percentile_cont computes)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def close_to(a: float, b: float, tolerance: float = 0.02) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance


def test_a_small_known_set_gives_the_figures_worked_out_by_hand(build, settings):
    settings.OPENAI_API_KEY = ""
    day = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    gaps = [2, 4, 10]  # seconds from the customer's first message to the bot's first reply
    for i, gap in enumerate(gaps):
        b = build(day + timedelta(minutes=i))
        b.customer("where is my order?")
        b.at(gap).bot("It shipped.", ttft_ms=100 * (i + 1), cost="0.001000")
        b.at(30).customer("thanks")
        b.at(600).close("customer", csat=[5, 4, 1][i])  # the wait before closing is not counted
    figures = compute_figures(day.date(), day.date())
    assert figures.total == 3
    assert figures.per_day == [(day.date(), 3)]
    assert close_to(figures.first_response_bot.median, 4.0)
    assert close_to(figures.first_response_bot.p90, 8.8)  # 4 + 0.8 * (10 - 4)
    assert close_to(figures.resolution_time.median, 34.0)  # 4 + 30
    assert figures.csat_average == pytest.approx(10 / 3)
    assert figures.csat_distribution == {1: 1, 2: 0, 3: 0, 4: 1, 5: 1}
    assert figures.cost_total == Decimal("0.003")
    assert figures.ttft_p95_ms == pytest.approx(290.0)  # 200 + 0.9 * (300 - 200)
    assert figures.escalated == 0 and figures.escalation_rate == 0
    assert math.isnan(figures.first_response_human.median)


def test_the_seeded_history_matches_figures_computed_row_by_row(agent):
    seed_conversations(days=12, per_day=9, seed=11)
    end = timezone.localdate()
    start = end - timedelta(days=9)  # a range inside the history, not all of it
    since = timezone.make_aware(datetime.combine(start, datetime.min.time()))
    until = timezone.make_aware(datetime.combine(end + timedelta(days=1), datetime.min.time()))
    # expected, from plain Python over every row
    conversations = [c for c in Conversation.objects.all() if since <= c.created_at < until]
    ids = {c.pk for c in conversations}
    messages = defaultdict(list)
    for m in Message.objects.all().order_by("seq"):
        if m.conversation_id in ids:
            messages[m.conversation_id].append(m)
    per_day = Counter(timezone.localtime(c.created_at).date() for c in conversations)
    cost_total = sum((c.cost_usd for c in conversations), Decimal("0"))
    escalated = {
        c.pk
        for c in conversations
        if any(m.kind == "handoff" and m.metadata.get("state") == "queued" for m in messages[c.pk])
    }
    bot_gaps, human_gaps, resolution = [], [], []
    for c in conversations:
        ms = messages[c.pk]
        said = [m for m in ms if m.kind == "message"]
        first_customer = next((m.created_at for m in said if m.role == "customer"), None)
        first_bot = next((m.created_at for m in said if m.role == "assistant"), None)
        if first_customer and first_bot and first_bot >= first_customer:
            bot_gaps.append((first_bot - first_customer).total_seconds())
        queued = next(
            (
                m.created_at
                for m in ms
                if m.kind == "handoff" and m.metadata.get("state") == "queued"
            ),
            None,
        )
        first_agent = next((m.created_at for m in said if m.role == "agent"), None)
        if queued and first_agent and first_agent >= queued:
            human_gaps.append((first_agent - queued).total_seconds())
        if c.status == "closed":
            spoken = [m.created_at for m in said if m.role in {"customer", "assistant", "agent"}]
            resolution.append((max(spoken) - ms[0].created_at).total_seconds())
    ratings = [c.csat_score for c in conversations if c.csat_score is not None]
    analyses = [a for a in ConversationAnalysis.objects.all() if a.conversation_id in ids]
    resolutions = Counter(a.resolution for a in analyses)
    intents = Counter(a.intent for a in analyses)
    ttfts = [
        float(t.ttft_ms)
        for t in Turn.objects.all()
        if t.ttft_ms is not None and since <= t.started_at < until
    ]
    flagged = [
        m
        for m in Message.objects.all()
        if m.role == "customer" and "screen" in m.metadata and since <= m.created_at < until
    ]

    # when
    f = compute_figures(start, end)

    # then
    assert f.total == len(conversations) > 40
    assert dict(f.per_day) == {
        start + timedelta(days=i): per_day.get(start + timedelta(days=i), 0) for i in range(10)
    }
    assert f.cost_total == cost_total
    assert f.escalated == len(escalated) > 0
    assert f.escalation_rate == pytest.approx(len(escalated) / len(conversations))
    assert f.resolutions == dict(resolutions)
    assert f.bot_resolution_rate == pytest.approx(resolutions["resolved_by_bot"] / len(analyses))
    assert f.csat_count == len(ratings)
    assert f.csat_average == pytest.approx(sum(ratings) / len(ratings))
    assert f.csat_distribution == {s: ratings.count(s) for s in range(1, 6)}
    assert f.first_response_bot.count == len(bot_gaps)
    assert close_to(f.first_response_bot.median, percentile(bot_gaps, 0.5))
    assert close_to(f.first_response_bot.p90, percentile(bot_gaps, 0.9))
    assert f.first_response_human.count == len(human_gaps) > 0
    assert close_to(f.first_response_human.median, percentile(human_gaps, 0.5))
    assert close_to(f.first_response_human.p90, percentile(human_gaps, 0.9))
    assert close_to(f.resolution_time.median, percentile(resolution, 0.5))
    assert close_to(f.resolution_time.p90, percentile(resolution, 0.9))
    assert f.ttft_count == len(ttfts)
    assert close_to(f.ttft_p95_ms, percentile(ttfts, 0.95), 0.5)
    assert f.flagged_messages == len(flagged)
    # The eight most common, a tie at the cut broken by name (the seeded history is
    # ends today, so on some days two intents tie there).
    by_count = sorted(((k, v) for k, v in intents.items() if k), key=lambda kv: (-kv[1], kv[0]))
    assert f.top_intents == by_count[:8]


def test_the_dashboard_page_renders_charts_for_a_manager_and_logs_the_view(manager_client, manager):
    seed_conversations(days=5, per_day=6, seed=2)
    response = manager_client.get("/admin/reports/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200
    # six activity charts, the quality trend, and a trend and a distribution per criterion
    assert html.count('class="chart"') == 6 + 1 + 2 * 5
    assert "Bot resolution rate" in html and "Time to first token, p95" in html
    from apps.reports.models import StaffAuditEvent

    assert StaffAuditEvent.objects.filter(user=manager, action="dashboard").count() == 1


def test_a_bad_date_range_is_refused_with_a_message(manager_client):
    response = manager_client.get("/admin/reports/dashboard/?start=2026-03-10&end=2026-03-01")
    assert response.status_code == 200
    assert "The start date must not be after the end date." in response.content.decode()
