"""How an order action is declared, planned and carried out (see docs/architecture.md).

Each change of docs/actions.md is one `OrderAction` in actions.py: its name, argument
model, `plan_*` (a read-only dry run that checks the request against the store and
returns a `Plan`), its apply (the writes particular to it), the summary the customer
confirms, and whether it needs that confirmation. Everything else is shared here:

- `plan_action(name, arguments)` reads the store and returns the plan; it writes nothing.
  The confirmation card is built from it.
- `do_action(name, arguments, actor=...)` opens a transaction, locks the order row and
  then the gift cards the action may touch (always in that order, gift cards sorted by
  id, so two changes never wait on each other in a circle), plans again on the locked
  rows, moves the money, applies, and audits. A refusal changes nothing and is audited too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from apps.assistant.tools import validation_problems

from .access import (
    Actor,
    StoreError,
    access_customer,
    access_order,
    audited,
    customer_methods,
    lock_gift_cards,
)
from .models import (
    ADDRESS_FIELDS,
    Customer,
    Order,
    OrderLine,
    PaymentMethod,
    Transaction,
    Variant,
    cents_to_amount,
)

A = TypeVar("A", bound=BaseModel)


@dataclass
class LineChange:
    """An order line a change touches, as it is and (for swaps) as it becomes."""

    position: int
    item_id: str
    name: str
    price_cents: int
    options: dict[str, Any]
    new_item_id: str = ""
    new_price_cents: int = 0
    new_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """What a change would do. `plan_*` returns it; `do_action` carries it out."""

    customer_id: str
    action: str = ""  # the declared name, set by OrderAction.dry_run
    order_id: str = ""
    status_before: str = ""
    status_after: str = ""
    # Money that moves now: (kind, amount_cents, payment_method_id) in order.
    transactions: list[tuple[str, int, str]] = field(default_factory=list)
    # Gift-card balance changes in cents, by card id.
    balance_changes: dict[str, int] = field(default_factory=dict)
    lines: list[LineChange] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    new_item_ids: list[str] = field(default_factory=list)
    price_difference_cents: int | None = None
    payment_method_id: str = ""
    reason: str = ""
    address: dict[str, str] = field(default_factory=dict)
    total_cents: int = 0
    refund_cents: int | None = None  # a refund that follows later (returns)

    def move(
        self, kind: str, cents: int, method_id: str, methods: Mapping[str, PaymentMethod]
    ) -> None:
        """A payment or refund on one of the customer's methods. A gift card's balance
        moves now as well; other methods are charged or refunded outside."""
        self.transactions.append((kind, cents, method_id))
        method = methods.get(method_id)
        if method is not None and method.is_gift_card:
            signed = -cents if kind == Transaction.Kind.PAYMENT else cents
            self.balance_changes[method_id] = self.balance_changes.get(method_id, 0) + signed

    def as_dict(self) -> dict[str, Any]:
        """The figures shown on the confirmation card (empty ones left out)."""
        data: dict[str, Any] = {
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
            "price_difference": _amount(self.price_difference_cents),
            "payment_method_id": self.payment_method_id,
            "reason": self.reason,
            "address": self.address,
            "refund_total": _amount(self.refund_cents),
        }
        return {key: value for key, value in data.items() if value not in ("", None, [], {})}


def _amount(cents: int | None) -> float | None:
    return None if cents is None else cents_to_amount(cents)


@dataclass
class Snapshot:
    """What a plan reads: the order (for order actions) or the customer, with the
    order's lines and payment history and the customer's payment methods."""

    customer_id: str
    order: Order | None = None
    customer: Customer | None = None
    lines: list[OrderLine] = field(default_factory=list)
    txns: list[Transaction] = field(default_factory=list)
    methods: dict[str, PaymentMethod] = field(default_factory=dict)

    @property
    def the_order(self) -> Order:
        assert self.order is not None, "an order action reads an order"
        return self.order

    @property
    def the_customer(self) -> Customer:
        assert self.customer is not None, "a customer action reads the customer"
        return self.customer


@dataclass(frozen=True)
class NeedsStatus:
    """The order status an action is allowed in, and its refusal in any other."""

    status: str
    done_to: str  # what the action does to an order, in the refusal: "cancelled"
    exactly: bool = True  # False: any status containing it ("pending (item modified)" too)

    def allows(self, status: str) -> bool:
        return status == self.status if self.exactly else self.status in status

    @property
    def refusal(self) -> str:
        return f"Non-{self.status} order cannot be {self.done_to}"


# Every confirmed change tells the model so in the same words.
CONFIRM = "The customer must confirm on the card; nothing changes before that."


@dataclass(frozen=True)
class OrderAction(Generic[A]):
    """One change of docs/actions.md, declared once. Tools, executors, replay and the
    offline assistant all read this declaration."""

    name: str
    args: type[A]
    # The read-only dry run, once the order's status allows the action: raises
    # StoreError or returns what would change.
    plan: Callable[[Snapshot, A], Plan]
    # The writes particular to this action, after the money moved; returns the
    # fields of the subject row (order or customer) it set.
    apply: Callable[[Snapshot, Plan], list[str]]
    # What the customer reads on the confirmation card; gets the customer's methods.
    summary: Callable[[Plan, dict[str, PaymentMethod]], str]
    done: str  # what the customer is told once it is done; {order_id} is filled in
    status: str  # the status line while it is prepared; filled in from the arguments
    # What the action does, for the model; `tool_description` adds the confirmation.
    description: str
    subject: Literal["order", "customer"] = "order"
    needs: NeedsStatus | None = None  # checked before `plan` (order actions)
    confirm: bool = True
    # The gift cards whose balance the action may move, locked before planning.
    gift_cards: Callable[[A, list[Transaction]], Iterable[str]] = lambda args, txns: ()

    @property
    def tool_description(self) -> str:
        """The tool's contract with the model."""
        return f"{self.description} {CONFIRM}" if self.confirm else self.description

    def dry_run(self, snapshot: Snapshot, args: A) -> Plan:
        if self.needs is not None and not self.needs.allows(snapshot.the_order.status):
            raise StoreError(self.needs.refusal)
        plan = self.plan(snapshot, args)
        plan.action = self.name
        return plan

    def parse(self, arguments: BaseModel | Mapping[str, Any]) -> A:
        if isinstance(arguments, self.args):
            return arguments
        payload = arguments.model_dump() if isinstance(arguments, BaseModel) else arguments
        try:
            return self.args.model_validate(dict(payload))
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise StoreError(f"Invalid arguments for {self.name}: {problems}") from None


