"""The `calculate` tool: arithmetic the model should not do in its head.

Prices, refunds and differences are sums a language model gets wrong now and
then. The expression is parsed here by a small recursive-descent parser over
digits, `+ - * / ( ) .` and spaces, in Decimal; nothing is ever passed to
`eval`, and anything else is refused with a reason the model can read.
"""

from __future__ import annotations

import decimal
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .tools import ToolContext, ToolError, ToolResult, tool

MAX_CHARS = 200
MAX_DEPTH = 20
ALLOWED = set("0123456789+-*/(). ")
CENTS = Decimal("0.01")
_SPLIT_NUMBER = re.compile(r"[\d.]\s+[\d.]")


class CalculationError(ValueError):
    """The expression is not plain arithmetic, or has no value (division by zero)."""


def calculate_expression(expression: str) -> Decimal:
    """The value of `expression`, rounded half-up to 2 places."""
    if len(expression) > MAX_CHARS:
        raise CalculationError(f"the expression is longer than {MAX_CHARS} characters")
    bad = sorted(set(expression) - ALLOWED)
    if bad:
        raise CalculationError(
            "only digits, + - * / ( ) . and spaces are allowed, not " + " ".join(map(repr, bad))
        )
    if _SPLIT_NUMBER.search(expression):
        # "3 4" is not 34: spaces separate tokens, they never join digits.
        raise CalculationError("a space between two numbers needs an operator")
    with decimal.localcontext() as context:
        context.prec = 60
        context.traps[decimal.DivisionByZero] = True
        context.traps[decimal.InvalidOperation] = True
        try:
            value = _Parser(expression).parse()
            return value.quantize(CENTS, rounding=decimal.ROUND_HALF_UP)
        except (decimal.DivisionByZero, decimal.InvalidOperation) as exc:
            raise CalculationError("division by zero") from exc


class _Parser:
    """expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*;
    factor := ('+'|'-') factor | number | '(' expr ')'"""

    def __init__(self, text: str) -> None:
        self.text = text.replace(" ", "")
        self.at = 0
        self.depth = 0

    def parse(self) -> Decimal:
        if not self.text:
            raise CalculationError("the expression is empty")
        value = self._expr()
        if self.at != len(self.text):
            raise CalculationError(f"unexpected {self.text[self.at]!r} at position {self.at + 1}")
        return value

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _expr(self) -> Decimal:
        return self._chain({"+": operator.add, "-": operator.sub}, self._term)

    def _term(self) -> Decimal:
        return self._chain({"*": operator.mul, "/": operator.truediv}, self._factor)

    def _chain(
        self,
        operations: dict[str, Callable[[Decimal, Decimal], Decimal]],
        operand: Callable[[], Decimal],
    ) -> Decimal:
        """operand (op operand)*, left to right, for the operators of one precedence."""
        value = operand()
        while (symbol := self._peek()) in operations:
            self.at += 1
            value = operations[symbol](value, operand())
        return value

    def _factor(self) -> Decimal:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalculationError("the expression nests too deeply")
        try:
            char = self._peek()
            if char in {"+", "-"}:
                self.at += 1
                value = self._factor()
                return -value if char == "-" else value
            if char == "(":
                self.at += 1
                value = self._expr()
                if self._peek() != ")":
                    raise CalculationError("a '(' is never closed")
                self.at += 1
                return value
            return self._number()
        finally:
            self.depth -= 1

    def _number(self) -> Decimal:
        start = self.at
        while self._peek() and (self._peek().isdigit() or self._peek() == "."):
            self.at += 1
        literal = self.text[start : self.at]
        if not literal or literal.count(".") > 1 or literal == ".":
            found = self._peek() or "the end"
            raise CalculationError(f"expected a number at position {start + 1}, found {found!r}")
        return Decimal(literal)


def _expression(value: str) -> str:
    return value.strip()


class CalculateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: Annotated[str, AfterValidator(_expression)] = Field(
        description="An arithmetic expression using only digits, + - * / ( ) . and spaces, "
        "e.g. '(89.99 - 54.04) * 2'. No letters, currency signs or commas."
    )


@tool(access="public", status=lambda args: "Calculating…")
def calculate(ctx: ToolContext, args: CalculateArgs) -> ToolResult:
    """Calculate an arithmetic expression exactly, for prices, refunds, totals and price
    differences; the result is rounded to 2 decimal places. Use it instead of doing sums
    yourself."""
    try:
        value = calculate_expression(args.expression)
    except CalculationError as exc:
        raise ToolError(f"cannot calculate this: {exc}") from None
    return ToolResult(data={"expression": args.expression, "result": str(value)})
