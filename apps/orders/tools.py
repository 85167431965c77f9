"""The order tools the assistant may call.

Every personal tool takes the customer from the conversation (`ctx.customer_id`),
never from the model's arguments: there is no `user_id` argument anywhere. The
only arguments that name a person are verify_customer's, and they are marked
`CustomerFact`: the registry refuses them unless the customer typed them. An
order or payment method of another customer is reported exactly like one that
does not exist. Change tools only propose; the `@executor` functions run when the
customer confirms on the card. Results are compact JSON without secrets: a card
appears only as its brand and last four digits.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from apps.assistant.provenance import CustomerFact, zip_digits
from apps.assistant.tools import Proposal, ToolContext, ToolError, ToolResult, executor, tool

from . import services
from .models import Customer, Order, PaymentMethod, cents_to_amount
from .services import Actor, Plan, StoreError

MAX_VERIFICATION_FAILURES = 5

_ORDER_ID = re.compile(r"^#?W?(\d{5,12})$", re.IGNORECASE)
_DIGITS = re.compile(r"^\d{1,20}$")


def _order_id(value: str) -> str:
    match = _ORDER_ID.match(value.strip())
    if not match:
        raise ValueError("an order id looks like #W1234567")
    return f"#W{match.group(1)}"


def _short(limit: int) -> Any:
    def check(value: str) -> str:
        value = value.strip()
        if len(value) > limit:
            raise ValueError(f"at most {limit} characters")
        return value

    return AfterValidator(check)


def _digits_id(value: str) -> str:
    value = value.strip()
    if not _DIGITS.match(value):
        raise ValueError("an id is made of digits")
    return value


def _id_list(values: list[str]) -> list[str]:
    if not 1 <= len(values) <= 20:
        raise ValueError("name between 1 and 20 items")
    return [_digits_id(v) for v in values]


# Length limits are checked by validators rather than schema keywords, so the
# generated schema stays within what OpenAI's strict mode accepts. Every argument
# carries a description: it is the model's only guide to the id formats.
OrderId = Annotated[
    str,
    AfterValidator(_order_id),
    Field(description="An order id as the store writes it: '#W' and 7 digits, e.g. '#W2611340'."),
]
ItemId = Annotated[
    str,
    AfterValidator(_digits_id),
    Field(description="An item (product variant) id: 10 digits, e.g. '6469567736'."),
]
ProductId = Annotated[
    str,
    AfterValidator(_digits_id),
    Field(
        description="A product id: 10 digits, e.g. '8310926033' (from list_product_types, "
        "or the product_id of an order item)."
    ),
]


OldItemIds = Annotated[
    list[str],
    AfterValidator(_id_list),
    Field(
        description="The item ids (10 digits each) of the order's lines to change, exactly as "
        "in the order. An id may appear twice when the order holds that item twice and both "
        "are meant."
    ),
]
NewItemIds = Annotated[
    list[str],
    AfterValidator(_id_list),
    Field(
        description="The new item ids, one per entry of item_ids and in the same order: the "
        "variant each old item becomes (same product, available). Duplicates are allowed."
    ),
]
ReturnItemIds = Annotated[
    list[str],
    AfterValidator(_id_list),
    Field(
        description="The item ids (10 digits each) of the order's lines to return, exactly as "
        "in the order. An id may appear twice when the order holds that item twice and both "
        "go back."
    ),
]
MethodId = Annotated[
    str,
    _short(64),
    Field(
        description="One of the verified customer's payment method ids, as get_my_profile "
        "lists them: 'credit_card_' , 'paypal_' or 'gift_card_' followed by 7 digits, "
        "e.g. 'gift_card_1725971'."
    ),
]


Short = Annotated[str, _short(100)]
Line = Annotated[str, _short(200)]
Zip = Annotated[str, _short(20)]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- presentation


def _describe_method(method: PaymentMethod | None, method_id: str) -> str:
    if method is None:
        return method_id
    return method.describe()


def _methods_of(customer_id: str) -> dict[str, PaymentMethod]:
    return {m.id: m for m in PaymentMethod.objects.filter(customer_id=customer_id)}


def _method_json(method: PaymentMethod) -> dict[str, Any]:
    data: dict[str, Any] = {"payment_method_id": method.id, "type": method.source}
    if method.source == PaymentMethod.Source.CREDIT_CARD:
        data["brand"] = method.brand
        data["last_four"] = method.last_four
    if method.is_gift_card:
        data["balance"] = cents_to_amount(method.balance_cents or 0)
    return data


def _money(cents: int) -> str:
    return f"${cents_to_amount(cents):,.2f}"


def _options_text(options: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in options.values())


def _order_json(order: Order) -> dict[str, Any]:
    methods = _methods_of(order.customer_id)
    lines = list(order.lines.order_by("position"))
    data: dict[str, Any] = {
        "order_id": order.order_id,
        "status": order.status,
        "shipping_address": order.address_dict(),
        "items": [
            {
                "item_id": line.item_id,
                "product_id": line.product_id,
                "name": line.name,
                "options": line.options,
                "price": cents_to_amount(line.price_cents),
            }
            for line in lines
        ],
        "total": cents_to_amount(sum(line.price_cents for line in lines)),
        "fulfillments": [
            {"tracking_ids": list(f.tracking_ids), "item_ids": list(f.item_ids)}
            for f in order.fulfilments.order_by("position")
        ],
        "payments": [
            {
                "type": t.kind,
                "amount": cents_to_amount(t.amount_cents),
                "payment_method_id": t.payment_method_id,
                "method": _describe_method(methods.get(t.payment_method_id), t.payment_method_id),
            }
            for t in order.transactions.order_by("position")
        ],
    }
    if order.cancel_reason:
        data["cancel_reason"] = order.cancel_reason
    if order.return_items is not None:
        data["return_items"] = order.return_items
        data["return_payment_method_id"] = order.return_payment_method_id
    if order.exchange_items is not None:
        data["exchange_items"] = order.exchange_items
        data["exchange_new_items"] = order.exchange_new_items
        data["exchange_payment_method_id"] = order.exchange_payment_method_id
        data["exchange_price_difference"] = cents_to_amount(
            order.exchange_price_difference_cents or 0
        )
    return data


def _require_customer(ctx: ToolContext) -> str:
    if ctx.customer_id is None:
        raise ToolError("The customer is not verified yet; verify them first.")
    return ctx.customer_id


def _order_for(ctx: ToolContext, order_id: str) -> Order:
    customer_id = _require_customer(ctx)
    try:
        return services.access_order(order_id, customer_id=customer_id)
    except StoreError as exc:
        raise ToolError(exc.reason) from None


PROPOSAL_NOTE = (
    "A confirmation card with this summary was shown to the customer. Nothing has changed "
    "yet: the change happens only if the customer presses Confirm on the card. Tell the "
    "customer to review and confirm it; do not claim it is done."
)


def _awaiting(summary: str) -> dict[str, str]:
    return {"status": "awaiting_customer_confirmation", "summary": summary, "note": PROPOSAL_NOTE}


def _proposal(plan: Plan, summary: str, extra: dict[str, Any] | None = None) -> ToolResult:
    details = {**plan.as_dict(), **(extra or {})}
    return ToolResult(
        data={
            "status": "awaiting_customer_confirmation",
            "summary": summary,
            "note": PROPOSAL_NOTE,
        },
        proposal=Proposal(summary=summary, details=details),
    )


def _outcome(action: str, order: Order | None, message: str) -> ToolResult:
    data: dict[str, Any] = {"status": "done", "action": action, "message": message}
    if order is not None:
        order.refresh_from_db()
        data["order"] = _order_json(order)
    return ToolResult(data=data)


def _refund_phrase(method: PaymentMethod | None, method_id: str, cents: int) -> str:
    where = _describe_method(method, method_id)
    if method is not None and method.is_gift_card:
        return f"{_money(cents)} back on your {where} right away"
    return f"{_money(cents)} to your {where} (5 to 7 business days)"


def _address_text(address: dict[str, str]) -> str:
    parts = [
        address.get("address1", ""),
        address.get("address2", ""),
        address.get("city", ""),
        f"{address.get('state', '')} {address.get('zip', '')}".strip(),
        address.get("country", ""),
    ]
    return ", ".join(p for p in parts if p)


def _checked(func: Any, *args: Any, **kwargs: Any) -> Plan:
    try:
        plan: Plan = func(*args, **kwargs)
    except StoreError as exc:
        raise ToolError(exc.reason) from None
    return plan


def _done(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except StoreError as exc:
        raise ToolError(exc.reason) from None


def _actor(ctx: ToolContext) -> Actor:
    return Actor.customer(_require_customer(ctx), ctx.conversation_id)


# --------------------------------------------------------------------------- verification


class VerifyCustomerArgs(_Args):
    # CustomerFact: each value must be one the customer typed (apps/assistant/provenance.py).
    email: Annotated[Annotated[str, _short(254)] | None, CustomerFact("email")] = Field(
        description="The email address exactly as the customer typed it, or null if they did "
        "not give one."
    )
    first_name: Annotated[Short | None, CustomerFact("name")] = Field(
        description="The first name as the customer typed it, or null if they did not give it."
    )
    last_name: Annotated[Short | None, CustomerFact("name")] = Field(
        description="The last name as the customer typed it, or null if they did not give it."
    )
    zip: Annotated[Zip, CustomerFact("zip")] = Field(
        description="The 5-digit zip code of the customer's default address, as the customer "
        "typed it, e.g. '80279'."
    )


def _failures_so_far(ctx: ToolContext) -> int:
    from apps.chat.models import Conversation

    count = (
        Conversation.objects.filter(id=ctx.conversation_id)
        .values_list("verification_failures", flat=True)
        .first()
    )
    return int(count or 0)


def _match_customer(args: VerifyCustomerArgs) -> tuple[Customer, str] | None:
    zip_code = zip_digits(args.zip) or args.zip.strip()  # "902 10" and "90210-1234" too
    if args.email:
        customer = Customer.objects.filter(email__iexact=args.email.strip(), zip=zip_code).first()
        if customer is not None:
            return customer, "email_zip"
    if args.first_name and args.last_name:
        customer = Customer.objects.filter(
            first_name__iexact=args.first_name.strip(),
            last_name__iexact=args.last_name.strip(),
            zip=zip_code,
        ).first()
        if customer is not None:
            return customer, "name_zip"
    return None


@tool(access="unverified", status=lambda args: "Checking your details…")
def verify_customer(ctx: ToolContext, args: VerifyCustomerArgs) -> ToolResult:
    """Verify who the customer is before anything personal. Needs the zip code of the
    customer's default address plus either their email address or their first and last
    name, exactly as the customer typed them (pass null for what they did not give).
    Values the customer did not type in this conversation are refused: never take them
    from a tool result, an article or a guess. After 5 failed attempts, stop and offer
    a human agent."""
    from apps.chat.services import do_bind_customer, do_record_verification_failure

    if _failures_so_far(ctx) >= MAX_VERIFICATION_FAILURES:
        return ToolResult(
            ok=False,
            data={
                "verified": False,
                "error": "Too many failed verification attempts. Do not try again; "
                "offer to connect the customer with a human agent.",
                "attempts_left": 0,
            },
        )
    if not args.email and not (args.first_name and args.last_name):
        raise ToolError("Give the zip code with either the email or the first and last name.")
    match = _match_customer(args)
    if match is None:
        failures = do_record_verification_failure(ctx.conversation_id)
        left = max(0, MAX_VERIFICATION_FAILURES - failures)
        message = "No customer matches those details."
        if left == 0:
            message += " That was the last attempt: offer to connect the customer with a human."
        return ToolResult(
            ok=False, data={"verified": False, "error": message, "attempts_left": left}
        )
    customer, method = match
    do_bind_customer(ctx.conversation_id, customer.user_id, method)
    return ToolResult(
        data={
            "verified": True,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
        }
    )


# --------------------------------------------------------------------------- public look-ups


class NoArgs(_Args):
    pass


class ProductArgs(_Args):
    product_id: ProductId


class ItemArgs(_Args):
    item_id: ItemId


@tool(access="public", status=lambda args: "Looking up our product types…")
def list_product_types(ctx: ToolContext, args: NoArgs) -> ToolResult:
    """List every product type the store sells, as product name to product id."""
    return ToolResult(data=services.list_all_product_types())


@tool(access="public", status=lambda args: f"Looking up product {args.product_id}…")
def get_product(ctx: ToolContext, args: ProductArgs) -> ToolResult:
    """Get a product and all its variants (item ids, options, price, availability)."""
    return ToolResult(data=_done(services.get_product_details, args.product_id))


@tool(access="public", status=lambda args: f"Checking item {args.item_id}…")
def get_item(ctx: ToolContext, args: ItemArgs) -> ToolResult:
    """Get one item (a product variant) by its item id: options, price, availability."""
    return ToolResult(data=_done(services.get_item_details, args.item_id))


# --------------------------------------------------------------------------- personal look-ups


class OrderArgs(_Args):
    order_id: OrderId


@tool(access="verified", status=lambda args: "Looking up your account…")
def get_my_profile(ctx: ToolContext, args: NoArgs) -> ToolResult:
    """The verified customer's name, email, default address, payment methods (ids to use
    in changes) and order ids."""
    customer = services.access_customer(_require_customer(ctx))
    return ToolResult(
        data={
            "name": customer.full_name,
            "email": customer.email,
            "default_address": customer.address_dict(),
            "payment_methods": [
                _method_json(m) for m in customer.payment_methods.order_by("position", "id")
            ],
            "order_ids": list(
                customer.orders.order_by("position").values_list("order_id", flat=True)
            ),
        }
    )


@tool(access="verified", status=lambda args: "Looking up your orders…")
def list_my_orders(ctx: ToolContext, args: NoArgs) -> ToolResult:
    """List the verified customer's orders: id, status, item names and total."""
    customer_id = _require_customer(ctx)
    orders = Order.objects.filter(customer_id=customer_id).prefetch_related("lines")
    return ToolResult(
        data={
            "orders": [
                {
                    "order_id": order.order_id,
                    "status": order.status,
                    "items": [line.name for line in order.lines.all()],
                    "total": cents_to_amount(sum(line.price_cents for line in order.lines.all())),
                }
                for order in orders.order_by("position")
            ]
        }
    )


