"""The order service: every look-up and change of the store (see ACTIONS.md).

Changes come in two halves:
- `check_*` validates a request against the current store and returns a plan
  (what would change, amounts, refund method) without writing anything. The
  confirmation card is built from it.
- `do_*` opens a transaction, locks the order row and then the gift cards it
  touches (always in that order, gift cards sorted by id, so two changes never
  wait on each other in a circle), validates again on the locked rows, writes,
  and records an audit event. A refusal changes nothing and is audited too.

`customer_id`, when given, scopes every look-up to that customer: an order or
payment method of somebody else is reported exactly like one that doesn't
exist. Tools always pass it; the replay command and staff act store-wide.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, TypeVar

from django.db import transaction

from .models import (
    Customer,
    Order,
    OrderAuditEvent,
    OrderLine,
    PaymentMethod,
    Product,
    Transaction,
    Variant,
    cents_to_amount,
)

Status = Order.Status


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


# --------------------------------------------------------------------------- access


def access_order(order_id: str, *, customer_id: str | None = None, lock: bool = False) -> Order:
    queryset = Order.objects.all()
    if lock:
        queryset = queryset.select_for_update()
    order = queryset.filter(order_id=order_id).first()
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise StoreError(f"Order {order_id} not found")
    return order


def access_customer(user_id: str) -> Customer:
    customer = Customer.objects.filter(user_id=user_id).first()
    if customer is None:
        raise StoreError(f"Customer {user_id} not found")
    return customer


def access_payment_method(customer_id: str, payment_method_id: str) -> PaymentMethod:
    method = PaymentMethod.objects.filter(id=payment_method_id, customer_id=customer_id).first()
    if method is None:
        raise StoreError(f"Payment method {payment_method_id} not found")
    return method


def _lock_gift_cards(customer_id: str, ids: Iterable[str]) -> dict[str, PaymentMethod]:
    """Lock the customer's gift cards among `ids`, in id order."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (
        PaymentMethod.objects.select_for_update()
        .filter(customer_id=customer_id, id__in=wanted, source=PaymentMethod.Source.GIFT_CARD)
        .order_by("id")
    )
    return {row.id: row for row in rows}


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
    return float(_Calculator(expression).evaluate().quantize(Decimal("0.01")))


class _Calculator:
    """A small recursive-descent parser; the text is never handed to `eval`."""

    ALLOWED = set("0123456789+-*/(). ")

    def __init__(self, text: str) -> None:
        if not text.strip() or any(ch not in self.ALLOWED for ch in text):
            raise StoreError("Invalid characters in expression")
        if len(text) > 500:
            raise StoreError("Expression is too long")
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[str]:
        tokens: list[str] = []
        number = ""
        for ch in text:
            if ch.isdigit() or ch == ".":
                number += ch
                continue
            if number:
                tokens.append(number)
                number = ""
            if ch != " ":
                tokens.append(ch)
        if number:
            tokens.append(number)
        return tokens

    def evaluate(self) -> Decimal:
        try:
            value = self._sum()
        except (InvalidOperation, ZeroDivisionError):
            raise StoreError("Invalid expression") from None
        if self.pos != len(self.tokens):
            raise StoreError("Invalid expression")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise StoreError("Invalid expression")
        self.pos += 1
        return token

    def _sum(self) -> Decimal:
        value = self._product()
        while self._peek() in {"+", "-"}:
            op = self._take()
            right = self._product()
            value = value + right if op == "+" else value - right
        return value

    def _product(self) -> Decimal:
        value = self._unary()
        while self._peek() in {"*", "/"}:
            op = self._take()
            right = self._unary()
            if op == "*":
                value = value * right
            elif right == 0:
                raise StoreError("Division by zero")
            else:
                value = value / right
        return value

    def _unary(self) -> Decimal:
        if self._peek() in {"+", "-"}:
            sign = self._take()
            value = self._unary()
            return -value if sign == "-" else value
        return self._atom()

    def _atom(self) -> Decimal:
        if len(self.tokens) > 200 or self.pos > 200:
            raise StoreError("Expression is too long")
        token = self._take()
        if token == "(":
            value = self._sum()
            if self._take() != ")":
                raise StoreError("Invalid expression")
            return value
        if token.count(".") > 1 or token == ".":
            raise StoreError("Invalid expression")
        if not (token[0].isdigit() or token[0] == "."):
            raise StoreError("Invalid expression")
        return Decimal(token)


