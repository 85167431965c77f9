"""A Spanish browser: the messenger's own words in Spanish, and (with the scripted
model) a Spanish answer from the English help center that still cites its source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management import call_command
from playwright.sync_api import expect

from apps.chat.models import Conversation, SuggestedQuestion
from tests.browser.test_messenger_widget import messenger
from tests.fake_openai import FakeOpenAI, text, tool_calls

ANSWER = (
    "Puedes devolver artículos sin usar en un plazo de 30 días desde la entrega, en su "
    "embalaje original. Los detalles están en [Devoluciones](/help/returns/)."
)


def test_a_spanish_browser_gets_the_spanish_interface_and_a_spanish_answer(
    browser: Any, ai_server_url: str, fake_model: FakeOpenAI, artifacts: Path
):
    call_command("load_help_center", verbosity=0)
    # given the operator's Spanish first questions (an earlier test's flush may have
    # removed the rows the migration seeds)
    SuggestedQuestion.objects.filter(language="es").delete()
    SuggestedQuestion.objects.create(text="¿Dónde está mi pedido?", language="es", position=0)
    fake_model.script(
        tool_calls([("search_help_center", {"query": "return policy"})]),
        text(ANSWER, chunk_size=6),
    )
    context = browser.new_context(locale="es-ES", viewport={"width": 1280, "height": 820})
    page = context.new_page()
    page.goto(ai_server_url + "/demo-store/")
    chat = messenger(page)
    expect(chat.locator("#launcher")).to_contain_text("Abrir el chat de soporte")
    chat.locator("#launcher").click()

    # the page's own words
    expect(chat.locator("html")).to_have_attribute("lang", "es")
    expect(chat.locator("#send")).to_have_text("Enviar")
    expect(chat.locator("#input")).to_have_attribute("placeholder", "Escribe tu mensaje…")
    expect(chat.locator(".notice-welcome")).to_contain_text("¡Hola!")
    expect(chat.locator(".chips .chip").first).to_have_text("¿Dónde está mi pedido?")

    # a Spanish question: the model is told the language, and answers in it with the source
    chat.fill("#input", "¿Cuál es vuestra política de devoluciones?")
    chat.press("#input", "Enter")
    answer = chat.locator(".row-assistant:not(.streaming)").last
    expect(answer.locator(".bubble")).to_contain_text("Puedes devolver", timeout=15_000)
    expect(answer.locator(".msg-head")).to_contain_text("(asistente de IA)")
    expect(answer.locator("a[href='/help/returns/']").first).to_be_visible()
    page.screenshot(path=str(artifacts / "widget-spanish.png"))

    first = fake_model.requests[0]
    session = next(m["content"] for m in first["messages"] if "Customer's language" in str(m))
    assert "Customer's language: Spanish" in session and "Answer in Spanish" in session
    # the tool ran on the English help center and the answer cites the article
    tool_result = json.dumps(fake_model.requests[1]["messages"][-2])  # before the session state
    assert "returns" in tool_result
    assert Conversation.objects.get().language == "es"
    context.close()