@tool(access="verified", status=lambda args: f"Looking up order {args.order_id}…")
def get_order(ctx: ToolContext, args: OrderArgs) -> ToolResult:
    """Get one of the verified customer's orders: status, items (item ids, options,
    prices), shipping address, tracking ids and payments."""
    return ToolResult(data=_order_json(_order_for(ctx, args.order_id)))


# --------------------------------------------------------------------------- changes


class CancelArgs(_Args):
    order_id: OrderId
    reason: Literal["no longer needed", "ordered by mistake"] = Field(
        description="Why the customer cancels, in their own terms mapped to one of the two "
        "allowed reasons; ask if it is unclear."
    )


class AddressArgs(_Args):
    address1: Line = Field(description="Street address, first line, e.g. '986 Sunset Drive'.")
    address2: Line = Field(
        description="Second line (suite, apartment), or an empty string if there is none."
    )
    city: Short = Field(description="City, e.g. 'Denver'.")
    state: Short = Field(description="State as a two-letter code, e.g. 'CO'.")
    country: Short = Field(description="Country, e.g. 'USA'.")
    zip: Zip = Field(description="5-digit zip code, e.g. '80279'.")

    def address(self) -> dict[str, str]:
        return {
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "state": self.state,
            "country": self.country,
            "zip": self.zip,
        }


