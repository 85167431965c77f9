"""Suite-wide test set-up.

Real services come from the environment (`DATABASE_URL`, `REDIS_URL`). With
`CI=true` a missing or unreachable service fails the run instead of skipping.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

pytest_plugins = ["tests.fake_openai"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), 2):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    if not IN_CI:
        return
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(f"CI=true but {', '.join(missing)} is not set")
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not _reachable(os.environ[name]):
            raise pytest.UsageError(f"CI=true but {name} ({os.environ[name]}) is unreachable")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Browser tests last: Playwright's sync API keeps an event loop running while a
    # browser is open, which async tests cannot share.
    items.sort(key=lambda item: "tests/browser/" in str(item.fspath))


def service_or_skip(name: str, default: str) -> str:
    """The URL of a real service for integration tests; skipped locally if it is down."""
    url = os.environ.get(name) or default
    if _reachable(url):
        return url
    if IN_CI:
        pytest.fail(f"{name} ({url}) is unreachable and CI=true")
    pytest.skip(f"{name} ({url}) is unreachable")


@pytest.fixture
def no_typing_pause(settings: Any) -> None:
    """The local assistant writes its answer at once, and each piece goes out at once."""
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0
    settings.SUPPORTBOT_DELTA_INTERVAL = 0


@pytest.fixture
def redis_url() -> str:
    return service_or_skip("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def postgres_db(settings: object) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.fail("this test needs PostgreSQL and CI=true")
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture(autouse=True)
def _tasks_in_process(settings: object) -> Iterator[None]:
    """Unit tests run Celery tasks in-process; the worker tests start real workers."""
    from supportbot.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True, scope="session")
def _end_child_sessions_before_teardown(
    django_db_setup: None, django_db_blocker: Any
) -> Iterator[None]:
    """Servers started by tests (Daphne, Celery) may still be closing their database
    sessions when the run ends; PostgreSQL cannot drop the test database until they
    are gone, so end them first."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True, scope="session")
def _no_persistent_connections() -> None:
    """Tests close each connection after use: connections left open in pool threads
    would keep PostgreSQL from dropping the test database at the end."""
    from django.db import connections

    for alias in connections.settings:
        connections.settings[alias]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _fresh_database_pool() -> Iterator[None]:
    """A new PostgreSQL connection pool per test. Channels' test communicator turns
    close_old_connections into a no-op while it waits (channels/testing/application.py),
    so a consumer's database step keeps its pooled connection, and the pool thread
    holding it ends with the test's event loop without giving it back: a few socket
    tests later the pool is dry ("couldn't get a connection"). Servers give each
    connection back after every step."""
    yield
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        pools = getattr(connection, "_connection_pools", {})
        if connection.alias in pools:
            if not connection.in_atomic_block:  # a django_db test's, rolled back after this
                connection.close()
            connection.close_pool()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """A new channel layer per test: each async test has its own event loop, and a
    Redis layer keeps locks and connections bound to the loop that made them."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
