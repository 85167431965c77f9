"""The `calculate` tool: exact arithmetic for the model, and nothing else."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from apps.assistant.calculator import CalculationError, calculate, calculate_expression
from apps.assistant.tools import ToolContext, ToolError, get_tool


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", "7.00"),
        ("(1 + 2) * 3", "9.00"),
        ("89.99 - 54.04", "35.95"),
        ("10 / 3", "3.33"),
        ("2 / 3", "0.67"),
        ("-5 + 2", "-3.00"),
        ("-(2 - 7) * 1.5", "7.50"),
        ("0.1 + 0.2", "0.30"),
        ("1.005 * 1", "1.01"),
        ("  42  ", "42.00"),
    ],
)
def test_it_calculates_arithmetic_to_two_places(expression: str, value: str) -> None:
    assert calculate_expression(expression) == Decimal(value)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('id')", "only digits"),
        ("2 ** 10", "expected a number"),
        ("1e9", "only digits"),
        ("1,000 + 1", "only digits"),
        ("$5 + 1", "only digits"),
        ("1 / 0", "division by zero"),
        ("(1 + 2", "never closed"),
        ("1 + ", "expected a number"),
        ("1..2", "expected a number"),
        ("3 4", "needs an operator"),
        ("1. 5", "needs an operator"),
        ("", "empty"),
        ("(" * 30 + "1" + ")" * 30, "nests too deeply"),
        ("1" * 201, "longer than"),
    ],
)
def test_it_refuses_anything_but_plain_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(CalculationError, match=reason):
        calculate_expression(expression)


def test_the_tool_returns_the_result_and_refuses_with_a_readable_error() -> None:
    spec = get_tool("calculate")
    ctx = ToolContext(conversation_id=uuid.uuid4(), customer_id=None)
    assert spec is not None and spec.access == "public"

    result = calculate(ctx, spec.parse('{"expression": "(499.99 - 453.83) * 2"}'))
    assert result.data == {"expression": "(499.99 - 453.83) * 2", "result": "92.32"}

    with pytest.raises(ToolError, match="cannot calculate this: only digits"):
        calculate(ctx, spec.parse('{"expression": "abs(-3)"}'))
