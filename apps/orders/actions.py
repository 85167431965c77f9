"""The seven changes of docs/actions.md, each declared once (changes.py holds the rest).

A declaration names the action, its argument model (the tool's schema and the
replay's parser), the order status it needs, `plan_*` (the read-only dry run), the
apply, the summary the customer confirms, what they are told when it is done and
whether it needs their confirmation. The tools, their executors, replay,
`run_action` and the offline assistant all read `ACTIONS`; adding an action is
adding a block here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .access import StoreError
from .arguments import (
    Arguments,
    Line,
    MethodId,
    NewItemIds,
    OldItemIds,
    OrderId,
    ReturnItemIds,
    Short,
    Zip,
)
from .changes import (
    ACTIONS,
    NeedsStatus,
    OrderAction,
    Plan,
    Snapshot,
    address_text,
    clean_address,
    declare,
    describe_method,
    difference_text,
    line_text,
    match_lines,
    money,
    owned_method,
    price_difference,
    refund_phrase,
    settle_with,
    swap_lines,
    swaps_text,
)
from .models import ADDRESS_FIELDS, Address, Order, OrderLine, PaymentMethod, Transaction

Status = Order.Status
Methods = dict[str, PaymentMethod]
# "pending" or "pending (item modified)"
ANY_PENDING = NeedsStatus(Status.PENDING, "modified", exactly=False)


def _plan(snapshot: Snapshot, status_after: str | None = None, **kw: Any) -> Plan:
    """A plan for the snapshot's order; the status stays unless `status_after` is given."""
    order = snapshot.the_order
    after = order.status if status_after is None else status_after
    return Plan(
        customer_id=order.customer_id,
        order_id=order.order_id,
        status_before=order.status,
        status_after=after,
        **kw,
    )


# --------------------------------------------------------------------------- cancel


class CancelArgs(Arguments):
    order_id: OrderId
    reason: Literal["no longer needed", "ordered by mistake"] = Field(
        description="Why the customer cancels, in their own terms mapped to one of the two "
        "allowed reasons; ask if it is unclear."
    )


def plan_cancel_pending_order(snapshot: Snapshot, args: CancelArgs) -> Plan:
    plan = _plan(
        snapshot,
        Status.CANCELLED,
        reason=args.reason,
        total_cents=sum(line.price_cents for line in snapshot.lines),
    )
    for txn in snapshot.txns:
        plan.move(
            Transaction.Kind.REFUND, txn.amount_cents, txn.payment_method_id, snapshot.methods
        )
    return plan


def _apply_cancel(snapshot: Snapshot, plan: Plan) -> list[str]:
    snapshot.the_order.cancel_reason = plan.reason
    return ["cancel_reason"]


def _summary_cancel(plan: Plan, methods: Methods) -> str:
    refunds = [refund_phrase(methods, m, cents) for _, cents, m in plan.transactions]
    return (
        f"Cancel order {plan.order_id} ({money(plan.total_cents)}), reason: {plan.reason}. "
        f"Refund: {'; '.join(refunds) or 'nothing was paid'}."
    )


declare(
    OrderAction(
        name="cancel_pending_order",
        args=CancelArgs,
        needs=NeedsStatus(Status.PENDING, "cancelled"),
        plan=plan_cancel_pending_order,
        apply=_apply_cancel,
        summary=_summary_cancel,
        done="Order {order_id} is cancelled; refunds issued.",
        status="Preparing to cancel {order_id}…",
        description="Propose cancelling one of the customer's orders whose status is exactly "
        "'pending'. Ask the customer for the reason first. Every payment is refunded to the "
        "method it came from.",
        gift_cards=lambda args, txns: [t.payment_method_id for t in txns],
    )
)


# --------------------------------------------------------------------------- addresses


class AddressArgs(Arguments):
    address1: Line = Field(description="Street address, first line, e.g. '986 Sunset Drive'.")
    address2: Line = Field(
        description="Second line (suite, apartment), or an empty string if there is none."
    )
    city: Short = Field(description="City, e.g. 'Denver'.")
    state: Short = Field(description="State as a two-letter code, e.g. 'CO'.")
    country: Short = Field(description="Country, e.g. 'USA'.")
    zip: Zip = Field(description="5-digit zip code, e.g. '80279'.")


class OrderAddressArgs(AddressArgs):
    order_id: OrderId


def _set_address(row: Address, plan: Plan) -> list[str]:
    for key, value in plan.address.items():
        setattr(row, key, value)
    return list(ADDRESS_FIELDS)


def plan_modify_pending_order_address(snapshot: Snapshot, args: OrderAddressArgs) -> Plan:
    return _plan(snapshot, address=clean_address(args.model_dump()))


