"""Hybrid help-center search: lexical and semantic ranks fused, then a calibrated cut.

With embeddings (OpenAI's with a key, the local encoder without: embeddings.py), each
search ranks the articles twice: by BM25 (search.py) and
by the cosine between the question's embedding and the closest of each article's
section and question vectors (embeddings.py). The two rankings are fused by
reciprocal rank fusion, score(a) = 1/(k + rank_lexical(a)) + w/(k + rank_semantic(a)),
which needs no common scale between BM25 scores and cosines (w, the weight of the
semantic ranking, is calibrated with the threshold: a weak embedding model earns
less say than a strong one).

"Not covered" is decided on the best fused article: it covers the question when
its cosine reaches the calibrated threshold, or when the lexical rule accepts it
and its cosine is above the calibrated floor. The numbers come from a
`SearchCalibration` row computed on the tuning questions for the embedding model
in use (`manage.py eval_help_center --calibrate`), or for the local model from
data/calibration.json; until one exists the semantic ranks only reorder and the
lexical rule decides alone.

Any failure of the embeddings API falls back to the lexical search.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embeddings import content_hash, embed_query, load_vectors, model_name, section_text
from .examples import example_index, excluded_sources
from .models import SearchCalibration
from .search import HelpIndex, Hit, SearchResult, current_index

logger = logging.getLogger(__name__)

DEFAULT_RRF_K = 10


@dataclass(frozen=True)
class Calibration:
    threshold: float
    floor: float
    rrf_k: int = DEFAULT_RRF_K
    semantic_weight: float = 1.0
    # Not covered when an unanswered labelled example is at least this much closer than
    # the best article (examples.py); infinite: the examples never veto.
    margin: float = math.inf


UNCALIBRATED = Calibration(threshold=math.inf, floor=-math.inf)


# The calibration shipped for models whose vectors are the same everywhere (the local
# encoder): computed with `eval_help_center --calibrate` and copied here, so a fresh
# database searches as measured. A stored SearchCalibration row overrides it.
SHIPPED_CALIBRATIONS = Path(__file__).resolve().parent / "data" / "calibration.json"


def shipped_calibration(model: str) -> Calibration:
    shipped = json.loads(SHIPPED_CALIBRATIONS.read_text(encoding="utf-8"))
    found = shipped.get(model)
    if found is None:
        return UNCALIBRATED
    return Calibration(
        float(found["threshold"]),
        float(found["floor"]),
        int(found["rrf_k"]),
        float(found["semantic_weight"]),
        float(found.get("margin", math.inf)),
    )


def current_calibration() -> Calibration:
    model = model_name()
    row = SearchCalibration.objects.filter(model=model).first()
    if row is None:
        return shipped_calibration(model)
    margin = math.inf if row.margin >= 1e9 else row.margin
    return Calibration(row.threshold, row.floor, row.rrf_k, row.semantic_weight, margin)


@dataclass(frozen=True)
class SemanticIndex:
    version: str
    positions: list[int]  # positions in HelpIndex.passages that have a vector
    matrix: np.ndarray  # one unit vector per position


_lock = threading.Lock()
_semantic: SemanticIndex | None = None


def semantic_index(index: HelpIndex) -> SemanticIndex:
    """The vectors of the index's passages, reloaded whenever the index is."""
    global _semantic
    current = _semantic
    if current is not None and current.version == index.version:
        return current
    with _lock:
        if _semantic is not None and _semantic.version == index.version:
            return _semantic
        hashes = [
            content_hash(section_text(p.title, p.heading, p.text, p.kind)) for p in index.passages
        ]
        vectors = load_vectors(hashes)
        positions = [i for i, key in enumerate(hashes) if key in vectors]
        dims = {len(vectors[hashes[i]]) for i in positions}
        if len(dims) > 1:  # a model's dimensions changed: use the most common
            common = max(dims, key=lambda d: sum(len(vectors[hashes[i]]) == d for i in positions))
            positions = [i for i in positions if len(vectors[hashes[i]]) == common]
        matrix = (
            np.vstack([vectors[hashes[i]] for i in positions])
            if positions
            else np.zeros((0, 0), dtype="<f4")
        )
        _semantic = SemanticIndex(index.version, positions, matrix)
        return _semantic


@dataclass(frozen=True)
class Candidates:
    """Everything a fused ranking needs for one question, before any threshold."""

    lexical: SearchResult  # every article with a lexical score, best first
    similarity: dict[int, float]  # article -> best cosine over its passages
    closest_section: dict[int, int]  # article -> position of its closest section
    # The cosine to the closest labelled example no article answers (examples.py).
    none_similarity: float = -1.0


