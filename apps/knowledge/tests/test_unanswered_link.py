"""The unanswered-questions report: one click says which article answers a question."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.chat.roles import AGENTS, MANAGERS, ensure_groups
from apps.knowledge.models import Article, ArticleQuestion, UnansweredQuestion
from apps.knowledge.services import do_record_unanswered, do_search_help_center

pytestmark = pytest.mark.django_db

QUESTION = "can i pay with layaway?"
CHANGELIST = "/admin/knowledge/unansweredquestion/"


def _staff(username: str, group: str) -> Any:
    groups = ensure_groups()
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.groups.set([groups[group]])
    return user


@pytest.fixture
def manager_client(help_center: object) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(_staff("morgan", MANAGERS))
    return client


@pytest.fixture
def unanswered(help_center: object) -> UnansweredQuestion:
    row = do_record_unanswered(QUESTION)
    assert row is not None
    return row


def _csrf(client: Client, url: str) -> str:
    client.get(url)
    return client.cookies["csrftoken"].value


def test_the_report_offers_the_closest_article_as_a_one_click_answer(
    manager_client: Client, unanswered: UnansweredQuestion
) -> None:
    html = manager_client.get(CHANGELIST).content.decode()

    url = f"/admin/knowledge/unansweredquestion/{unanswered.pk}/answer/"
    assert f'formaction="{url}"' in html
    assert "This article answers it:" in html
    # The button lives in the changelist's form, which carries the CSRF token.
    assert 'name="csrfmiddlewaretoken"' in html


def test_one_click_adds_the_wording_to_the_article_and_search_then_finds_it(
    manager_client: Client, unanswered: UnansweredQuestion
) -> None:
    article = Article.objects.get(slug="payment-methods")
    assert not do_search_help_center(QUESTION, record=False).covered
    token = _csrf(manager_client, CHANGELIST)

    response = manager_client.post(
        f"/admin/knowledge/unansweredquestion/{unanswered.pk}/answer/",
        {"article": article.pk, "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302
    question = ArticleQuestion.objects.get(article=article)
    assert question.text == QUESTION
    assert question.source == ArticleQuestion.Source.UNANSWERED
    unanswered.refresh_from_db()
    assert unanswered.answered_by == article and unanswered.answered_at is not None
    result = do_search_help_center("layaway, is that a thing here?", record=False)
    assert result.covered and result.hits[0].passage.slug == "payment-methods"
    assert "✓ Payment methods we accept" in manager_client.get(CHANGELIST).content.decode()


def test_the_choose_page_lists_the_articles_and_links_the_chosen_one(
    manager_client: Client, unanswered: UnansweredQuestion
) -> None:
    url = f"/admin/knowledge/unansweredquestion/{unanswered.pk}/answer/"
    page = manager_client.get(url)
    assert page.status_code == 200
    assert "Gift cards" in page.content.decode()

    article = Article.objects.get(slug="gift-cards")
    token = manager_client.cookies["csrftoken"].value
    response = manager_client.post(url, {"article": article.pk, "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert ArticleQuestion.objects.filter(article=article, text=QUESTION).exists()


def test_linking_without_the_csrf_token_is_refused(
    manager_client: Client, unanswered: UnansweredQuestion
) -> None:
    article = Article.objects.get(slug="payment-methods")

    response = manager_client.post(
        f"/admin/knowledge/unansweredquestion/{unanswered.pk}/answer/", {"article": article.pk}
    )

    assert response.status_code == 403
    assert not ArticleQuestion.objects.exists()


def test_an_agent_without_the_permission_cannot_link(unanswered: UnansweredQuestion) -> None:
    client = Client()
    client.force_login(_staff("alex", AGENTS))
    article = Article.objects.get(slug="payment-methods")

    response = client.post(
        f"/admin/knowledge/unansweredquestion/{unanswered.pk}/answer/", {"article": article.pk}
    )

    assert response.status_code == 403
    assert not ArticleQuestion.objects.exists()


def test_an_unknown_article_is_a_404_and_links_nothing(
    manager_client: Client, unanswered: UnansweredQuestion
) -> None:
    token = _csrf(manager_client, CHANGELIST)
    response = manager_client.post(
        f"/admin/knowledge/unansweredquestion/{unanswered.pk}/answer/",
        {"article": "999999", "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 404
    assert not ArticleQuestion.objects.exists()
