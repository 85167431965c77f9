"""Escalations hears of chat through chat's signals (the import rule itself: tests/test_layers.py).

Layers, lowest first: assistant -> orders/knowledge -> chat -> escalations/reports.
An import inside a function is still an upward arrow; escalations learns of a customer
message, a failed turn or an offer of a person through apps/chat/signals.py, and the
manager review admin (which reads reports' analyses) lives in apps/reports.
"""

from __future__ import annotations

import pytest

from apps.chat import signals


@pytest.mark.parametrize(
    ("signal", "receiver"),
    [
        (signals.customer_message_stored, "escalations.customer_message"),
        (signals.turn_failed, "escalations.turn_failed"),
        (signals.handoff_offered, "escalations.offer"),
        (signals.conversation_closing, "escalations.closed"),
    ],
)
def test_escalations_listens_to_each_chat_hook(signal: object, receiver: str) -> None:
    uids = {entry[0][0] for entry in signal.receivers}  # type: ignore[attr-defined]
    assert receiver in uids
