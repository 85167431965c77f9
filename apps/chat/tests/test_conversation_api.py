"""POST /api/conversations/: a new conversation and its secret."""

from __future__ import annotations

import hashlib

import pytest

from apps.chat.models import Conversation

pytestmark = pytest.mark.django_db


def test_it_creates_a_conversation_and_stores_only_the_token_hash(client):
    response = client.post("/api/conversations/", content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert len(body["token"]) >= 32
    assert conversation.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in conversation.token_hash
    assert conversation.status == "bot"


def test_it_rejects_a_body_that_is_not_json(client):
    response = client.post("/api/conversations/", data="{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    response = client.post("/api/conversations/", data={"identity": "x"})
    assert response.status_code == 415


def test_it_rejects_an_invalid_identity_token(client, settings):
    settings.SUPPORTBOT_IDENTITY_SECRET = "s" * 32
    response = client.post(
        "/api/conversations/", data={"identity": "forged.token"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_identity"
    assert Conversation.objects.count() == 0


def test_creating_conversations_is_rate_limited_per_client(client, settings):
    settings.SUPPORTBOT_RATE_CONVERSATIONS = 3
    codes = [
        client.post("/api/conversations/", content_type="application/json").status_code
        for _ in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]
    assert Conversation.objects.count() == 3


def test_only_post_is_allowed(client):
    assert client.get("/api/conversations/").status_code == 405


def test_the_chat_page_discloses_the_ai_assistant(client, settings):
    settings.OPENAI_API_KEY = ""
    page = client.get("/").content.decode()
    assert "AI assistant" in page
    assert "Offline assistant" in page
