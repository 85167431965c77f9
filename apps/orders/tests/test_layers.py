"""The orders app stands below chat, escalations and reports: it never imports them.

Layers, lowest first: assistant -> orders/knowledge -> chat -> escalations/reports.
An import inside a function is still an upward arrow; what a higher app needs to
know (a verified customer, a failed attempt) goes back in a tool's typed result.
"""

from __future__ import annotations

import ast
from pathlib import Path

ORDERS = Path(__file__).resolve().parent.parent
HIGHER = ("apps.chat", "apps.escalations", "apps.reports")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_of_the_orders_app_imports_a_higher_app() -> None:
    sources = [p for p in ORDERS.rglob("*.py") if "tests" not in p.relative_to(ORDERS).parts]
    assert len(sources) > 10

    upward = {
        f"{path.relative_to(ORDERS)}: {name}"
        for path in sources
        for name in _imports(path)
        if name.startswith(HIGHER)
    }

    assert upward == set()
