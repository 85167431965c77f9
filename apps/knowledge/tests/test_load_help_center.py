from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.knowledge.models import Article, IndexState
from apps.knowledge.services import ARTICLES_DIR, parse_article_file

pytestmark = pytest.mark.django_db


def test_loading_twice_creates_each_article_once_and_leaves_the_index_alone() -> None:
    out = StringIO()
    call_command("load_help_center", stdout=out)
    files = sorted(ARTICLES_DIR.glob("*.md"))
    assert f"{len(files)} created" in out.getvalue()
    stamp = IndexState.objects.get().stamp

    out = StringIO()
    call_command("load_help_center", stdout=out)

    assert "0 created, 0 updated" in out.getvalue()
    assert Article.objects.count() == len(files)
    assert IndexState.objects.get().stamp == stamp


def test_staff_edits_survive_a_reload_unless_update_is_asked_for() -> None:
    call_command("load_help_center", stdout=StringIO())
    article = Article.objects.get(slug="gift-cards")
    article.body = "Edited by staff."
    article.save()

    call_command("load_help_center", stdout=StringIO())
    assert Article.objects.get(slug="gift-cards").body == "Edited by staff."

    call_command("load_help_center", "--update", stdout=StringIO())
    original = parse_article_file(ARTICLES_DIR / "gift-cards.md")
    assert Article.objects.get(slug="gift-cards").body == original.body


def test_every_article_file_has_front_matter_and_sections() -> None:
    for path in ARTICLES_DIR.glob("*.md"):
        item = parse_article_file(path)
        assert item.title and item.category and "## " in item.body, path.name