ACTIONS: dict[str, OrderAction[Any]] = {}


def declare(action: OrderAction[A]) -> OrderAction[A]:
    if action.name in ACTIONS:
        raise ValueError(f"order action {action.name} is declared twice")
    ACTIONS[action.name] = action
    return action


def get_action(name: str) -> OrderAction[Any]:
    action = ACTIONS.get(name)
    if action is None:
        raise StoreError(f"Unknown action {name}")
    return action


# --------------------------------------------------------------------------- plan / do


def _snapshot(action: OrderAction[A], args: A, customer_id: str | None, *, lock: bool) -> Snapshot:
    if action.subject == "customer":
        if customer_id is None:
            raise StoreError(f"{action.name} needs the customer")
        customer = access_customer(customer_id, lock=lock)
        return Snapshot(customer_id=customer.user_id, customer=customer)
    order_id = str(getattr(args, "order_id", ""))
    order = access_order(order_id, customer_id=customer_id, lock=lock)
    txns = list(order.transactions.order_by("position"))
    methods = customer_methods(order.customer_id)
    if lock:
        # Gift cards first, locked in id order; the other methods hold no balance.
        methods.update(lock_gift_cards(order.customer_id, action.gift_cards(args, txns)))
    return Snapshot(
        customer_id=order.customer_id,
        order=order,
        lines=list(order.lines.order_by("position")),
        txns=txns,
        methods=methods,
    )


def plan_action(
    name: str, arguments: BaseModel | Mapping[str, Any], *, customer_id: str | None = None
) -> Plan:
    """What the change would do, checked against the store as it is; writes nothing.

    For an order action `customer_id` scopes the order (None: store-wide); for a
    customer action it names the customer."""
    action = get_action(name)
    args = action.parse(arguments)
    return action.dry_run(_snapshot(action, args, customer_id, lock=False), args)


def do_action(
    name: str,
    arguments: BaseModel | Mapping[str, Any],
    *,
    actor: Actor,
    customer_id: str | None = None,
) -> Plan:
    """Carry out the change on locked rows, all or nothing, and audit it."""
    action = get_action(name)
    args = action.parse(arguments)
    audit_arguments = args.model_dump(mode="json")
    if action.subject == "customer":
        audit_arguments = {"user_id": customer_id, **audit_arguments}

    def work() -> Plan:
        snapshot = _snapshot(action, args, customer_id, lock=True)
        plan = action.dry_run(snapshot, args)
        subject: Order | Customer
        if snapshot.order is not None:
            subject = snapshot.order
            _move_money(subject, plan)
            subject.status = plan.status_after
            fields = ["status", "updated_at"]
        else:
            assert snapshot.customer is not None
            subject, fields = snapshot.customer, []
        fields += action.apply(snapshot, plan)
        subject.save(update_fields=fields)
        return plan

    return audited(
        actor,
        name,
        audit_arguments,
        work,
        order_id=str(getattr(args, "order_id", "")),
        customer_id=customer_id or "",
    )


def _move_money(order: Order, plan: Plan) -> None:
    last = order.transactions.order_by("-position").values_list("position", flat=True).first()
    start = 0 if last is None else last + 1
    Transaction.objects.bulk_create(
        Transaction(
            order=order, position=start + i, kind=kind, amount_cents=cents, payment_method_id=m
        )
        for i, (kind, cents, m) in enumerate(plan.transactions)
    )
    for method_id, delta in sorted(plan.balance_changes.items()):
        if delta:
            card = PaymentMethod.objects.select_for_update().get(id=method_id)
            card.balance_cents = (card.balance_cents or 0) + delta
            card.save(update_fields=["balance_cents"])


# --------------------------------------------------------------------------- shared checks


