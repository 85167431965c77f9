"""The order service: every look-up of the store, and the entry points for its changes.

The changes themselves are declared in actions.py (one declaration each) and
carried out by changes.py: `plan_action` is the read-only dry run a confirmation
card is built from, `do_action` the locked, audited change. `run_action` runs any
action of docs/actions.md by name, as the reference scenarios name them (replay, the
evaluation, staff); `replay_scenarios` applies whole scenarios and rolls them back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from apps.assistant.calculator import CalculationError, calculate_expression

from .access import Actor, StoreError, access_customer, access_order, to_cents
from .actions import CHANGE_ACTIONS
from .changes import ACTIONS, Plan, do_action, plan_action
from .models import Customer, Order, Product, Variant, cents_to_amount

__all__ = [
    "ACTIONS",
    "CHANGE_ACTIONS",
    "Actor",
    "Plan",
    "StoreError",
    "access_customer",
    "access_order",
    "do_action",
    "export_store",
    "plan_action",
    "replay_scenarios",
    "run_action",
    "to_cents",
]


# --------------------------------------------------------------------------- export shape


def order_dict(order: Order) -> dict[str, Any]:
    """An order in db.json's shape. Related rows come in their models' default order
    (by position), so prefetching them works."""
    data: dict[str, Any] = {
        "order_id": order.order_id,
        "user_id": order.customer_id,
        "address": order.address_dict(),
        "items": [
            {
                "name": line.name,
                "product_id": line.product_id,
                "item_id": line.item_id,
                "price": cents_to_amount(line.price_cents),
                "options": line.options,
            }
            for line in order.lines.all()
        ],
        "status": order.status,
        "fulfillments": [
            {"tracking_id": list(f.tracking_ids), "item_ids": list(f.item_ids)}
            for f in order.fulfilments.all()
        ],
        "payment_history": [
            {
                "transaction_type": t.kind,
                "amount": cents_to_amount(t.amount_cents),
                "payment_method_id": t.payment_method_id,
            }
            for t in order.transactions.all()
        ],
    }
    if order.cancel_reason:
        data["cancel_reason"] = order.cancel_reason
    if order.return_items is not None:
        data["return_items"] = list(order.return_items)
        data["return_payment_method_id"] = order.return_payment_method_id
    if order.exchange_items is not None:
        data["exchange_items"] = list(order.exchange_items)
        data["exchange_new_items"] = list(order.exchange_new_items or [])
        data["exchange_payment_method_id"] = order.exchange_payment_method_id
        data["exchange_price_difference"] = cents_to_amount(
            order.exchange_price_difference_cents or 0
        )
    return data


def user_dict(customer: Customer) -> dict[str, Any]:
    """A customer in db.json's shape."""
    return {
        "user_id": customer.user_id,
        "name": {"first_name": customer.first_name, "last_name": customer.last_name},
        "address": customer.address_dict(),
        "email": customer.email,
        "payment_methods": {
            method.id: method.export_dict() for method in customer.payment_methods.all()
        },
        "orders": [order.order_id for order in customer.orders.all()],
    }


def product_dict(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "product_id": product.product_id,
        "variants": {
            variant.item_id: {
                "item_id": variant.item_id,
                "options": variant.options,
                "available": variant.available,
                "price": cents_to_amount(variant.price_cents),
            }
            for variant in product.variants.all()
        },
    }


def export_store() -> dict[str, Any]:
    """The whole store in db.json's shape."""
    products = Product.objects.prefetch_related("variants")
    customers = Customer.objects.prefetch_related("payment_methods", "orders")
    orders = Order.objects.prefetch_related("lines", "fulfilments", "transactions")
    return {
        "products": {p.product_id: product_dict(p) for p in products},
        "users": {c.user_id: user_dict(c) for c in customers},
        "orders": {o.order_id: order_dict(o) for o in orders},
    }


# --------------------------------------------------------------------------- look-ups


def find_user_id_by_email(email: str) -> str:
    customer = Customer.objects.filter(email__iexact=email.strip()).order_by("user_id").first()
    if customer is None:
        raise StoreError("No customer found with that email")
    return customer.user_id


def find_user_id_by_name_zip(first_name: str, last_name: str, zip: str) -> str:
    customer = (
        Customer.objects.filter(
            first_name__iexact=first_name.strip(),
            last_name__iexact=last_name.strip(),
            zip=zip.strip(),
        )
        .order_by("user_id")
        .first()
    )
    if customer is None:
        raise StoreError("No customer found with that name and zip code")
    return customer.user_id


def get_user_details(user_id: str) -> dict[str, Any]:
    return user_dict(access_customer(user_id))


def get_order_details(order_id: str, *, customer_id: str | None = None) -> dict[str, Any]:
    return order_dict(access_order(order_id, customer_id=customer_id))


