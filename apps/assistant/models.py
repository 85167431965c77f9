from __future__ import annotations

from django.conf import settings
from django.db import models


class OperatorPolicy(models.Model):
    """The store's own rules (prompt layer 2). Rows are never edited: every save
    in the admin adds a new version, and each turn records the version it used."""

    class IdentityRule(models.TextChoices):
        EMAIL_AND_ZIP = "email_and_zip", "Email and zip code, or first name, last name and zip"
        # tau2-bench retail's rule: the email alone, or the name with the zip code.
        EMAIL_OR_NAME_ZIP = "email_or_name_zip", "Email alone, or first name, last name and zip"

    class HandoffRule(models.TextChoices):
        ON_REQUEST = "on_request", "Only when the customer asks for a person or it is out of scope"
        ALSO_FRUSTRATED = "also_frustrated", "Also offer a person when the customer is frustrated"

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
    identity_rule = models.CharField(
        max_length=20,
        choices=IdentityRule.choices,
        default=IdentityRule.EMAIL_AND_ZIP,
        help_text="What a customer must give before the assistant shares or changes anything.",
    )
    handoff_rule = models.CharField(
        max_length=20,
        choices=HandoffRule.choices,
        default=HandoffRule.ON_REQUEST,
        help_text="When the assistant hands a conversation to a person. A frustrated customer "
        "is helped, not handed off, unless this says otherwise.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    # What a version says (the rest is bookkeeping): copied into every new version.
    RULE_FIELDS = (
        "store_name",
        "voice",
        "business_hours",
        "refund_rules",
        "topics_to_avoid",
        "extra",
        "identity_rule",
        "handoff_rule",
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

    @classmethod
    def latest_version(cls) -> int:
        return cls.objects.aggregate(top=models.Max("version"))["top"] or 0
