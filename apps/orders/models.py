"""The demo store: customers, their payment methods, products, orders.

Money is kept in integer cents. Ordered collections (order lines, fulfilments,
transactions, a customer's orders) carry a `position` so the export reproduces
the dataset's list order exactly.
"""

from __future__ import annotations

from typing import Any

from django.db import models


def cents_to_amount(cents: int) -> float:
    """An amount for display or export, rounded to cents."""
    return round(cents / 100, 2)


# An address's fields, in the dataset's order (the export shape and the order tools).
ADDRESS_FIELDS = ("address1", "address2", "city", "country", "state", "zip")


class Address(models.Model):
    address1 = models.CharField(max_length=200)
    address2 = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100)
    country = models.CharField(max_length=100)
    zip = models.CharField(max_length=20)

    class Meta:
        abstract = True

    def address_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in ADDRESS_FIELDS}


class Customer(Address):
    user_id = models.CharField(max_length=64, primary_key=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(max_length=254, db_index=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "user_id"]
        indexes = [models.Index(fields=["last_name", "first_name", "zip"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.user_id})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class PaymentMethod(models.Model):
    class Source(models.TextChoices):
        CREDIT_CARD = "credit_card", "Credit card"
        PAYPAL = "paypal", "PayPal"
        GIFT_CARD = "gift_card", "Gift card"

    id = models.CharField(max_length=64, primary_key=True)  # e.g. "credit_card_7815826"
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="payment_methods")
    source = models.CharField(max_length=20, choices=Source.choices)
    brand = models.CharField(max_length=40, blank=True, default="")
    last_four = models.CharField(max_length=4, blank=True, default="")
    # Only gift cards have a balance.
    balance_cents = models.BigIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["customer_id", "position", "id"]

    def __str__(self) -> str:
        return self.id

    @property
    def is_gift_card(self) -> bool:
        return self.source == self.Source.GIFT_CARD

    def describe(self) -> str:
        """A customer-facing label that never reveals more than the last four digits."""
        if self.source == self.Source.CREDIT_CARD:
            return f"{self.brand.title()} card ending in {self.last_four}"
        if self.source == self.Source.PAYPAL:
            return "PayPal"
        balance = cents_to_amount(self.balance_cents or 0)
        return f"gift card ({self.id}, balance ${balance:.2f})"

    def export_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source, "id": self.id}
        if self.source == self.Source.CREDIT_CARD:
            data["brand"] = self.brand
            data["last_four"] = self.last_four
        if self.source == self.Source.GIFT_CARD:
            data["balance"] = cents_to_amount(self.balance_cents or 0)
        return data


class Product(models.Model):
    product_id = models.CharField(max_length=32, primary_key=True)
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "product_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.product_id})"


class Variant(models.Model):
    item_id = models.CharField(max_length=32, primary_key=True)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    options = models.JSONField(default=dict)
    price_cents = models.BigIntegerField()
    available = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["product_id", "position", "item_id"]

    def __str__(self) -> str:
        return f"{self.item_id} ({self.product_id})"


class Order(Address):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PENDING_ITEM_MODIFIED = "pending (item modified)", "Pending (item modified)"
        PROCESSED = "processed", "Processed"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"
        RETURN_REQUESTED = "return requested", "Return requested"
        EXCHANGE_REQUESTED = "exchange requested", "Exchange requested"

    class CancelReason(models.TextChoices):
        NO_LONGER_NEEDED = "no longer needed", "No longer needed"
        ORDERED_BY_MISTAKE = "ordered by mistake", "Ordered by mistake"

    order_id = models.CharField(max_length=32, primary_key=True)  # e.g. "#W2611340"
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=30, choices=Status.choices, db_index=True)
    # Position of this order in the customer's list of orders.
    position = models.PositiveIntegerField(default=0)

    cancel_reason = models.CharField(
        max_length=30, choices=CancelReason.choices, blank=True, default=""
    )
    # null means "not set" (the export leaves the field out).
    return_items = models.JSONField(null=True, blank=True)
    return_payment_method_id = models.CharField(max_length=64, blank=True, default="")
    exchange_items = models.JSONField(null=True, blank=True)
    exchange_new_items = models.JSONField(null=True, blank=True)
    exchange_payment_method_id = models.CharField(max_length=64, blank=True, default="")
    exchange_price_difference_cents = models.BigIntegerField(null=True, blank=True)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer_id", "position", "order_id"]

    def __str__(self) -> str:
        return self.order_id


class OrderPart(models.Model):
    """A row of one of an order's lists (lines, fulfilments, payment history), at its
    place in the dataset's list; each subclass declares its `order` foreign key."""

    position = models.PositiveIntegerField()

    class Meta:
        abstract = True
        ordering = ["order_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="%(class)s_unique_position")
        ]


class OrderLine(OrderPart):
    """One line of an order: a snapshot of the variant as bought. The same item id
    may appear on two lines."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.CharField(max_length=32)
    item_id = models.CharField(max_length=32, db_index=True)
    name = models.CharField(max_length=200)
    price_cents = models.BigIntegerField()
    options = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.order_id} line {self.position}: {self.item_id}"


class Fulfilment(OrderPart):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfilments")
    tracking_ids = models.JSONField(default=list)
    item_ids = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"{self.order_id} fulfilment {self.position}"


class Transaction(OrderPart):
    """A payment or refund in an order's payment history, kept in order."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transactions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount_cents = models.BigIntegerField()
    # The id, not a foreign key: the history stays as it was even if a method goes away.
    payment_method_id = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {cents_to_amount(self.amount_cents)}"


class OrderAuditEvent(models.Model):
    """Who did what to the store, including refused attempts."""

    class ActorKind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"
        REPLAY = "replay", "Replay"

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        REFUSED = "refused", "Refused"

    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150, blank=True, default="")
    # Not a foreign key: the chat app depends on this one, not the other way round.
    conversation_id = models.UUIDField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    detail = models.TextField(blank=True, default="")
    order_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    customer_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_kind} {self.actor_id}: {self.outcome}"
