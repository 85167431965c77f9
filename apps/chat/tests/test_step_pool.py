"""The database steps' pool: steps someone waits on first, bookkeeping never starved."""

from __future__ import annotations

import threading
import time

import pytest

from apps.chat import asyncdb
from apps.chat.asyncdb import StepPool


def _blocked_pool() -> tuple[StepPool, threading.Event, list[str]]:
    """A one-thread pool busy with a step that runs until the event is set."""
    pool, gate = StepPool(1), threading.Event()
    ran: list[str] = []
    pool.submit(False, gate.wait)
    return pool, gate, ran


def test_waiting_customers_steps_go_before_queued_bookkeeping():
    pool, gate, ran = _blocked_pool()
    futures = [
        pool.submit(True, lambda: ran.append("stored reply")),
        pool.submit(False, lambda: ran.append("message 1")),
        pool.submit(True, lambda: ran.append("sweep")),
        pool.submit(False, lambda: ran.append("message 2")),
    ]
    gate.set()
    for future in futures:
        future.result(timeout=5)
    assert ran == ["message 1", "message 2", "stored reply", "sweep"]


def test_a_background_step_waits_no_longer_than_its_bound(monkeypatch):
    monkeypatch.setattr(asyncdb, "BACKGROUND_MAX_WAIT", 0.05)
    pool, gate, ran = _blocked_pool()
    late = pool.submit(True, lambda: ran.append("stored reply"))
    time.sleep(0.1)  # overdue before the thread is free
    first = pool.submit(False, lambda: ran.append("message"))
    gate.set()
    late.result(timeout=5)
    first.result(timeout=5)
    assert ran == ["stored reply", "message"]


def test_a_step_that_raises_hands_its_error_to_the_caller_and_the_pool_goes_on():
    pool = StepPool(1)

    def fails() -> None:
        raise ValueError("no such row")

    with pytest.raises(ValueError, match="no such row"):
        pool.submit(False, fails).result(timeout=5)
    assert pool.submit(True, lambda: "still running").result(timeout=5) == "still running"
