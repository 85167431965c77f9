"""Writing again after a chat was closed and rated: the customer sees that a new chat
began, never the internal summary of the earlier one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.people import open_customer, say

INTERNAL = ("Earlier", "customer asked", "message(s)", "closed by", "rated 4/5")


def assert_nothing_internal(page: Any) -> None:
    for text in INTERNAL:
        expect(page.locator("#log")).not_to_contain_text(text)


def test_a_reopened_chat_shows_no_internal_summary(
    browser: Any, live_server_url: str, artifacts: Path
):
    customer = open_customer(browser, live_server_url)
    say(customer, "hello")
    expect(customer.locator(".row-assistant:not(.streaming)")).to_have_count(1, timeout=15_000)
    customer.click("#end-chat")
    customer.locator(".rating-card .star").nth(3).click()
    customer.click(".rating-card button[type=submit]")
    expect(customer.locator(".rating-card.done")).to_be_visible(timeout=10_000)

    say(customer, "one more question")
    notice = customer.locator(".notice").filter(has_text="New conversation started")
    expect(notice).to_have_count(1, timeout=10_000)
    assert_nothing_internal(customer)
    customer.reload()
    expect(notice).to_have_count(1, timeout=10_000)
    assert_nothing_internal(customer)
    customer.screenshot(path=str(artifacts / "chat-reopened.png"), full_page=True)
    customer.context.close()
