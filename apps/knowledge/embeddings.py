"""Embeddings of help-center sections and questions, cached by content hash.

Two providers: OpenAI's embeddings API when a key is set, otherwise the local
encoder (local_model.py, all-MiniLM-L6-v2 in numpy) when its folder is there.
Everything below is the same for both; `model_name()` names the provider's model,
so each keeps its own vectors and its own calibration.

What is embedded is one text per searchable passage: a section as its article's
title, its heading and its text; an operator's question as itself. The cache key
is the embedding model and a SHA-256 of that exact text, so a section whose words
did not change keeps its vector across saves (passages are rebuilt on every save)
and an edited one is embedded once. `do_embed_article` runs in a Celery task
enqueued when an article or one of its questions changes (see signals.py); it
asks the provider only for the texts missing from the cache, in batches.

A question's vector is cached too (Django's cache, a day): customers ask the same
things again and again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache

from apps.assistant.providers import openai_client

from .local_model import MODEL_NAME as LOCAL_MODEL_NAME
from .local_model import encoder as local_encoder
from .local_model import model_is_present
from .models import Article, ArticleQuestion, IndexState, Passage, SectionEmbedding

logger = logging.getLogger(__name__)

# OpenAI accepts up to 2048 inputs per request; smaller batches keep each request
# well under its token limit with long sections.
BATCH_SIZE = 96
QUERY_CACHE_SECONDS = 24 * 3600
MAX_TEXT_CHARS = 8000


def openai_enabled() -> bool:
    return bool(settings.OPENAI_API_KEY) and bool(settings.SUPPORTBOT_HELP_EMBEDDINGS)


def local_model_dir() -> Path:
    return Path(settings.SUPPORTBOT_LOCAL_MODEL_DIR)


def local_enabled() -> bool:
    return bool(settings.SUPPORTBOT_LOCAL_EMBEDDINGS) and model_is_present(local_model_dir())


def provider() -> str | None:
    """ "openai", "local" (keyless, model folder present) or None (lexical search only)."""
    if openai_enabled():
        return "openai"
    if local_enabled():
        return "local"
    return None


def embeddings_enabled() -> bool:
    return provider() is not None


def model_name() -> str:
    if provider() == "local":
        return LOCAL_MODEL_NAME
    return str(settings.SUPPORTBOT_EMBEDDING_MODEL)


def section_text(title: str, heading: str, text: str, kind: str = "section") -> str:
    """The text embedded for a passage (the same function for the index and the task)."""
    if kind == "question":
        return text[:MAX_TEXT_CHARS]
    return "\n".join(part for part in (title, heading, text) if part)[:MAX_TEXT_CHARS]


def content_hash(text: str, model: str | None = None) -> str:
    return hashlib.sha256(f"{model or model_name()}\n{text}".encode()).hexdigest()


def to_bytes(vector: Sequence[float]) -> bytes:
    array = np.asarray(vector, dtype="<f4")
    norm = float(np.linalg.norm(array)) or 1.0
    return (array / norm).astype("<f4").tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<f4")


def embed_texts(texts: Sequence[str], *, client: Any | None = None) -> list[bytes]:
    """Unit-length float32 vectors for `texts`, in order, asked for in batches."""
    if client is None and provider() == "local":
        matrix = local_encoder(local_model_dir()).encode(texts)
        return [row.astype("<f4").tobytes() for row in matrix]
    client = client or openai_client()
    vectors: list[bytes] = []
    for start in range(0, len(texts), BATCH_SIZE):
        batch = list(texts[start : start + BATCH_SIZE])
        response = client.embeddings.create(model=model_name(), input=batch)
        ordered = sorted(response.data, key=lambda item: item.index)
        if len(ordered) != len(batch):
            raise ValueError(f"asked for {len(batch)} embeddings, got {len(ordered)}")
        vectors.extend(to_bytes(item.embedding) for item in ordered)
    return vectors


def embed_query(text: str) -> np.ndarray:
    """The vector of a customer's question (cached); raises on an API failure."""
    cleaned = " ".join(text.split())[:MAX_TEXT_CHARS] or "?"
    key = f"help-embedding:{content_hash(cleaned)}"
    cached = cache.get(key)
    if isinstance(cached, bytes):
        return from_bytes(cached)
    (vector,) = embed_texts([cleaned])
    cache.set(key, vector, QUERY_CACHE_SECONDS)
    return from_bytes(vector)


def article_texts(article_ids: Iterable[int]) -> list[str]:
    """The texts the index embeds for these articles' passages and questions."""
    texts: list[str] = []
    passages = Passage.objects.filter(article_id__in=list(article_ids)).select_related("article")
    for passage in passages:
        texts.append(section_text(passage.article.title, passage.heading, passage.text))
    for question in ArticleQuestion.objects.filter(article_id__in=list(article_ids)):
        texts.append(section_text("", "", question.text, "question"))
    return texts


def do_embed_texts(texts: Iterable[str], *, client: Any | None = None) -> int:
    """Embed and store the texts not in the cache yet. Returns how many were embedded."""
    model = model_name()
    by_hash = {content_hash(text, model): text for text in texts}
    known = set(
        SectionEmbedding.objects.filter(model=model, content_hash__in=list(by_hash)).values_list(
            "content_hash", flat=True
        )
    )
    missing = [(key, text) for key, text in by_hash.items() if key not in known]
    if not missing:
        return 0
    vectors = embed_texts([text for _, text in missing], client=client)
    rows = [
        SectionEmbedding(model=model, content_hash=key, dimensions=len(vector) // 4, vector=vector)
        for (key, _), vector in zip(missing, vectors, strict=True)
    ]
    # Two workers embedding the same text at once store it once.
    SectionEmbedding.objects.bulk_create(rows, ignore_conflicts=True)
    IndexState.bump()  # every process reloads its vectors on its next search
    return len(rows)


def do_embed_article(article_id: int) -> int:
    """Embed what is new in one article (the task's body). Quietly 0 if it is gone."""
    if not Article.objects.filter(pk=article_id).exists():
        return 0
    return do_embed_texts(article_texts([article_id]))


def do_embed_help_center() -> int:
    """Embed every published article's missing texts (`manage.py embed_help_center`)."""
    ids = list(Article.objects.filter(published=True).values_list("pk", flat=True))
    return do_embed_texts(article_texts(ids))


def load_vectors(hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """The cached vectors for these content hashes (missing ones are left out)."""
    rows = SectionEmbedding.objects.filter(model=model_name(), content_hash__in=list(hashes))
    return {row.content_hash: from_bytes(row.vector) for row in rows}
