"""The fake server's /v1/embeddings: OpenAI's shape through the real client, and its refusals."""

from __future__ import annotations

import math

import openai
import pytest

from tests.fake_openai import FakeOpenAI, hashed_embedding


def _client(fake: FakeOpenAI, key: str = "test-key") -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=fake.base_url, max_retries=0)


def test_the_client_gets_one_unit_vector_per_input_in_order(fake_openai: FakeOpenAI) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it.
    response = _client(fake_openai).embeddings.create(
        model="text-embedding-3-small", input=["shipping policy", "refund"]
    )

    assert [item.index for item in response.data] == [0, 1]
    first = response.data[0].embedding
    assert len(first) == 1536
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-4)
    assert fake_openai.embedding_requests[0]["encoding_format"] == "base64"
    assert response.usage.prompt_tokens > 0


def test_the_vectors_are_deterministic_and_close_for_close_spellings(
    fake_openai: FakeOpenAI,
) -> None:
    client = _client(fake_openai)
    a, b, c = (
        client.embeddings.create(
            model="text-embedding-3-small", input=text, encoding_format="float", dimensions=256
        )
        .data[0]
        .embedding
        for text in ("shipping policy", "shiping policy", "gift card balance")
    )

    assert a == pytest.approx(hashed_embedding("shipping policy", 256), abs=1e-6)
    cosine_typo = sum(x * y for x, y in zip(a, b, strict=True))
    cosine_other = sum(x * y for x, y in zip(a, c, strict=True))
    assert cosine_typo > 0.5 > cosine_other


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "text-embedding-3-small", "input": ""}, "input"),
        ({"model": "text-embedding-3-small", "input": []}, "input"),
        ({"model": "text-embedding-3-small", "input": ["ok"] * 2049}, "input"),
        ({"model": "text-embedding-3-small", "input": "ok", "temperature": 1}, "temperature"),
        ({"model": "text-embedding-ada-002", "input": "ok", "dimensions": 256}, "dimensions"),
        ({"model": "text-embedding-3-small", "input": "ok", "encoding_format": "int8"}, None),
    ],
)
def test_requests_openai_refuses_get_its_400(
    fake_openai: FakeOpenAI, body: dict[str, object], param: str | None
) -> None:
    fake_openai.expect_refusals()

    with pytest.raises(openai.BadRequestError) as refused:
        _client(fake_openai).post("/embeddings", body=body, cast_to=object)

    assert refused.value.status_code == 400
    if param is not None:
        assert fake_openai.refusals[-1]["error"]["param"] == param


def test_an_unknown_model_is_a_404_and_a_wrong_key_a_401(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        _client(fake_openai).embeddings.create(model="text-embedding-9", input="hi")
    with pytest.raises(openai.AuthenticationError):
        _client(fake_openai, key="wrong").embeddings.create(
            model="text-embedding-3-small", input="hi"
        )


def test_an_unexpected_refusal_fails_the_test(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        _client(fake_openai).embeddings.create(model="text-embedding-3-small", input="")

    assert fake_openai.errors and "contract" in fake_openai.errors[0]
    fake_openai.errors.clear()
