"""Managers and quality reviews in the admin: the low-score filter, agreeing or disagreeing
per criterion, the agreement rate and the score's trend and distribution on the dashboard,
the rubric page, and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.reports import quality
from apps.reports.models import CriterionScore, QualityReview, RubricCriterion

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviews(build, settings):
    """Two rule-reviewed conversations: one ignored a request for a person (low), one fine."""
    settings.OPENAI_API_KEY = ""
    bad = build(timezone.now() - timedelta(hours=3))
    bad.customer("I want to talk to a human")
    bad.bot("I can help you here.")
    bad.customer("a HUMAN please")
    bad.close("idle")
    good = build(timezone.now() - timedelta(hours=2))
    good.customer("what are your opening hours?")
    good.bot("We answer chats around the clock.")
    good.customer("great, thanks")
    good.close("customer", csat=5)
    low = quality.do_review_conversation(bad.conversation.pk)
    fine = quality.do_review_conversation(good.conversation.pk)
    assert low is not None and fine is not None
    return low, fine


def inline_post(review: QualityReview, verdicts: dict[str, str]) -> dict[str, str]:
    scores = list(review.scores.order_by("id"))
    data = {
        "scores-TOTAL_FORMS": str(len(scores)),
        "scores-INITIAL_FORMS": str(len(scores)),
        "scores-MIN_NUM_FORMS": "0",
        "scores-MAX_NUM_FORMS": "1000",
        "_continue": "Save",
    }
    for i, score in enumerate(scores):
        data[f"scores-{i}-id"] = str(score.pk)
        data[f"scores-{i}-review"] = str(review.pk)
        data[f"scores-{i}-verdict"] = verdicts.get(score.key, "")
        data[f"scores-{i}-verdict_note"] = ""
    return data


def test_the_review_list_filters_by_low_score(reviews, manager_client):
    low, fine = reviews
    url = reverse("admin:reports_qualityreview_changelist")
    page = manager_client.get(url, {"low": "yes"}).content.decode()
    assert str(low.conversation_id)[:8] in page
    assert str(fine.conversation_id)[:8] not in page
    by_criterion = manager_client.get(url, {"low_on": "handoff"}).content.decode()
    assert str(low.conversation_id)[:8] in by_criterion


def test_a_manager_agrees_and_disagrees_per_criterion_and_the_rate_is_reported(
    reviews, manager, manager_client
):
    low, _ = reviews
    url = reverse("admin:reports_qualityreview_change", args=[low.pk])
    page = manager_client.get(url).content.decode()
    assert "Transcript" in page and "a HUMAN please" in page
    # when
    response = manager_client.post(
        url, inline_post(low, {"handoff": "agree", "resolved": "disagree", "policy": "agree"})
    )
    # then
    assert response.status_code == 302
    handoff = CriterionScore.objects.get(review=low, key="handoff")
    assert (handoff.verdict, handoff.verdict_by_id) == ("agree", manager.pk)
    assert handoff.verdict_at is not None
    assert CriterionScore.objects.get(review=low, key="resolved").verdict == "disagree"
    dashboard = manager_client.get(reverse("reports:dashboard")).content.decode()
    assert "Managers agree" in dashboard and "66.7%" in dashboard
    # a later review with the same scores keeps the managers' verdicts
    quality.do_review_conversation(low.conversation_id)
    assert CriterionScore.objects.get(review=low, key="handoff").verdict == "agree"


def test_the_dashboard_shows_the_score_trend_and_distribution_per_criterion(
    reviews, manager_client
):
    page = manager_client.get(reverse("reports:dashboard")).content.decode()
    assert "Mean quality score per day" in page
    for name in RubricCriterion.objects.values_list("name", flat=True):
        assert f"{name}: mean score per day" in page  # the trend's chart label
        assert f"{name}: scores" in page  # the distribution's chart label
    assert "2 conversations reviewed" in page
    assert "?low=yes" in page


def test_an_agent_cannot_see_or_judge_reviews(reviews, agent):
    from django.test import Client

    client = Client()
    client.force_login(agent)
    low, _ = reviews
    assert client.get(reverse("admin:reports_qualityreview_changelist")).status_code == 403
    response = client.post(reverse("reports:review_now", args=[low.conversation_id]))
    assert response.status_code == 403


def test_review_now_on_the_conversation_page_reviews_at_once(build, manager_client, settings):
    settings.OPENAI_API_KEY = ""
    b = build(timezone.now() - timedelta(hours=1))
    b.customer("hello")
    b.bot("Hi! How can I help?")
    b.close("customer")
    page = manager_client.get(reverse("admin:chat_conversation_change", args=[b.conversation.pk]))
    assert "Not reviewed yet." in page.content.decode()
    response = manager_client.post(reverse("reports:review_now", args=[b.conversation.pk]))
    review = QualityReview.objects.get(conversation=b.conversation)
    assert response.url == reverse("admin:reports_qualityreview_change", args=[review.pk])
    page = manager_client.get(reverse("admin:chat_conversation_change", args=[b.conversation.pk]))
    assert "agree or disagree" in page.content.decode()


def test_the_operator_edits_the_rubric_in_the_admin(manager_client):
    tone = RubricCriterion.objects.get(key="tone")
    url = reverse("admin:reports_rubriccriterion_change", args=[tone.pk])
    response = manager_client.post(
        url,
        {"name": "Tone of voice", "guidance": "Warm, brief.", "position": "3", "active": ""},
    )
    assert response.status_code == 302
    tone.refresh_from_db()
    assert (tone.key, tone.name, tone.active) == ("tone", "Tone of voice", False)
    assert "tone" not in [c.key for c in quality.active_rubric()]
