from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A Celery task to send, stored in the same transaction as the change that needs it.

    It stays here, retried by the beat's dispatch, until the broker has accepted it
    (`sent_at`). Whoever dispatches claims the row first (`available_at` moves ahead),
    so two dispatchers never send it at the same moment.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["available_at"],
                name="outbox_unsent_due",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else f"pending ({self.attempts} attempts)"
        return f"{self.task} #{self.pk} {state}"
