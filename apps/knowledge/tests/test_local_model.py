"""The keyless help-center search: all-MiniLM-L6-v2 run in numpy, its vectors cached.

Needs the model in var/models/ (`manage.py fetch_embedding_model`, run by `make
setup` and .ci/run): skipped without it locally, a failure with CI=true."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.knowledge.embeddings import local_model_dir, model_name, provider
from apps.knowledge.examples import do_embed_examples, excluding, labelled_examples
from apps.knowledge.hybrid import candidates
from apps.knowledge.local_model import MODEL_NAME, MiniLMEncoder, encoder, model_is_present
from apps.knowledge.models import Article, SectionEmbedding
from apps.knowledge.search import current_index
from apps.knowledge.services import do_load_help_center, do_save_article, search_help_center
from conftest import IN_CI

Capture = Callable[..., Any]


@pytest.fixture
def model_dir() -> Path:
    folder = local_model_dir()
    if not model_is_present(folder):
        message = f"no embedding model in {folder}: run `python manage.py fetch_embedding_model`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture
def keyless(settings: Any, model_dir: Path) -> Path:
    settings.OPENAI_API_KEY = ""
    settings.SUPPORTBOT_LOCAL_EMBEDDINGS = True
    return model_dir


@pytest.fixture
def locally_embedded(keyless: Path, django_capture_on_commit_callbacks: Capture) -> None:
    """The demo help center loaded without a key: every article's task has run locally."""
    with django_capture_on_commit_callbacks(execute=True):
        do_load_help_center()


def test_the_encoder_gives_one_unit_vector_of_384_floats_per_text(model_dir: Path) -> None:
    texts = ["How do I return an item?", "", "word " * 600]  # empty and over 256 tokens too

    vectors = encoder(model_dir).encode(texts)

    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(model_dir: Path) -> None:
    question, paraphrase, unrelated = encoder(model_dir).encode(
        [
            "How do I return an item?",
            "What is your returns policy?",
            "The weather is sunny in Paris today.",
        ]
    )

    assert float(question @ paraphrase) > 0.4
    assert float(question @ unrelated) < 0.15


def test_a_text_gets_the_same_vector_alone_or_padded_in_a_batch(model_dir: Path) -> None:
    # Padding is masked out of attention and pooling: batching must not change a vector.
    fresh = MiniLMEncoder(model_dir)  # no memo shared with the other tests
    short = "is shipping free?"
    alone = fresh._encode([short], 8)[0]
    batched = fresh._encode([short, "a much longer question about an order " * 8], 8)[0]

    assert np.allclose(alone, batched, atol=1e-5)


@pytest.mark.django_db
@pytest.mark.timeout(300)
def test_without_a_key_the_sections_are_embedded_locally_and_cached_by_content(
    locally_embedded: None, django_capture_on_commit_callbacks: Capture
) -> None:
    assert provider() == "local" and model_name() == MODEL_NAME
    stored = SectionEmbedding.objects.filter(model=MODEL_NAME)
    before = stored.count()
    assert before > 0 and set(stored.values_list("dimensions", flat=True)) == {384}
    article = Article.objects.get(slug="gift-cards")

    # given an unchanged save, then an edited one
    with django_capture_on_commit_callbacks(execute=True):
        do_save_article(article)
    assert stored.count() == before

    article.body = article.body.replace(
        "## Lost gift card\n", "## Lost gift card\nWe can reissue a lost card once a year.\n", 1
    )
    with django_capture_on_commit_callbacks(execute=True):
        do_save_article(article)
        do_save_article(article)

    # then only the edited section got a new vector, once
    assert stored.count() == before + 1


@pytest.mark.django_db
@pytest.mark.timeout(300)
def test_the_keyless_search_finds_a_paraphrase_the_lexical_search_does_not(
    locally_embedded: None,
) -> None:
    question = "package was due last monday and still hasnt turned up"

    lexical = search_help_center(question, semantic=False)
    result = search_help_center(question)

    assert not (lexical.covered and lexical.hits[0].passage.slug == "late-or-lost-packages")
    assert result.covered
    assert result.hits[0].passage.slug == "late-or-lost-packages"
    assert result.hits[0].similarity is not None  # the local vectors ranked it


@pytest.mark.django_db
def test_without_the_model_the_keyless_search_is_lexical(settings: Any, tmp_path: Path) -> None:
    settings.OPENAI_API_KEY = ""
    settings.SUPPORTBOT_LOCAL_MODEL_DIR = tmp_path  # an empty folder
    do_load_help_center()

    assert provider() is None
    assert search_help_center("is shipping free?").hits[0].similarity is None


def test_the_numpy_forward_pass_matches_the_reference_implementation(model_dir: Path) -> None:
    # Vectors computed once with HF transformers' BertModel on torch (CPU) from the same
    # files, mean-pooled and normalised as sentence-transformers does.
    reference = json.loads((Path(__file__).parent / "minilm_reference.json").read_text())
    texts = list(reference["vectors"])

    ours = MiniLMEncoder(model_dir).encode(texts)

    expected = np.array([reference["vectors"][text] for text in texts], dtype=np.float32)
    assert np.abs(ours - expected).max() < 1e-5


@pytest.mark.django_db
@pytest.mark.timeout(300)
def test_labelled_examples_lend_their_label_but_never_to_their_own_file(
    locally_embedded: None,
) -> None:
    # given the tuning files' questions, embedded as examples by the articles' tasks
    assert do_embed_examples() == 0  # nothing left to embed
    unanswered = next(e for e in labelled_examples() if e.slug is None)
    index = current_index()

    # when its own file is left out (as when that file is measured), it cannot find itself
    with excluding({unanswered.source}):
        unseen = candidates(unanswered.text, index)
    seen = candidates(unanswered.text, index)

    assert seen is not None and unseen is not None
    assert seen.none_similarity == pytest.approx(1.0, abs=1e-4)
    assert unseen.none_similarity < 0.999
    # and a question phrased like an unanswered example is not covered
    assert not search_help_center(unanswered.text).covered
