"""The per-message costs that sit on every turn, and the demo store's load time.

    python -m benchmarks.guardrails            # or: make bench

Prints, as median and p95 over many runs:
- the input screen on one long customer message (target: under 20 ms, well under the
  time to the model's first token);
- the output guard on a streamed 80-word reply fed a word at a time, per delta
  (target: under 1 ms, so the guard never holds the stream back);
- loading the retail store (500 customers, 1,000 orders) into an empty PostgreSQL
  database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/sb_bench_store,
  created if missing, emptied each run; target: under 5 s).
These were asserts in the unit tests; timed asserts fail on a loaded machine and pass
on a fast one, so the figures live here.
"""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.dashboard import django_on, p95

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sb_bench_store"
TARGET_SCREEN_MS = 20.0
TARGET_GUARD_DELTA_MS = 1.0
TARGET_LOAD_S = 5.0
MESSAGE = "Hi, I received order #W2378156 and want to exchange the keyboard. " * 8
REPLY = (
    "Your order #W2378156 left our warehouse on Tuesday and is with the carrier now. "
    "The tracking page shows it in transit, and the usual time from there is two to "
    "four working days, so it should reach you by Friday. If the date slips, write "
    "back here and we can look at options such as a refund of the postage or a "
    "replacement sent by express. See https://example.com/help/shipping for details."
)


def line(name: str, values: list[float], unit: str, target: float) -> bool:
    ok = p95(values) <= target
    print(
        f"{name:<34} median {statistics.median(values):8.3f} {unit}"
        f"   p95 {p95(values):8.3f} {unit}   target {target:g} {unit}"
        f"   {'ok' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


def screen_figures(runs: int) -> list[float]:
    from apps.assistant.guardrails import screen_input

    screen_input(MESSAGE)  # the feature table loads once per process
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        screen_input(MESSAGE)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def guard_figures(runs: int) -> list[float]:
    from apps.assistant import prompts
    from apps.assistant.guardrails import OutputGuard

    instructions = [prompts.platform_text()]
    words = REPLY.split(" ")
    timings = []
    for _ in range(runs):
        guard = OutputGuard(canary=prompts.canary(), instructions=instructions)
        started = time.perf_counter()
        for index, word in enumerate(words):
            guard.feed(word if index == 0 else " " + word)
        guard.finish()
        timings.append((time.perf_counter() - started) * 1000 / len(words))
        assert not guard.tripped, guard.tripped
    return timings


def load_figures(runs: int) -> list[float]:
    from django.core.management import call_command

    from apps.orders.loader import load_store, wipe_store

    call_command("migrate", verbosity=0)
    timings = []
    for _ in range(runs):
        wipe_store()
        started = time.perf_counter()
        counts = load_store()
        timings.append(time.perf_counter() - started)
        assert counts["orders"] == 1000, counts
    return timings


def main() -> int:
    if not django_on(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)):
        return 2
    results = [
        line("input screen, one message", screen_figures(300), "ms", TARGET_SCREEN_MS),
        line("output guard, per delta", guard_figures(100), "ms", TARGET_GUARD_DELTA_MS),
        line("retail store load", load_figures(5), "s", TARGET_LOAD_S),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
