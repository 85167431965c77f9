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


def asks_for_a_person(browser: Any, base_url: str) -> Any:
    """A customer on the chat page whose request for a person is queued."""
    customer = open_customer(browser, base_url)
    say(customer, "I want to talk to a real person")
    expect(customer.locator(".notice.handoff-queued")).to_contain_text("queue", timeout=15_000)
    return customer


# Records every partial text the reply bubble shows while it streams (window.partials).
RECORD_PARTIALS = """() => {
  window.partials = [];
  new MutationObserver(() => {
    const bubble = document.querySelector('.row-assistant.streaming .bubble');
    if (bubble) window.partials.push(bubble.textContent);
  }).observe(document.getElementById('log'), {subtree: true, childList: true,
                                              characterData: true});
}"""


def record_partials(chat: Any) -> None:
    """From now on, window.partials in the chat page (or the messenger's frame) lists
    each text the streaming reply showed."""
    chat.evaluate(RECORD_PARTIALS)


def log_in(
    browser: Any,
    base_url: str,
    username: str,
    next_path: str,
    *,
    password: str = "",
    viewport: dict[str, int] | None = None,
    init_script: str = "",
    **context_options: Any,
) -> Any:
    """A person logged into the admin in a browser context of their own (the test
    users' password is "pw-<username>"), on `next_path`."""
    context = browser.new_context(
        viewport=viewport or {"width": 1280, "height": 900}, **context_options
    )
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password or "pw-" + username)
    page.click("input[type=submit]")
    return page


def open_agent_console(browser: Any, base_url: str, username: str, conversation: str) -> Any:
    """An agent logged into the admin, on the console page of one conversation."""
    page = log_in(browser, base_url, username, f"/admin/console/conversations/{conversation}/")
    expect(page.locator("#connection")).to_have_text("Live", timeout=10_000)
    return page


def claim_first_in_queue(agent: Any) -> None:
    """On the classic console's queue: claim the conversation at the top."""
    row = agent.locator("#queue-table tbody tr").first
    expect(row).to_be_visible(timeout=10_000)
    row.get_by_role("button", name="Claim").click()
    expect(agent.locator("#reply-text")).to_be_visible(timeout=10_000)


def claim(agent: Any) -> None:
    agent.click("#take-over")
    expect(agent.locator("#reply-text")).to_be_visible(timeout=10_000)
    expect(agent.locator("#connection")).to_have_text("Live", timeout=10_000)


def agent_joins(browser: Any, base_url: str, customer: Any, username: str, greeting: str) -> Any:
    """An agent opens the customer's queued conversation in the console, claims it and
    greets them; the customer sees the greeting."""
    agent = open_agent_console(browser, base_url, username, conversation_id(customer))
    claim(agent)
    agent_says(agent, greeting)
    expect(customer.locator(".row-agent")).to_contain_text(greeting, timeout=10_000)
    return agent


def agent_says(agent: Any, text: str) -> None:
    agent.fill("#reply-text", text)
    agent.click("#reply-form button[type=submit]")
    expect(agent.locator("#timeline")).to_contain_text(text, timeout=10_000)
