"""Streaming at the speed of the model: the OpenAI provider path against a bare relay.

    python -m benchmarks.streaming [--token-ms 15] [--ttft-ms 300] [--words 80]
                                   [--sequential 20] [--concurrent 50,200]
                                   [--arrivals steady,burst] [--rounds 5] [--pause-ms 100]
                                   [--stacks relay,embedded,production]
                                   [--cycles 2000] [--idle 500] [--tabs 0] [--screen] [--full]

A fake OpenAI server (tests/fake_openai/, the project's one model seam) runs in a
process of its own (benchmarks/_model.py) and streams each answer like a model: after
`--ttft-ms`, one word of about four characters every `--token-ms` (15 ms: about 65
tokens/s). Each customer is a real WebSocket, from this process, to a real Daphne
process; every message carries an id the fake reads, so each turn's figures line up
with its own model request (both processes stamp times on the machine's monotonic
clock):

- first-word overhead: first `delta` on the customer's socket minus the model's first
  token (what the customer waits for beyond the model);
- message to model request: the model request's arrival minus the message's send;
- message to first words: the first `delta` on the socket minus the message's send,
  what the customer feels (it includes the model's own `--ttft-ms`);
- the stored reply: complete (the whole streamed text) and on time;
- server CPU per turn (utime + stime of the Daphne process over the run).

How the concurrent chats come (`--arrivals`, both by default):

- `steady`: N chats streaming at once. They are created and connected first (not
  measured); then each sends `--rounds` messages, the next `--pause-ms` after the
  previous reply, the first ones spread over one reply's duration, so about N streams
  are in flight all the time. Each chat's first and last turns are not timed (the ramp).
- `burst`: N chats created, connected and messaged in the same instant, one turn each:
  a thundering herd of connects, a harder and rarer load.

Each prints the streams in flight on average (the load was real) and the CPU of the
load generator itself (clients and model, as a share of a core: near 100% its own
timestamps run late). The relay is measured the same way in the same run.

Stacks, each its own Daphne: `embedded` (SQLite at var/bench-embedded.sqlite3, the
in-memory channel layer, DEBUG on: `make run`), `production` (PostgreSQL
BENCH_STREAM_DATABASE_URL with the settings' connection pool and the Redis layer
BENCH_REDIS_URL, DEBUG off, one Daphne: `make up` without Celery, which is not on the
chat path), and `relay` (benchmarks/_relay_asgi.py: the same stream relayed with
nothing else, the floor). All three run through the benchmark and each load is run on
every stack in turn, so the relay's floor is measured minutes apart from the product's
at most, under the same load; ratios are against it.

On the two real stacks it also measures memory over `--cycles` socket connect/close
cycles (server RSS after a warm-up, scaled to 10k) and the control round trip
(`resume` -> `resumed`) with `--idle` sockets held open. On the production stack it
samples the Redis inbox of each process while chats stream (the most messages queued,
and drops logged as "over capacity"); `--tabs N` adds a burst of N chats whose customer
has a second tab on a second Daphne, so the layer carries every stream. `--full` is
`--cycles 10000 --idle 2000 --tabs 200` with both arrivals: the capacity targets
(several minutes).

`--screen` turns the input screen on, as it is by default in the product: a second model
call a turn, beside the streamed one (the fake answers it at once), which the relay does
not make; without it the stacks make one call a turn, like the relay.

Figures are medians/p95 of one run; on a shared machine, run it several times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

from benchmarks._customers import (
    Meter,
    bulk_conversations,
    burst,
    churn,
    idle_round_trips,
    sequential,
    steady,
)
from benchmarks._figures import (
    Result,
    Timings,
    headline,
    over_capacity,
    report,
    stat,
    summarise,
)
from benchmarks._model import ModelProcess, answer_words
from benchmarks._processes import (
    InboxWatch,
    other_benchmarks,
    raise_file_limit,
    rss_mib,
    server,
)
from benchmarks.dashboard import ensure_database, p95
from tests.servers import child_env

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sb_bench_stream"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"


# --- Stacks ----------------------------------------------------------------------------


def stack_env(
    name: str, model: ModelProcess, db_url: str, redis_url: str, *, screen: bool = False
) -> dict[str, str]:
    common = dict(
        model.env(),
        OPENAI_CONNECT_TIMEOUT="30",  # 200 connections open at once to one fake server
        OPENAI_READ_TIMEOUT="60",
        OPENAI_MAX_RETRIES="0",
        # The input screen, a second model call a turn beside the first (on by default
        # in the product): off unless --screen, so runs compare with the relay's one.
        SUPPORTBOT_MODEL_SCREEN="true" if screen else "false",
        SUPPORTBOT_RATE_MESSAGES="1000000",
        SUPPORTBOT_RATE_CONVERSATIONS="1000000",
        SUPPORTBOT_RATE_RESUMES="1000000",  # the idle probes all come from one address
        DJANGO_LOG_LEVEL="WARNING",
    )
    if name == "embedded":
        return child_env(f"sqlite:///{ROOT / 'var' / 'bench-embedded.sqlite3'}", **common)
    if name == "production":
        # The settings' own pool size (DATABASE_POOL_SIZE unset), as in production.
        env = child_env(
            db_url,
            **common,
            REDIS_URL=redis_url,
            SUPPORTBOT_CHANNEL_PREFIX=f"bench{uuid.uuid4().hex[:6]}",
            DJANGO_DEBUG="false",
        )
        env.pop("DATABASE_POOL_SIZE", None)
        return env
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_"))}
    env.update(common, PYTHONUNBUFFERED="1")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


@dataclass
class Stack:
    """One stack's Daphne, running through the whole benchmark."""

    name: str
    app: str
    env: dict[str, str]
    base: str
    pid: int
    meter: Meter

    @property
    def relay(self) -> bool:
        return self.name == "relay"


