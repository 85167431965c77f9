"""Suggested first questions: chips on the chat, edited by operators in the admin."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from apps.chat.models import SuggestedQuestion

pytestmark = pytest.mark.django_db


def chips_on(content: bytes) -> list[str]:
    match = re.search(rb'<script id="suggestions" type="application/json">(.*?)</script>', content)
    assert match, "no suggestions on the page"
    return json.loads(match.group(1))


def test_the_chat_and_the_messenger_offer_the_seeded_questions(client):
    for path in ("/", "/embed/"):
        chips = chips_on(client.get(path).content)
        assert chips[0] == "Where is my order?"
        assert "Talk to a person" in chips


def test_only_active_questions_for_the_page_language_in_order(client):
    SuggestedQuestion.objects.all().delete()
    SuggestedQuestion.objects.create(text="Second", language="en", position=2)
    SuggestedQuestion.objects.create(text="First", language="", position=1)
    SuggestedQuestion.objects.create(text="Hidden", language="en", position=0, active=False)
    SuggestedQuestion.objects.create(text="¿Dónde está mi pedido?", language="es", position=0)
    assert SuggestedQuestion.for_language("en-us") == ["First", "Second"]
    assert SuggestedQuestion.for_language("es") == ["¿Dónde está mi pedido?", "First"]
    assert chips_on(client.get("/").content) == ["First", "Second"]


def test_a_question_text_is_data_never_markup(client):
    SuggestedQuestion.objects.all().delete()
    SuggestedQuestion.objects.create(text="</script><script>alert(1)</script>", language="en")
    content = client.get("/").content
    assert b"<script>alert(1)" not in content
    assert chips_on(content) == ["</script><script>alert(1)</script>"]


def test_operators_edit_the_questions_in_the_admin(client):
    admin = get_user_model().objects.create_superuser("op", "op@example.com", "pw")
    client.force_login(admin)
    page = client.get("/admin/chat/suggestedquestion/")
    assert page.status_code == 200
    assert b"Where is my order?" in page.content
    response = client.post(
        "/admin/chat/suggestedquestion/add/",
        {"text": "Do you ship to Canada?", "language": "en", "position": 0, "active": "on"},
    )
    assert response.status_code == 302
    assert "Do you ship to Canada?" in chips_on(client.get("/").content)
