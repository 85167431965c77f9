"""Section embeddings: cached by content hash, embedded by a task when an article changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.knowledge.models import Article, Passage, SectionEmbedding
from apps.knowledge.services import do_add_article_question, do_load_help_center, do_save_article
from apps.knowledge.tasks import embed_article_task
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db

Capture = Callable[..., Any]


@pytest.fixture
def embedded(fake_openai: FakeOpenAI, django_capture_on_commit_callbacks: Capture) -> FakeOpenAI:
    """The demo help center, loaded with a key: every article's task has run."""
    with django_capture_on_commit_callbacks(execute=True):
        do_load_help_center()
    return fake_openai


def test_loading_the_help_center_embeds_each_section_once_one_batch_per_article(
    embedded: FakeOpenAI,
) -> None:
    texts = embedded.embedded_texts

    sections = Passage.objects.count()
    assert len(texts) == sections == SectionEmbedding.objects.count()
    assert len(embedded.embedding_requests) == Article.objects.count()
    assert {body["model"] for body in embedded.embedding_requests} == {"text-embedding-3-small"}
    # A section is embedded with its article's title and its heading, which say what it is about.
    assert any(t.startswith("Gift cards\nLost gift card\n") for t in texts)


def test_an_unchanged_article_is_never_embedded_again(
    embedded: FakeOpenAI, django_capture_on_commit_callbacks: Capture
) -> None:
    before = len(embedded.embedded_texts)
    article = Article.objects.get(slug="gift-cards")

    with django_capture_on_commit_callbacks(execute=True):
        do_save_article(article)  # saved as it is: passages are rebuilt, words unchanged
        do_load_help_center(update=True)
    embed_article_task.delay(article.pk)  # a redelivered task

    assert len(embedded.embedded_texts) == before


def test_an_edited_article_is_re_embedded_once_and_only_its_changed_section(
    embedded: FakeOpenAI, django_capture_on_commit_callbacks: Capture
) -> None:
    before = len(embedded.embedded_texts)
    article = Article.objects.get(slug="gift-cards")
    article.body = article.body.replace(
        "## Lost gift card\n", "## Lost gift card\nWe can reissue a lost card once a year.\n", 1
    )

    with django_capture_on_commit_callbacks(execute=True):
        do_save_article(article)
    new = embedded.embedded_texts[before:]
    assert len(new) == 1 and "reissue a lost card once a year" in new[0]

    # The same text again (another save, a redelivered task) is never sent again.
    with django_capture_on_commit_callbacks(execute=True):
        do_save_article(article)
    embed_article_task.delay(article.pk)
    assert len(embedded.embedded_texts) == before + 1


def test_a_question_added_to_an_article_is_embedded_once(
    embedded: FakeOpenAI, django_capture_on_commit_callbacks: Capture
) -> None:
    before = len(embedded.embedded_texts)
    article = Article.objects.get(slug="payment-methods")

    with django_capture_on_commit_callbacks(execute=True):
        do_add_article_question(article, "do you offer layaway")
        do_add_article_question(article, "do you offer layaway")

    assert embedded.embedded_texts[before:] == ["do you offer layaway"]


def test_without_a_key_or_the_local_model_nothing_is_embedded(
    settings: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    settings.OPENAI_API_KEY = ""
    settings.SUPPORTBOT_LOCAL_EMBEDDINGS = False  # test_local_model.py: the keyless vectors

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        do_load_help_center()

    assert callbacks == []
    assert not SectionEmbedding.objects.exists()
