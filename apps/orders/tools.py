"""The order tools the assistant may call.

Every personal tool takes the customer from the conversation (`ctx.customer_id`),
never from the model's arguments: there is no `user_id` argument anywhere. The
only arguments that name a person are verify_customer's, and they are marked
`CustomerFact`: the registry refuses them unless the customer typed them. An
order or payment method of another customer is reported exactly like one that
does not exist. The change tools come from the declarations in actions.py: each
only proposes, and its executor runs when the customer confirms on the card.
Results are compact JSON without secrets: a card appears only as its brand and
last four digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field

from apps.assistant.provenance import CustomerFact, zip_digits
from apps.assistant.tools import (
    Proposal,
    ToolContext,
    ToolError,
    ToolResult,
    Verification,
    executor,
    tool,
)

from . import services
from .access import Actor, StoreError, customer_methods
from .arguments import Arguments as _Args
from .arguments import ItemId, NoArgs, OrderId, ProductId, Short, Zip
from .arguments import max_chars as _short
from .changes import ACTIONS, OrderAction, Plan, do_action, plan_action
from .models import Customer, Order, PaymentMethod, cents_to_amount

MAX_VERIFICATION_FAILURES = 5

# --------------------------------------------------------------------------- presentation


def _method_json(method: PaymentMethod) -> dict[str, Any]:
    data: dict[str, Any] = {"payment_method_id": method.id, "type": method.source}
    if method.source == PaymentMethod.Source.CREDIT_CARD:
        data["brand"] = method.brand
        data["last_four"] = method.last_four
    if method.is_gift_card:
        data["balance"] = cents_to_amount(method.balance_cents or 0)
    return data


def _order_json(order: Order) -> dict[str, Any]:
    """An order as the model reads it: the export shape with totals and the payment
    methods described (brand and last four only)."""
    data = services.order_dict(order)
    methods = customer_methods(order.customer_id)
    payments = data.pop("payment_history")
    return {
        "order_id": data.pop("order_id"),
        "status": data.pop("status"),
        "shipping_address": data.pop("address"),
        "items": data.pop("items"),
        "total": cents_to_amount(sum(line.price_cents for line in order.lines.all())),
        "fulfillments": [
            {"tracking_ids": f["tracking_id"], "item_ids": f["item_ids"]}
            for f in data.pop("fulfillments")
        ],
        "payments": [
            {
                "type": p["transaction_type"],
                "amount": p["amount"],
                "payment_method_id": p["payment_method_id"],
                "method": (
                    methods[p["payment_method_id"]].describe()
                    if p["payment_method_id"] in methods
                    else p["payment_method_id"]
                ),
            }
            for p in payments
        ],
        # What a cancel, return or exchange recorded.
        **{key: value for key, value in data.items() if key != "user_id"},
    }


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


def _done(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except StoreError as exc:
        raise ToolError(exc.reason) from None


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
    zip: Annotated[Zip | None, CustomerFact("zip")] = Field(
        description="The 5-digit zip code of the customer's default address, as the customer "
        "typed it, e.g. '80279', or null if they did not give it."
    )


def _identity_rule() -> str:
    from apps.assistant.prompts import current_policy

    return str(current_policy().identity_rule)


def _missing_details(args: VerifyCustomerArgs, rule: str) -> str | None:
    """What the operator's identity rule still needs, or None when the details suffice."""
    has_name = bool(args.first_name and args.last_name)
    has_zip = bool(args.zip and args.zip.strip())
    if rule == "email_or_name_zip":
        if args.email or (has_name and has_zip):
            return None
        return "Give the email address, or the first name, last name and zip code."
    if has_zip and (args.email or has_name):
        return None
    return "Give the zip code with either the email or the first and last name."


