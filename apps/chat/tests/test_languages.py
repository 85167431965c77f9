"""The customer's language: the page in English, Spanish, French or German chosen from
the browser, the conversation remembers it, and the model is told to answer in it."""

from __future__ import annotations

import gettext
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from apps.assistant import prompts
from apps.chat.models import Conversation
from apps.chat.ui_text import UI_TEXT

from .test_suggested_questions import chips_on

pytestmark = pytest.mark.django_db
LOCALE = Path(settings.BASE_DIR) / "locale"


def page(client, language: str, path: str = "/") -> str:
    return client.get(path, HTTP_ACCEPT_LANGUAGE=language).content.decode()


def ui_text(content: str) -> dict[str, str]:
    match = re.search(r'<script id="ui-text" type="application/json">(.*?)</script>', content)
    assert match
    return json.loads(match.group(1))


@pytest.mark.parametrize(
    ("accept", "lang", "send", "welcome"),
    [
        ("es-ES,es;q=0.9", "es", "Enviar", "¡Hola! Pregúntame"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "fr", "Envoyer", "Bonjour !"),
        ("de-DE", "de", "Senden", "Hallo! Fragen Sie"),
        ("en-GB", "en", "Send", "Hi! Ask me"),
        ("pt-BR", "en", "Send", "Hi! Ask me"),  # not offered: English
    ],
)
def test_the_chat_and_the_messenger_speak_the_browser_s_language(
    client, accept, lang, send, welcome
):
    for path in ("/", "/embed/"):
        content = page(client, accept, path)
        assert f'<html lang="{lang}">' in content
        assert f'<button type="submit" id="send">{send}</button>' in content
        assert ui_text(content)["welcome"].startswith(welcome)


def test_suggested_questions_follow_the_page_s_language(client):
    assert chips_on(page(client, "es").encode())[0] == "¿Dónde está mi pedido?"
    assert chips_on(page(client, "fr").encode())[0] == "Où est ma commande ?"
    assert "Where is my order?" not in chips_on(page(client, "de").encode())


def test_a_conversation_keeps_the_language_of_the_page_that_started_it(client):
    for accept, expected in (("es-MX,es;q=0.8", "es"), ("de", "de"), ("ja", "en")):
        response = client.post(
            "/api/conversations/",
            {},
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE=accept,
        )
        conversation = Conversation.objects.get(pk=response.json()["conversation_id"])
        assert conversation.language == expected


def test_the_session_layer_tells_the_model_to_answer_in_the_customer_s_language():
    facts = prompts.SessionFacts(identity=None, now=datetime(2026, 1, 1, tzinfo=UTC), locale="es")
    text = prompts.session_text(facts)
    assert "Customer's language: Spanish" in text and "Answer in Spanish" in text
    assert "search them in English" in text and "link" in text
    built = prompts.build(facts, [])
    assert any("Answer in Spanish" in m["content"] for m in built.messages if m["role"] == "system")


def _joined(quoted: str) -> str:
    """A .po string that may span several quoted lines."""
    return "".join(json.loads(line) for line in quoted.strip().splitlines())


@pytest.mark.parametrize("lang", ["es", "fr", "de"])
def test_every_page_string_is_translated_and_the_compiled_catalog_matches(lang):
    po = (LOCALE / lang / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries = dict(
        (_joined(mid), _joined(mstr))
        for mid, mstr in re.findall(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', po, re.M)
        if _joined(mid)
    )
    assert all(entries.values()), [k for k, v in entries.items() if not v]
    with (LOCALE / lang / "LC_MESSAGES" / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, msgstr in entries.items():
        assert compiled.gettext(msgid) == msgstr, f"{lang}: {msgid!r}: run make messages"
        # placeholders survive translation
        assert set(re.findall(r"\{\w+\}", msgid)) == set(re.findall(r"\{\w+\}", msgstr))
    with translation.override("en"):
        english = [str(value) for value in UI_TEXT.values()]
    assert set(english) <= set(entries)
