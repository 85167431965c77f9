from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from apps.orders.loader import load_store
from apps.orders.models import Customer, Order, OrderLine, PaymentMethod, Product, Variant

pytestmark = pytest.mark.django_db


def test_it_loads_the_whole_dataset() -> None:
    counts = load_store()

    assert counts["customers"] == 500
    assert counts["orders"] == 1000
    assert counts["products"] == 50
    assert counts["variants"] == 591
    assert Customer.objects.count() == 500
    assert Order.objects.count() == 1000


def test_loading_twice_changes_nothing() -> None:
    load_store()
    Order.objects.filter(order_id="#W2611340").update(status="cancelled")

    assert load_store() == {}
    assert Order.objects.get(order_id="#W2611340").status == "cancelled"
    assert OrderLine.objects.filter(order_id="#W2611340").count() == 2


def test_reset_wipes_changes_and_reloads() -> None:
    load_store()
    Order.objects.filter(order_id="#W2611340").update(status="cancelled")
    PaymentMethod.objects.filter(id="gift_card_1725971").delete()

    out = io.StringIO()
    call_command("load_demo_store", "--reset", stdout=out)

    assert "Loaded the demo store" in out.getvalue()
    assert Order.objects.get(order_id="#W2611340").status == "processed"
    assert PaymentMethod.objects.filter(id="gift_card_1725971").exists()


def test_the_command_says_so_when_the_store_is_already_loaded() -> None:
    load_store()
    out = io.StringIO()

    call_command("load_demo_store", stdout=out)

    assert "already loaded" in out.getvalue()


def test_export_store_prints_exactly_db_json(dataset: dict[str, Any]) -> None:
    load_store()
    out = io.StringIO()

    call_command("export_store", stdout=out)

    assert json.loads(out.getvalue()) == dataset


def test_money_is_kept_in_exact_cents() -> None:
    load_store()

    assert OrderLine.objects.filter(order_id="#W2611340", position=1).get().price_cents == 48881
    assert PaymentMethod.objects.get(id="gift_card_1725971").balance_cents is not None
    assert Variant.objects.get(item_id="9612497925").price_cents == 5088
    assert Product.objects.get(product_id="9523456873").name == "T-Shirt"