# --------------------------------------------------------------------------- plans


@dataclass
class LineChange:
    position: int
    item_id: str
    new_item_id: str
    name: str
    old_price_cents: int
    new_price_cents: int
    new_options: dict[str, Any]


@dataclass
class Plan:
    """What a change would do. `check_*` returns it; `do_*` carries it out."""

    action: str
    order_id: str
    customer_id: str
    status_before: str
    status_after: str
    # Money that moves now: (kind, amount_cents, payment_method_id) in order.
    transactions: list[tuple[str, int, str]] = field(default_factory=list)
    # Gift-card balance changes in cents, by card id.
    balance_changes: dict[str, int] = field(default_factory=dict)
    line_changes: list[LineChange] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    new_item_ids: list[str] = field(default_factory=list)
    price_difference_cents: int | None = None
    payment_method_id: str = ""
    reason: str = ""
    address: dict[str, str] = field(default_factory=dict)
    total_cents: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "order_id": self.order_id,
            "status_before": self.status_before,
            "status_after": self.status_after,
            "transactions": [
                {"transaction_type": kind, "amount": cents_to_amount(cents), "payment_method_id": m}
                for kind, cents, m in self.transactions
            ],
            "item_ids": self.item_ids,
            "new_item_ids": self.new_item_ids,
            "price_difference": (
                None
                if self.price_difference_cents is None
                else cents_to_amount(self.price_difference_cents)
            ),
            "payment_method_id": self.payment_method_id,
            "reason": self.reason,
            "address": self.address,
        }


ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")


def _clean_address(address: dict[str, str]) -> dict[str, str]:
    cleaned = {key: str(address.get(key) or "").strip() for key in ADDRESS_FIELDS}
    for key in ("address1", "city", "state", "country", "zip"):
        if not cleaned[key]:
            raise StoreError(f"The address needs a {key}")
        if len(cleaned[key]) > 200:
            raise StoreError(f"The address field {key} is too long")
    if len(cleaned["address2"]) > 200:
        raise StoreError("The address field address2 is too long")
    return cleaned


def _lines(order: Order) -> list[OrderLine]:
    return list(order.lines.order_by("position"))


def _transactions(order: Order) -> list[Transaction]:
    return list(order.transactions.order_by("position"))


def _methods(customer_id: str) -> dict[str, PaymentMethod]:
    return {m.id: m for m in PaymentMethod.objects.filter(customer_id=customer_id)}


def _owned_method(methods: dict[str, PaymentMethod], payment_method_id: str) -> PaymentMethod:
    method = methods.get(payment_method_id)
    if method is None:
        raise StoreError(f"Payment method {payment_method_id} not found")
    return method


def _check_multiplicity(lines: list[OrderLine], item_ids: list[str]) -> None:
    held = Counter(line.item_id for line in lines)
    for item_id, count in Counter(item_ids).items():
        if count > held.get(item_id, 0):
            if held.get(item_id, 0) == 0:
                raise StoreError(f"Item {item_id} not found in the order")
            raise StoreError(f"Item {item_id} appears only {held[item_id]} time(s) in the order")


def _match_lines(lines: list[OrderLine], item_ids: list[str]) -> list[OrderLine]:
    """For each requested id, the first line holding it not yet taken by this request."""
    _check_multiplicity(lines, item_ids)
    taken: set[int] = set()
    matched: list[OrderLine] = []
    for item_id in item_ids:
        line = next(ln for ln in lines if ln.item_id == item_id and ln.position not in taken)
        taken.add(line.position)
        matched.append(line)
    return matched


