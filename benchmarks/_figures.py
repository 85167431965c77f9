"""What the streaming benchmark records per turn and how it prints the figures.

`Timings` is the fake model's side (when each request came, when its first token
left, recorded in the model's own process), `Turn` the customer's side; `summarise`
lines them up by the turn's key, and `headline` prints every stack against the bare
relay of the same run, measured the same way.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.dashboard import p95


def now() -> float:
    """Seconds on the machine's monotonic clock: one clock for every process (the
    fake model's timestamps and the clients' are compared), unlike what Python promises
    of `perf_counter` in general (on Linux that is this clock too)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


@dataclass
class Timings:
    requested: dict[str, float] = field(default_factory=dict)
    first_token: dict[str, float] = field(default_factory=dict)


@dataclass
class Turn:
    sent: float = 0.0
    first_delta: float | None = None
    reply_at: float | None = None
    text: str = ""
    error: str = ""
    key: str = ""
    tab: str = ""  # the second tab: "" (none), "ok" or what went wrong
    tab_lag: float | None = None  # the reply on the second tab after the first, s
    turn_id: object = None  # the server's id of the turn, from its first delta
    ended: float | None = None  # when the turn's wait ended, replied or not
    measured: bool = True  # False: a steady chat's warm-up or last turn (errors still count)


@dataclass
class Result:
    overhead: list[float]
    to_request: list[float]
    reply: list[float]
    errors: int
    incomplete: int
    cpu_per_turn: float
    kinds: dict[str, int] = field(default_factory=dict)
    tabs_ok: int = 0
    tabs: int = 0
    tab_lag: list[float] = field(default_factory=list)
    # What the customer waits for: the message sent to its first words on screen
    # (message->model + the model's own wait for its first token + the overhead).
    first_words: list[float] = field(default_factory=list)
    in_flight: float = 0.0  # streams in flight on average while the measured turns ran
    load: str = ""  # the load generator's own CPU over the run


def in_flight(turns: list[Turn]) -> float:
    """Mean number of turns between send and reply over the measured turns' span."""
    measured = [turn for turn in turns if turn.measured and turn.sent and turn.ended]
    if not measured:
        return 0.0
    start = min(turn.sent for turn in measured)
    end = max(turn.ended or 0.0 for turn in measured)
    busy = sum(
        max(0.0, min(turn.ended, end) - max(turn.sent, start))
        for turn in turns
        if turn.sent and turn.ended
    )
    return busy / max(end - start, 1e-9)


def summarise(turns: list[Turn], timings: Timings, expected: str, cpu: float) -> Result:
    """Errors over every turn; times over the measured ones; CPU over every turn."""
    overhead, to_request, reply, first_words = [], [], [], []
    errors = incomplete = 0
    kinds: dict[str, int] = {}
    for turn in turns:
        if turn.error:
            errors += 1
            kinds[turn.error[:40]] = kinds.get(turn.error[:40], 0) + 1
            continue
        if turn.text.strip() != expected:
            incomplete += 1
        if not turn.measured:
            continue
        first_token = timings.first_token.get(turn.key)
        if turn.first_delta is not None and first_token is not None:
            overhead.append((turn.first_delta - first_token) * 1000)
        if turn.first_delta is not None:
            first_words.append((turn.first_delta - turn.sent) * 1000)
        if turn.key in timings.requested:
            to_request.append((timings.requested[turn.key] - turn.sent) * 1000)
        if turn.reply_at is not None:
            reply.append((turn.reply_at - turn.sent) * 1000)
    result = Result(
        overhead, to_request, reply, errors, incomplete, cpu / max(1, len(turns)), kinds
    )
    result.tabs = sum(1 for turn in turns if turn.tab)
    result.tabs_ok = sum(1 for turn in turns if turn.tab == "ok")
    result.tab_lag = [turn.tab_lag * 1000 for turn in turns if turn.tab_lag is not None]
    result.first_words = first_words
    result.in_flight = in_flight(turns)
    return result


def stat(values: list[float]) -> str:
    if not values:
        return "      -         -"
    return f"{statistics.median(values):8.1f} {p95(values):9.1f}"


def over_capacity(log: Path, since: int) -> int:
    """Layer messages dropped since byte `since` of the servers' log (channels_redis
    logs each group send that found full inboxes)."""
    with log.open("rb") as file:
        file.seek(since)
        text = file.read().decode(errors="replace")
    return sum(
        int(found) for found in re.findall(r"(\d+) of \d+ channels over capacity", text)
    ) + text.count("ChannelFull")


def report(name: str, label: str, result: Result) -> None:
    print(
        f"  {name:<10} {label:<11} first-word overhead ms {stat(result.overhead)}  "
        f"message->model ms {stat(result.to_request)}  "
        f"message->first words ms {stat(result.first_words)}  reply ms {stat(result.reply)}  "
        f"errors {result.errors} incomplete {result.incomplete}  "
        f"CPU/turn {result.cpu_per_turn * 1000:.0f} ms  "
        f"in flight {result.in_flight:.1f} ({len(result.overhead)} turns timed)  "
        f"{result.load}" + (f"  {result.kinds}" if result.kinds else ""),
        flush=True,
    )


def cell(ours: float, base: float | None) -> str:
    ratio = f"({ours / max(base, 1e-3):5.1f}x)" if base else " " * 8
    return f"{ours:8.1f} {ratio}"


def headline(results: dict[tuple[str, str], Result], stacks: list[str], extra: list[str]) -> None:
    """One table: p95s and CPU per turn of each stack, with its ratio to the relay."""
    print(
        "\nheadline (p95 ms; CPU ms per turn; x: times the bare relay of this run under the "
        "same load; in flight: streams at once on average)"
    )
    print(
        f"  {'stack':<10} {'load':<11} {'first-word overhead':>21} {'message->model':>18} "
        f"{'message->first words':>22} {'CPU/turn':>14} {'errors':>7} {'incomplete':>10} "
        f"{'in flight':>9}"
    )
    for (name, label), result in results.items():
        floor = results.get(("relay", label)) if name != "relay" else None
        overhead = p95(result.overhead) if result.overhead else float("nan")
        to_request = p95(result.to_request) if result.to_request else float("nan")
        base_overhead = p95(floor.overhead) if floor and floor.overhead else None
        base_request = p95(floor.to_request) if floor and floor.to_request else None
        base_cpu = floor.cpu_per_turn * 1000 if floor else None
        words = p95(result.first_words) if result.first_words else float("nan")
        base_words = p95(floor.first_words) if floor and floor.first_words else None
        print(
            f"  {name:<10} {label:<11} {cell(overhead, base_overhead):>21} "
            f"{cell(to_request, base_request):>18} {cell(words, base_words):>22} "
            f"{cell(result.cpu_per_turn * 1000, base_cpu):>14} "
            f"{result.errors:>7} {result.incomplete:>10} {result.in_flight:>9.1f}"
        )
    for line in extra:
        print(f"  {line}")
