"""Database work from async code, in a pool of threads.

Channels' `database_sync_to_async` runs every call in one shared thread, so all
conversations of a process queue behind each other's queries. The chat path's
database steps are independent short transactions, so they run in the default
thread pool instead: each thread keeps its own (persistent) connection.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def in_db_thread(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`func` as a coroutine run in a pool thread, with Django's connection upkeep."""
    return database_sync_to_async(func, thread_sensitive=False)
