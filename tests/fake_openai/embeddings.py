"""Embeddings (/v1/embeddings, for the help center's semantic search).

Strict like the chat endpoint: a request OpenAI would refuse (unknown model or
parameter, an empty string, more than 2048 inputs, `dimensions` on a model without
it, an unknown encoding) gets OpenAI's 400 and fails the test. The vectors are
deterministic: by default `hashed_embedding`, word and character-trigram features
hashed into the requested dimensions, so texts that share words and spellings are
close, as they are for a real model, and a typo stays near its word. A test can
script its own with `fake.embed_with(fn)` (text, dimensions -> vector). Every
request body is kept in `fake.embedding_requests` (not in `requests`, which is
the chat's).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.fake_openai.server import FakeOpenAI


EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
EMBEDDING_PARAMETERS = {"model", "input", "encoding_format", "dimensions", "user"}
MAX_EMBEDDING_INPUTS = 2048
MAX_EMBEDDING_INPUT_CHARS = 8191 * 4  # about 8191 tokens


def hashed_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text` (the same in every process and run)."""
    import hashlib
    import math
    import re

    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        features = [(f"w:{word}", 1.0)]
        padded = f"<{word}>"
        features += [(f"t:{padded[i : i + 3]}", 0.5) for i in range(len(padded) - 2)]
        for feature, weight in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % dimensions
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[slot] += sign * weight
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _embedding_refusal(body: Any) -> tuple[str, str | None] | None:
    """(message, param) of the 400 OpenAI would answer, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object.", None
    for key in body:
        if key not in EMBEDDING_PARAMETERS:
            return f"Unrecognized request argument supplied: {key}", key
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "you must provide a model parameter", "model"
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    if not items or len(items) > MAX_EMBEDDING_INPUTS:
        return f"'$.input' must hold 1 to {MAX_EMBEDDING_INPUTS} items.", "input"
    for item in items:
        is_tokens = isinstance(item, list) and item and all(isinstance(t, int) for t in item)
        if not (isinstance(item, str) and item) and not is_tokens:
            return "'$.input' is invalid. Please check the API reference.", "input"
        if isinstance(item, str) and len(item) > MAX_EMBEDDING_INPUT_CHARS:
            return "This model's maximum context length is 8192 tokens.", "input"
    if body.get("encoding_format", "float") not in {"float", "base64"}:
        return "Invalid value for 'encoding_format': expected float or base64.", "encoding_format"
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not model.startswith("text-embedding-3"):
            return "This model does not support specifying dimensions.", "dimensions"
        if not isinstance(dimensions, int) or not 1 <= dimensions <= EMBEDDING_MODELS.get(model, 0):
            return "Invalid value for 'dimensions'.", "dimensions"
    return None


def add_embedding_routes(app: web.Application, fake: FakeOpenAI) -> None:
    async def embeddings(request: web.Request) -> web.Response:
        if fake.api_key and request.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return fake._fail("an embeddings request body was not JSON")
        fake.embedding_requests.append(body)
        refused = _embedding_refusal(body)
        if refused is None and body["model"] not in EMBEDDING_MODELS:
            message = f"The model `{body['model']}` does not exist or you do not have access."
            return web.json_response(
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                },
                status=404,
            )
        if refused is not None:
            message, param = refused
            payload = {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": param,
                    "code": None,
                }
            }
            fake.refusals.append(payload)
            if not fake.refusals_expected:
                fake.errors.append(f"embeddings request breaks OpenAI's contract: {message}")
            return web.json_response(payload, status=400)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dimensions = int(body.get("dimensions") or EMBEDDING_MODELS[body["model"]])
        embed = fake.embedder or hashed_embedding
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(str(t) for t in item)
            tokens += max(1, len(text) // 4)
            vector = [float(v) for v in embed(text, dimensions)]
            if len(vector) != dimensions:
                return fake._fail(f"scripted embedding has {len(vector)} dimensions")
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                import array
                import base64

                encoded = base64.b64encode(array.array("f", vector).tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    app.router.add_post("/v1/embeddings", embeddings)
