"""The chat app stands below escalations and reports: it never imports them.

Layers, lowest first: assistant -> orders/knowledge -> chat -> escalations/reports.
An import inside a function is still an upward arrow; escalations learns of a customer
message, a failed turn or an offer of a person through apps/chat/signals.py, and the
manager review admin (which reads reports' analyses) lives in apps/reports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from apps.chat import signals

CHAT = Path(__file__).resolve().parent.parent
HIGHER = ("apps.escalations", "apps.reports")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_of_the_chat_app_imports_escalations_or_reports() -> None:
    sources = [p for p in CHAT.rglob("*.py") if "tests" not in p.relative_to(CHAT).parts]
    assert len(sources) > 10

    upward = {
        f"{path.relative_to(CHAT)}: {name}"
        for path in sources
        for name in _imports(path)
        if name.startswith(HIGHER)
    }

    assert upward == set()


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