class OrderAddressArgs(AddressArgs):
    order_id: OrderId


class ModifyItemsArgs(_Args):
    order_id: OrderId
    item_ids: OldItemIds
    new_item_ids: NewItemIds
    payment_method_id: MethodId


class PaymentArgs(_Args):
    order_id: OrderId
    payment_method_id: MethodId


class ReturnArgs(_Args):
    order_id: OrderId
    item_ids: ReturnItemIds
    payment_method_id: MethodId


class ExchangeArgs(_Args):
    order_id: OrderId
    item_ids: OldItemIds
    new_item_ids: NewItemIds
    payment_method_id: MethodId


@tool(access="verified", confirm=True, status=lambda args: f"Preparing to cancel {args.order_id}…")
def cancel_pending_order(ctx: ToolContext, args: CancelArgs) -> ToolResult:
    """Propose cancelling one of the customer's orders whose status is exactly 'pending'.
    Ask the customer for the reason first. Every payment is refunded to the method it came
    from. The customer must confirm on the card; nothing changes before that."""
    customer_id = _require_customer(ctx)
    plan = _checked(
        services.check_cancel_pending_order, args.order_id, args.reason, customer_id=customer_id
    )
    methods = _methods_of(customer_id)
    refunds = [
        _refund_phrase(methods.get(method_id), method_id, cents)
        for _, cents, method_id in plan.transactions
    ]
    summary = (
        f"Cancel order {plan.order_id} ({_money(plan.total_cents)}), reason: {plan.reason}. "
        f"Refund: {'; '.join(refunds) or 'nothing was paid'}."
    )
    return _proposal(plan, summary)


