"""The production database set-up under load: 50 chats at once on one Daphne whose
PostgreSQL connections come from a bounded pool smaller than its threads."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import psycopg
import pytest

from apps.chat.models import Message
from tests.integration.test_sqlite_concurrency import one_chat
from tests.servers import daphne, database_url

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

CHATS = 50
POOL = 4  # under the loop's thread pool, so database steps queue for a connection


def watch_backends(url: str, stop: threading.Event, peak: list[int]) -> None:
    """The most sessions on the test database seen at once, sampled every 20 ms."""
    with psycopg.connect(url, autocommit=True) as db:
        while not stop.is_set():
            row = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            ).fetchone()
            peak[0] = max(peak[0], row[0] if row else 0)
            time.sleep(0.02)


def test_fifty_chats_at_once_share_a_small_pool_without_running_dry(
    postgres_db: None, tmp_path: Path
) -> None:
    # given one Daphne on PostgreSQL with a pool of four connections
    limits = "1000"
    url = database_url()
    stop, peak = threading.Event(), [0]
    before = psycopg.connect(url, autocommit=True)
    with before:
        row = before.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchone()
    ours = row[0] if row else 0  # this test's own sessions
    with daphne(
        tmp_path,
        DATABASE_POOL_SIZE=str(POOL),
        SUPPORTBOT_RATE_CONVERSATIONS=limits,
        SUPPORTBOT_RATE_MESSAGES=limits,
    ) as base:
        watcher = threading.Thread(target=watch_backends, args=(url, stop, peak))
        watcher.start()
        try:
            # when fifty customers write at the same moment
            async def all_chats() -> list[dict]:
                return await asyncio.gather(*(one_chat(base) for _ in range(CHATS)))

            replies = asyncio.run(all_chats())
        finally:
            stop.set()
            watcher.join()

    # then every one gets its stored reply, no step ran out of connections, and the
    # server never held more than its pool
    assert len(replies) == CHATS and all(reply["seq"] > 0 for reply in replies)
    log = "".join(path.read_text(errors="replace") for path in tmp_path.glob("daphne-*.log"))
    for database_error in ("couldn't get a connection", "OperationalError", "too many clients"):
        assert database_error not in log
    assert Message.objects.filter(role="assistant").count() == CHATS
    assert peak[0] <= ours + POOL, f"{peak[0]} sessions at once, pool {POOL} + {ours} of ours"
