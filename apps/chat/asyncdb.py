"""Database work from async code, in a small pool of threads of its own.

Channels' `database_sync_to_async` runs every call in one shared thread, so all
conversations of a process queue behind each other's queries. The chat path's
database steps are independent short transactions, so they run in a pool of
SUPPORTBOT_DB_THREADS threads instead: each keeps its own (persistent) connection.

The pool is small on purpose. A step is mostly Python (the ORM building queries),
and every thread that wants the GIL takes it from the event loop that streams every
customer's reply: with the loop's default pool (6 threads on 2 CPUs) under 50 chats,
each step waited on the GIL at every query and the first words of a reply came late
(measured in docs/deployment.md, capacity). Two threads still overlap one step's
round trips to the database with another's Python.

A step remembers the event loop that awaits it (`calling_loop`), so what it announces
on commit is handed to that loop without the thread waiting for it: a pool thread
blocked on a busy loop is a thread no other conversation's step can use.

With DEBUG on, Django keeps the last 9,000 queries of every connection for the
debug page; a pool thread's connection lives as long as the process, so each step
forgets its queries when it ends, as an HTTP request does.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import reset_queries

P = ParamSpec("P")
R = TypeVar("R")

_step = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def step_threads() -> ThreadPoolExecutor:
    """The process's pool for database steps (made on first use, kept for its life)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.SUPPORTBOT_DB_THREADS, thread_name_prefix="db-step"
            )
        return _pool


def calling_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop awaiting the current step, in a step's thread (else None)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_step, "loop", None)
    return loop if loop is not None and loop.is_running() else None


def in_db_thread(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`func` as a coroutine run in a pool thread, with Django's connection upkeep."""

    def step(loop: asyncio.AbstractEventLoop, *args: P.args, **kwargs: P.kwargs) -> R:
        _step.loop = loop
        try:
            return func(*args, **kwargs)
        finally:
            _step.loop = None
            if settings.DEBUG:
                reset_queries()

    in_thread: Callable[..., Coroutine[Any, Any, R]] | None = None

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        nonlocal in_thread
        if in_thread is None:
            in_thread = database_sync_to_async(
                step, thread_sensitive=False, executor=step_threads()
            )
        return await in_thread(asyncio.get_running_loop(), *args, **kwargs)

    return run