@executor("cancel_pending_order")
def execute_cancel_pending_order(ctx: ToolContext, args: CancelArgs) -> ToolResult:
    plan = _done(
        services.do_cancel_pending_order,
        args.order_id,
        args.reason,
        actor=_actor(ctx),
        customer_id=ctx.customer_id,
    )
    order = services.access_order(plan.order_id, customer_id=ctx.customer_id)
    return _outcome(plan.action, order, f"Order {plan.order_id} is cancelled; refunds issued.")


@tool(
    access="verified",
    confirm=True,
    status=lambda args: f"Preparing the address change for {args.order_id}…",
)
def modify_pending_order_address(ctx: ToolContext, args: OrderAddressArgs) -> ToolResult:
    """Propose a new shipping address for one of the customer's pending orders (status
    'pending' or 'pending (item modified)'). Use an empty string for a missing address2.
    The customer must confirm on the card; nothing changes before that."""
    plan = _checked(
        services.check_modify_pending_order_address,
        args.order_id,
        args.address(),
        customer_id=_require_customer(ctx),
    )
    summary = f"Ship order {plan.order_id} to {_address_text(plan.address)}."
    return _proposal(plan, summary)


@executor("modify_pending_order_address")
def execute_modify_pending_order_address(ctx: ToolContext, args: OrderAddressArgs) -> ToolResult:
    plan = _done(
        services.do_modify_pending_order_address,
        args.order_id,
        args.address(),
        actor=_actor(ctx),
        customer_id=ctx.customer_id,
    )
    order = services.access_order(plan.order_id, customer_id=ctx.customer_id)
    return _outcome(plan.action, order, f"Order {plan.order_id} will ship to the new address.")


