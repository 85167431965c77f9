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


def test_a_service_the_store_does_not_offer_is_not_covered_even_for_a_known_product(
    help_center: LoadReport,
) -> None:
    for question in ("can i get the fleece jacket embroidered", "do you make custom helmets"):
        assert not current_index().search(question).covered, question


def test_a_paraphrase_of_a_care_instruction_is_still_covered(help_center: LoadReport) -> None:
    result = current_index().search("how do I wash my fleece jacket")

    assert result.covered
    assert result.hits[0].passage.slug == "product-care"


def test_a_product_the_answer_does_not_name_does_not_stop_a_covered_answer(
    help_center: LoadReport,
) -> None:
    # The warranty article never names espresso machines; the claim is what is asked.
    result = current_index().search("warranty claim for my espresso machine")

    assert result.covered
    assert result.hits[0].passage.slug == "warranty"


def test_a_misspelt_customer_word_is_corrected_through_the_vocabulary(
    help_center: LoadReport,
) -> None:
    # "garantee" is one edit from "guarantee", which the vocabulary folds onto warranty.
    result = current_index().search("garantee on my headphones")

    assert result.covered and result.hits[0].passage.slug == "warranty"


def test_customs_duties_are_not_a_custom_order(help_center: LoadReport) -> None:
    result = current_index().search("do i pay customs fees")

    assert result.covered and result.hits[0].passage.slug == "where-we-ship"
