"""The messenger's conversation details in real browsers: suggested questions,
times, names and avatars, the header while an agent has the chat, typing both ways
and the agent's read receipt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.chat.models import SuggestedQuestion
from apps.escalations.tests.conftest import make_agent
from tests.browser.people import claim_first_in_queue, log_in
from tests.browser.test_messenger_widget import messenger

__all__ = ["make_agent"]  # a fixture, used by name
TIME = re.compile(r"\d{1,2}:\d{2}")


def test_an_agent_takes_the_chat_types_is_read_and_hands_back(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any
):
    make_agent("alex", "Alex Rivera")
    # given the operator's first questions (an earlier test's flush may have removed the
    # rows the migration seeds)
    SuggestedQuestion.objects.all().delete()
    SuggestedQuestion.objects.create(text="Where is my order?", language="en", position=0)
    SuggestedQuestion.objects.create(text="Talk to a person", language="en", position=1)
    shopper_context = browser.new_context(viewport={"width": 1280, "height": 820})
    shopper = shopper_context.new_page()
    shopper.goto(live_server_url + "/demo-store/")
    chat = messenger(shopper)
    chat.locator("#launcher").click()

    # suggested first questions; one click asks it
    chips = chat.locator(".chips .chip")
    expect(chips.first).to_have_text("Where is my order?")
    chat.get_by_role("button", name="Where is my order?").click()
    expect(chat.locator(".chips")).to_have_count(0)
    expect(chat.locator(".row-customer .bubble")).to_have_text(["Where is my order?"])
    # every message shows its time; the assistant has a name and an avatar
    assistant = chat.locator(".row-assistant:not(.streaming)").first
    expect(assistant).to_be_visible(timeout=15_000)
    expect(chat.locator(".row-customer .msg-time").first).to_have_text(TIME)
    expect(assistant.locator(".msg-head")).to_contain_text("Sierra (AI assistant)")
    expect(assistant.locator(".avatar")).to_have_text("AI")
    expect(assistant.locator(".msg-time")).to_have_text(TIME)
    expect(chat.locator("#disclosure")).to_contain_text("AI assistant")
    chat.fill("#input", "I want to talk to a real person")
    chat.press("#input", "Enter")
    expect(chat.locator(".notice.handoff-queued")).to_be_visible(timeout=15_000)

    # the agent claims it: the shopper's header shows the agent
    agent = log_in(browser, live_server_url, "alex", "/admin/console/")
    row = agent.locator("#queue-table tbody tr").first
    expect(row).to_contain_text("Customer asked for a person", timeout=10_000)
    claim_first_in_queue(agent)
    expect(agent.locator("#connection")).to_have_text("Live", timeout=10_000)
    header = chat.locator("#agent-header")
    expect(header).to_contain_text("Alex", timeout=10_000)
    expect(header.locator(".avatar")).to_have_text("AR")
    expect(chat.locator("#disclosure")).to_be_hidden()

    # typing both ways
    chat.locator("#input").press_sequentially("my order never came", delay=20)
    expect(agent.locator("#customer-typing")).to_be_visible(timeout=10_000)
    chat.press("#input", "Enter")
    expect(agent.locator("#timeline")).to_contain_text("my order never came", timeout=10_000)
    expect(agent.locator("#customer-typing")).to_be_hidden()
    agent.locator("#reply-text").press_sequentially("Sorry to hear", delay=20)
    expect(chat.locator("#working")).to_contain_text("Alex Rivera is typing…", timeout=10_000)
    agent.locator("#reply-text").press_sequentially(" that. Let me look.", delay=5)
    agent.keyboard.press("Enter")

    # the reply, with the agent's name, avatar and time; the panel is open: read
    reply = chat.locator(".row-agent").last
    expect(reply).to_contain_text("Sorry to hear that. Let me look.", timeout=10_000)
    expect(reply.locator(".msg-head")).to_contain_text("Alex Rivera (support team)")
    expect(reply.locator(".avatar")).to_have_text("AR")
    expect(reply.locator(".msg-time")).to_have_text(TIME)
    expect(chat.locator("#working")).to_be_hidden()
    expect(agent.locator("#timeline li.role-agent .receipt").last).to_have_text(
        "✓ Read", timeout=10_000
    )
    shopper.screenshot(path=str(artifacts / "widget-agent.png"))
    agent.screenshot(path=str(artifacts / "console-read-receipt.png"), full_page=True)

    # back to the assistant: the header says so again
    agent.click("#hand-back")
    expect(chat.locator(".notice.handoff-returned_to_bot")).to_be_visible(timeout=10_000)
    expect(chat.locator("#agent-header")).to_be_hidden()
    expect(chat.locator("#disclosure")).to_contain_text("AI assistant")
    agent.context.close()
    shopper_context.close()


def test_a_reply_read_with_the_panel_closed_is_not_marked_read(
    browser: Any, live_server_url: str, make_agent: Any
):
    # The read receipt waits until the shopper opens the panel.
    from apps.chat.models import Conversation

    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server_url + "/demo-store/")
    chat = messenger(page)
    chat.locator("#launcher").click()
    chat.fill("#input", "hello")
    chat.press("#input", "Enter")
    chat.press("#input", "Escape")
    expect(chat.locator("#unread")).to_have_text("1", timeout=15_000)
    page.wait_for_timeout(500)
    conversation = Conversation.objects.get()
    assert conversation.customer_read_seq < conversation.last_seq
    chat.locator("#launcher").click()
    page.wait_for_timeout(800)
    conversation.refresh_from_db()
    assert conversation.customer_read_seq == conversation.last_seq
    context.close()
