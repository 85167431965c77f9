"""The store in the admin: read-mostly. Changes to orders go through the order
service (and its audit), never through raw admin edits."""

from __future__ import annotations

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


def _dollars(cents: int | None) -> str:
    return "" if cents is None else f"${cents_to_amount(cents):.2f}"


class PaymentMethodInline(ReadOnlyInline):
    model = PaymentMethod
    fields = ("id", "source", "brand", "last_four", "balance")
    readonly_fields = fields

    @admin.display(description="balance")
    def balance(self, obj: PaymentMethod) -> str:
        return _dollars(obj.balance_cents)


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("position", "name", "item_id", "product_id", "options", "price")
    readonly_fields = fields

    @admin.display(description="price")
    def price(self, obj: OrderLine) -> str:
        return _dollars(obj.price_cents)


class FulfilmentInline(ReadOnlyInline):
    model = Fulfilment
    fields = ("position", "tracking_ids", "item_ids")
    readonly_fields = fields


class TransactionInline(ReadOnlyInline):
    model = Transaction
    fields = ("position", "kind", "amount", "payment_method_id", "created_at")
    readonly_fields = fields

    @admin.display(description="amount")
    def amount(self, obj: Transaction) -> str:
        return _dollars(obj.amount_cents)


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

    @admin.display(description="price")
    def price(self, obj: Variant) -> str:
        return _dollars(obj.price_cents)


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
