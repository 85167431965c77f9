"""What a model call costs, from a price table in US dollars per million tokens.

Prices are OpenAI's public list prices for standard (non-batch) processing.
Dated snapshots (`gpt-4o-mini-2024-07-18`) are priced as their model family.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

logger = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)
COST_PLACES = Decimal("0.000001")
BATCH_DISCOUNT = Decimal("0.5")  # the Batch API bills half the standard price


@dataclass(frozen=True)
class Price:
    input_per_million: Decimal
    output_per_million: Decimal


PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60")),
    "gpt-4o": Price(Decimal("2.50"), Decimal("10.00")),
    "gpt-4.1-mini": Price(Decimal("0.40"), Decimal("1.60")),
    # The built-in offline assistant runs no model.
    "local-assistant": Price(Decimal(0), Decimal(0)),
    "local": Price(Decimal(0), Decimal(0)),
}

_SNAPSHOT = re.compile(r"^(?P<family>.+?)-\d{4}-\d{2}-\d{2}$")
_warned: set[str] = set()


def price_for(model: str) -> Price | None:
    """The price of a model or of the family a dated snapshot belongs to."""
    if model in PRICES:
        return PRICES[model]
    snapshot = _SNAPSHOT.match(model)
    if snapshot:
        return PRICES.get(snapshot.group("family"))
    return None


def cost_usd(
    model: str, prompt_tokens: int, completion_tokens: int, *, batch: bool = False
) -> Decimal:
    """The cost of one call in dollars, to six decimal places; 0 for an unpriced model.
    A call through the Batch API (`batch`) costs half."""
    price = price_for(model)
    if price is None:
        # An empty name is a turn that called no model (a limit was hit first).
        if model and model not in _warned:
            _warned.add(model)
            logger.warning("no price known for model %r; its calls are counted as free", model)
        return Decimal(0).quantize(COST_PLACES)
    total = (
        Decimal(prompt_tokens) * price.input_per_million
        + Decimal(completion_tokens) * price.output_per_million
    ) / MILLION
    if batch:
        total *= BATCH_DISCOUNT
    return total.quantize(COST_PLACES, rounding=ROUND_HALF_UP)