def second_tabs(
    stack: Stack,
    count: int,
    log: Path,
    redis_url: str,
    model: ModelProcess,
    timings: Timings,
    expected: str,
) -> str:
    """A burst of `count` chats, each with a second tab on a second Daphne."""
    with server(stack.app, stack.env, log) as (tab_base, _):
        since = log.stat().st_size
        with InboxWatch(redis_url, stack.env["SUPPORTBOT_CHANNEL_PREFIX"]) as tabs:
            turns = asyncio.run(burst(stack.base, False, count, stack.meter, tab_base))
        model.collect(timings)
        result = summarise(turns, timings, expected, 0.0)
        return (
            f"{stack.name} {count} at once, each with a second tab on a second "
            f"Daphne: tabs that got the reply {result.tabs_ok}/{result.tabs}, "
            f"later than the first tab by (median, p95 ms) "
            f"{stat(result.tab_lag).strip()}; errors {result.errors} "
            f"{result.kinds or ''}; {tabs.figures()}, "
            f"{over_capacity(log, since)} dropped over capacity"
        )


def memory(stack: Stack, cycles: int) -> str:
    asyncio.run(churn(stack.base, min(1000, cycles)))  # warm-up
    time.sleep(1)
    before = rss_mib(stack.pid)
    asyncio.run(churn(stack.base, cycles))
    time.sleep(1)
    grown = rss_mib(stack.pid) - before
    return (
        f"{stack.name}: {cycles} connect/close cycles: RSS {before:.1f} -> "
        f"{before + grown:.1f} MiB = {grown * 10000 / cycles:+.1f} MiB "
        "per 10k (target <= 10)"
    )


