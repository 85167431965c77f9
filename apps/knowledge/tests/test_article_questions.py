"""Questions an article answers, written by an operator in the admin: every search uses them."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.knowledge.models import Article, ArticleQuestion
from apps.knowledge.services import do_add_article_question, do_search_help_center

pytestmark = pytest.mark.django_db

# No article says "layaway": only an operator's wording can tie it to one.
WORDING = "do you offer layaway"
ASKED = "is layaway possible?"
SLUG = "payment-methods"


def test_an_article_is_found_for_a_wording_an_operator_attached_to_it(
    help_center: object,
) -> None:
    # given a wording the articles' own text does not cover
    before = do_search_help_center(ASKED, record=False)
    assert not before.covered or before.hits[0].passage.slug != SLUG
    article = Article.objects.get(slug=SLUG)

    # when an operator says the refunds article answers it
    do_add_article_question(article, WORDING)

    # then the same question in other words finds that article, showing one of its sections
    after = do_search_help_center(ASKED, record=False)
    assert after.covered
    assert after.hits[0].passage.slug == SLUG
    assert after.hits[0].passage.kind == "section"


def test_the_questions_of_an_unpublished_article_are_not_searched(help_center: object) -> None:
    article = Article.objects.get(slug=SLUG)
    do_add_article_question(article, WORDING)
    article.published = False
    article.save()

    result = do_search_help_center(WORDING, record=False)

    assert SLUG not in [hit.passage.slug for hit in result.hits]


def test_the_article_admin_adds_edits_and_removes_its_questions(
    help_center: object, admin_client: Client, admin_user: object
) -> None:
    article = Article.objects.get(slug=SLUG)
    url = f"/admin/knowledge/article/{article.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "Questions this article answers" in page.content.decode()

    form = {
        "title": article.title,
        "slug": article.slug,
        "category": article.category,
        "published": "on",
        "body": article.body,
        "questions-TOTAL_FORMS": "1",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
        "questions-0-text": "  do you   offer layaway ",
        "questions-0-article": str(article.pk),
        "passages-TOTAL_FORMS": str(article.passages.count()),
        "passages-INITIAL_FORMS": str(article.passages.count()),
        "passages-MIN_NUM_FORMS": "0",
        "passages-MAX_NUM_FORMS": "1000",
    }
    for i, passage in enumerate(article.passages.all()):
        form[f"passages-{i}-id"] = str(passage.pk)
        form[f"passages-{i}-article"] = str(article.pk)
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]

    question = ArticleQuestion.objects.get(article=article)
    assert question.text == WORDING
    assert question.created_by == admin_user
    assert do_search_help_center(ASKED, record=False).covered

    passages = article.passages.count()
    form.update(
        {
            "questions-TOTAL_FORMS": "1",
            "questions-INITIAL_FORMS": "1",
            "questions-0-id": str(question.pk),
            "questions-0-DELETE": "on",
            "passages-TOTAL_FORMS": str(passages),
            "passages-INITIAL_FORMS": str(passages),
        }
    )
    for i, passage in enumerate(article.passages.all()):
        form[f"passages-{i}-id"] = str(passage.pk)
    assert admin_client.post(url, form).status_code == 302
    assert not ArticleQuestion.objects.filter(article=article).exists()
    after = do_search_help_center(ASKED, record=False)
    assert not after.covered or after.hits[0].passage.slug != SLUG