def candidates(query: str, index: HelpIndex) -> Candidates | None:
    """Both rankings for `query`, or None when there are no vectors or the API failed."""
    semantic = semantic_index(index)
    if not semantic.positions:
        return None
    try:
        vector = embed_query(query)
    except Exception:  # any API or network failure: the lexical path still answers
        logger.warning("help-center embeddings unavailable; lexical search only", exc_info=True)
        return None
    if vector.shape[0] != semantic.matrix.shape[1]:
        logger.warning("question and section embeddings differ in size; lexical search only")
        return None
    cosines = semantic.matrix @ vector
    similarity: dict[int, float] = {}
    closest_section: dict[int, int] = {}
    best_section_cosine: dict[int, float] = {}
    for cosine, position in zip(cosines.tolist(), semantic.positions, strict=True):
        passage = index.passages[position]
        article_id = passage.article_id
        similarity[article_id] = max(similarity.get(article_id, -1.0), cosine)
        if passage.kind == "section" and cosine > best_section_cosine.get(article_id, -2.0):
            best_section_cosine[article_id] = cosine
            closest_section[article_id] = position
    none_similarity = _borrow_from_examples(vector, index, similarity)
    lexical = index.search(query, limit=len(index.article_ids) or 1)
    return Candidates(lexical, similarity, closest_section, none_similarity)


def _borrow_from_examples(
    vector: np.ndarray, index: HelpIndex, similarity: dict[int, float]
) -> float:
    """Raise each article's similarity to its closest labelled example's; return the
    cosine to the closest example that no article answers."""
    examples = example_index(index.version)
    if examples is None or not examples.examples or examples.matrix.shape[1] != len(vector):
        return -1.0
    article_of = {p.slug: p.article_id for p in index.passages}
    skipped = excluded_sources()
    none_similarity = -1.0
    for cosine, example in zip((examples.matrix @ vector).tolist(), examples.examples, strict=True):
        if example.source in skipped:
            continue
        if example.slug is None:
            none_similarity = max(none_similarity, cosine)
        elif example.slug in article_of:
            article_id = article_of[example.slug]
            similarity[article_id] = max(similarity.get(article_id, -1.0), cosine)
    return none_similarity


def fuse(
    query: str, found: Candidates, index: HelpIndex, calibration: Calibration, limit: int = 3
) -> SearchResult:
    k = calibration.rrf_k
    lexical_hits = {hit.passage.article_id: hit for hit in found.lexical.hits}
    lexical_rank = {article_id: rank for rank, article_id in enumerate(lexical_hits)}
    semantic_order = sorted(found.similarity, key=lambda a: -found.similarity[a])
    semantic_rank = {article_id: rank for rank, article_id in enumerate(semantic_order)}
    fused: dict[int, float] = {}
    for article_id in set(lexical_rank) | set(semantic_rank):
        score = 0.0
        if article_id in lexical_rank:
            score += 1.0 / (k + 1 + lexical_rank[article_id])
        if article_id in semantic_rank:
            score += calibration.semantic_weight / (k + 1 + semantic_rank[article_id])
        fused[article_id] = score
    order = sorted(fused, key=lambda a: (-fused[a], a))[:limit]
    hits: list[Hit] = []
    for article_id in order:
        cosine = found.similarity.get(article_id, -1.0)
        lexical = lexical_hits.get(article_id)
        good = (
            cosine >= calibration.threshold
            or (lexical is not None and lexical.good and cosine >= calibration.floor)
        ) and found.none_similarity < cosine + calibration.margin
        position = found.closest_section.get(article_id)
        if position is not None:
            passage = index.passages[position]
        elif lexical is not None:
            passage = lexical.passage
        else:
            continue
        coverage = lexical.coverage if lexical is not None else 0.0
        asked = lexical.asked_coverage if lexical is not None else 0.0
        hits.append(Hit(passage, fused[article_id], coverage, good, cosine, asked))
    covered = bool(hits) and hits[0].good
    return SearchResult(
        query, found.lexical.terms, hits, covered, list(found.lexical.unknown_terms)
    )


def hybrid_search(query: str, *, limit: int = 3) -> SearchResult:
    index = current_index()
    found = candidates(query, index)
    if found is None:
        return index.search(query, limit=limit)
    return fuse(query, found, index, current_calibration(), limit)


def forget_semantic_index() -> None:
    global _semantic
    with _lock:
        _semantic = None