def _changes_text(plan: Plan) -> str:
    return "; ".join(
        f"{c.name} ({_options_text(_old_options(plan, c.position))}) → "
        f"({_options_text(c.new_options)}), {_money(c.old_price_cents)} → "
        f"{_money(c.new_price_cents)}"
        for c in plan.line_changes
    )


def _old_options(plan: Plan, position: int) -> dict[str, Any]:
    order = Order.objects.get(order_id=plan.order_id)
    line = order.lines.filter(position=position).first()
    return dict(line.options) if line is not None else {}


def _difference_text(plan: Plan, methods: dict[str, PaymentMethod], *, now: bool) -> str:
    cents = plan.price_difference_cents or 0
    where = _describe_method(methods.get(plan.payment_method_id), plan.payment_method_id)
    when = "now" if now else "when the exchange is processed"
    if cents > 0:
        return f"You pay the difference of {_money(cents)} with your {where} {when}."
    if cents < 0:
        return f"You get {_money(-cents)} back on your {where} {when}."
    return f"The price is the same; nothing is charged (method on record: {where})."


@tool(
    access="verified",
    confirm=True,
    status=lambda args: f"Preparing the item change for {args.order_id}…",
)
def modify_pending_order_items(ctx: ToolContext, args: ModifyItemsArgs) -> ToolResult:
    """Propose swapping items of a pending order (status exactly 'pending') for other
    available variants of the same products. item_ids and new_item_ids pair up by
    position. Items can be modified only once per order, so collect every change first.
    The price difference is charged to or refunded on payment_method_id (one of the
    customer's). The customer must confirm on the card; nothing changes before that."""
    customer_id = _require_customer(ctx)
    plan = _checked(
        services.check_modify_pending_order_items,
        args.order_id,
        args.item_ids,
        args.new_item_ids,
        args.payment_method_id,
        customer_id=customer_id,
    )
    summary = (
        f"Change items in order {plan.order_id}: {_changes_text(plan)}. "
        f"{_difference_text(plan, _methods_of(customer_id), now=True)} "
        "Items of an order can be changed only once."
    )
    return _proposal(plan, summary)