def _line_changes(
    lines: list[OrderLine], item_ids: list[str], new_item_ids: list[str], *, must_differ: bool
) -> list[LineChange]:
    if not item_ids:
        raise StoreError("No items were named")
    if len(item_ids) != len(new_item_ids):
        raise StoreError("The number of items to be exchanged should match")
    matched = _match_lines(lines, item_ids)
    variants = {v.item_id: v for v in Variant.objects.filter(item_id__in=set(new_item_ids))}
    changes: list[LineChange] = []
    for line, new_item_id in zip(matched, new_item_ids, strict=True):
        if must_differ and new_item_id == line.item_id:
            raise StoreError("The new item id should be different from the old item id")
        variant = variants.get(new_item_id)
        if variant is None or variant.product_id != line.product_id:
            raise StoreError(f"New item {new_item_id} not found or not of the same product")
        if not variant.available:
            raise StoreError(f"New item {new_item_id} not available")
        changes.append(
            LineChange(
                position=line.position,
                item_id=line.item_id,
                new_item_id=new_item_id,
                name=line.name,
                old_price_cents=line.price_cents,
                new_price_cents=variant.price_cents,
                new_options=dict(variant.options),
            )
        )
    return changes


# --------------------------------------------------------------------------- validation

# Each `_plan_*` reads the order (locked or not, as the caller chose) and the
# customer's payment methods, and either raises StoreError or returns a Plan.


def _plan_cancel(
    order: Order,
    lines: list[OrderLine],
    txns: list[Transaction],
    methods: dict[str, PaymentMethod],
    reason: str,
    **_: Any,
) -> Plan:
    if order.status != Status.PENDING:
        raise StoreError("Non-pending order cannot be cancelled")
    if reason not in Order.CancelReason.values:
        raise StoreError("Invalid reason: it must be 'no longer needed' or 'ordered by mistake'")
    plan = Plan(
        action="cancel_pending_order",
        order_id=order.order_id,
        customer_id=order.customer_id,
        status_before=order.status,
        status_after=Status.CANCELLED,
        reason=reason,
        total_cents=sum(line.price_cents for line in lines),
    )
    for txn in txns:
        plan.transactions.append((Transaction.Kind.REFUND, txn.amount_cents, txn.payment_method_id))
        method = methods.get(txn.payment_method_id)
        if method is not None and method.is_gift_card:
            # A gift card gets its money back at once; other methods are refunded outside.
            plan.balance_changes[method.id] = (
                plan.balance_changes.get(method.id, 0) + txn.amount_cents
            )
    return plan


def _plan_modify_address(order: Order, address: dict[str, str], **_: Any) -> Plan:
    if "pending" not in order.status:
        raise StoreError("Non-pending order cannot be modified")
    return Plan(
        action="modify_pending_order_address",
        order_id=order.order_id,
        customer_id=order.customer_id,
        status_before=order.status,
        status_after=order.status,
        address=_clean_address(address),
    )


def _plan_modify_items(
    order: Order,
    lines: list[OrderLine],
    methods: dict[str, PaymentMethod],
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    **_: Any,
) -> Plan:
    if order.status != Status.PENDING:
        raise StoreError("Non-pending order cannot be modified")
    changes = _line_changes(lines, item_ids, new_item_ids, must_differ=True)
    difference = sum(c.new_price_cents - c.old_price_cents for c in changes)
    method = _owned_method(methods, payment_method_id)
    if method.is_gift_card and (method.balance_cents or 0) < difference:
        raise StoreError("Insufficient gift card balance to pay for the new item")
    kind = Transaction.Kind.PAYMENT if difference > 0 else Transaction.Kind.REFUND
    plan = Plan(
        action="modify_pending_order_items",
        order_id=order.order_id,
        customer_id=order.customer_id,
        status_before=order.status,
        status_after=Status.PENDING_ITEM_MODIFIED,
        transactions=[(kind, abs(difference), method.id)],
        line_changes=changes,
        item_ids=list(item_ids),
        new_item_ids=list(new_item_ids),
        price_difference_cents=difference,
        payment_method_id=method.id,
    )
    if method.is_gift_card:
        plan.balance_changes[method.id] = -difference
    return plan