def idle_sockets(stack: Stack, count: int) -> str:
    conversations = bulk_conversations(stack.env, count)
    idle = asyncio.run(idle_round_trips(stack.base, conversations))
    times = idle.times or [float("nan")]
    return (
        f"{stack.name}: {idle.held} idle sockets ({idle.failed} failed to open, "
        f"{idle.open_seconds:.0f} s to open), control round trip median "
        f"{statistics.median(times):.1f} ms p95 {p95(times):.1f} ms "
        f"(target p95 <= 100), {idle.closed} closed meanwhile; "
        f"RSS {rss_mib(stack.pid):.0f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--token-ms", type=float, default=15.0, help="between words")
    parser.add_argument("--ttft-ms", type=float, default=300.0, help="before the first word")
    parser.add_argument("--words", type=int, default=80)
    parser.add_argument("--sequential", type=int, default=20, help="turns one at a time")
    parser.add_argument("--concurrent", default="50,200", help="chats at once, per run")
    parser.add_argument(
        "--arrivals",
        default="steady,burst",
        help="how the concurrent chats come: steady (connected first, then streaming "
        "turn after turn), burst (created, connected and messaged in one instant), or both",
    )
    parser.add_argument("--rounds", type=int, default=5, help="turns per steady chat")
    parser.add_argument("--pause-ms", type=float, default=100.0, help="steady: reply to next")
    parser.add_argument("--stacks", default="relay,embedded,production")
    parser.add_argument("--cycles", type=int, default=2000, help="connect/close (0: skip)")
    parser.add_argument("--idle", type=int, default=500, help="idle sockets (0: skip)")
    parser.add_argument("--tabs", type=int, default=0, help="chats with a second tab (0: skip)")
    parser.add_argument(
        "--screen", action="store_true", help="the input screen on (the product's default)"
    )
    parser.add_argument(
        "--full", action="store_true", help="--cycles 10000 --idle 2000 --tabs 200, both arrivals"
    )
    args = parser.parse_args(argv)
    if args.full:
        args.cycles, args.idle, args.tabs, args.arrivals = 10000, 2000, 200, "steady,burst"
    db_url = os.environ.get("BENCH_STREAM_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    stacks = [name.strip() for name in args.stacks.split(",") if name.strip()]
    # "--concurrent 0" skips the concurrent runs (as 0 skips the others).
    sizes = [int(size) for size in args.concurrent.split(",") if size.strip() and int(size)]
    arrivals = [mode.strip() for mode in args.arrivals.split(",") if mode.strip()]
    if set(arrivals) - {"steady", "burst"}:
        parser.error(f"--arrivals: steady, burst or both, not {args.arrivals!r}")
    expected = " ".join(answer_words(args.words))
    reply_seconds = (args.ttft_ms + args.words * args.token_ms) / 1000
    timings = Timings()
    files = raise_file_limit()
    model = ModelProcess(args.words, args.ttft_ms, args.token_ms)
    rounds = args.rounds if "steady" in arrivals else 0
    planned = 3 + args.sequential + sum(sizes) * (("burst" in arrivals) + rounds) + args.tabs
    (ROOT / "var").mkdir(exist_ok=True)
    log = ROOT / "var" / "bench-streaming.log"
    log.touch()
    print(
        f"streaming benchmark: {args.words} words, first after {args.ttft_ms:.0f} ms, then one "
        f"every {args.token_ms:.0f} ms (~{1000 / args.token_ms:.0f} tokens/s); the fake model "
        f"in a process of its own; {os.cpu_count()} CPUs, {files} open files; "
        f"log {log.relative_to(ROOT)}",
        flush=True,
    )
    if "steady" in arrivals:
        print(
            f"  steady: each chat connected first, then {args.rounds} turns, the next "
            f"{args.pause_ms:.0f} ms after the previous reply, first ones spread over "
            f"{reply_seconds:.1f} s; turns timed: all but each chat's first and last",
            flush=True,
        )
    if others := other_benchmarks():
        print(f"  another streaming benchmark is running (pid {others}): figures skewed")
    results: dict[tuple[str, str], Result] = {}
    extra: list[str] = []

    def note(line: str) -> None:
        extra.append(line)
        print(f"  {line}", flush=True)

    try:
        with ExitStack() as running:
            servers: list[Stack] = []
            for name in stacks:
                env = stack_env(name, model, db_url, redis_url, screen=args.screen)
                if name == "production":
                    ensure_database(db_url)
                if name != "relay":
                    migrate(env)
                relay = name == "relay"
                app = (
                    "benchmarks._relay_asgi:application" if relay else "supportbot.asgi:application"
                )
                base, pid = running.enter_context(server(app, env, log))
                servers.append(Stack(name, app, env, base, pid, Meter(pid, model.pid)))
            model.plan(len(servers) * planned * (2 if args.screen else 1) + 10)
            for stack in servers:
                asyncio.run(sequential(stack.base, stack.relay, 3, stack.meter))  # warm-up
                stack.meter.measure_idle()
            print(
                "  idle servers' CPU, taken out of CPU/turn: "
                + ", ".join(f"{stack.name} {stack.meter.idle:.1%}" for stack in servers),
                flush=True,
            )
            loads = (["sequential"] if args.sequential else []) + [
                f"{size} {mode}" for size in sizes for mode in arrivals
            ]
            # Load by load, every stack in turn: the relay's floor is measured minutes
            # apart from the product's at most, whatever else the machine is doing.
            for label in loads:
                for stack in servers:
                    if label == "sequential":
                        run = sequential(stack.base, stack.relay, args.sequential, stack.meter)
                    elif label.endswith("steady"):
                        run = steady(
                            stack.base,
                            stack.relay,
                            int(label.split()[0]),
                            args.rounds,
                            reply_seconds,
                            args.pause_ms / 1000,
                            stack.meter,
                        )
                    else:
                        run = burst(stack.base, stack.relay, int(label.split()[0]), stack.meter)
                    since = log.stat().st_size
                    watch: AbstractContextManager[InboxWatch | None] = (
                        InboxWatch(redis_url, stack.env["SUPPORTBOT_CHANNEL_PREFIX"])
                        if stack.name == "production"
                        else nullcontext()
                    )
                    with watch as inbox:
                        turns = asyncio.run(run)
                    model.collect(timings)
                    result = summarise(turns, timings, expected, stack.meter.server_cpu)
                    result.load = stack.meter.load()
                    if others := other_benchmarks():
                        result.load += f"; another streaming benchmark ran (pid {others})"
                    results[(stack.name, label)] = result
                    report(stack.name, label, result)
                    if model.errors:
                        print(f"  the fake model refused requests: {model.errors}", flush=True)
                    if inbox is not None:
                        note(
                            f"{stack.name} {label}: {inbox.figures()}, "
                            f"{over_capacity(log, since)} dropped over capacity"
                        )
                    time.sleep(1)  # the last turns' leftovers, before the next run
            for stack in servers:
                if stack.name == "production" and args.tabs:
                    note(second_tabs(stack, args.tabs, log, redis_url, model, timings, expected))
                if not stack.relay and args.cycles:
                    note(memory(stack, args.cycles))
                if not stack.relay and args.idle:
                    note(idle_sockets(stack, args.idle))
    finally:
        model.stop()
    headline(results, stacks, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
