"""The offline assistant's wording: each fact said once."""

from __future__ import annotations

import re

from apps.orders.local_skills import _after_confirmation, describe_order

STATUSES = [
    "pending",
    "pending (item modified)",
    "processed",
    "delivered",
    "cancelled",
    "return requested",
    "exchange requested",
]


def test_an_orders_status_is_said_once() -> None:
    for status in STATUSES:
        text = describe_order({"order_id": "#W1", "status": status, "items": []})
        first = text.split("Items:")[0]
        sentences = [s for s in re.split(r"(?<=\.)\s+", first.strip()) if s]
        assert "delivered. It has been delivered" not in text
        assert "cancelled. It was cancelled" not in text
        # no sentence repeats the status the one before it gave
        assert len(sentences) <= 2, text
        assert first.count(status.split(" (")[0]) <= 1, text


def test_after_a_confirmed_change_the_reply_does_not_repeat_the_card() -> None:
    outcome = "Done. Order #W1 is cancelled; refunds issued."
    done = _after_confirmation("cancel_pending_order", {"confirmation": "done", "outcome": outcome})
    assert outcome not in done.text and "Cancel order" not in done.text
    failed = _after_confirmation(
        "cancel_pending_order", {"confirmation": "failed", "outcome": "It has shipped."}
    )
    assert "It has shipped." not in failed.text and "nothing was changed" in failed.text
