"""The store in the admin: read-mostly. Changes to orders go through the order
service (and its audit), never through raw admin edits."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

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


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PaymentMethodInline(ReadOnlyInline):
    model = PaymentMethod
    fields = ("id", "source", "brand", "last_four", "balance")
    readonly_fields = fields

    @admin.display(description="balance")
    def balance(self, obj: PaymentMethod) -> str:
        return "" if obj.balance_cents is None else f"${cents_to_amount(obj.balance_cents):.2f}"


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("position", "name", "item_id", "product_id", "options", "price")
    readonly_fields = fields

    @admin.display(description="price")
    def price(self, obj: OrderLine) -> str:
        return f"${cents_to_amount(obj.price_cents):.2f}"


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
        return f"${cents_to_amount(obj.amount_cents):.2f}"


class NoWritesAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(NoWritesAdmin):
    list_display = ("user_id", "first_name", "last_name", "email", "city", "state", "zip")
    search_fields = ("user_id", "first_name", "last_name", "email", "zip")
    inlines = (PaymentMethodInline,)


@admin.register(Order)
class OrderAdmin(NoWritesAdmin):
    list_display = ("order_id", "customer", "status", "city", "state", "updated_at")
    list_filter = ("status",)
    search_fields = ("order_id", "customer__user_id", "customer__email", "customer__last_name")
    list_select_related = ("customer",)
    inlines = (OrderLineInline, FulfilmentInline, TransactionInline)


@admin.register(Product)
class ProductAdmin(NoWritesAdmin):
    list_display = ("product_id", "name")
    search_fields = ("product_id", "name")


@admin.register(Variant)
class VariantAdmin(NoWritesAdmin):
    list_display = ("item_id", "product", "options", "price", "available")
    list_filter = ("available", "product")
    search_fields = ("item_id", "product__name")
    list_select_related = ("product",)

    @admin.display(description="price")
    def price(self, obj: Variant) -> str:
        return f"${cents_to_amount(obj.price_cents):.2f}"


@admin.register(OrderAuditEvent)
class OrderAuditEventAdmin(NoWritesAdmin):
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
