"""Days of seeded history ending now: a weekday's volume, a bell around office hours, a
scenario drawn by weight for each conversation, written a day at a time."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from .conversation import ConversationScript
from .phrases import SCENARIOS
from .scenarios import play
from .writing import SeedBatch, SeedStats, historical_timestamps, remove_seeded, write


def seed_conversations(
    *, days: int, per_day: int | None = None, seed: int = 7, now: datetime | None = None
) -> SeedStats:
    """Create `days` days of history ending now; `per_day` fixes the mean volume."""
    rng = random.Random(seed)
    now = now or timezone.now()
    agents = list(
        get_user_model().objects.filter(is_staff=True, groups__name="Support agents")
    ) or list(get_user_model().objects.filter(is_staff=True)[:2])
    customers = _customers_with_orders(rng)
    names = list(SCENARIOS)
    weights = [SCENARIOS[n][0] for n in names]
    stats = SeedStats()
    tz = timezone.get_current_timezone()
    today = timezone.localdate(now)
    stats.replaced = remove_seeded()
    with historical_timestamps():
        for offset in range(days - 1, -1, -1):
            day = today - timedelta(days=offset)
            batch = SeedBatch()
            for _ in range(_day_volume(rng, day, per_day)):
                # Busier in office hours: a bell around 14:00.
                minute = min(max(rng.gauss(14 * 60, 210), 0), 24 * 60 - 1)
                start = datetime.combine(day, time.min, tzinfo=tz) + timedelta(
                    minutes=minute, seconds=rng.uniform(0, 59)
                )
                if start >= now - timedelta(minutes=20):
                    continue
                scenario = rng.choices(names, weights)[0]
                customer, orders = rng.choice(customers) if customers else (None, [])
                order = rng.choice(orders) if orders else f"#W{rng.randint(1000000, 9999999)}"
                script = ConversationScript(rng, batch, start, scenario, customer, order, agents)
                play(script)
                script.close(now)
            write(batch, stats)
    return stats


def _day_volume(rng: random.Random, day: date, per_day: int | None) -> int:
    if per_day is not None:
        return max(0, int(rng.gauss(per_day, per_day * 0.08)))
    base = 34 if day.weekday() < 5 else 21
    return max(3, int(rng.gauss(base, 6)))


def _customers_with_orders(rng: random.Random) -> list[tuple[Any, list[str]]]:
    try:
        from apps.orders.models import Customer, Order
    except ImportError:
        return []
    customers = list(Customer.objects.all()[:200])
    orders: dict[str, list[str]] = {}
    for order_id, user_id in Order.objects.filter(customer__in=customers).values_list(
        "order_id", "customer_id"
    ):
        orders.setdefault(user_id, []).append(order_id)
    return [(c, orders.get(c.pk, [])) for c in customers]
