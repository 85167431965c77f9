"""The customer chat page in a real browser: send, stream, reload, history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.chat.models import Message
from tests.browser.people import record_partials


def test_a_customer_chats_sees_the_reply_stream_and_keeps_the_history_after_reload(
    browser: Any, live_server_url: str, artifacts: Path
):
    context = browser.new_context(viewport={"width": 420, "height": 800})
    page = context.new_page()
    page.goto(live_server_url + "/")
    expect(page.locator(".disclosure")).to_contain_text("AI assistant")
    expect(page.locator(".badge-offline")).to_be_visible()

    # record every partial text the reply bubble shows while it streams
    record_partials(page)
    page.fill("#input", "hello")
    page.keyboard.press("Enter")

    reply = page.locator(".row-assistant:not(.streaming) .bubble").first
    expect(reply).to_contain_text("Hi there!", timeout=15_000)
    expect(page.locator("#working")).to_be_hidden()
    partials = page.evaluate("window.partials")
    final = reply.text_content()
    # it streamed: several growing partial texts before the whole reply
    assert len(set(partials)) >= 3, partials
    assert all(final.startswith(p.rstrip()) for p in partials if p)
    expect(page.locator(".row-customer .bubble")).to_have_text(["hello"])
    page.screenshot(path=str(artifacts / "chat-reply.png"), full_page=True)

    # after a reload the same conversation comes back from the server
    page.reload()
    expect(page.locator(".row-customer .bubble")).to_have_text(["hello"], timeout=10_000)
    expect(page.locator(".row-assistant .bubble").first).to_contain_text("Hi there!")
    assert Message.objects.filter(role="assistant").count() == 1
    context.close()


def test_model_text_is_never_rendered_as_html(browser: Any, live_server_url: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server_url + "/")
    page.fill("#input", "<img src=x onerror=alert(1)> <b>bold</b>")
    page.keyboard.press("Enter")
    bubble = page.locator(".row-customer .bubble").first
    expect(bubble).to_have_text("<img src=x onerror=alert(1)> <b>bold</b>")
    assert page.locator(".log img, .log b").count() == 0
    context.close()