def _plan_modify_payment(
    order: Order,
    txns: list[Transaction],
    methods: dict[str, PaymentMethod],
    payment_method_id: str,
    **_: Any,
) -> Plan:
    if "pending" not in order.status:
        raise StoreError("Non-pending order cannot be modified")
    if len(txns) != 1 or txns[0].kind != Transaction.Kind.PAYMENT:
        raise StoreError("There should be exactly one payment for a pending order")
    method = _owned_method(methods, payment_method_id)
    current = txns[0]
    if method.id == current.payment_method_id:
        raise StoreError("The new payment method should be different from the current one")
    amount = current.amount_cents
    if method.is_gift_card and (method.balance_cents or 0) < amount:
        raise StoreError("Insufficient gift card balance to pay for the order")
    plan = Plan(
        action="modify_pending_order_payment",
        order_id=order.order_id,
        customer_id=order.customer_id,
        status_before=order.status,
        status_after=order.status,
        transactions=[
            (Transaction.Kind.PAYMENT, amount, method.id),
            (Transaction.Kind.REFUND, amount, current.payment_method_id),
        ],
        payment_method_id=method.id,
        total_cents=amount,
    )
    if method.is_gift_card:
        plan.balance_changes[method.id] = -amount
    old = methods.get(current.payment_method_id)
    if old is not None and old.is_gift_card:
        plan.balance_changes[old.id] = plan.balance_changes.get(old.id, 0) + amount
    return plan


def _plan_return(
    order: Order,
    lines: list[OrderLine],
    txns: list[Transaction],
    methods: dict[str, PaymentMethod],
    item_ids: list[str],
    payment_method_id: str,
    **_: Any,
) -> Plan:
    if order.status != Status.DELIVERED:
        raise StoreError("Non-delivered order cannot be returned")
    method = _owned_method(methods, payment_method_id)
    original = txns[0].payment_method_id if txns else ""
    if not method.is_gift_card and method.id != original:
        raise StoreError(
            "Payment method should be either the original payment method or a gift card"
        )
    if not item_ids:
        raise StoreError("No items were named")
    matched = _match_lines(lines, item_ids)
    return Plan(
        action="return_delivered_order_items",
        order_id=order.order_id,
        customer_id=order.customer_id,
        status_before=order.status,
        status_after=Status.RETURN_REQUESTED,
        item_ids=sorted(item_ids),
        payment_method_id=method.id,
        total_cents=sum(line.price_cents for line in matched),
    )


def _plan_exchange(
    order: Order,
    lines: list[OrderLine],
    methods: dict[str, PaymentMethod],
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    **_: Any,
) -> Plan:
    if order.status != Status.DELIVERED:
        raise StoreError("Non-delivered order cannot be exchanged")
    changes = _line_changes(lines, item_ids, new_item_ids, must_differ=False)
    difference = sum(c.new_price_cents - c.old_price_cents for c in changes)
    method = _owned_method(methods, payment_method_id)
    if method.is_gift_card and (method.balance_cents or 0) < difference:
        raise StoreError("Insufficient gift card balance to pay for the price difference")
    return Plan(
        action="exchange_delivered_order_items",
        order_id=order.order_id,
        customer_id=order.customer_id,
        status_before=order.status,
        status_after=Status.EXCHANGE_REQUESTED,
        line_changes=changes,
        item_ids=sorted(item_ids),
        new_item_ids=sorted(new_item_ids),
        price_difference_cents=difference,
        payment_method_id=method.id,
    )


_PLANNERS: dict[str, Callable[..., Plan]] = {
    "cancel_pending_order": _plan_cancel,
    "modify_pending_order_address": _plan_modify_address,
    "modify_pending_order_items": _plan_modify_items,
    "modify_pending_order_payment": _plan_modify_payment,
    "return_delivered_order_items": _plan_return,
    "exchange_delivered_order_items": _plan_exchange,
}


def _gift_cards_touched(
    action: str, order_txns: list[Transaction], params: dict[str, Any]
) -> set[str]:
    """Every payment method id whose balance this action may move (locked before checking)."""
    ids: set[str] = set()
    if action == "cancel_pending_order":
        ids.update(t.payment_method_id for t in order_txns)
    if action == "modify_pending_order_items":
        ids.add(params["payment_method_id"])
    if action == "modify_pending_order_payment":
        ids.add(params["payment_method_id"])
        ids.update(t.payment_method_id for t in order_txns)
    return ids


