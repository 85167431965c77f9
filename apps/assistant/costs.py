"""What a model call costs: the one place prices live.

Prices are OpenAI's public list prices in US dollars per million tokens, for
standard processing. Input tokens served from OpenAI's prompt cache
(`usage.prompt_tokens_details.cached_tokens`, a part of `prompt_tokens`) cost the
cached-input price. The Batch API charges half of the standard price for every
token. Dated snapshots (`gpt-4o-mini-2024-07-18`) are priced as their family.

Everything that spends tokens is priced through `cost_usd`: chat turns (stopped
ones too), the model input screen, conversation analysis (realtime or batch),
hand-over summaries, the copilot, and `manage.py evaluate`.
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
    cached_input_per_million: Decimal


PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60"), Decimal("0.075")),
    "gpt-4o": Price(Decimal("2.50"), Decimal("10.00"), Decimal("1.25")),
    "gpt-4.1-mini": Price(Decimal("0.40"), Decimal("1.60"), Decimal("0.10")),
    "gpt-4.1": Price(Decimal("2.00"), Decimal("8.00"), Decimal("0.50")),
    # The built-in offline assistant runs no model.
    "local-assistant": Price(Decimal(0), Decimal(0), Decimal(0)),
    "local": Price(Decimal(0), Decimal(0), Decimal(0)),
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
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_tokens: int = 0,
    batch: bool = False,
) -> Decimal:
    """The cost of one call (or a sum of calls) in dollars, to six decimal places.

    `prompt_tokens` counts every input token, the `cached_tokens` among them too,
    as OpenAI's usage does. An unpriced model costs 0 (with a warning, once).
    """
    price = price_for(model)
    if price is None:
        # An empty name is a turn that called no model (a limit was hit first).
        if model and model not in _warned:
            _warned.add(model)
            logger.warning("no price known for model %r; its calls are counted as free", model)
        return Decimal(0).quantize(COST_PLACES)
    cached = max(0, min(cached_tokens, prompt_tokens))
    total = (
        Decimal(prompt_tokens - cached) * price.input_per_million
        + Decimal(cached) * price.cached_input_per_million
        + Decimal(completion_tokens) * price.output_per_million
    ) / MILLION
    if batch:
        total *= BATCH_DISCOUNT
    return total.quantize(COST_PLACES, rounding=ROUND_HALF_UP)


def cached_share(prompt_tokens: int, cached_tokens: int) -> float:
    """The part of the input read from the prompt cache, 0..1."""
    if prompt_tokens <= 0:
        return 0.0
    return round(min(cached_tokens, prompt_tokens) / prompt_tokens, 4)
