"""The chat page survives a server restart: it reconnects with backoff and resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.servers import daphne, free_port


def test_the_page_reconnects_after_a_restart_and_sends_what_was_typed_meanwhile(
    browser: Any, transactional_db: None, tmp_path: Path, artifacts: Path
):
    port = free_port()
    page = browser.new_page(viewport={"width": 420, "height": 800})
    with daphne(tmp_path, port=port) as url:
        page.goto(url + "/")
        page.fill("#input", "hello")
        page.keyboard.press("Enter")
        expect(page.locator(".row-assistant:not(.streaming)")).to_have_count(1, timeout=15_000)

    # the server is gone: the page says so and keeps what the customer types
    expect(page.locator("#banner")).to_contain_text("Reconnecting", timeout=10_000)
    page.fill("#input", "thanks")
    page.keyboard.press("Enter")
    expect(page.locator(".row-customer.sending")).to_have_count(1)
    page.screenshot(path=str(artifacts / "chat-reconnecting.png"))

    with daphne(tmp_path, port=port):
        # back: the banner goes, the queued message is delivered once and answered
        expect(page.locator("#banner")).to_be_hidden(timeout=20_000)
        expect(page.locator(".row-customer.sending")).to_have_count(0, timeout=10_000)
        expect(page.locator(".row-assistant:not(.streaming)")).to_have_count(2, timeout=15_000)
        expect(page.locator(".row-assistant .bubble").last).to_contain_text("You're welcome")
        expect(page.locator(".row-customer .bubble")).to_have_text(["hello", "thanks"])
    page.close()