def _plan(action: str, order: Order, params: dict[str, Any], *, lock: bool) -> Plan:
    lines = _lines(order)
    txns = _transactions(order)
    if lock:
        # Gift cards first, locked in id order; then the rest of the methods (no balance).
        locked = _lock_gift_cards(order.customer_id, _gift_cards_touched(action, txns, params))
        methods = _methods(order.customer_id)
        methods.update(locked)
    else:
        methods = _methods(order.customer_id)
    return _PLANNERS[action](order=order, lines=lines, txns=txns, methods=methods, **params)


# --------------------------------------------------------------------------- apply


def _apply(order: Order, plan: Plan) -> None:
    next_position = (
        order.transactions.order_by("-position").values_list("position", flat=True).first()
    )
    position = -1 if next_position is None else next_position
    new_txns = []
    for kind, cents, method_id in plan.transactions:
        position += 1
        new_txns.append(
            Transaction(
                order=order,
                position=position,
                kind=kind,
                amount_cents=cents,
                payment_method_id=method_id,
            )
        )
    Transaction.objects.bulk_create(new_txns)
    for method_id, delta in sorted(plan.balance_changes.items()):
        if delta:
            card = PaymentMethod.objects.select_for_update().get(id=method_id)
            card.balance_cents = (card.balance_cents or 0) + delta
            card.save(update_fields=["balance_cents"])
    fields = ["status", "updated_at"]
    order.status = plan.status_after
    if plan.action == "cancel_pending_order":
        order.cancel_reason = plan.reason
        fields.append("cancel_reason")
    elif plan.action == "modify_pending_order_address":
        for key, value in plan.address.items():
            setattr(order, key, value)
        fields.extend(ADDRESS_FIELDS)
    elif plan.action == "modify_pending_order_items":
        for change in plan.line_changes:
            OrderLine.objects.filter(order=order, position=change.position).update(
                item_id=change.new_item_id,
                price_cents=change.new_price_cents,
                options=change.new_options,
            )
    elif plan.action == "return_delivered_order_items":
        order.return_items = plan.item_ids
        order.return_payment_method_id = plan.payment_method_id
        fields.extend(["return_items", "return_payment_method_id"])
    elif plan.action == "exchange_delivered_order_items":
        order.exchange_items = plan.item_ids
        order.exchange_new_items = plan.new_item_ids
        order.exchange_payment_method_id = plan.payment_method_id
        order.exchange_price_difference_cents = plan.price_difference_cents
        fields.extend(
            [
                "exchange_items",
                "exchange_new_items",
                "exchange_payment_method_id",
                "exchange_price_difference_cents",
            ]
        )
    order.save(update_fields=fields)


def _audit(
    actor: Actor,
    action: str,
    arguments: dict[str, Any],
    *,
    outcome: str,
    detail: str = "",
    order_id: str = "",
    customer_id: str = "",
) -> None:
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


T = TypeVar("T")


def _audited(
    actor: Actor,
    action: str,
    arguments: dict[str, Any],
    work: Callable[[], T],
    *,
    order_id: str = "",
    customer_id: str = "",
) -> T:
    """Run a change in its own transaction; audit the outcome either way."""
    try:
        with transaction.atomic():
            result = work()
            _audit(
                actor,
                action,
                arguments,
                outcome=OrderAuditEvent.Outcome.DONE,
                order_id=order_id,
                customer_id=customer_id,
            )
            return result
    except StoreError as exc:
        _audit(
            actor,
            action,
            arguments,
            outcome=OrderAuditEvent.Outcome.REFUSED,
            detail=exc.reason,
            order_id=order_id,
            customer_id=customer_id,
        )
        raise


# --------------------------------------------------------------------------- check_* / do_*


def _check(action: str, order_id: str, customer_id: str | None, params: dict[str, Any]) -> Plan:
    order = access_order(order_id, customer_id=customer_id)
    return _plan(action, order, params, lock=False)


