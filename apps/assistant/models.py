from __future__ import annotations

from django.conf import settings
from django.db import models


class OperatorPolicy(models.Model):
    """The store's own rules (prompt layer 2). Rows are never edited: every save
    in the admin adds a new version, and each turn records the version it used."""

    version = models.PositiveIntegerField(unique=True, editable=False)
    store_name = models.CharField(max_length=120, default="Sierra Outfitters")
    voice = models.TextField(
        default="Friendly, concise and practical. Use the customer's first name when known."
    )
    business_hours = models.CharField(
        max_length=200, default="Monday to Friday, 9:00-17:00 (US Eastern)"
    )
    refund_rules = models.TextField(
        default="Refunds go back to the original payment method or to a store gift card. "
        "Gift card refunds are immediate; card and PayPal refunds take 5-7 business days."
    )
    topics_to_avoid = models.TextField(
        default="Politics, medical or legal advice, competitors' products."
    )
    extra = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "operator policies"

    def __str__(self) -> str:
        return f"{self.store_name} policy v{self.version}"

    @classmethod
    def current(cls) -> OperatorPolicy:
        latest = cls.objects.order_by("-version").first()
        return latest if latest is not None else cls(version=0)
