"""Labelled customer questions as neighbours for the keyless semantic search.

The tuning files (eval/tuning*.jsonl) hold several hundred questions in customers'
own words, each labelled with the article that answers it or with none. With the
local model, a question close to a labelled one borrows its label: its article's
similarity is at least the cosine to that neighbour, and a question closer to an
unanswered neighbour than to its best article is "not covered" (the margin is
calibrated). A small model's cosine to an article's prose is a weak signal for
long, chatty questions; other customers' wordings of the same need are a stronger
one.

Measuring on a tuning file must not let its questions find themselves:
`excluding(sources)` leaves those files' examples out (the evaluation and the
calibration use it per file). With an OpenAI key the examples are not used: that
path is calibrated without them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .embeddings import (
    content_hash,
    do_embed_texts,
    load_vectors,
    model_name,
    provider,
    section_text,
)

EVAL_DIR = Path(__file__).resolve().parent / "eval"

_excluded: ContextVar[frozenset[str]] = ContextVar("excluded_example_sources", default=frozenset())


@dataclass(frozen=True)
class Example:
    text: str
    slug: str | None  # None: no article answers it
    source: str  # the file it comes from


@cache
def labelled_examples() -> tuple[Example, ...]:
    found = []
    for path in sorted(EVAL_DIR.glob("tuning*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                found.append(Example(str(row["q"]), row["slug"], path.name))
    return tuple(found)


def examples_enabled() -> bool:
    return provider() == "local"


def example_texts() -> list[str]:
    """The texts embedded for the examples (with the sections, by embed_help_center)."""
    if not examples_enabled():
        return []
    return [section_text("", "", example.text, "question") for example in labelled_examples()]


@contextmanager
def excluding(sources: set[str] | frozenset[str]) -> Iterator[None]:
    token = _excluded.set(frozenset(sources))
    try:
        yield
    finally:
        _excluded.reset(token)


def excluded_sources() -> frozenset[str]:
    return _excluded.get()


@dataclass(frozen=True)
class ExampleIndex:
    key: tuple[str, str]  # (model, help index version)
    examples: list[Example]
    matrix: np.ndarray


_lock = threading.Lock()
_index: ExampleIndex | None = None


def example_index(version: str) -> ExampleIndex | None:
    """The embedded examples' vectors (reloaded with the help index), or None."""
    global _index
    if not examples_enabled():
        return None
    key = (model_name(), version)
    current = _index
    if current is not None and current.key == key:
        return current
    with _lock:
        examples = list(labelled_examples())
        hashes = [content_hash(section_text("", "", e.text, "question")) for e in examples]
        vectors = load_vectors(hashes)
        present = [i for i, h in enumerate(hashes) if h in vectors]
        matrix = (
            np.vstack([vectors[hashes[i]] for i in present])
            if present
            else np.zeros((0, 0), dtype="<f4")
        )
        _index = ExampleIndex(key, [examples[i] for i in present], matrix)
        return _index


def do_embed_examples() -> int:
    """Embed the examples missing from the cache (with the local model only)."""
    return do_embed_texts(example_texts())