def clean_address(address: Mapping[str, Any]) -> dict[str, str]:
    cleaned = {key: str(address.get(key) or "").strip() for key in ADDRESS_FIELDS}
    for key in ("address1", "city", "state", "country", "zip"):
        if not cleaned[key]:
            raise StoreError(f"The address needs a {key}")
    for key in ADDRESS_FIELDS:
        if len(cleaned[key]) > 200:
            raise StoreError(f"The address field {key} is too long")
    return cleaned


def owned_method(methods: dict[str, PaymentMethod], payment_method_id: str) -> PaymentMethod:
    method = methods.get(payment_method_id)
    if method is None:
        raise StoreError(f"Payment method {payment_method_id} not found")
    return method


def match_lines(lines: list[OrderLine], item_ids: list[str]) -> list[LineChange]:
    """For each requested id, the first line holding it not yet taken by this request."""
    if not item_ids:
        raise StoreError("No items were named")
    held = Counter(line.item_id for line in lines)
    for item_id, count in Counter(item_ids).items():
        if count > held.get(item_id, 0):
            if held.get(item_id, 0) == 0:
                raise StoreError(f"Item {item_id} not found in the order")
            raise StoreError(f"Item {item_id} appears only {held[item_id]} time(s) in the order")
    taken: set[int] = set()
    matched: list[LineChange] = []
    for item_id in item_ids:
        line = next(ln for ln in lines if ln.item_id == item_id and ln.position not in taken)
        taken.add(line.position)
        matched.append(
            LineChange(line.position, line.item_id, line.name, line.price_cents, dict(line.options))
        )
    return matched


def swap_lines(
    lines: list[OrderLine], item_ids: list[str], new_item_ids: list[str], *, must_differ: bool
) -> list[LineChange]:
    """The lines named by `item_ids`, each becoming the variant at the same position
    of `new_item_ids`: an available variant of the same product."""
    if len(item_ids) != len(new_item_ids):
        raise StoreError("The number of items to be exchanged should match")
    matched = match_lines(lines, item_ids)
    products = {line.position: line.product_id for line in lines}
    variants = {v.item_id: v for v in Variant.objects.filter(item_id__in=set(new_item_ids))}
    for change, new_item_id in zip(matched, new_item_ids, strict=True):
        if must_differ and new_item_id == change.item_id:
            raise StoreError("The new item id should be different from the old item id")
        variant = variants.get(new_item_id)
        if variant is None or variant.product_id != products[change.position]:
            raise StoreError(f"New item {new_item_id} not found or not of the same product")
        if not variant.available:
            raise StoreError(f"New item {new_item_id} not available")
        change.new_item_id = new_item_id
        change.new_price_cents = variant.price_cents
        change.new_options = dict(variant.options)
    return matched


def price_difference(changes: list[LineChange]) -> int:
    return sum(c.new_price_cents - c.price_cents for c in changes)


def settle_with(
    methods: dict[str, PaymentMethod], payment_method_id: str, cents: int, what: str
) -> PaymentMethod:
    """The customer's method that pays `cents`; a gift card must hold at least that."""
    method = owned_method(methods, payment_method_id)
    if method.is_gift_card and (method.balance_cents or 0) < cents:
        raise StoreError(f"Insufficient gift card balance to pay for {what}")
    return method


# --------------------------------------------------------------------------- summaries


def money(cents: int) -> str:
    return f"${cents_to_amount(cents):,.2f}"


def describe_method(methods: dict[str, PaymentMethod], method_id: str) -> str:
    method = methods.get(method_id)
    return method_id if method is None else method.describe()


def refund_phrase(methods: dict[str, PaymentMethod], method_id: str, cents: int) -> str:
    where = describe_method(methods, method_id)
    method = methods.get(method_id)
    if method is not None and method.is_gift_card:
        return f"{money(cents)} back on your {where} right away"
    return f"{money(cents)} to your {where} (5 to 7 business days)"


def address_text(address: Mapping[str, str]) -> str:
    parts = [
        address.get("address1", ""),
        address.get("address2", ""),
        address.get("city", ""),
        f"{address.get('state', '')} {address.get('zip', '')}".strip(),
        address.get("country", ""),
    ]
    return ", ".join(p for p in parts if p)


def _options_text(options: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in options.values())


def line_text(change: LineChange) -> str:
    return f"{change.name} ({_options_text(change.options)}, {money(change.price_cents)})"


def swaps_text(plan: Plan) -> str:
    return "; ".join(
        f"{c.name} ({_options_text(c.options)}) → ({_options_text(c.new_options)}), "
        f"{money(c.price_cents)} → {money(c.new_price_cents)}"
        for c in plan.lines
    )


def difference_text(plan: Plan, methods: dict[str, PaymentMethod], *, when: str) -> str:
    cents = plan.price_difference_cents or 0
    where = describe_method(methods, plan.payment_method_id)
    if cents > 0:
        return f"You pay the difference of {money(cents)} with your {where} {when}."
    if cents < 0:
        return f"You get {money(-cents)} back on your {where} {when}."
    return f"The price is the same; nothing is charged (method on record: {where})."