def get_product_details(product_id: str) -> dict[str, Any]:
    product = Product.objects.filter(product_id=product_id).first()
    if product is None:
        raise StoreError(f"Product {product_id} not found")
    return product_dict(product)


def get_item_details(item_id: str) -> dict[str, Any]:
    variant = Variant.objects.select_related("product").filter(item_id=item_id).first()
    if variant is None:
        raise StoreError(f"Item {item_id} not found")
    return {
        "item_id": variant.item_id,
        "product_id": variant.product_id,
        "name": variant.product.name,
        "options": variant.options,
        "available": variant.available,
        "price": cents_to_amount(variant.price_cents),
    }


def list_all_product_types() -> dict[str, str]:
    return dict(Product.objects.order_by("name").values_list("name", "product_id"))


def calculate(expression: str) -> float:
    """Arithmetic on digits, + - * / ( ) . and spaces, rounded to 2 places."""
    try:
        return float(calculate_expression(expression))
    except CalculationError as exc:
        raise StoreError(f"Invalid expression: {exc}") from None


# --------------------------------------------------------------------------- by name

# Look-ups by their docs/actions.md names; they change nothing.
LOOKUPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "find_user_id_by_email": lambda a: find_user_id_by_email(a["email"]),
    "find_user_id_by_name_zip": lambda a: find_user_id_by_name_zip(
        a["first_name"], a["last_name"], a["zip"]
    ),
    "get_user_details": lambda a: get_user_details(a["user_id"]),
    "get_order_details": lambda a: get_order_details(a["order_id"]),
    "get_product_details": lambda a: get_product_details(a["product_id"]),
    "get_item_details": lambda a: get_item_details(a["item_id"]),
    "list_all_product_types": lambda a: list_all_product_types(),
    "calculate": lambda a: calculate(a["expression"]),
    # Outside a conversation there is nobody to hand over; nothing in the store changes.
    "transfer_to_human_agents": lambda a: "Transfer requested",
}


def run_action(name: str, arguments: dict[str, Any], *, actor: Actor) -> Any:
    """Run one action of docs/actions.md by its name, as the reference scenarios name them.

    Store-wide (no customer scope): this is the staff, replay and evaluation entry
    point. A change returns its Plan. Raises StoreError on a refusal, including an
    unknown action or bad arguments.
    """
    if name in ACTIONS:
        if ACTIONS[name].subject == "customer":
            rest = {key: value for key, value in arguments.items() if key != "user_id"}
            user_id = arguments.get("user_id")
            if not isinstance(user_id, str):
                raise StoreError(f"Invalid arguments for {name}: user_id: Field required")
            return do_action(name, rest, actor=actor, customer_id=user_id)
        return do_action(name, arguments, actor=actor)
    lookup = LOOKUPS.get(name)
    if lookup is None:
        raise StoreError(f"Unknown action {name}")
    try:
        return lookup(arguments)
    except (KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"Invalid arguments for {name}: {exc}") from None


class _Rollback(Exception):
    pass


def replay_scenarios(scenarios: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Apply each scenario's actions to the store as it is now, and report what they touched.

    Each scenario runs in a transaction that is rolled back, so scenarios are
    isolated from each other and the store is left unchanged.
    """
    return {
        scenario_id: _replay_one(scenario_id, actions) for scenario_id, actions in scenarios.items()
    }


def _replay_one(scenario_id: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    actor = Actor.replay(scenario_id)
    try:
        with transaction.atomic():
            errors: list[str] = []
            order_ids: list[str] = []
            user_ids: list[str] = []
            for index, action in enumerate(actions):
                label = str(action.get("action_id") or index)
                arguments = action.get("arguments") or {}
                if not isinstance(arguments, dict):
                    errors.append(f"{label}: Invalid arguments")
                    continue
                if isinstance(arguments.get("order_id"), str):
                    order_ids.append(arguments["order_id"])
                if isinstance(arguments.get("user_id"), str):
                    user_ids.append(arguments["user_id"])
                name = str(action.get("name") or "")
                try:
                    run_action(name, arguments, actor=actor)
                except StoreError as exc:
                    # A look-up that finds nothing is an answer, not a refused change.
                    if name not in LOOKUPS:
                        errors.append(f"{label}: {exc.reason}")
            orders: dict[str, Any] = {}
            for order_id in order_ids:
                order = Order.objects.filter(order_id=order_id).first()
                if order is not None:
                    orders[order_id] = order_dict(order)
                    user_ids.append(order.customer_id)
            users: dict[str, Any] = {}
            for user_id in user_ids:
                customer = Customer.objects.filter(user_id=user_id).first()
                if customer is not None:
                    users[user_id] = user_dict(customer)
            outcome = {"orders": orders, "users": users, "errors": errors}
            raise _Rollback
    except _Rollback:
        pass
    return outcome
