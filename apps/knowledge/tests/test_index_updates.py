from __future__ import annotations

import pytest

from apps.knowledge import search
from apps.knowledge.models import Article, IndexState, Passage
from apps.knowledge.services import (
    do_publish_article,
    do_save_article,
    do_search_help_center,
    do_unpublish_article,
)

# Scores are judged against a realistic corpus: the demo help center is loaded first.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("help_center")]


def _slugs(query: str) -> list[str]:
    result = do_search_help_center(query, record=False)
    return [hit.passage.slug for hit in result.hits] if result.covered else []


def _article(**fields: object) -> Article:
    defaults: dict[str, object] = {
        "title": "Skateboard wheel care",
        "slug": "skateboard-wheels",
        "category": "Products",
        "body": "Intro text.\n\n## Cleaning skateboard wheels\nSpin the wheels and wipe the "
        "bearings with a dry cloth after riding in the rain.",
    }
    defaults.update(fields)
    return do_save_article(Article(**defaults))


def test_saving_an_article_splits_it_into_passages_by_heading() -> None:
    article = _article(body="Intro.\n\n## First part\nOne.\n\n### Second part\nTwo **bold**.")
    passages = list(Passage.objects.filter(article=article))
    assert [(p.heading, p.text) for p in passages] == [
        ("", "Intro."),
        ("First part", "One."),
        ("Second part", "Two bold."),
    ]
    assert passages[1].anchor == "first-part"


def test_a_saved_article_is_found_by_the_next_search() -> None:
    assert _slugs("how do I clean skateboard bearings") == []

    _article()

    assert _slugs("how do I clean skateboard bearings")[:1] == ["skateboard-wheels"]


def test_an_edit_replaces_the_old_passages_in_search() -> None:
    article = _article()
    assert _slugs("wipe the bearings after riding in the rain")[:1] == ["skateboard-wheels"]

    article.body = "## Grip tape\nReplace worn grip tape with a fresh sheet and a sharp blade."
    do_save_article(article)

    assert _slugs("replace worn grip tape")[:1] == ["skateboard-wheels"]
    assert "bearings" not in " ".join(Passage.objects.values_list("text", flat=True))
    assert "skateboard-wheels" not in _slugs("wipe the bearings after riding in the rain")


def test_an_unpublished_article_drops_out_of_search_and_comes_back_when_published() -> None:
    article = _article()
    assert _slugs("clean skateboard bearings")[:1] == ["skateboard-wheels"]

    do_unpublish_article(article)
    assert _slugs("clean skateboard bearings") == []

    do_publish_article(article)
    assert _slugs("clean skateboard bearings")[:1] == ["skateboard-wheels"]


def test_a_deleted_article_drops_out_of_search() -> None:
    article = _article()
    assert _slugs("clean skateboard bearings")
    article.delete()
    assert _slugs("clean skateboard bearings") == []


def test_a_change_written_by_another_process_is_picked_up_through_the_stored_stamp() -> None:
    # given: this process has built and cached its index
    article = _article()
    first = search.current_index()
    assert search.current_index() is first  # unchanged stamp: the cached index is reused

    # when: another process rewrites the passages and changes the stamp (plain SQL here,
    # so nothing in this process hears about it)
    Passage.objects.filter(article=article).update(text="Oil the kingpins of the trucks.")
    IndexState.objects.filter(pk=1).update(stamp="from-another-process")

    # then: the next search here rebuilds from the database
    assert search.current_index() is not first
    assert _slugs("oil the kingpins")[:1] == ["skateboard-wheels"]
