"""Database work from async code, in a pool of threads.

Channels' `database_sync_to_async` runs every call in one shared thread, so all
conversations of a process queue behind each other's queries. The chat path's
database steps are independent short transactions, so they run in the default
thread pool instead: each thread keeps its own (persistent) connection.

With DEBUG on, Django keeps the last 9,000 queries of every connection for the
debug page; a pool thread's connection lives as long as the process, so each step
forgets its queries when it ends, as an HTTP request does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import reset_queries

P = ParamSpec("P")
R = TypeVar("R")


def in_db_thread(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`func` as a coroutine run in a pool thread, with Django's connection upkeep."""

    @functools.wraps(func)
    def step(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            if settings.DEBUG:
                reset_queries()

    return database_sync_to_async(step, thread_sensitive=False)
