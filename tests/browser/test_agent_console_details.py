"""The classic console in a real browser: the timeline opens at the newest message, the
Live indicator is readable, and every time on the page has one format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.chat import services as chat_services
from apps.escalations import services
from apps.escalations.tests.conftest import make_agent
from tests.browser.contrast import contrasts
from tests.browser.people import open_agent_console

__all__ = ["make_agent"]  # a fixture, used by name


def test_the_console_opens_at_the_newest_message_with_a_readable_live_indicator(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any
):
    # given a long conversation handed to Alex
    conversation, _ = chat_services.do_create_conversation()
    for n in range(40):
        role = "customer" if n % 2 == 0 else "assistant"
        chat_services.do_append_event(conversation.pk, role=role, text=f"message number {n}")
    escalation, _ = services.do_escalate(
        conversation.pk, trigger="customer_request", reason="customer asked for a person"
    )
    assert escalation is not None
    alex = make_agent("alex", "Alex")
    services.check_claim(escalation.pk, alex)

    # when Alex opens it
    agent = open_agent_console(browser, live_server_url, "alex", str(conversation.pk))

    # then the newest message is in view, not the oldest
    timeline = agent.locator("#timeline")
    expect(agent.locator("#timeline li", has_text="message number 39")).to_be_in_viewport()
    at_bottom = timeline.evaluate("t => t.scrollHeight - t.scrollTop - t.clientHeight")
    assert at_bottom < 5
    # the Live indicator reads at 4.5:1 or better
    [(text, contrast)] = contrasts(agent, "#connection")
    assert text.endswith("Live") and contrast >= 4.5, (text, contrast)
    # every time on the page has the same HH:MM:SS format
    shown = agent.eval_on_selector_all("time", "els => els.map(e => e.textContent)")
    assert len(shown) >= 40
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in shown), set(shown)
    assert "agent_joined" not in agent.locator("#timeline").inner_text()
    agent.screenshot(path=str(artifacts / "agent-console-details.png"), full_page=True)
    agent.context.close()
