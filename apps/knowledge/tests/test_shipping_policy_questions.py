"""Ordinary shipping questions reach the shipping article (issue 11, item 3)."""

from __future__ import annotations

import pytest

from apps.knowledge.services import do_search_help_center

from .test_local_assistant_faq import _ask

pytestmark = pytest.mark.django_db

SHIPPING = "shipping-options-times-and-costs"


@pytest.mark.parametrize("question", ["What's your shipping policy?", "shipping policy?"])
def test_a_question_about_the_shipping_policy_is_covered_by_the_shipping_article(
    help_center: object, question: str
) -> None:
    result = do_search_help_center(question, record=False)

    assert result.covered
    assert result.hits[0].passage.slug == SHIPPING


def test_the_shipping_policy_answer_is_not_help_center_doesnt_cover_that(
    help_center: object,
) -> None:
    answer = _ask("What's your shipping policy?")

    assert "doesn't cover" not in answer
    assert f"(/help/{SHIPPING}/" in answer


def test_asking_for_the_shipping_options_quotes_the_options_not_only_the_intro(
    help_center: object,
) -> None:
    answer = _ask("What are the shipping options?")

    quote = answer.split('"')[1]
    # The intro only says there are options; the answer must name them and what they cost.
    assert "Standard shipping" in quote or "Express shipping" in quote, quote
    assert "$" in quote, quote
