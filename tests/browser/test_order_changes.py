"""An order change in a real browser: verify, look the order up, confirm on the card,
and see the result (the card shows it done, the assistant explains)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from playwright.sync_api import expect

from apps.chat.models import PendingAction
from apps.orders.models import Order

ORDER = "#W5918442"  # Sofia Rossi's pending order in the demo store, paid by card ending 3357


def say(page: Any, text: str, replies_before: int) -> Any:
    """Send a message; the assistant's next finished reply."""
    page.fill("#input", text)
    page.keyboard.press("Enter")
    reply = page.locator(".row-assistant:not(.streaming) .bubble").nth(replies_before)
    expect(reply).to_be_visible(timeout=15_000)
    return reply


def test_a_customer_verifies_looks_up_an_order_and_cancels_it_on_the_card(
    browser: Any, live_server_url: str, artifacts: Path
):
    call_command("load_demo_store", verbosity=0)  # the Daphne process shares this database
    context = browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.goto(live_server_url + "/")

    reply = say(page, f"where is my order {ORDER}", 0)
    expect(reply).to_contain_text("email address on your account")

    reply = say(page, "sofia.rossi2645@example.com, zip 78784", 1)
    expect(reply).to_contain_text(f"Order {ORDER} is pending")
    expect(reply).to_contain_text("Action Camera")

    reply = say(page, "cancel it", 2)
    expect(reply).to_contain_text("What's the reason")

    reply = say(page, "no longer needed", 3)
    expect(reply).to_contain_text("press Confirm on the card")
    card = page.locator(".confirm-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(f"Cancel order {ORDER} ($1,463.70)")
    expect(card).to_contain_text("Mastercard card ending in 3357")
    # the card's figures carry the customer's words, not internal field names
    expect(card.locator("dt")).to_have_text(["Order", "Status", "Reason"])
    expect(card.locator("dd").nth(1)).to_have_text("pending → cancelled")
    expect(card).not_to_contain_text("Status Before")
    assert Order.objects.get(order_id=ORDER).status == "pending"  # nothing changed yet
    page.screenshot(path=str(artifacts / "order-confirm-card.png"), full_page=True)

    # when the customer confirms on the card
    card.locator("button.approve").click()

    # then the card shows it done and the assistant explains
    expect(card).to_have_class("confirm-card state-done", timeout=15_000)
    expect(card.locator(".confirm-outcome")).to_have_text(
        f"Done. Order {ORDER} is cancelled; refunds issued."
    )
    expect(card.locator("button.approve")).to_be_disabled()
    explained = page.locator(".row-assistant:not(.streaming) .bubble").nth(4)
    expect(explained).to_have_text(
        "All set. Is there anything else I can help with?", timeout=15_000
    )
    # the change's summary is on the page once: on the card
    expect(page.locator("#log")).to_contain_text(f"Cancel order {ORDER} ($1,463.70)")
    assert page.locator("#log").inner_text().count(f"Cancel order {ORDER} ($1,463.70)") == 1
    page.screenshot(path=str(artifacts / "order-change-done.png"), full_page=True)

    order = Order.objects.get(order_id=ORDER)
    assert order.status == "cancelled" and order.cancel_reason == "no longer needed"
    assert [(t.kind, t.amount_cents) for t in order.transactions.order_by("position")] == [
        ("payment", 146370),
        ("refund", 146370),
    ]
    assert list(PendingAction.objects.values_list("status", flat=True)) == ["done"]

    # and after a reload the card comes back decided, not clickable again
    page.reload()
    card = page.locator(".confirm-card")
    expect(card).to_have_class("confirm-card state-done", timeout=10_000)
    expect(card.locator("button.approve")).to_be_disabled()
    context.close()