def _match_customer(args: VerifyCustomerArgs, rule: str) -> tuple[Customer, str] | None:
    raw_zip = (args.zip or "").strip()
    zip_code = zip_digits(raw_zip) or raw_zip  # "902 10" and "90210-1234" too
    if args.email:
        by_email = Customer.objects.filter(email__iexact=args.email.strip())
        if rule == "email_or_name_zip":
            # tau2-bench retail's rule: the email alone identifies the customer.
            customer = by_email.first()
            method = "email"
        else:
            customer = by_email.filter(zip=zip_code).first() if zip_code else None
            method = "email_zip"
        if customer is not None:
            return customer, method
    if args.first_name and args.last_name and zip_code:
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
    """Verify who the customer is before anything personal, with the details the
    operator policy's identity check names: the email address (with the zip code of the
    default address, unless the policy takes the email alone), or the first name, last
    name and zip code. Pass them exactly as the customer typed them, null for what they
    did not give. Values the customer did not type in this conversation are refused:
    never take them from a tool result, an article or a guess. After 5 failed attempts,
    stop and offer a human agent."""
    # The outcome goes back in the result (`verification`); the chat engine binds the
    # customer or counts the failure on the conversation.
    if ctx.verification_failures >= MAX_VERIFICATION_FAILURES:
        return ToolResult(
            ok=False,
            data={
                "verified": False,
                "error": "Too many failed verification attempts. Do not try again; "
                "offer to connect the customer with a human agent.",
                "attempts_left": 0,
            },
        )
    rule = _identity_rule()
    missing = _missing_details(args, rule)
    if missing:
        raise ToolError(missing)
    match = _match_customer(args, rule)
    if match is None:
        left = max(0, MAX_VERIFICATION_FAILURES - ctx.verification_failures - 1)
        message = "No customer matches those details."
        if left == 0:
            message += " That was the last attempt: offer to connect the customer with a human."
        return ToolResult(
            ok=False,
            data={"verified": False, "error": message, "attempts_left": left},
            verification=Verification(customer_id=None),
        )
    customer, method = match
    return ToolResult(
        data={
            "verified": True,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
        },
        verification=Verification(customer_id=customer.user_id, method=method),
    )


# --------------------------------------------------------------------------- public look-ups


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

PROPOSAL_NOTE = (
    "A confirmation card with this summary was shown to the customer. Nothing has changed "
    "yet: the change happens only if the customer presses Confirm on the card. Tell the "
    "customer to review and confirm it; do not claim it is done."
)


def _propose(action: OrderAction[Any], ctx: ToolContext, args: BaseModel) -> ToolResult:
    customer_id = _require_customer(ctx)
    plan: Plan = _done(plan_action, action.name, args, customer_id=customer_id)
    summary = action.summary(plan, customer_methods(customer_id))
    return ToolResult(
        data={
            "status": "awaiting_customer_confirmation",
            "summary": summary,
            "note": PROPOSAL_NOTE,
        },
        proposal=Proposal(summary=summary, details=plan.as_dict()),
    )


def _carry_out(action: OrderAction[Any], ctx: ToolContext, args: BaseModel) -> ToolResult:
    customer_id = _require_customer(ctx)
    actor = Actor.customer(customer_id, ctx.conversation_id)
    plan: Plan = _done(do_action, action.name, args, actor=actor, customer_id=customer_id)
    data: dict[str, Any] = {
        "status": "done",
        "action": action.name,
        "message": action.done.format(order_id=plan.order_id),
    }
    if action.subject == "order":
        data["order"] = _order_json(services.access_order(plan.order_id))
    else:
        data["default_address"] = services.access_customer(customer_id).address_dict()
    return ToolResult(data=data)


def _status(action: OrderAction[Any]) -> Callable[[Any], str]:
    return lambda args: action.status.format(order_id=getattr(args, "order_id", ""))


def _register(action: OrderAction[Any]) -> None:
    """The tool (and, for a confirmed change, its executor) an action declares."""

    def handler(ctx: ToolContext, args: BaseModel) -> ToolResult:
        if action.confirm:
            return _propose(action, ctx, args)
        return _carry_out(action, ctx, args)

    def execute(ctx: ToolContext, args: BaseModel) -> ToolResult:
        return _carry_out(action, ctx, args)

    handler.__name__ = execute.__name__ = action.name
    register = tool(
        name=action.name,
        access="verified",
        confirm=action.confirm,
        status=_status(action),
        args=action.args,
        description=action.tool_description,
    )
    register(handler)
    if action.confirm:
        executor(action.name)(execute)


for _action in ACTIONS.values():
    _register(_action)
