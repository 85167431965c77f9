"""Database work from async code, in a small pool of threads of its own.

Channels' `database_sync_to_async` runs every call in one shared thread, so all
conversations of a process queue behind each other's queries. The chat path's
database steps are independent short transactions, so they run in a pool of
SUPPORTBOT_DB_THREADS threads instead: each keeps its own (persistent) connection.

The pool is small on purpose. A step is mostly Python (the ORM building queries),
and every thread that wants the GIL takes it from the event loop that streams every
customer's reply: with the loop's default pool (6 threads on 2 CPUs) under 50 chats,
each step waited on the GIL at every query and the first words of a reply came late
(measured in docs/deployment.md, capacity). Since a turn takes two steps (its message
stored and the turn begun; its reply stored and the lease let go), one thread serves
a local PostgreSQL best; with SQLite, or a database across a network, a second one
overlaps one step's waits with another's Python (supportbot/settings.py).

Steps no customer waits on are `background`: the stored copy of a reply whose text
was streamed already, a turn stopped by a hand-off, read receipts, the sweep. The
others (a message on its way to the model, a socket opening, a card decided, the
lease heartbeat) go first, so under load a message waits behind other messages, not
behind bookkeeping; a background step waits at most BACKGROUND_MAX_WAIT for its
turn, so bookkeeping is late under load but never starved.

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
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import reset_queries

P = ParamSpec("P")
R = TypeVar("R")

_step = threading.local()
# The longest a background step waits while steps someone waits on keep coming.
BACKGROUND_MAX_WAIT = 0.5
_pool: StepPool | None = None
_pool_lock = threading.Lock()


class StepPool:
    """Threads that run database steps in order of arrival, background ones last
    unless they have waited BACKGROUND_MAX_WAIT."""

    def __init__(self, threads: int) -> None:
        self._ready = threading.Condition()
        self._front: deque[_Step] = deque()
        self._back: deque[_Step] = deque()
        for number in range(threads):
            threading.Thread(target=self._work, name=f"db-step-{number}", daemon=True).start()

    def submit(self, background: bool, call: Callable[[], Any]) -> Future[Any]:
        step = _Step(time.monotonic(), Future(), call)
        with self._ready:
            (self._back if background else self._front).append(step)
            self._ready.notify()
        return step.future

    def _next(self) -> _Step:
        with self._ready:
            while not (self._front or self._back):
                self._ready.wait()
            overdue = self._back and (
                time.monotonic() - self._back[0].queued >= BACKGROUND_MAX_WAIT
            )
            return self._back.popleft() if overdue or not self._front else self._front.popleft()

    def _work(self) -> None:
        while True:
            step = self._next()
            if not step.future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting
            try:
                result = step.call()
            except BaseException as exc:  # the awaiting coroutine raises it
                step.future.set_exception(exc)
            else:
                step.future.set_result(result)


@dataclass
class _Step:
    queued: float  # time.monotonic() when submitted
    future: Future[Any]
    call: Callable[[], Any]


class _Lane(Executor):
    """The pool as an executor for asgiref, at one priority."""

    def __init__(self, background: bool) -> None:
        self.background = background

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        return step_pool().submit(self.background, functools.partial(fn, *args, **kwargs))


def step_pool() -> StepPool:
    """The process's pool for database steps (made on first use, kept for its life)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = StepPool(settings.SUPPORTBOT_DB_THREADS)
        return _pool


_LANES = {False: _Lane(background=False), True: _Lane(background=True)}


def calling_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop awaiting the current step, in a step's thread (else None)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_step, "loop", None)
    return loop if loop is not None and loop.is_running() else None


def in_db_thread(
    func: Callable[P, R], *, background: bool = False
) -> Callable[P, Coroutine[Any, Any, R]]:
    """`func` as a coroutine run in a pool thread, with Django's connection upkeep;
    `background`: no customer waits on it (see above)."""

    def step(loop: asyncio.AbstractEventLoop, *args: P.args, **kwargs: P.kwargs) -> R:
        _step.loop = loop
        try:
            return func(*args, **kwargs)
        finally:
            _step.loop = None
            if settings.DEBUG:
                reset_queries()

    # asgiref takes any executor; its annotation names ThreadPoolExecutor.
    in_thread = database_sync_to_async(
        step, thread_sensitive=False, executor=cast(ThreadPoolExecutor, _LANES[background])
    )

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await in_thread(asyncio.get_running_loop(), *args, **kwargs)

    return run