def _do(
    action: str,
    order_id: str,
    customer_id: str | None,
    params: dict[str, Any],
    actor: Actor,
) -> Plan:
    def work() -> Plan:
        order = access_order(order_id, customer_id=customer_id, lock=True)
        plan = _plan(action, order, params, lock=True)
        _apply(order, plan)
        return plan

    return _audited(
        actor,
        action,
        {"order_id": order_id, **params},
        work,
        order_id=order_id,
        customer_id=customer_id or "",
    )


def check_cancel_pending_order(
    order_id: str, reason: str, *, customer_id: str | None = None
) -> Plan:
    return _check("cancel_pending_order", order_id, customer_id, {"reason": reason})


def do_cancel_pending_order(
    order_id: str, reason: str, *, actor: Actor, customer_id: str | None = None
) -> Plan:
    return _do("cancel_pending_order", order_id, customer_id, {"reason": reason}, actor)


def check_modify_pending_order_address(
    order_id: str, address: dict[str, str], *, customer_id: str | None = None
) -> Plan:
    return _check("modify_pending_order_address", order_id, customer_id, {"address": address})


def do_modify_pending_order_address(
    order_id: str, address: dict[str, str], *, actor: Actor, customer_id: str | None = None
) -> Plan:
    return _do("modify_pending_order_address", order_id, customer_id, {"address": address}, actor)


def check_modify_pending_order_items(
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    *,
    customer_id: str | None = None,
) -> Plan:
    params = {
        "item_ids": list(item_ids),
        "new_item_ids": list(new_item_ids),
        "payment_method_id": payment_method_id,
    }
    return _check("modify_pending_order_items", order_id, customer_id, params)


def do_modify_pending_order_items(
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    *,
    actor: Actor,
    customer_id: str | None = None,
) -> Plan:
    params = {
        "item_ids": list(item_ids),
        "new_item_ids": list(new_item_ids),
        "payment_method_id": payment_method_id,
    }
    return _do("modify_pending_order_items", order_id, customer_id, params, actor)


def check_modify_pending_order_payment(
    order_id: str, payment_method_id: str, *, customer_id: str | None = None
) -> Plan:
    params = {"payment_method_id": payment_method_id}
    return _check("modify_pending_order_payment", order_id, customer_id, params)


def do_modify_pending_order_payment(
    order_id: str, payment_method_id: str, *, actor: Actor, customer_id: str | None = None
) -> Plan:
    params = {"payment_method_id": payment_method_id}
    return _do("modify_pending_order_payment", order_id, customer_id, params, actor)


def check_return_delivered_order_items(
    order_id: str,
    item_ids: list[str],
    payment_method_id: str,
    *,
    customer_id: str | None = None,
) -> Plan:
    params = {"item_ids": list(item_ids), "payment_method_id": payment_method_id}
    return _check("return_delivered_order_items", order_id, customer_id, params)


def do_return_delivered_order_items(
    order_id: str,
    item_ids: list[str],
    payment_method_id: str,
    *,
    actor: Actor,
    customer_id: str | None = None,
) -> Plan:
    params = {"item_ids": list(item_ids), "payment_method_id": payment_method_id}
    return _do("return_delivered_order_items", order_id, customer_id, params, actor)


def check_exchange_delivered_order_items(
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    *,
    customer_id: str | None = None,
) -> Plan:
    params = {
        "item_ids": list(item_ids),
        "new_item_ids": list(new_item_ids),
        "payment_method_id": payment_method_id,
    }
    return _check("exchange_delivered_order_items", order_id, customer_id, params)


def do_exchange_delivered_order_items(
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    *,
    actor: Actor,
    customer_id: str | None = None,
) -> Plan:
    params = {
        "item_ids": list(item_ids),
        "new_item_ids": list(new_item_ids),
        "payment_method_id": payment_method_id,
    }
    return _do("exchange_delivered_order_items", order_id, customer_id, params, actor)


def check_modify_user_address(user_id: str, address: dict[str, str]) -> dict[str, str]:
    access_customer(user_id)
    return _clean_address(address)


