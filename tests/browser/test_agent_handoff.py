"""A hand-off in real browsers: a customer asks for a person, an agent in the admin
claims and replies, hands back, and the bot answers again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.escalations.models import Escalation
from apps.escalations.tests.conftest import make_agent
from tests.browser.people import asks_for_a_person, claim_first_in_queue, log_in

__all__ = ["make_agent"]  # a fixture, used by name


def test_a_customer_is_handed_to_an_agent_and_back_to_the_bot(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any
):
    make_agent("alex", "Alex")

    # the customer asks for a person
    customer = asks_for_a_person(browser, live_server_url)

    # an agent, logged into the admin in another browser context, sees it in the queue
    agent = log_in(browser, live_server_url, "alex", "/admin/console/")
    expect(agent.locator("#connection")).to_have_text("Live", timeout=10_000)
    row = agent.locator("#queue-table tbody tr").first
    expect(row).to_contain_text("Customer asked for a person", timeout=10_000)

    # claims it and replies
    claim_first_in_queue(agent)
    expect(agent.locator("#timeline")).to_contain_text("I want to talk to a real person")
    expect(customer.locator(".notice.handoff-agent_joined")).to_contain_text("Alex", timeout=10_000)
    expect(agent.locator("#connection")).to_have_text("Live", timeout=10_000)
    agent.fill("#reply-text", "Hi, I'm Alex from support. How can I help?")
    agent.click("#reply-form button[type=submit]")

    # the customer sees the reply, with the agent's name
    agent_bubble = customer.locator(".row-agent")
    expect(agent_bubble).to_contain_text("Hi, I'm Alex from support", timeout=10_000)
    expect(agent_bubble).to_contain_text("Alex (support team)")
    customer.fill("#input", "My lamp arrived <b>broken</b>")
    customer.keyboard.press("Enter")
    expect(agent.locator("#timeline")).to_contain_text("My lamp arrived <b>broken</b>")
    assert agent.locator("#timeline b").count() == 0  # customer text is text, never HTML
    agent.screenshot(path=str(artifacts / "agent-console-conversation.png"), full_page=True)

    # the agent hands back; the bot answers the next message
    replies = customer.locator(".row-assistant:not(.streaming) .bubble")
    before = replies.count()
    agent.click("#hand-back")
    expect(agent).to_have_url(live_server_url + "/admin/console/", timeout=10_000)
    expect(customer.locator(".notice.handoff-returned_to_bot")).to_be_visible(timeout=10_000)
    # the bot first answers the message the agent left open, then the next one
    expect(replies).to_have_count(before + 1, timeout=15_000)
    customer.fill("#input", "hello")
    customer.keyboard.press("Enter")
    expect(replies.last).to_contain_text("Hi there!", timeout=15_000)
    customer.screenshot(path=str(artifacts / "customer-after-handoff.png"), full_page=True)
    assert Escalation.objects.get().status == "returned"
    agent.context.close()
    customer.context.close()
