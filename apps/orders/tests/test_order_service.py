"""The order service follows docs/actions.md: semantics, refusals, multiplicity, audit."""

from __future__ import annotations

from typing import Any

import pytest

from apps.orders import services
from apps.orders.changes import Plan
from apps.orders.models import Order, OrderAuditEvent, OrderLine, PaymentMethod, Variant
from apps.orders.services import Actor, StoreError

from .tooling import ADDRESS

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")
HARPER_CARD = "credit_card_7422485"


def _other_variant(product_id: str, *, not_item: str, available: bool = True) -> Variant:
    variant = (
        Variant.objects.filter(product_id=product_id, available=available)
        .exclude(item_id=not_item)
        .order_by("item_id")
        .first()
    )
    assert variant is not None
    return variant


def _snapshot(order_id: str) -> dict[str, Any]:
    return services.get_order_details(order_id)


def _items(old: list[str], new: list[str], method: str) -> dict[str, Any]:
    """modify_pending_order_items arguments for #W9093821 (Harper's pending order)."""
    return {
        "order_id": "#W9093821",
        "item_ids": old,
        "new_item_ids": new,
        "payment_method_id": method,
    }


def _plan_items(old: list[str], new: list[str], method: str = HARPER_CARD) -> Plan:
    """Plan (validate, write nothing) a change of items in #W9093821."""
    return services.plan_action("modify_pending_order_items", _items(old, new, method))


def _modify_items(old: list[str], new: list[str], method: str = HARPER_CARD) -> Plan:
    """Change items in #W9093821."""
    return services.do_action("modify_pending_order_items", _items(old, new, method), actor=ACTOR)


def _another_of_the_repeated_item() -> Variant:
    """Another available variant of item 3557711149, which #W9093821 holds twice."""
    return _other_variant("2524789262", not_item="3557711149")


def _balance(method_id: str) -> int:
    return PaymentMethod.objects.get(id=method_id).balance_cents or 0


def test_cancelling_refunds_every_payment_and_credits_a_gift_card_at_once(store: None) -> None:
    # given a pending order paid 4079.45 with a gift card holding 49.00
    before = _balance("gift_card_7219486")

    plan = services.do_action(
        "cancel_pending_order", {"order_id": "#W6779827", "reason": "no longer needed"}, actor=ACTOR
    )

    order = _snapshot("#W6779827")
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "no longer needed"
    assert order["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 4079.45,
        "payment_method_id": "gift_card_7219486",
    }
    assert _balance("gift_card_7219486") == before + 407945
    assert plan.transactions == [("refund", 407945, "gift_card_7219486")]


def test_a_non_pending_order_cannot_be_cancelled_and_nothing_changes(store: None) -> None:
    before = _snapshot("#W2611340")

    with pytest.raises(StoreError, match="Non-pending order cannot be cancelled"):
        services.do_action(
            "cancel_pending_order",
            {"order_id": "#W2611340", "reason": "no longer needed"},
            actor=ACTOR,
        )

    assert _snapshot("#W2611340") == before
    event = OrderAuditEvent.objects.get(order_id="#W2611340")
    assert event.outcome == OrderAuditEvent.Outcome.REFUSED
    assert event.detail == "Non-pending order cannot be cancelled"


def test_a_cancel_reason_must_be_one_of_the_two_allowed(store: None) -> None:
    with pytest.raises(StoreError, match="reason: Input should be 'no longer needed'"):
        services.plan_action(
            "cancel_pending_order", {"order_id": "#W6779827", "reason": "changed my mind"}
        )


