"""The manager dashboard's page load with 100,000 stored messages on PostgreSQL.

    python -m benchmarks.dashboard            # or: make bench

Uses its own database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/sb_bench; created if missing), seeds 30 days of
history until it holds at least BENCH_MESSAGES messages (default 100,000), then loads
/admin/reports/dashboard/ through the Django test client as a support manager, several
times, and prints the median and p95 in milliseconds. Target: under 500 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from urllib.parse import urlparse

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sb_bench"
TARGET_MS = 500.0


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def django_on(url: str) -> bool:
    """Set Django up on the PostgreSQL database at `url` (created if missing); False,
    with the reason printed, when `url` is not PostgreSQL."""
    if not url.startswith(("postgres://", "postgresql://")):
        print("BENCH_DATABASE_URL must be a PostgreSQL URL", file=sys.stderr)
        return False
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    return True


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    rank = 0.95 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def main() -> int:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    target_messages = int(os.environ.get("BENCH_MESSAGES", "100000"))
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    if not django_on(url):
        return 2
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from apps.chat.models import Conversation, Message
    from apps.chat.roles import MANAGERS, ensure_groups
    from apps.reports.seed import seed_conversations

    call_command("migrate", verbosity=0)
    from apps.orders.models import Customer

    if not Customer.objects.exists():
        call_command("load_demo_store", verbosity=0)
    count = Message.objects.count()
    if count < target_messages:
        started = time.monotonic()
        Conversation.objects.all().delete()
        # about 6.9 messages per conversation in the seeded mix
        per_day = int(target_messages / 6.9 / 30) + 10
        seed = 1
        stats = seed_conversations(days=30, per_day=per_day, seed=seed)
        while Message.objects.count() < target_messages:
            seed += 1
            seed_conversations(days=30, per_day=20, seed=seed)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"seeded {Conversation.objects.count():,} conversations "
            f"({stats.messages:,}+ messages) in {time.monotonic() - started:.1f} s"
        )
    messages = Message.objects.count()
    conversations = Conversation.objects.count()

    groups = ensure_groups()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-manager", defaults={"is_staff": True}
    )
    user.groups.set([groups[MANAGERS]])
    client = Client()
    client.force_login(user)

    def timed(path: str) -> list[float]:
        response = client.get(path)  # warm-up: connections, templates, plan caches
        assert response.status_code == 200, response.status_code
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return samples

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    print(f"database: {connection.settings_dict['NAME']} (PostgreSQL {version})")
    print(f"stored: {messages:,} messages in {conversations:,} conversations")
    pages = [
        ("dashboard, last 30 days", "/admin/reports/dashboard/"),
        ("conversation list", "/admin/chat/conversation/"),
        ("conversation list, escalated", "/admin/chat/conversation/?escalated=yes"),
    ]
    ok = True
    for label, path in pages:
        samples = timed(path)
        median, high = statistics.median(samples), p95(samples)
        line = f"{label:<30} median {median:7.1f} ms   p95 {high:7.1f} ms   ({runs} runs)"
        if path.startswith("/admin/reports/dashboard/"):
            passed = high < TARGET_MS
            ok = ok and passed
            line += f"   target < {TARGET_MS:.0f} ms: {'met' if passed else 'MISSED'}"
        print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
