"""The argument types of the order tools and actions, declared once.

Length limits are checked by validators rather than schema keywords, so the
generated schema stays within what OpenAI's strict mode accepts. Every argument
carries a description: it is the model's only guide to the id formats.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from apps.assistant.recognisers import as_order_id

_DIGITS = re.compile(r"^\d{1,20}$")


def _order_id(value: str) -> str:
    order_id = as_order_id(value)
    if order_id is None:
        raise ValueError("an order id looks like #W1234567")
    return order_id


def max_chars(limit: int) -> Any:
    """A validator: the text, stripped, holds at most `limit` characters."""

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
    max_chars(64),
    Field(
        description="One of the verified customer's payment method ids, as get_my_profile "
        "lists them: 'credit_card_' , 'paypal_' or 'gift_card_' followed by 7 digits, "
        "e.g. 'gift_card_1725971'."
    ),
]


Short = Annotated[str, max_chars(100)]
Line = Annotated[str, max_chars(200)]
Zip = Annotated[str, max_chars(20)]


class Arguments(BaseModel):
    """Tool and action arguments: nothing beyond the declared fields."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Arguments):
    pass