@executor("modify_pending_order_items")
def execute_modify_pending_order_items(ctx: ToolContext, args: ModifyItemsArgs) -> ToolResult:
    plan = _done(
        services.do_modify_pending_order_items,
        args.order_id,
        args.item_ids,
        args.new_item_ids,
        args.payment_method_id,
        actor=_actor(ctx),
        customer_id=ctx.customer_id,
    )
    order = services.access_order(plan.order_id, customer_id=ctx.customer_id)
    return _outcome(plan.action, order, f"The items of order {plan.order_id} are changed.")


@tool(
    access="verified",
    confirm=True,
    status=lambda args: f"Preparing the payment change for {args.order_id}…",
)
def modify_pending_order_payment(ctx: ToolContext, args: PaymentArgs) -> ToolResult:
    """Propose paying a pending order with another of the customer's payment methods.
    The new method is charged the order amount and the old one refunded. A gift card must
    cover the whole amount. The customer must confirm on the card; nothing changes before."""
    customer_id = _require_customer(ctx)
    plan = _checked(
        services.check_modify_pending_order_payment,
        args.order_id,
        args.payment_method_id,
        customer_id=customer_id,
    )
    methods = _methods_of(customer_id)
    _, amount, new_id = plan.transactions[0]
    _, _, old_id = plan.transactions[1]
    summary = (
        f"Pay order {plan.order_id} ({_money(amount)}) with your "
        f"{_describe_method(methods.get(new_id), new_id)} instead. Refund: "
        f"{_refund_phrase(methods.get(old_id), old_id, amount)}."
    )
    return _proposal(plan, summary)


@executor("modify_pending_order_payment")
def execute_modify_pending_order_payment(ctx: ToolContext, args: PaymentArgs) -> ToolResult:
    plan = _done(
        services.do_modify_pending_order_payment,
        args.order_id,
        args.payment_method_id,
        actor=_actor(ctx),
        customer_id=ctx.customer_id,
    )
    order = services.access_order(plan.order_id, customer_id=ctx.customer_id)
    return _outcome(plan.action, order, f"Order {plan.order_id} is paid with the new method.")


@tool(access="verified", confirm=True, status=lambda args: "Preparing your address change…")
def modify_user_address(ctx: ToolContext, args: AddressArgs) -> ToolResult:
    """Propose a new default address for the verified customer's account. Existing orders
    keep their shipping address. Use an empty string for a missing address2. The customer
    must confirm on the card; nothing changes before that."""
    customer_id = _require_customer(ctx)
    try:
        cleaned = services.check_modify_user_address(customer_id, args.address())
    except StoreError as exc:
        raise ToolError(exc.reason) from None
    summary = (
        f"Change your default address to {_address_text(cleaned)}. "
        "Existing orders keep their shipping address."
    )
    return ToolResult(
        data={
            "status": "awaiting_customer_confirmation",
            "summary": summary,
            "note": PROPOSAL_NOTE,
        },
        proposal=Proposal(
            summary=summary, details={"action": "modify_user_address", "address": cleaned}
        ),
    )


