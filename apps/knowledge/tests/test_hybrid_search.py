"""Hybrid search with a key: embeddings and lexical ranks fused, cut by a calibrated threshold.

The embeddings come from the fake OpenAI server; `MEANINGS` scripts a model that
knows what a few words mean, beyond their spelling, the way a real one does."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.knowledge.evaluation import (
    TUNING_FILE,
    calibrate,
    do_save_calibration,
    load_questions,
)
from apps.knowledge.hybrid import Calibration
from apps.knowledge.models import SearchCalibration, UnansweredQuestion
from apps.knowledge.services import do_load_help_center, do_search_help_center
from tests.fake_openai import FakeOpenAI, hashed_embedding

pytestmark = pytest.mark.django_db

Capture = Callable[..., Any]

# Words the scripted model places on one axis of meaning each; everything else is
# spelled-out similarity (hashed_embedding), mixed in weakly.
MEANINGS = {
    "refund": ("refund", "refunds", "money back", "dosh", "reimburse"),
    "gift": ("gift card", "gift cards", "voucher"),
}


def scripted(text: str, dimensions: int) -> list[float]:
    lowered = text.lower()
    vector = [0.3 * v for v in hashed_embedding(text, dimensions)]
    for axis, words in enumerate(MEANINGS.values()):
        # The first line of an embedded section is its article's title: what it is about.
        topic = lowered.split("\n", 1)[0] if "\n" in lowered else lowered
        if any(word in topic for word in words):
            vector[axis] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


@pytest.fixture
def hybrid(fake_openai: FakeOpenAI, django_capture_on_commit_callbacks: Capture) -> FakeOpenAI:
    fake_openai.embed_with(scripted)
    with django_capture_on_commit_callbacks(execute=True):
        do_load_help_center()
    do_save_calibration(Calibration(threshold=0.6, floor=0.2, rrf_k=10), [TUNING_FILE], 0)
    return fake_openai


def test_a_question_only_the_embeddings_understand_finds_its_article(hybrid: FakeOpenAI) -> None:
    question = "where is my dosh"

    result = do_search_help_center(question, record=False)

    assert result.covered
    assert result.hits[0].passage.slug == "refund-timelines"
    assert result.hits[0].similarity is not None and result.hits[0].similarity >= 0.6
    assert question in hybrid.embedded_texts  # the question itself was embedded


def test_a_question_far_from_every_section_is_not_covered_and_recorded(hybrid: FakeOpenAI) -> None:
    result = do_search_help_center("do you sponsor marathon runners")

    assert not result.covered
    assert UnansweredQuestion.objects.filter(example="do you sponsor marathon runners").exists()


def test_a_question_asked_again_is_not_embedded_again(hybrid: FakeOpenAI) -> None:
    do_search_help_center("where is my dosh", record=False)
    sent = len(hybrid.embedded_texts)

    do_search_help_center("where is my dosh", record=False)

    assert len(hybrid.embedded_texts) == sent


def test_when_the_embeddings_api_fails_the_lexical_search_answers(
    hybrid: FakeOpenAI, settings: Any
) -> None:
    settings.OPENAI_MAX_RETRIES = 0

    def broken(text: str, dimensions: int) -> list[float]:
        return [0.0] * (dimensions - 1)  # a wrong size: the server answers 500

    hybrid.embed_with(broken)

    result = do_search_help_center("how long do refunds take to reach my card?", record=False)

    assert result.covered and result.hits[0].passage.slug == "refund-timelines"
    assert result.hits[0].similarity is None  # the lexical path's hit
    hybrid.errors.clear()  # the 500 was the point


def test_calibration_refuses_a_held_out_file(hybrid: FakeOpenAI, tmp_path: Path) -> None:
    heldout = tmp_path / "heldout-9.jsonl"
    heldout.write_text('{"q": "where is my refund", "slug": "refund-timelines"}\n')

    with pytest.raises(ValueError, match="held out"):
        calibrate(load_questions(heldout), [TUNING_FILE, heldout])


def test_calibration_on_the_tuning_file_stores_a_threshold_for_the_model(
    fake_openai: FakeOpenAI, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        do_load_help_center()
    questions = load_questions(TUNING_FILE)

    calibration, score = calibrate(questions, [TUNING_FILE])
    do_save_calibration(calibration, [TUNING_FILE], len(questions))

    row = SearchCalibration.objects.get(model="text-embedding-3-small")
    assert row.tuned_on == "tuning.jsonl" and row.questions == len(questions)
    assert -1.0 <= row.threshold <= 1e9 and row.rrf_k in {5, 10, 30, 60}
    assert score > 1.5  # recall@3 + not-covered on the rows it was tuned on
