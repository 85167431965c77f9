"""The price table and the cost of a call."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from apps.assistant.costs import cost_usd, price_for


def test_gpt_4o_mini_costs_15_cents_per_million_in_and_60_cents_per_million_out() -> None:
    assert cost_usd("gpt-4o-mini", 1_000_000, 0) == Decimal("0.150000")
    assert cost_usd("gpt-4o-mini", 0, 1_000_000) == Decimal("0.600000")


def test_a_typical_turn_is_priced_to_six_decimal_places() -> None:
    # 1,234 in at $0.15/M = 0.0001851, 321 out at $0.60/M = 0.0001926
    cost = cost_usd("gpt-4o-mini", 1234, 321)

    assert cost == Decimal("0.000378")
    assert cost.as_tuple().exponent == -6


def test_half_a_millionth_rounds_up() -> None:
    # 10 output tokens of gpt-4o-mini cost exactly $0.000006; 5 cost $0.000003;
    # 1 input token costs $0.00000015, which rounds to 0.
    assert cost_usd("gpt-4o-mini", 0, 5) == Decimal("0.000003")
    assert cost_usd("gpt-4o-mini", 1, 0) == Decimal("0.000000")
    # gpt-4o: 1 input token = $0.0000025, half a millionth, rounds up.
    assert cost_usd("gpt-4o", 1, 0) == Decimal("0.000003")


def test_gpt_4o_and_gpt_4_1_mini_have_their_list_prices() -> None:
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000) == Decimal("12.500000")
    assert cost_usd("gpt-4.1-mini", 1_000_000, 1_000_000) == Decimal("2.000000")


def test_a_dated_snapshot_is_priced_as_its_family_not_a_shorter_name() -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini")
    assert price_for("gpt-4o-2024-08-06") == price_for("gpt-4o")
    assert price_for("gpt-4o-mini") != price_for("gpt-4o")


def test_the_local_assistant_is_free() -> None:
    assert cost_usd("local-assistant", 5000, 5000) == Decimal("0.000000")
    assert cost_usd("local", 5000, 5000) == Decimal("0.000000")


def test_an_unknown_model_costs_nothing_and_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="apps.assistant.costs"):
        first = cost_usd("some-new-model-xyz", 1000, 1000)
        second = cost_usd("some-new-model-xyz", 1000, 1000)

    assert first == second == Decimal("0.000000")
    warnings = [r for r in caplog.records if "some-new-model-xyz" in r.getMessage()]
    assert len(warnings) == 1


def test_a_turn_that_called_no_model_costs_nothing_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="apps.assistant.costs"):
        assert cost_usd("", 0, 0) == Decimal("0.000000")

    assert caplog.records == []


def test_cached_input_costs_7_5_cents_per_million_with_gpt_4o_mini() -> None:
    # all input cached: 1M x $0.075
    assert cost_usd("gpt-4o-mini", 1_000_000, 0, cached_tokens=1_000_000) == Decimal("0.075000")
    # 1M in of which 600k cached: 400k x $0.15 + 600k x $0.075 = 0.06 + 0.045
    assert cost_usd("gpt-4o-mini", 1_000_000, 0, cached_tokens=600_000) == Decimal("0.105000")
    # a cached count above the prompt (a bad report) never makes input cheaper than cached
    assert cost_usd("gpt-4o-mini", 100, 0, cached_tokens=500) == cost_usd(
        "gpt-4o-mini", 100, 0, cached_tokens=100
    )


def test_the_batch_api_costs_half() -> None:
    standard = cost_usd("gpt-4o-mini", 2_000_000, 1_000_000)
    assert standard == Decimal("0.900000")
    assert cost_usd("gpt-4o-mini", 2_000_000, 1_000_000, batch=True) == Decimal("0.450000")


def test_the_cached_share_is_the_cached_part_of_the_input() -> None:
    from apps.assistant.costs import cached_share

    assert cached_share(10_000, 8_000) == 0.8
    assert cached_share(0, 0) == 0.0
