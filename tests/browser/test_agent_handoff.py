"""A hand-off in real browsers: a customer asks for a person, an agent in the admin
claims and replies, hands back, and the bot answers again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.escalations.models import Escalation
from apps.escalations.tests.conftest import make_agent

__all__ = ["make_agent"]  # a fixture, used by name


def test_a_customer_is_handed_to_an_agent_and_back_to_the_bot(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any
):
    make_agent("alex", "Alex")

    # the customer asks for a person
    customer_context = browser.new_context(viewport={"width": 420, "height": 800})
    customer = customer_context.new_page()
    customer.goto(live_server_url + "/")
    customer.fill("#input", "I want to talk to a real person")
    customer.keyboard.press("Enter")
    expect(customer.locator(".notice.handoff-queued")).to_contain_text("queue", timeout=15_000)

    # an agent, logged into the admin in another browser context, sees it in the queue
    agent_context = browser.new_context(viewport={"width": 1280, "height": 900})
    agent = agent_context.new_page()
    agent.goto(live_server_url + "/admin/login/?next=/admin/console/")
    agent.fill("#id_username", "alex")
    agent.fill("#id_password", "pw-alex")
    agent.click("input[type=submit]")
    expect(agent.locator("#connection")).to_have_text("Live", timeout=10_000)
    row = agent.locator("#queue-table tbody tr").first
    expect(row).to_contain_text("Customer asked for a person", timeout=10_000)

    # claims it and replies
    row.get_by_role("button", name="Claim").click()
    expect(agent.locator("#reply-text")).to_be_visible(timeout=10_000)
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
    agent_context.close()
    customer_context.close()
