"""What the streaming benchmark records per turn and how it prints the figures.

`Timings` is the fake model's side (when each request came, when its first token
left), `Turn` the customer's side; `summarise` lines them up by the turn's key, and
`headline` prints every stack against the bare relay of the same run.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.dashboard import p95


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


def summarise(turns: list[Turn], timings: Timings, expected: str, cpu: float) -> Result:
    overhead, to_request, reply = [], [], []
    errors = incomplete = 0
    kinds: dict[str, int] = {}
    for turn in turns:
        if turn.error:
            errors += 1
            kinds[turn.error[:40]] = kinds.get(turn.error[:40], 0) + 1
            continue
        if turn.text.strip() != expected:
            incomplete += 1
        first_token = timings.first_token.get(turn.key)
        if turn.first_delta is not None and first_token is not None:
            overhead.append((turn.first_delta - first_token) * 1000)
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
        f"message->model ms {stat(result.to_request)}  reply ms {stat(result.reply)}  "
        f"errors {result.errors} incomplete {result.incomplete}  "
        f"CPU/turn {result.cpu_per_turn * 1000:.0f} ms"
        + (f"  {result.kinds}" if result.kinds else ""),
        flush=True,
    )


def cell(ours: float, base: float | None) -> str:
    ratio = f"({ours / max(base, 1e-3):5.1f}x)" if base else " " * 8
    return f"{ours:8.1f} {ratio}"


def headline(results: dict[tuple[str, str], Result], stacks: list[str], extra: list[str]) -> None:
    """One table: p95s and CPU per turn of each stack, with its ratio to the relay."""
    print("\nheadline (p95 ms; CPU ms per turn; x: times the bare relay of this run)")
    print(
        f"  {'stack':<10} {'load':<11} {'first-word overhead':>21} {'message->model':>18} "
        f"{'CPU/turn':>14} {'errors':>7} {'incomplete':>10}"
    )
    for (name, label), result in results.items():
        floor = results.get(("relay", label)) if name != "relay" else None
        overhead = p95(result.overhead) if result.overhead else float("nan")
        to_request = p95(result.to_request) if result.to_request else float("nan")
        base_overhead = p95(floor.overhead) if floor and floor.overhead else None
        base_request = p95(floor.to_request) if floor and floor.to_request else None
        base_cpu = floor.cpu_per_turn * 1000 if floor else None
        print(
            f"  {name:<10} {label:<11} {cell(overhead, base_overhead):>21} "
            f"{cell(to_request, base_request):>18} "
            f"{cell(result.cpu_per_turn * 1000, base_cpu):>14} "
            f"{result.errors:>7} {result.incomplete:>10}"
        )
    for line in extra:
        print(f"  {line}")
