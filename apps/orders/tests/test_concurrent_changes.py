"""Row locks: two changes racing on one gift card or one order cannot both pass."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from apps.orders import services
from apps.orders.loader import load_store
from apps.orders.models import Order, PaymentMethod
from apps.orders.services import Actor, StoreError

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

OLIVIA = "olivia_ito_3591"  # gift_card_7794233; pending #W5442520 (663.85), #W7941031 (2198.09)


def _race(*jobs: Callable[[], Any]) -> list[str]:
    """Run the jobs at the same moment in real threads; each reports 'ok' or its refusal."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = [""] * len(jobs)

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            job()
            outcomes[index] = "ok"
        except StoreError as exc:
            outcomes[index] = exc.reason
        except Exception as exc:
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_two_concurrent_payments_cannot_overdraw_one_gift_card(postgres_db: None) -> None:
    # given a gift card that covers either order but not both (663.85 + 2198.09 > 2500)
    load_store()
    PaymentMethod.objects.filter(id="gift_card_7794233").update(balance_cents=250000)
    actor = Actor.customer(OLIVIA)

    outcomes = _race(
        lambda: services.do_action(
            "modify_pending_order_payment",
            {"order_id": "#W5442520", "payment_method_id": "gift_card_7794233"},
            actor=actor,
            customer_id=OLIVIA,
        ),
        lambda: services.do_action(
            "modify_pending_order_payment",
            {"order_id": "#W7941031", "payment_method_id": "gift_card_7794233"},
            actor=actor,
            customer_id=OLIVIA,
        ),
    )

    assert sorted(outcomes) == ["Insufficient gift card balance to pay for the order", "ok"]
    winner = "#W5442520" if outcomes[0] == "ok" else "#W7941031"
    amount = {"#W5442520": 66385, "#W7941031": 219809}[winner]
    balance = PaymentMethod.objects.get(id="gift_card_7794233").balance_cents
    assert balance == 250000 - amount
    loser = "#W7941031" if winner == "#W5442520" else "#W5442520"
    assert Order.objects.get(order_id=loser).transactions.count() == 1


def test_two_concurrent_cancels_of_one_order_execute_once(postgres_db: None) -> None:
    load_store()
    actor = Actor.customer("ethan_lopez_6291")
    before = PaymentMethod.objects.get(id="gift_card_7219486").balance_cents or 0

    def cancel() -> None:
        services.do_action(
            "cancel_pending_order",
            {"order_id": "#W6779827", "reason": "no longer needed"},
            actor=actor,
        )

    outcomes = _race(cancel, cancel, cancel)

    assert sorted(outcomes) == ["Non-pending order cannot be cancelled"] * 2 + ["ok"]
    assert Order.objects.get(order_id="#W6779827").transactions.count() == 2
    assert PaymentMethod.objects.get(id="gift_card_7219486").balance_cents == before + 407945
