from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="outbox.dispatch", ignore_result=True)
def dispatch_outbox() -> int:
    """Send what the broker could not take when it was written (beat, every few seconds)."""
    services.dispatch_due()
    return services.purge_sent()
