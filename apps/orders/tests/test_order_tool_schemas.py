"""Every order tool's schema is one OpenAI strict mode accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from apps.assistant.tools import REGISTRY, ToolError, get_tool
from apps.orders.actions import CHANGE_ACTIONS

ACTIONS_MD = Path(__file__).resolve().parents[3] / "docs" / "actions.md"
ORDER_TOOLS = [spec for spec in REGISTRY.values() if spec.handler.__module__ == "apps.orders.tools"]
# Keywords strict mode does not accept (or we do not want the model to rely on).
UNSUPPORTED = {"default", "minLength", "maxLength", "title", "examples", "format"}


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def documented_changes() -> set[str]:
    """The names of the "## Changes" section of docs/actions.md."""
    text = ACTIONS_MD.read_text(encoding="utf-8")
    section = text.split("\n## Changes\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^`(\w+)\(", section, flags=re.MULTILINE))


def test_every_action_of_actions_md_is_a_confirmed_tool_with_an_executor() -> None:
    changes = documented_changes()
    assert len(changes) == 7
    assert changes == CHANGE_ACTIONS  # each declared once, in actions.py
    for name in changes:
        spec = get_tool(name)
        assert spec is not None
        assert spec.confirm and spec.access == "verified"
        assert spec.execute is not None


@pytest.mark.parametrize("spec", ORDER_TOOLS, ids=lambda spec: spec.name)
def test_the_schema_is_strict(spec: Any) -> None:
    schema = spec.openai_schema()
    params = schema["function"]["parameters"]

    assert schema["function"]["strict"] is True
    assert schema["function"]["description"]
    for node in _walk(params):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert set(node["required"]) == set(node["properties"])
        assert not (UNSUPPORTED & set(node)), (spec.name, node)


@pytest.mark.parametrize("spec", ORDER_TOOLS, ids=lambda spec: spec.name)
def test_the_status_line_reads_as_a_sentence(spec: Any) -> None:
    example = {
        "order_id": "#W2611340",
        "product_id": "9523456873",
        "item_id": "9612497925",
    }
    fields = spec.args_model.model_fields
    args = spec.args_model.model_construct(**{k: v for k, v in example.items() if k in fields})

    text = spec.status_text(args)

    assert text.endswith("…")
    if "order_id" in fields:
        assert "#W2611340" in text


def test_order_ids_are_normalised_and_junk_is_refused() -> None:
    spec = get_tool("get_order")
    assert spec is not None

    assert spec.parse('{"order_id": "W2611340"}').order_id == "#W2611340"  # type: ignore[attr-defined]
    with pytest.raises(ToolError):
        spec.parse('{"order_id": "#W26; DROP TABLE"}')
    with pytest.raises(ToolError):
        spec.parse('{"order_id": "#W2611340", "user_id": "noah_brown_6181"}')
