"""The chat header names who the customer is talking to: the assistant, the waiting line,
the person from the team, and that person still once the team closed the chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.escalations.tests.conftest import make_agent
from tests.browser.people import agent_joins, open_customer, say

__all__ = ["make_agent"]  # a fixture, used by name


def test_the_header_shows_the_agent_while_they_chat_and_after_they_close(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any
):
    make_agent("alex", "Alex")
    customer = open_customer(browser, live_server_url)
    disclosure = customer.locator("#disclosure")
    person = customer.locator("#agent-header")
    expect(disclosure).to_contain_text("AI assistant")
    expect(person).to_be_hidden()

    say(customer, "I want to talk to a real person")
    expect(customer.locator(".notice.handoff-queued")).to_be_visible(timeout=15_000)

    # a person joins and writes: the header names them, not the assistant
    agent = agent_joins(browser, live_server_url, customer, "alex", "Hi, I'm Alex. How can I help?")
    expect(person).to_be_visible()
    expect(person).to_contain_text("Alex")
    expect(disclosure).to_be_hidden()
    customer.screenshot(path=str(artifacts / "chat-header-agent.png"))

    # after a reload it still says so
    customer.reload()
    expect(customer.locator(".row-agent")).to_contain_text("Hi, I'm Alex", timeout=10_000)
    expect(person).to_contain_text("Alex")
    expect(disclosure).to_be_hidden()

    # the team closes the chat: still the person's chat, now closed
    agent.click("#close-conversation")
    expect(customer.locator(".notice.handoff-closed")).to_be_visible(timeout=10_000)
    expect(person).to_be_visible()
    expect(person).to_contain_text("Alex")
    expect(person).to_contain_text("closed")
    expect(disclosure).to_be_hidden()
    customer.reload()
    expect(customer.locator(".notice.handoff-closed")).to_be_visible(timeout=10_000)
    expect(person).to_contain_text("Alex")
    expect(disclosure).to_be_hidden()
    customer.screenshot(path=str(artifacts / "chat-header-closed-by-agent.png"))
    agent.context.close()
    customer.context.close()
