"""The ground floor of the order service: refusals, actors, fetching rows, auditing.

`customer_id`, when given, scopes a look-up to that customer: an order or
payment method of somebody else is reported exactly like one that doesn't
exist. Tools always pass it; the replay command and staff act store-wide.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

from django.db import transaction

from .models import Customer, Order, OrderAuditEvent, PaymentMethod


class StoreError(Exception):
    """A refused look-up or change, with a reason fit to show the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Actor:
    kind: str  # an OrderAuditEvent.ActorKind value
    id: str = ""
    conversation_id: uuid.UUID | None = None

    @classmethod
    def customer(cls, customer_id: str, conversation_id: uuid.UUID | None = None) -> Actor:
        return cls(OrderAuditEvent.ActorKind.CUSTOMER, customer_id, conversation_id)

    @classmethod
    def replay(cls, scenario_id: str = "") -> Actor:
        return cls(OrderAuditEvent.ActorKind.REPLAY, scenario_id)

    @classmethod
    def system(cls, name: str = "") -> Actor:
        return cls(OrderAuditEvent.ActorKind.SYSTEM, name)


def to_cents(amount: float | int | str | Decimal) -> int:
    """Dataset amounts (floats with at most two decimals) to integer cents, exactly."""
    value = Decimal(str(amount)) * 100
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def access_order(order_id: str, *, customer_id: str | None = None, lock: bool = False) -> Order:
    queryset = Order.objects.all()
    if lock:
        queryset = queryset.select_for_update()
    order = queryset.filter(order_id=order_id).first()
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise StoreError(f"Order {order_id} not found")
    return order


def access_customer(user_id: str, *, lock: bool = False) -> Customer:
    queryset = Customer.objects.all()
    if lock:
        queryset = queryset.select_for_update()
    customer = queryset.filter(user_id=user_id).first()
    if customer is None:
        raise StoreError(f"Customer {user_id} not found")
    return customer


def customer_methods(customer_id: str) -> dict[str, PaymentMethod]:
    return {m.id: m for m in PaymentMethod.objects.filter(customer_id=customer_id)}


def lock_gift_cards(customer_id: str, ids: Iterable[str]) -> dict[str, PaymentMethod]:
    """Lock the customer's gift cards among `ids`, in id order, so two changes
    that touch the same cards never wait on each other in a circle."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (
        PaymentMethod.objects.select_for_update()
        .filter(customer_id=customer_id, id__in=wanted, source=PaymentMethod.Source.GIFT_CARD)
        .order_by("id")
    )
    return {row.id: row for row in rows}


T = TypeVar("T")


def audited(
    actor: Actor,
    action: str,
    arguments: dict[str, Any],
    work: Callable[[], T],
    *,
    order_id: str = "",
    customer_id: str = "",
) -> T:
    """Run a change in its own transaction; audit the outcome either way."""

    def record(outcome: str, detail: str = "") -> None:
        OrderAuditEvent.objects.create(
            actor_kind=actor.kind,
            actor_id=actor.id,
            conversation_id=actor.conversation_id,
            action=action,
            arguments=arguments,
            outcome=outcome,
            detail=detail[:2000],
            order_id=order_id,
            customer_id=customer_id,
        )

    try:
        with transaction.atomic():
            result = work()
            record(OrderAuditEvent.Outcome.DONE)
            return result
    except StoreError as exc:
        record(OrderAuditEvent.Outcome.REFUSED, exc.reason)
        raise
