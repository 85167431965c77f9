"""A customer and an agent in real browser pages, for the tests that need both."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def open_customer(browser: Any, base_url: str, *, width: int = 420, height: int = 800) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(base_url + "/")
    expect(page.locator("#input")).to_be_editable()
    return page


def say(page: Any, text: str) -> None:
    page.fill("#input", text)
    page.keyboard.press("Enter")


def conversation_id(page: Any) -> str:
    return str(page.evaluate("JSON.parse(localStorage.getItem('supportbot.conversation')).id"))


def open_agent_console(browser: Any, base_url: str, username: str, conversation: str) -> Any:
    """An agent logged into the admin, on the console page of one conversation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/admin/login/?next=/admin/console/conversations/{conversation}/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.click("input[type=submit]")
    expect(page.locator("#connection")).to_have_text("Live", timeout=10_000)
    return page


def claim(agent: Any) -> None:
    agent.click("#take-over")
    expect(agent.locator("#reply-text")).to_be_visible(timeout=10_000)
    expect(agent.locator("#connection")).to_have_text("Live", timeout=10_000)


def agent_says(agent: Any, text: str) -> None:
    agent.fill("#reply-text", text)
    agent.click("#reply-form button[type=submit]")
    expect(agent.locator("#timeline")).to_contain_text(text, timeout=10_000)