declare(
    OrderAction(
        name="modify_pending_order_address",
        args=OrderAddressArgs,
        needs=ANY_PENDING,
        plan=plan_modify_pending_order_address,
        apply=lambda snapshot, plan: _set_address(snapshot.the_order, plan),
        summary=lambda plan, methods: (
            f"Ship order {plan.order_id} to {address_text(plan.address)}."
        ),
        done="Order {order_id} will ship to the new address.",
        status="Preparing the address change for {order_id}…",
        description="Propose a new shipping address for one of the customer's pending orders "
        "(status 'pending' or 'pending (item modified)'). Use an empty string for a missing "
        "address2.",
    )
)


def plan_modify_user_address(snapshot: Snapshot, args: AddressArgs) -> Plan:
    return Plan(
        customer_id=snapshot.customer_id,
        address=clean_address(args.model_dump()),
    )


declare(
    OrderAction(
        name="modify_user_address",
        args=AddressArgs,
        subject="customer",
        plan=plan_modify_user_address,
        apply=lambda snapshot, plan: _set_address(snapshot.the_customer, plan),
        summary=lambda plan, methods: (
            f"Change your default address to {address_text(plan.address)}. "
            "Existing orders keep their shipping address."
        ),
        done="Your default address is updated.",
        status="Preparing your address change…",
        description="Propose a new default address for the verified customer's account. "
        "Existing orders keep their shipping address. Use an empty string for a missing "
        "address2.",
    )
)


# --------------------------------------------------------------------------- items and payment


class ItemSwapArgs(Arguments):
    order_id: OrderId
    item_ids: OldItemIds
    new_item_ids: NewItemIds
    payment_method_id: MethodId


def _swap_plan(
    snapshot: Snapshot, args: ItemSwapArgs, status_after: str, *, modify: bool
) -> tuple[Plan, PaymentMethod]:
    """Items swapped for other variants of the same products, the price difference to
    be settled with the customer's method. A modification (of a pending order) keeps the
    ids in the customer's order and must change every item; an exchange sorts them."""
    changes = swap_lines(snapshot.lines, args.item_ids, args.new_item_ids, must_differ=modify)
    difference = price_difference(changes)
    paying_for = "the new item" if modify else "the price difference"
    method = settle_with(snapshot.methods, args.payment_method_id, difference, paying_for)
    ids = list if modify else sorted
    plan = _plan(
        snapshot,
        status_after,
        lines=changes,
        item_ids=ids(args.item_ids),
        new_item_ids=ids(args.new_item_ids),
        price_difference_cents=difference,
        payment_method_id=method.id,
    )
    return plan, method


def plan_modify_pending_order_items(snapshot: Snapshot, args: ItemSwapArgs) -> Plan:
    plan, method = _swap_plan(snapshot, args, Status.PENDING_ITEM_MODIFIED, modify=True)
    difference = plan.price_difference_cents or 0
    kind = Transaction.Kind.PAYMENT if difference > 0 else Transaction.Kind.REFUND
    plan.move(kind, abs(difference), method.id, snapshot.methods)
    return plan


def _apply_items(snapshot: Snapshot, plan: Plan) -> list[str]:
    for change in plan.lines:
        OrderLine.objects.filter(order=snapshot.the_order, position=change.position).update(
            item_id=change.new_item_id,
            price_cents=change.new_price_cents,
            options=change.new_options,
        )
    return []


declare(
    OrderAction(
        name="modify_pending_order_items",
        args=ItemSwapArgs,
        needs=NeedsStatus(Status.PENDING, "modified"),
        plan=plan_modify_pending_order_items,
        apply=_apply_items,
        summary=lambda plan, methods: (
            f"Change items in order {plan.order_id}: {swaps_text(plan)}. "
            f"{difference_text(plan, methods, when='now')} "
            "Items of an order can be changed only once."
        ),
        done="The items of order {order_id} are changed.",
        status="Preparing the item change for {order_id}…",
        description="Propose swapping items of a pending order (status exactly 'pending') for "
        "other available variants of the same products. item_ids and new_item_ids pair up by "
        "position. Items can be modified only once per order, so collect every change first. "
        "The price difference is charged to or refunded on payment_method_id (one of the "
        "customer's).",
        gift_cards=lambda args, txns: [args.payment_method_id],
    )
)


class PaymentArgs(Arguments):
    order_id: OrderId
    payment_method_id: MethodId


def plan_modify_pending_order_payment(snapshot: Snapshot, args: PaymentArgs) -> Plan:
    txns = snapshot.txns
    if len(txns) != 1 or txns[0].kind != Transaction.Kind.PAYMENT:
        raise StoreError("There should be exactly one payment for a pending order")
    current, amount = txns[0].payment_method_id, txns[0].amount_cents
    if args.payment_method_id == current:
        raise StoreError("The new payment method should be different from the current one")
    method = settle_with(snapshot.methods, args.payment_method_id, amount, "the order")
    plan = _plan(snapshot, payment_method_id=method.id, total_cents=amount)
    plan.move(Transaction.Kind.PAYMENT, amount, method.id, snapshot.methods)
    plan.move(Transaction.Kind.REFUND, amount, current, snapshot.methods)
    return plan


