"""The store in the admin: read-mostly. Changes to orders go through the order
service (and its audit), never through raw admin edits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin

from apps.common.read_only_admin import ReadOnlyAdmin, ReadOnlyInline

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
    cents_to_amount,
)


def _dollars(field: str) -> Callable[[Any, Any], str]:
    """A column showing an amount kept in cents (the `field`) in dollars."""

    @admin.display(description=field.removesuffix("_cents"))
    def column(model_admin: Any, obj: Any) -> str:
        cents = getattr(obj, field)
        return "" if cents is None else f"${cents_to_amount(cents):.2f}"

    return column


class PaymentMethodInline(ReadOnlyInline):
    model = PaymentMethod
    fields = ("id", "source", "brand", "last_four", "balance")
    balance = _dollars("balance_cents")


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("position", "name", "item_id", "product_id", "options", "price")
    price = _dollars("price_cents")


class FulfilmentInline(ReadOnlyInline):
    model = Fulfilment
    fields = ("position", "tracking_ids", "item_ids")


class TransactionInline(ReadOnlyInline):
    model = Transaction
    fields = ("position", "kind", "amount", "payment_method_id", "created_at")
    amount = _dollars("amount_cents")


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "first_name", "last_name", "email", "city", "state", "zip")
    search_fields = ("user_id", "first_name", "last_name", "email", "zip")
    inlines = (PaymentMethodInline,)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "customer", "status", "city", "state", "updated_at")
    list_filter = ("status",)
    search_fields = ("order_id", "customer__user_id", "customer__email", "customer__last_name")
    list_select_related = ("customer",)
    inlines = (OrderLineInline, FulfilmentInline, TransactionInline)


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("product_id", "name")
    search_fields = ("product_id", "name")


@admin.register(Variant)
class VariantAdmin(ReadOnlyAdmin):
    list_display = ("item_id", "product", "options", "price", "available")
    list_filter = ("available", "product")
    search_fields = ("item_id", "product__name")
    list_select_related = ("product",)

    price = _dollars("price_cents")


@admin.register(OrderAuditEvent)
class OrderAuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "action",
        "outcome",
        "order_id",
        "customer_id",
        "actor_kind",
        "actor_id",
    )
    list_filter = ("outcome", "action", "actor_kind")
    search_fields = ("order_id", "customer_id", "actor_id", "conversation_id")
    date_hierarchy = "created_at"
