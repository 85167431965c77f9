from __future__ import annotations

import pytest
from django.test import Client

from apps.knowledge.services import do_record_unanswered

pytestmark = pytest.mark.django_db


def test_managers_see_unanswered_questions_most_asked_first(admin_client: Client) -> None:
    do_record_unanswered("Do you price match?")
    for _ in range(3):
        do_record_unanswered("do you have a loyalty program")
    do_record_unanswered("Do you have a LOYALTY program??")

    response = admin_client.get("/admin/knowledge/unansweredquestion/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("LOYALTY program??") < html.index("Do you price match?")
    assert ">4<" in html


def test_the_article_admin_shows_an_escaped_preview(admin_client: Client) -> None:
    from apps.knowledge.models import Article
    from apps.knowledge.services import do_save_article

    article = do_save_article(
        Article(title="T", slug="t", category="C", body="## Hi\n<script>x()</script> **ok**")
    )

    html = admin_client.get(f"/admin/knowledge/article/{article.pk}/change/").content.decode()

    assert "<strong>ok</strong>" in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "<script>x()</script>" not in html