def _summary_payment(plan: Plan, methods: Methods) -> str:
    (_, amount, new_id), (_, _, old_id) = plan.transactions
    return (
        f"Pay order {plan.order_id} ({money(amount)}) with your "
        f"{describe_method(methods, new_id)} instead. Refund: "
        f"{refund_phrase(methods, old_id, amount)}."
    )


declare(
    OrderAction(
        name="modify_pending_order_payment",
        args=PaymentArgs,
        needs=ANY_PENDING,
        plan=plan_modify_pending_order_payment,
        apply=lambda snapshot, plan: [],
        summary=_summary_payment,
        done="Order {order_id} is paid with the new method.",
        status="Preparing the payment change for {order_id}…",
        description="Propose paying a pending order with another of the customer's payment "
        "methods. The new method is charged the order amount and the old one refunded. A gift "
        "card must cover the whole amount.",
        gift_cards=lambda args, txns: [
            args.payment_method_id,
            *(t.payment_method_id for t in txns),
        ],
    )
)


# --------------------------------------------------------------------------- returns and exchanges


class ReturnArgs(Arguments):
    order_id: OrderId
    item_ids: ReturnItemIds
    payment_method_id: MethodId


def plan_return_delivered_order_items(snapshot: Snapshot, args: ReturnArgs) -> Plan:
    method = owned_method(snapshot.methods, args.payment_method_id)
    original = snapshot.txns[0].payment_method_id if snapshot.txns else ""
    if not method.is_gift_card and method.id != original:
        raise StoreError(
            "Payment method should be either the original payment method or a gift card"
        )
    matched = match_lines(snapshot.lines, args.item_ids)
    total = sum(change.price_cents for change in matched)
    return _plan(
        snapshot,
        Status.RETURN_REQUESTED,
        lines=sorted(matched, key=lambda change: change.position),
        item_ids=sorted(args.item_ids),
        payment_method_id=method.id,
        total_cents=total,
        refund_cents=total,
    )


def _apply_return(snapshot: Snapshot, plan: Plan) -> list[str]:
    order = snapshot.the_order
    order.return_items = plan.item_ids
    order.return_payment_method_id = plan.payment_method_id
    return ["return_items", "return_payment_method_id"]


declare(
    OrderAction(
        name="return_delivered_order_items",
        args=ReturnArgs,
        needs=NeedsStatus(Status.DELIVERED, "returned"),
        plan=plan_return_delivered_order_items,
        apply=_apply_return,
        summary=lambda plan, methods: (
            f"Return from order {plan.order_id}: {'; '.join(map(line_text, plan.lines))}. "
            f"Refund of {money(plan.total_cents)} to your "
            f"{describe_method(methods, plan.payment_method_id)} once the items are received."
        ),
        done="The return for order {order_id} is requested; the refund follows once the "
        "items are received.",
        status="Preparing the return for {order_id}…",
        description="Propose returning items of a delivered order (status exactly "
        "'delivered'). The refund goes to the original payment method (the order's first "
        "payment) or to one of the customer's gift cards. No money moves until the items are "
        "received.",
    )
)


def plan_exchange_delivered_order_items(snapshot: Snapshot, args: ItemSwapArgs) -> Plan:
    # No money moves now: the difference is settled once the old items are received.
    plan, _ = _swap_plan(snapshot, args, Status.EXCHANGE_REQUESTED, modify=False)
    return plan


def _apply_exchange(snapshot: Snapshot, plan: Plan) -> list[str]:
    order = snapshot.the_order
    order.exchange_items = plan.item_ids
    order.exchange_new_items = plan.new_item_ids
    order.exchange_payment_method_id = plan.payment_method_id
    order.exchange_price_difference_cents = plan.price_difference_cents
    return [
        "exchange_items",
        "exchange_new_items",
        "exchange_payment_method_id",
        "exchange_price_difference_cents",
    ]


declare(
    OrderAction(
        name="exchange_delivered_order_items",
        args=ItemSwapArgs,
        needs=NeedsStatus(Status.DELIVERED, "exchanged"),
        plan=plan_exchange_delivered_order_items,
        apply=_apply_exchange,
        summary=lambda plan, methods: (
            f"Exchange in order {plan.order_id}: {swaps_text(plan)}. "
            f"{difference_text(plan, methods, when='when the exchange is processed')}"
        ),
        done="The exchange for order {order_id} is requested; the new items ship once the "
        "old ones are received.",
        status="Preparing the exchange for {order_id}…",
        description="Propose exchanging items of a delivered order (status exactly "
        "'delivered') for available variants of the same products. item_ids and new_item_ids "
        "pair up by position. An order can be exchanged only once, so collect every item "
        "first. The price difference is settled with payment_method_id (one of the "
        "customer's).",
    )
)


CHANGE_ACTIONS = frozenset(ACTIONS)
