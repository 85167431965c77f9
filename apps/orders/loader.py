"""Loading the bundled demo store (tau2-bench retail data, see fixtures/README.md)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from django.db import transaction

from .access import to_cents
from .models import (
    Customer,
    Fulfilment,
    Order,
    OrderAuditEvent,
    OrderLine,
    PaymentMethod,
    Product,
    Transaction,
    Variant,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "retail_db.json.gz"
BATCH = 500


def read_dataset(path: Path = FIXTURE) -> dict[str, Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def store_is_loaded() -> bool:
    return Order.objects.exists()


def wipe_store() -> None:
    with transaction.atomic():
        for model in (Transaction, Fulfilment, OrderLine, Order, PaymentMethod, Customer):
            model.objects.all().delete()
        Variant.objects.all().delete()
        Product.objects.all().delete()
        OrderAuditEvent.objects.all().delete()


def load_store(data: dict[str, Any] | None = None, *, reset: bool = False) -> dict[str, int]:
    """Load the dataset; a no-op when a store is already there (unless `reset`).

    Returns how many rows of each kind were created.
    """
    if data is None:
        data = read_dataset()
    with transaction.atomic():
        if reset:
            wipe_store()
        elif store_is_loaded() or Customer.objects.exists() or Product.objects.exists():
            return {}
        return _insert(data)


def _address(raw: dict[str, Any]) -> dict[str, str]:
    return {
        "address1": raw.get("address1", ""),
        "address2": raw.get("address2", "") or "",
        "city": raw.get("city", ""),
        "state": raw.get("state", ""),
        "country": raw.get("country", ""),
        "zip": raw.get("zip", ""),
    }


def _insert(data: dict[str, Any]) -> dict[str, int]:
    products: list[Product] = []
    variants: list[Variant] = []
    for p_pos, (product_id, raw) in enumerate(data["products"].items()):
        products.append(Product(product_id=product_id, name=raw["name"], position=p_pos))
        for v_pos, (item_id, v) in enumerate(raw["variants"].items()):
            variants.append(
                Variant(
                    item_id=item_id,
                    product_id=product_id,
                    options=v.get("options") or {},
                    price_cents=to_cents(v["price"]),
                    available=bool(v.get("available", True)),
                    position=v_pos,
                )
            )

    customers: list[Customer] = []
    methods: list[PaymentMethod] = []
    order_positions: dict[str, int] = {}
    for c_pos, (user_id, raw) in enumerate(data["users"].items()):
        customers.append(
            Customer(
                user_id=user_id,
                first_name=raw["name"]["first_name"],
                last_name=raw["name"]["last_name"],
                email=raw["email"],
                position=c_pos,
                **_address(raw["address"]),
            )
        )
        for m_pos, (method_id, m) in enumerate(raw["payment_methods"].items()):
            balance = m.get("balance")
            methods.append(
                PaymentMethod(
                    id=method_id,
                    customer_id=user_id,
                    source=m["source"],
                    brand=m.get("brand", "") or "",
                    last_four=m.get("last_four", "") or "",
                    balance_cents=None if balance is None else to_cents(balance),
                    position=m_pos,
                )
            )
        for o_pos, order_id in enumerate(raw.get("orders") or []):
            order_positions[order_id] = o_pos

    orders: list[Order] = []
    lines: list[OrderLine] = []
    fulfilments: list[Fulfilment] = []
    txns: list[Transaction] = []
    for order_id, raw in data["orders"].items():
        orders.append(
            Order(
                order_id=order_id,
                customer_id=raw["user_id"],
                status=raw["status"],
                position=order_positions.get(order_id, 0),
                cancel_reason=raw.get("cancel_reason", "") or "",
                return_items=raw.get("return_items"),
                return_payment_method_id=raw.get("return_payment_method_id", "") or "",
                exchange_items=raw.get("exchange_items"),
                exchange_new_items=raw.get("exchange_new_items"),
                exchange_payment_method_id=raw.get("exchange_payment_method_id", "") or "",
                exchange_price_difference_cents=(
                    None
                    if raw.get("exchange_price_difference") is None
                    else to_cents(raw["exchange_price_difference"])
                ),
                **_address(raw["address"]),
            )
        )
        for pos, item in enumerate(raw["items"]):
            lines.append(
                OrderLine(
                    order_id=order_id,
                    position=pos,
                    product_id=item["product_id"],
                    item_id=item["item_id"],
                    name=item["name"],
                    price_cents=to_cents(item["price"]),
                    options=item.get("options") or {},
                )
            )
        for pos, f in enumerate(raw.get("fulfillments") or []):
            fulfilments.append(
                Fulfilment(
                    order_id=order_id,
                    position=pos,
                    tracking_ids=list(f.get("tracking_id") or []),
                    item_ids=list(f.get("item_ids") or []),
                )
            )
        for pos, t in enumerate(raw.get("payment_history") or []):
            txns.append(
                Transaction(
                    order_id=order_id,
                    position=pos,
                    kind=t["transaction_type"],
                    amount_cents=to_cents(t["amount"]),
                    payment_method_id=t["payment_method_id"],
                )
            )

    Product.objects.bulk_create(products, batch_size=BATCH)
    Variant.objects.bulk_create(variants, batch_size=BATCH)
    Customer.objects.bulk_create(customers, batch_size=BATCH)
    PaymentMethod.objects.bulk_create(methods, batch_size=BATCH)
    Order.objects.bulk_create(orders, batch_size=BATCH)
    OrderLine.objects.bulk_create(lines, batch_size=BATCH)
    Fulfilment.objects.bulk_create(fulfilments, batch_size=BATCH)
    Transaction.objects.bulk_create(txns, batch_size=BATCH)
    return {
        "products": len(products),
        "variants": len(variants),
        "customers": len(customers),
        "payment_methods": len(methods),
        "orders": len(orders),
        "order_lines": len(lines),
        "fulfilments": len(fulfilments),
        "transactions": len(txns),
    }
