"""Knowledge gaps: unanswered questions and escalations grouped into article drafts that
cite their conversations; draft, review, publish (an approved article answers the
question that produced it); the gap report; duplicates and contradictions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.chat.models import Turn
from apps.knowledge.models import Article, UnansweredQuestion
from apps.knowledge.services import do_load_help_center, do_record_unanswered, search_help_center
from apps.reports import gaps
from apps.reports.gaps import drafts
from apps.reports.models import ArticleDraft
from tests import fake_openai as fake

pytestmark = pytest.mark.django_db


@pytest.fixture
def help_center(db, settings):
    settings.OPENAI_API_KEY = ""
    return do_load_help_center()


def escalated_gap(build, question: str, answer: str):
    """The assistant searched, found nothing and handed off; an agent answered."""
    b = build(timezone.now() - timedelta(hours=2))
    b.customer(question)
    reply = b.bot("I couldn't find that in our help center. Shall I get you a person?")
    Turn.objects.filter(message=reply).update(
        tool_calls=[
            {
                "name": "search_help_center",
                "arguments": {"query": question},
                "ok": True,
                "result": json.dumps({"query": question, "covered": False, "passages": []}),
            }
        ]
    )
    b.customer("yes please")
    b.handoff("queued")
    b.agent(answer)
    b.customer("thanks!")
    b.close("agent")
    return b.conversation


def test_similar_questions_become_one_draft_citing_their_conversations(build, help_center):
    # given: two wordings of one question answered by agents, a third in the report only
    one = escalated_gap(
        build, "Do you offer gift wrapping?", "Yes: gift wrap is $4.99, add it for order #W1234567."
    )
    two = escalated_gap(build, "can I get my order gift wrapped?", "Yes, for $4.99 at checkout.")
    for _ in range(3):
        do_record_unanswered("is gift wrapping available")
    do_record_unanswered("Do you ship to Antarctica?")
    # when
    report = gaps.do_find_gaps()
    # then
    gift = ArticleDraft.objects.get(questions__icontains="gift wrapping?")
    assert gift.kind == "new" and gift.status == "draft" and gift.source == "rules"
    assert set(gift.conversations.all()) == {one, two}
    assert "is gift wrapping available" in gift.question_list()
    assert gift.asked == 3  # the report's count beats the two conversations
    assert "$4.99" in gift.body and "#W1234567" not in gift.body and "[order]" in gift.body
    assert gift.body.startswith("## ")
    antarctica = ArticleDraft.objects.get(questions__icontains="antarctica")
    assert gaps.PLACEHOLDER in antarctica.body  # nobody answered it: a place to write
    assert len(report.drafts) == 2
    # and finding again drafts nothing new
    assert gaps.do_find_gaps().drafts == []


def test_an_approved_draft_is_published_and_answers_the_question_that_produced_it(
    build, help_center, manager_client
):
    escalated_gap(build, "Is there a student discount?", "Students get 10% off with a .edu email.")
    do_record_unanswered("Is there a student discount?")
    assert not search_help_center("Is there a student discount?").covered
    [draft] = gaps.do_find_gaps().drafts
    url = reverse("admin:reports_articledraft_change", args=[draft.pk])
    page = manager_client.get(url).content.decode()
    assert "Approve and publish" in page and str(draft.conversations.get().pk)[:8] in page
    # when: the manager edits the title and approves
    form = {
        "title": "Student discount",
        "category": "Payments",
        "body": draft.body,
        "questions": draft.questions,
        "_approve": "Approve and publish",
    }
    response = manager_client.post(url, form)
    # then: published and searchable at once
    assert response.status_code == 302
    draft.refresh_from_db()
    article = Article.objects.get(title="Student discount")
    assert (draft.status, draft.article, article.published) == ("approved", article, True)
    result = search_help_center("Is there a student discount?")
    assert result.covered and result.hits[0].passage.article_id == article.pk
    row = UnansweredQuestion.objects.get(example="Is there a student discount?")
    assert row.answered_by == article
    # and the gap report says the gap closed
    status = gaps.gap_status(draft)
    assert status is not None and status.closed and (status.answered, status.total) == (1, 1)
    listing = manager_client.get(reverse("admin:reports_articledraft_changelist")).content
    assert b"closed: 1/1 questions answered now" in listing


def test_a_draft_with_nothing_written_cannot_be_approved_until_edited(help_center, manager):
    do_record_unanswered("do you have a loyalty program?")
    [draft] = gaps.do_find_gaps().drafts
    with pytest.raises(gaps.DraftError):
        gaps.do_approve_draft(draft.pk, user_id=manager.pk)
    ArticleDraft.objects.filter(pk=draft.pk).update(
        body="## Loyalty program\n\nWe have no loyalty program; newsletter readers get early sales."
    )
    article = gaps.do_approve_draft(draft.pk, user_id=manager.pk)
    assert search_help_center("do you have a loyalty program?").hits[0].passage.article_id == (
        article.pk
    )


def test_a_rejected_draft_publishes_nothing_and_only_a_manager_may_decide(
    help_center, agent, manager_client
):
    from django.test import Client

    do_record_unanswered("Do you ship to Antarctica?")
    [draft] = gaps.do_find_gaps().drafts
    url = reverse("admin:reports_articledraft_change", args=[draft.pk])
    as_agent = Client()
    as_agent.force_login(agent)
    assert as_agent.post(url, {"_reject": "Reject"}).status_code == 403
    articles = Article.objects.count()
    form = {"title": draft.title, "category": "", "body": draft.body, "questions": draft.questions}
    manager_client.post(url, {**form, "_reject": "Reject"})
    draft.refresh_from_db()
    assert draft.status == "rejected" and Article.objects.count() == articles


def test_a_gap_an_article_partly_covers_is_drafted_as_an_edit_of_it(help_center, manager):
    do_record_unanswered("how long does express shipping take to Alaska and Hawaii")
    [draft] = gaps.do_find_gaps().drafts
    assert draft.kind == "edit" and draft.article is not None
    original = draft.article.body
    assert draft.body.startswith(original.rstrip())
    ArticleDraft.objects.filter(pk=draft.pk).update(
        body=original + "\n\n## Alaska and Hawaii\n\nExpress shipping to Alaska and Hawaii "
        "takes 3 business days."
    )
    article = gaps.do_approve_draft(draft.pk, user_id=manager.pk)
    assert article.pk == draft.article_id and "Alaska and Hawaii" in article.body
    assert Article.objects.filter(title=article.title).count() == 1


def test_with_a_key_the_model_drafts_with_a_strict_schema(build, help_center, fake_openai):
    escalated_gap(build, "Do you offer gift wrapping?", "Yes, $4.99 per order.")
    fake_openai.script(
        fake.json_output(
            {
                "title": "Gift wrapping",
                "category": "Orders",
                "body": "## Gift wrapping\n\nWe gift-wrap any order for $4.99.",
            },
            usage=(700, 90),
        )
    )
    [draft] = gaps.do_find_gaps().drafts
    request = fake_openai.last_request
    assert request["response_format"]["json_schema"]["strict"] is True
    assert request["response_format"]["json_schema"]["schema"] == drafts.DRAFT.schema
    system, user = request["messages"]
    assert "Never invent a policy" in system["content"]
    assert "Yes, $4.99 per order." in user["content"] and "untrusted_data" in user["content"]
    assert (draft.source, draft.title, draft.category) == ("model", "Gift wrapping", "Orders")
    assert draft.cost_usd > 0


def test_articles_that_duplicate_or_contradict_each_other_are_flagged(db, manager_client):
    from apps.knowledge.services import do_save_article

    text = (
        "## How long do I have to return an item\n\nYou can return unworn items within "
        "{n} days of delivery for a full refund to the original payment method."
    )
    do_save_article(Article(title="Returns", slug="returns", category="R", body=text.format(n=30)))
    do_save_article(Article(title="Refunds", slug="refunds", category="R", body=text.format(n=14)))
    do_save_article(
        Article(
            title="Returning items",
            slug="returning",
            category="R",
            body=text.format(n=30) + " Start it from your account page.",
        )
    )
    conflicts = {(c.kind, c.article_title, c.other_title) for c in gaps.find_conflicts()}
    assert ("duplicate", "Returns", "Returning items") in conflicts
    assert ("contradiction", "Returns", "Refunds") in conflicts
    page = manager_client.get(reverse("reports:article_conflicts")).content.decode()
    assert "30 vs 14 (day)" in page
