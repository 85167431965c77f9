"""Tools act only for the verified customer; anyone else's records read as missing."""

from __future__ import annotations

import json

import pytest

from apps.assistant.tools import ToolError, get_tool, tools_for
from apps.orders.actions import CHANGE_ACTIONS
from apps.orders.models import Order

from .tooling import ADDRESS, call, ctx_for, execute

pytestmark = pytest.mark.django_db

ETHAN = "ethan_lopez_6291"  # owns #W6779827 (pending, paid with gift_card_7219486)
PERSONAL = {"get_my_profile", "list_my_orders", "get_order", *CHANGE_ACTIONS}


def _refusal(ctx_customer: str, name: str, **arguments: object) -> str:
    with pytest.raises(ToolError) as refused:
        call(ctx_for(ctx_customer), name, **arguments)
    return str(refused.value)


def test_an_unverified_conversation_is_offered_no_personal_tool() -> None:
    offered = {spec.name for spec in tools_for(ctx_for(None))}

    assert "verify_customer" in offered
    assert {"list_product_types", "get_product", "get_item"} <= offered
    assert offered.isdisjoint(PERSONAL)


def test_an_unverified_conversation_cannot_run_a_personal_tool(store: None) -> None:
    ctx = ctx_for(None)
    for name in PERSONAL:
        spec = get_tool(name)
        assert spec is not None
        assert not spec.allowed(ctx)
    spec = get_tool("get_order")
    assert spec is not None
    with pytest.raises(ToolError):
        spec.handler(ctx, spec.parse(json.dumps({"order_id": "#W6779827"})))


def test_a_verified_customer_is_no_longer_offered_verification() -> None:
    offered = {spec.name for spec in tools_for(ctx_for(ETHAN))}

    assert "verify_customer" not in offered
    assert offered >= PERSONAL


def test_another_customers_order_reads_exactly_like_a_missing_one(store: None) -> None:
    assert _refusal(ETHAN, "get_order", order_id="#W2611340") == "Order #W2611340 not found"
    assert _refusal(ETHAN, "get_order", order_id="#W0000001") == "Order #W0000001 not found"
    assert (
        _refusal(ETHAN, "cancel_pending_order", order_id="#W9093821", reason="no longer needed")
        == "Order #W9093821 not found"
    )
    assert (
        _refusal(ETHAN, "modify_pending_order_address", order_id="#W9093821", **ADDRESS)
        == "Order #W9093821 not found"
    )


def test_another_customers_payment_method_reads_exactly_like_a_missing_one(store: None) -> None:
    assert (
        _refusal(
            ETHAN,
            "modify_pending_order_payment",
            order_id="#W6779827",
            payment_method_id="paypal_5727330",
        )
        == "Payment method paypal_5727330 not found"
    )
    assert (
        _refusal(
            ETHAN,
            "modify_pending_order_payment",
            order_id="#W6779827",
            payment_method_id="paypal_9999999",
        )
        == "Payment method paypal_9999999 not found"
    )


def test_tools_never_take_the_customer_from_the_models_arguments(store: None) -> None:
    for name in ("get_my_profile", "modify_user_address", "list_my_orders"):
        spec = get_tool(name)
        assert spec is not None
        assert "user_id" not in spec.openai_schema()["function"]["parameters"]["properties"]
    with pytest.raises(ToolError, match="invalid arguments"):
        call(ctx_for(ETHAN), "modify_user_address", user_id="noah_brown_6181", **ADDRESS)


def test_a_customer_sees_only_their_own_address_and_orders(store: None) -> None:
    profile = call(ctx_for(ETHAN), "get_my_profile").data
    orders = call(ctx_for(ETHAN), "list_my_orders").data["orders"]

    own = set(Order.objects.filter(customer_id=ETHAN).values_list("order_id", flat=True))
    assert {o["order_id"] for o in orders} == own
    assert set(profile["order_ids"]) == own
    assert profile["name"] == "Ethan Lopez"


def test_results_show_cards_only_as_brand_and_last_four(store: None) -> None:
    profile = call(ctx_for(ETHAN), "get_my_profile").data

    card = next(m for m in profile["payment_methods"] if m["type"] == "credit_card")
    assert set(card) == {"payment_method_id", "type", "brand", "last_four"}
    assert len(card["last_four"]) == 4


def test_the_executor_also_acts_only_for_the_verified_customer(store: None) -> None:
    with pytest.raises(ToolError, match="Order #W9093821 not found"):
        execute(
            ctx_for(ETHAN), "cancel_pending_order", order_id="#W9093821", reason="no longer needed"
        )

    assert Order.objects.get(order_id="#W9093821").status == "pending"