def test_a_change_runs_at_most_once(store: None) -> None:
    services.do_action(
        "cancel_pending_order",
        {"order_id": "#W6779827", "reason": "ordered by mistake"},
        actor=ACTOR,
    )
    history = _snapshot("#W6779827")["payment_history"]

    with pytest.raises(StoreError, match="Non-pending"):
        services.do_action(
            "cancel_pending_order",
            {"order_id": "#W6779827", "reason": "ordered by mistake"},
            actor=ACTOR,
        )

    assert _snapshot("#W6779827")["payment_history"] == history
    outcomes = list(
        OrderAuditEvent.objects.filter(order_id="#W6779827")
        .order_by("id")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["done", "refused"]


def test_every_change_is_audited_with_its_actor(store: None) -> None:
    actor = Actor.customer("ethan_lopez_6291")

    services.do_action(
        "cancel_pending_order", {"order_id": "#W6779827", "reason": "no longer needed"}, actor=actor
    )

    event = OrderAuditEvent.objects.get(order_id="#W6779827")
    assert (event.actor_kind, event.actor_id, event.action, event.outcome) == (
        "customer",
        "ethan_lopez_6291",
        "cancel_pending_order",
        "done",
    )
    assert event.arguments == {"order_id": "#W6779827", "reason": "no longer needed"}


def test_a_plan_validates_without_writing(store: None) -> None:
    before = _snapshot("#W6779827")

    plan = services.plan_action(
        "cancel_pending_order", {"order_id": "#W6779827", "reason": "no longer needed"}
    )

    assert plan.status_after == "cancelled"
    assert _snapshot("#W6779827") == before
    assert not OrderAuditEvent.objects.exists()


def test_modifying_items_changes_the_first_unchanged_line_of_a_repeated_item(store: None) -> None:
    # #W9093821 holds item 3557711149 on lines 0 and 2.
    new = _another_of_the_repeated_item()

    _modify_items(["3557711149"], [new.item_id])

    lines = list(OrderLine.objects.filter(order_id="#W9093821").order_by("position"))
    assert [line.item_id for line in lines][:3] == [new.item_id, "8917609800", "3557711149"]
    assert lines[0].price_cents == new.price_cents
    assert lines[0].options == new.options
    assert Order.objects.get(order_id="#W9093821").status == "pending (item modified)"


def test_an_item_id_named_twice_changes_both_lines_and_a_third_time_is_refused(
    store: None,
) -> None:
    new = _another_of_the_repeated_item()
    before = _snapshot("#W9093821")

    with pytest.raises(StoreError, match="appears only 2 time"):
        _plan_items(["3557711149"] * 3, [new.item_id] * 3)
    plan = _modify_items(["3557711149"] * 2, [new.item_id] * 2)

    items = [i["item_id"] for i in _snapshot("#W9093821")["items"]]
    assert items.count(new.item_id) == 2
    assert "3557711149" not in items
    difference = 2 * (new.price_cents - 20535)
    assert plan.price_difference_cents == difference
    last = _snapshot("#W9093821")["payment_history"][-1]
    assert last["transaction_type"] == ("payment" if difference > 0 else "refund")
    assert last["amount"] == round(abs(difference) / 100, 2)
    assert before["payment_history"] == _snapshot("#W9093821")["payment_history"][:-1]


def test_items_can_be_modified_only_once_but_the_address_still_can(store: None) -> None:
    new = _another_of_the_repeated_item()
    _modify_items(["3557711149"], [new.item_id])

    with pytest.raises(StoreError, match="Non-pending order cannot be modified"):
        _plan_items(["8917609800"], [new.item_id])
    services.do_action(
        "modify_pending_order_address", {"order_id": "#W9093821", **ADDRESS}, actor=ACTOR
    )

    assert _snapshot("#W9093821")["address"] == ADDRESS


def test_a_new_item_must_be_a_different_available_variant_of_the_same_product(
    store: None,
) -> None:
    other_product = Variant.objects.exclude(product_id="2524789262").first()
    assert other_product is not None

    with pytest.raises(StoreError, match="different"):
        _plan_items(["3557711149"], ["3557711149"])
    with pytest.raises(StoreError, match="not found or not of the same product"):
        _plan_items(["3557711149"], [other_product.item_id])
    unavailable = Variant.objects.filter(product_id="2524789262", available=False).first()
    if unavailable is not None:
        with pytest.raises(StoreError, match="not available"):
            _plan_items(["3557711149"], [unavailable.item_id])
    with pytest.raises(StoreError, match="should match"):
        _plan_items(["3557711149", "8917609800"], ["1"])


def test_a_gift_card_must_cover_the_price_difference_and_a_refusal_changes_nothing(
    store: None,
) -> None:
    PaymentMethod.objects.create(
        id="gift_card_test", customer_id="harper_kovacs_8617", source="gift_card", balance_cents=1
    )
    dearer = (
        Variant.objects.filter(product_id="2524789262", available=True, price_cents__gt=20536)
        .exclude(item_id="3557711149")
        .first()
    )
    assert dearer is not None
    before = _snapshot("#W9093821")

    with pytest.raises(StoreError, match="Insufficient gift card balance"):
        _modify_items(["3557711149"], [dearer.item_id], "gift_card_test")

    assert _snapshot("#W9093821") == before
    assert _balance("gift_card_test") == 1


def test_changing_the_payment_method_charges_the_new_and_refunds_the_old(store: None) -> None:
    # #W6779827 was paid 4079.45 with gift_card_7219486; pay with the credit card instead.
    gift_before = _balance("gift_card_7219486")

    services.do_action(
        "modify_pending_order_payment",
        {"order_id": "#W6779827", "payment_method_id": "credit_card_9789590"},
        actor=ACTOR,
    )

    history = _snapshot("#W6779827")["payment_history"]
    assert history[1:] == [
        {
            "transaction_type": "payment",
            "amount": 4079.45,
            "payment_method_id": "credit_card_9789590",
        },
        {"transaction_type": "refund", "amount": 4079.45, "payment_method_id": "gift_card_7219486"},
    ]
    assert _balance("gift_card_7219486") == gift_before + 407945
    with pytest.raises(StoreError, match="exactly one payment"):
        services.plan_action(
            "modify_pending_order_payment",
            {"order_id": "#W6779827", "payment_method_id": "gift_card_7219486"},
        )


@pytest.mark.parametrize(
    ("method", "refusal"),
    [
        ("gift_card_7219486", "The new payment method should be different from the current one"),
        # A method of another customer reads like one that does not exist.
        ("paypal_5727330", "Payment method paypal_5727330 not found"),
        ("paypal_0000000", "Payment method paypal_0000000 not found"),
    ],
)
def test_the_new_payment_method_must_differ_and_belong_to_the_customer(
    store: None, method: str, refusal: str
) -> None:
    with pytest.raises(StoreError) as raised:
        services.plan_action(
            "modify_pending_order_payment", {"order_id": "#W6779827", "payment_method_id": method}
        )

    assert str(raised.value) == refusal


def test_a_gift_card_must_cover_the_whole_order_to_pay_for_it(store: None) -> None:
    with pytest.raises(StoreError, match="Insufficient gift card balance"):
        services.plan_action(
            "modify_pending_order_payment",
            {"order_id": "#W5442520", "payment_method_id": "gift_card_7794233"},
        )


def test_a_return_records_sorted_items_and_the_refund_method_but_moves_no_money(
    store: None,
) -> None:
    # #W1840144 is delivered and holds 8590708195 twice.
    order = Order.objects.get(order_id="#W1840144")
    original = order.transactions.order_by("position").first()
    assert original is not None
    before = _snapshot("#W1840144")

    services.do_action(
        "return_delivered_order_items",
        {
            "order_id": "#W1840144",
            "item_ids": ["8590708195", "6017636844", "8590708195"],
            "payment_method_id": original.payment_method_id,
        },
        actor=ACTOR,
    )

    after = _snapshot("#W1840144")
    assert after["status"] == "return requested"
    assert after["return_items"] == ["6017636844", "8590708195", "8590708195"]
    assert after["return_payment_method_id"] == original.payment_method_id
    assert after["payment_history"] == before["payment_history"]


def test_a_return_refund_goes_only_to_the_original_method_or_a_gift_card(store: None) -> None:
    order = Order.objects.get(order_id="#W1840144")
    original = order.transactions.order_by("position").first()
    assert original is not None
    others = PaymentMethod.objects.filter(customer_id=order.customer_id).exclude(
        id=original.payment_method_id
    )
    for method in others:
        if method.is_gift_card:
            services.plan_action(
                "return_delivered_order_items",
                {
                    "order_id": "#W1840144",
                    "item_ids": ["8384507844"],
                    "payment_method_id": method.id,
                },
            )
        else:
            with pytest.raises(StoreError, match="original payment method or a gift card"):
                services.plan_action(
                    "return_delivered_order_items",
                    {
                        "order_id": "#W1840144",
                        "item_ids": ["8384507844"],
                        "payment_method_id": method.id,
                    },
                )
    with pytest.raises(StoreError, match="Non-delivered order cannot be returned"):
        services.plan_action(
            "return_delivered_order_items",
            {"order_id": "#W6779827", "item_ids": ["1"], "payment_method_id": "gift_card_7219486"},
        )


def test_an_exchange_records_old_and_new_ids_and_the_price_difference(store: None) -> None:
    # #W4316152 is delivered and holds 7292993796 twice (94.80 each).
    new_a = _other_variant("9832717871", not_item="7292993796")
    order = Order.objects.get(order_id="#W4316152")
    # The customer's only method is a gift card; give it enough for the difference.
    method = PaymentMethod.objects.get(customer_id=order.customer_id)
    method.balance_cents = 1_000_000
    method.save()

    services.do_action(
        "exchange_delivered_order_items",
        {
            "order_id": "#W4316152",
            "item_ids": ["7292993796", "7292993796"],
            "new_item_ids": [new_a.item_id] * 2,
            "payment_method_id": method.id,
        },
        actor=ACTOR,
    )

    after = _snapshot("#W4316152")
    assert after["status"] == "exchange requested"
    assert after["exchange_items"] == ["7292993796", "7292993796"]
    assert after["exchange_new_items"] == [new_a.item_id] * 2
    assert after["exchange_price_difference"] == round(2 * (new_a.price_cents - 9480) / 100, 2)
    assert after["exchange_payment_method_id"] == method.id
    assert [i["item_id"] for i in after["items"]] == ["7292993796", "7292993796"]


def test_the_customer_address_changes_and_orders_keep_theirs(store: None) -> None:
    order_address = _snapshot("#W2611340")["address"]
    address = {
        "address1": "9 Pine Rd",
        "address2": "Apt 2",
        "city": "Boston",
        "state": "MA",
        "country": "USA",
        "zip": "02101",
    }

    services.do_action("modify_user_address", {**address}, customer_id="james_li_5688", actor=ACTOR)

    assert services.get_user_details("james_li_5688")["address"] == address
    assert _snapshot("#W2611340")["address"] == order_address


def test_customers_are_found_by_email_ignoring_case_and_by_name_and_zip(store: None) -> None:
    assert services.find_user_id_by_email("NOAH.Brown7922@example.com") == "noah_brown_6181"
    assert services.find_user_id_by_name_zip("noah", "BROWN", "80279") == "noah_brown_6181"
    with pytest.raises(StoreError):
        services.find_user_id_by_name_zip("Noah", "Brown", "80270")


def test_an_order_of_another_customer_reads_exactly_like_a_missing_one(store: None) -> None:
    with pytest.raises(StoreError) as other:
        services.get_order_details("#W2611340", customer_id="noah_brown_6181")
    with pytest.raises(StoreError) as missing:
        services.get_order_details("#W0000001", customer_id="noah_brown_6181")

    assert other.value.reason == "Order #W2611340 not found"
    assert missing.value.reason == "Order #W0000001 not found"


def test_product_lookups_list_types_and_variants(store: None) -> None:
    types = services.list_all_product_types()
    assert len(types) == 50
    assert types["T-Shirt"] == "9523456873"
    product = services.get_product_details("9523456873")
    assert product["variants"]["9612497925"]["price"] == 50.88
    assert services.get_item_details("9612497925")["name"] == "T-Shirt"


@pytest.mark.parametrize(
    ("expression", "value"),
    [("2 + 3 * (4 - 1) / 2", 6.5), ("100 / 3", 33.33), ("-(1.5 + 1)", -2.5), ("0.1+0.2", 0.3)],
)
def test_calculate_does_arithmetic(expression: str, value: float) -> None:
    assert services.calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "2**10", "1/0", "(1+2", "1..2", "", "3 4", "abs(-1)"],
)
def test_calculate_refuses_anything_but_plain_arithmetic(expression: str) -> None:
    with pytest.raises(StoreError):
        services.calculate(expression)
