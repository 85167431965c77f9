"""Questions no article answers, worded with the words of ones that do.

The offline search judges what a question asks apart from the products it names:
a section that shares only "yoga mat" with the question does not answer it."""

from __future__ import annotations

import pytest

from apps.knowledge.search import MIN_ASKED_COVERAGE, current_index
from apps.knowledge.services import LoadReport

pytestmark = pytest.mark.django_db


def test_a_question_sharing_only_product_words_with_a_section_is_not_covered(
    help_center: LoadReport,
) -> None:
    result = current_index().search("can you monogram the yoga mat")

    assert not result.covered
    # The care section for yoga mats still ranks first, on its product words alone.
    assert result.hits[0].passage.slug == "product-care"
    assert result.hits[0].asked_coverage < MIN_ASKED_COVERAGE


@pytest.mark.parametrize(
    "question", ["can i get the fleece jacket embroidered", "do you make custom helmets"]
)
def test_a_service_the_store_does_not_offer_is_not_covered_even_for_a_known_product(
    help_center: LoadReport, question: str
) -> None:
    assert not current_index().search(question).covered


@pytest.mark.parametrize(
    ("question", "section"),
    [
        pytest.param(
            "how do I wash my fleece jacket",
            "product-care",
            id="a paraphrase of a care instruction",
        ),
        pytest.param(
            # The warranty article never names espresso machines; the claim is what is asked.
            "warranty claim for my espresso machine",
            "warranty",
            id="a product the answer does not name",
        ),
        pytest.param(
            # "garantee" is one edit from "guarantee", which the vocabulary folds onto warranty.
            "garantee on my headphones",
            "warranty",
            id="a misspelt customer word corrected through the vocabulary",
        ),
        pytest.param(
            "do i pay customs fees",
            "where-we-ship",
            id="customs duties are not a custom order",
        ),
    ],
)
def test_a_question_an_article_answers_is_covered_by_its_section(
    help_center: LoadReport, question: str, section: str
) -> None:
    result = current_index().search(question)

    assert result.covered
    assert result.hits[0].passage.slug == section
