"""A help-center question in a real browser: the answer quotes the article and links it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.core.management import call_command
from playwright.sync_api import expect


def test_a_shipping_question_is_answered_with_its_source_link(
    browser: Any, live_server_url: str, artifacts: Path
):
    call_command("load_help_center", verbosity=0)
    page = browser.new_page(viewport={"width": 900, "height": 900})
    page.goto(live_server_url + "/")
    page.fill("#input", "how long does shipping usually take?")
    page.keyboard.press("Enter")

    expect(page.locator(".status-line").first).to_contain_text("help center", timeout=15_000)
    answer = page.locator(".row-assistant:not(.streaming)").last
    expect(answer.locator(".bubble")).to_contain_text("Source:", timeout=15_000)
    link = answer.locator(".bubble a[href^='/help/']").first
    # the link opens the article at the section the answer quotes
    expect(link).to_have_attribute(
        "href", re.compile(r"^/help/shipping-options-times-and-costs/(#[\w-]+)?$")
    )
    page.screenshot(path=str(artifacts / "help-center-answer.png"), full_page=True)

    # the link opens the article
    link.click()
    expect(page.locator("h1")).to_contain_text("Shipping", timeout=10_000)
    page.close()