def do_modify_user_address(user_id: str, address: dict[str, str], *, actor: Actor) -> Customer:
    def work() -> Customer:
        customer = Customer.objects.select_for_update().filter(user_id=user_id).first()
        if customer is None:
            raise StoreError(f"Customer {user_id} not found")
        cleaned = _clean_address(address)
        for key, value in cleaned.items():
            setattr(customer, key, value)
        customer.save(update_fields=list(ADDRESS_FIELDS))
        return customer

    return _audited(
        actor,
        "modify_user_address",
        {"user_id": user_id, "address": address},
        work,
        customer_id=user_id,
    )


# --------------------------------------------------------------------------- by name

CHANGE_ACTIONS = frozenset(
    {
        "cancel_pending_order",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
        "return_delivered_order_items",
        "exchange_delivered_order_items",
    }
)


LOOKUP_ACTIONS = frozenset(
    {
        "find_user_id_by_email",
        "find_user_id_by_name_zip",
        "get_user_details",
        "get_order_details",
        "get_product_details",
        "get_item_details",
        "list_all_product_types",
        "calculate",
        "transfer_to_human_agents",
    }
)


def _address_from(arguments: dict[str, Any]) -> dict[str, str]:
    return {key: str(arguments.get(key) or "") for key in ADDRESS_FIELDS}


def run_action(name: str, arguments: dict[str, Any], *, actor: Actor) -> Any:
    """Run one action of ACTIONS.md by its name, as the reference scenarios name them.

    Store-wide (no customer scope): this is the staff and replay entry point.
    Raises StoreError on a refusal, including an unknown action or bad arguments.
    """
    try:
        return _run_action(name, arguments, actor)
    except (KeyError, TypeError) as exc:
        raise StoreError(f"Invalid arguments for {name}: {exc}") from None


def _run_action(name: str, a: dict[str, Any], actor: Actor) -> Any:
    if name == "find_user_id_by_email":
        return find_user_id_by_email(a["email"])
    if name == "find_user_id_by_name_zip":
        return find_user_id_by_name_zip(a["first_name"], a["last_name"], a["zip"])
    if name == "get_user_details":
        return get_user_details(a["user_id"])
    if name == "get_order_details":
        return get_order_details(a["order_id"])
    if name == "get_product_details":
        return get_product_details(a["product_id"])
    if name == "get_item_details":
        return get_item_details(a["item_id"])
    if name == "list_all_product_types":
        return list_all_product_types()
    if name == "calculate":
        return calculate(a["expression"])
    if name == "transfer_to_human_agents":
        # Outside a conversation there is nobody to hand over; nothing in the store changes.
        return "Transfer requested"
    if name == "cancel_pending_order":
        return do_cancel_pending_order(a["order_id"], a["reason"], actor=actor)
    if name == "modify_pending_order_address":
        return do_modify_pending_order_address(a["order_id"], _address_from(a), actor=actor)
    if name == "modify_pending_order_items":
        return do_modify_pending_order_items(
            a["order_id"], a["item_ids"], a["new_item_ids"], a["payment_method_id"], actor=actor
        )
    if name == "modify_pending_order_payment":
        return do_modify_pending_order_payment(a["order_id"], a["payment_method_id"], actor=actor)
    if name == "modify_user_address":
        return do_modify_user_address(a["user_id"], _address_from(a), actor=actor)
    if name == "return_delivered_order_items":
        return do_return_delivered_order_items(
            a["order_id"], a["item_ids"], a["payment_method_id"], actor=actor
        )
    if name == "exchange_delivered_order_items":
        return do_exchange_delivered_order_items(
            a["order_id"], a["item_ids"], a["new_item_ids"], a["payment_method_id"], actor=actor
        )
    raise StoreError(f"Unknown action {name}")


class _Rollback(Exception):
    pass


def replay_scenarios(scenarios: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Apply each scenario's actions to the store as it is now, and report what they touched.

    Each scenario runs in a transaction that is rolled back, so scenarios are
    isolated from each other and the store is left unchanged.
    """
    results: dict[str, Any] = {}
    for scenario_id, actions in scenarios.items():
        results[scenario_id] = _replay_one(scenario_id, actions)
    return results


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
                    if name in CHANGE_ACTIONS or name not in LOOKUP_ACTIONS:
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