@executor("modify_user_address")
def execute_modify_user_address(ctx: ToolContext, args: AddressArgs) -> ToolResult:
    customer = _done(
        services.do_modify_user_address,
        _require_customer(ctx),
        args.address(),
        actor=_actor(ctx),
    )
    return ToolResult(
        data={
            "status": "done",
            "action": "modify_user_address",
            "message": "Your default address is updated.",
            "default_address": customer.address_dict(),
        }
    )


@tool(
    access="verified",
    confirm=True,
    status=lambda args: f"Preparing the return for {args.order_id}…",
)
def return_delivered_order_items(ctx: ToolContext, args: ReturnArgs) -> ToolResult:
    """Propose returning items of a delivered order (status exactly 'delivered'). The
    refund goes to the original payment method (the order's first payment) or to one of
    the customer's gift cards. The customer must confirm on the card; nothing changes
    before that, and no money moves until the items are received."""
    customer_id = _require_customer(ctx)
    plan = _checked(
        services.check_return_delivered_order_items,
        args.order_id,
        args.item_ids,
        args.payment_method_id,
        customer_id=customer_id,
    )
    order = Order.objects.get(order_id=plan.order_id)
    lines = list(order.lines.order_by("position"))
    names = []
    remaining = list(args.item_ids)
    for line in lines:
        if line.item_id in remaining:
            remaining.remove(line.item_id)
            names.append(f"{line.name} ({_options_text(line.options)}, {_money(line.price_cents)})")
    methods = _methods_of(customer_id)
    where = _describe_method(methods.get(plan.payment_method_id), plan.payment_method_id)
    summary = (
        f"Return from order {plan.order_id}: {'; '.join(names)}. "
        f"Refund of {_money(plan.total_cents)} to your {where} once the items are received."
    )
    return _proposal(plan, summary, {"refund_total": cents_to_amount(plan.total_cents)})


@executor("return_delivered_order_items")
def execute_return_delivered_order_items(ctx: ToolContext, args: ReturnArgs) -> ToolResult:
    plan = _done(
        services.do_return_delivered_order_items,
        args.order_id,
        args.item_ids,
        args.payment_method_id,
        actor=_actor(ctx),
        customer_id=ctx.customer_id,
    )
    order = services.access_order(plan.order_id, customer_id=ctx.customer_id)
    return _outcome(
        plan.action,
        order,
        f"The return for order {plan.order_id} is requested; the refund follows once the "
        "items are received.",
    )


@tool(
    access="verified",
    confirm=True,
    status=lambda args: f"Preparing the exchange for {args.order_id}…",
)
def exchange_delivered_order_items(ctx: ToolContext, args: ExchangeArgs) -> ToolResult:
    """Propose exchanging items of a delivered order (status exactly 'delivered') for
    available variants of the same products. item_ids and new_item_ids pair up by
    position. An order can be exchanged only once, so collect every item first. The price
    difference is settled with payment_method_id (one of the customer's). The customer
    must confirm on the card; nothing changes before that."""
    customer_id = _require_customer(ctx)
    plan = _checked(
        services.check_exchange_delivered_order_items,
        args.order_id,
        args.item_ids,
        args.new_item_ids,
        args.payment_method_id,
        customer_id=customer_id,
    )
    summary = (
        f"Exchange in order {plan.order_id}: {_changes_text(plan)}. "
        f"{_difference_text(plan, _methods_of(customer_id), now=False)}"
    )
    return _proposal(plan, summary)


@executor("exchange_delivered_order_items")
def execute_exchange_delivered_order_items(ctx: ToolContext, args: ExchangeArgs) -> ToolResult:
    plan = _done(
        services.do_exchange_delivered_order_items,
        args.order_id,
        args.item_ids,
        args.new_item_ids,
        args.payment_method_id,
        actor=_actor(ctx),
        customer_id=ctx.customer_id,
    )
    order = services.access_order(plan.order_id, customer_id=ctx.customer_id)
    return _outcome(
        plan.action,
        order,
        f"The exchange for order {plan.order_id} is requested; the new items ship once the "
        "old ones are received.",
    )
