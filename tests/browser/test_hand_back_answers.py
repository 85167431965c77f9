"""After a hand-back, the assistant answers the question the customer asked while a
person had the chat, instead of only asking whether there is anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.escalations.tests.conftest import make_agent
from apps.knowledge.services import do_load_help_center
from tests.browser.people import agent_joins, asks_for_a_person, say

__all__ = ["make_agent"]  # a fixture, used by name


def test_the_assistant_answers_the_pending_question_after_a_hand_back(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any
):
    do_load_help_center()
    make_agent("alex", "Alex")
    customer = asks_for_a_person(browser, live_server_url)
    agent = agent_joins(browser, live_server_url, customer, "alex", "Hi, I'm Alex. How can I help?")

    # the customer asks; the agent hands back without answering
    say(customer, "How do I return an item?")
    expect(agent.locator("#timeline")).to_contain_text("How do I return an item?")
    agent.click("#hand-back")
    returned = customer.locator(".notice.handoff-returned_to_bot")
    expect(returned).to_be_visible(timeout=10_000)
    expect(returned).not_to_contain_text("anything else")

    # the assistant answers it, with nothing more typed
    answer = customer.locator(".notice.handoff-returned_to_bot ~ .row-assistant:not(.streaming)")
    expect(answer).to_have_count(1, timeout=15_000)
    expect(answer).to_contain_text("return", ignore_case=True)
    expect(answer).not_to_contain_text("anything else")
    expect(customer.locator("#agent-header")).to_be_hidden()
    customer.screenshot(path=str(artifacts / "chat-hand-back-answer.png"), full_page=True)
    agent.context.close()
    customer.context.close()
