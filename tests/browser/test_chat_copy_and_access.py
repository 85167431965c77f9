"""The chat page's copy and accessibility: a help-center source shown once, readable
stars, chips and notices (4.5:1), a visible focus on the log, and a composer that fits a
phone and shrinks back after sending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.knowledge.services import do_load_help_center
from tests.browser.contrast import contrasts
from tests.browser.people import open_customer, say


def test_a_help_center_answer_cites_its_source_once(
    browser: Any, live_server_url: str, artifacts: Path
):
    do_load_help_center()
    customer = open_customer(browser, live_server_url)
    say(customer, "How long do refunds to a credit card take?")
    answer = customer.locator(".row-assistant:not(.streaming)")
    expect(answer).to_have_count(1, timeout=15_000)
    expect(answer.locator(".bubble")).to_contain_text("Source:")
    # one link to the article, in the answer; no second chip for the same article
    links = answer.locator("a[href^='/help/refund-timelines/']")
    expect(links).to_have_count(1)
    expect(answer.locator(".sources")).to_have_count(0)
    customer.screenshot(path=str(artifacts / "chat-source-once.png"), full_page=True)
    customer.context.close()


def test_text_and_controls_read_at_4_5_to_1_and_the_log_shows_focus(
    browser: Any, live_server_url: str, artifacts: Path
):
    customer = open_customer(browser, live_server_url, width=1000, height=800)
    say(customer, "hello")
    expect(customer.locator(".row-assistant:not(.streaming)")).to_have_count(1, timeout=15_000)
    # a source chip, as an answer that does not link its article shows it
    customer.evaluate(
        """() => { const s = document.createElement("div"); s.className = "sources";
        s.innerHTML = '<span class="sources-label">Sources:</span><a class="source-link" '
          + 'href="/help/returns/">Returning items</a>';
        document.querySelector(".row-assistant").append(s); }"""
    )
    customer.click("#end-chat")
    expect(customer.locator(".rating-card .star")).to_have_count(5, timeout=10_000)
    customer.locator(".rating-card .star").nth(2).click()
    checked = contrasts(
        customer,
        ".star, .source-link, .sources-label, .notice, .msg-head, .chat-footer, .disclosure",
    )
    low = [(text, value) for text, value in checked if value < 4.5]
    assert not low, low
    assert len(checked) >= 8

    # the log, focused from the keyboard, shows it
    customer.focus("#new-chat")
    for _ in range(6):
        customer.keyboard.press("Tab")
        if customer.evaluate("document.activeElement.id") == "log":
            break
    assert customer.evaluate("document.activeElement.id") == "log"
    outline = customer.eval_on_selector(
        "#log", "el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline
    customer.screenshot(path=str(artifacts / "chat-contrast-and-focus.png"))
    customer.context.close()


def test_on_a_phone_the_composer_fits_and_shrinks_back_after_sending(
    browser: Any, live_server_url: str, artifacts: Path
):
    customer = open_customer(browser, live_server_url, width=360, height=740)
    box = customer.locator("#input")
    # the placeholder is whole, on one line
    empty_height = box.evaluate("el => el.clientHeight")
    assert box.evaluate("el => el.scrollHeight <= el.clientHeight + 1")
    assert empty_height <= 50
    # a long message grows the box; once sent, it is one line again
    box.fill("first line\nsecond line\nthird line\nfourth line")
    box.dispatch_event("input")
    assert box.evaluate("el => el.clientHeight") > empty_height + 20
    customer.keyboard.press("Enter")
    expect(customer.locator(".row-customer")).to_have_count(1)
    assert abs(box.evaluate("el => el.clientHeight") - empty_height) <= 2
    customer.screenshot(path=str(artifacts / "chat-phone-composer.png"))
    customer.context.close()
