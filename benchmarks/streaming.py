"""Streaming at the speed of the model: the OpenAI provider path against a bare relay.

    python -m benchmarks.streaming [--token-ms 15] [--ttft-ms 300] [--words 80]
                                   [--sequential 20] [--concurrent 50,200]
                                   [--arrivals steady,burst] [--rounds 5] [--pause-ms 100]
                                   [--stacks relay,embedded,production]
                                   [--cycles 2000] [--idle 500] [--tabs 0] [--full]

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

Figures are medians/p95 of one run; on a shared machine, run it several times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import redis
from aiohttp import ClientSession, ClientWebSocketResponse, TCPConnector, WSMsgType

from benchmarks._figures import (
    Result,
    Timings,
    Turn,
    headline,
    now,
    over_capacity,
    report,
    stat,
    summarise,
)
from benchmarks._model import ModelProcess, answer_words
from benchmarks.dashboard import ensure_database, p95
from tests.servers import child_env, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sb_bench_stream"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"


# --- Servers -------------------------------------------------------------------------


def raise_file_limit() -> int:
    """Open files allowed to this process and the servers it starts (they inherit it):
    every held socket is a descriptor on both ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


@contextmanager
def server(app: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own share of the CPU: see `own_share`
        )
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


# `own_share`: with the kernel's autogroup scheduling (Linux's default on desktops and
# this box) the CPU is shared fairly between sessions, and every process of one session
# splits that session's share. The servers and the fake model each start a session of
# their own (the clients keep the caller's), so that on a machine doing other work the
# server under test does not split one share with the load generator (it got a quarter
# of a core that way).


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def other_benchmarks() -> list[int]:
    """Other streaming benchmarks running on this machine: they would skew the figures.
    This one and the commands that started it (`timeout ... -m benchmarks.streaming`)
    are not others."""
    ours = {os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in ours:
        ours.add(pid)
        pid = parent_of(pid)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"benchmarks.streaming" in command:
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class InboxWatch:
    """The most messages waiting at once in any process's Redis inbox (channels_redis
    keeps all of a process's sockets' messages in one sorted set), sampled every 20 ms."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.pattern = f"{prefix}specific.*"
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.02):
            keys = list(self.client.scan_iter(match=self.pattern, count=1000))
            if not keys:
                continue
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.zcard(key)
            self.peak = max(self.peak, *pipe.execute())

    def figures(self) -> str:
        return f"Redis inbox peak {self.peak} messages"

    def __enter__(self) -> InboxWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.client.close()


# --- Customers -----------------------------------------------------------------------


def client() -> ClientSession:
    # aiohttp's default connector holds 100 connections, and a WebSocket keeps its
    # own until it closes: the 101st socket would wait for one to end.
    return ClientSession(connector=TCPConnector(limit=0))


async def create(http: ClientSession, base: str) -> tuple[str, str]:
    async with http.post(f"{base}/api/conversations/") as response:
        created = await response.json()
    return created["conversation_id"], created["token"]


async def connect(
    http: ClientSession, base: str, conversation: str, token: str = ""
) -> ClientWebSocketResponse:
    query = f"?token={token}" if token else ""
    url = base.replace("http", "ws") + f"/ws/chat/{conversation}/{query}"
    ws = await http.ws_connect(url, headers={"Origin": base}, max_msg_size=0)
    first = json.loads((await ws.receive(timeout=30)).data)
    assert first["type"] == "session", first
    return ws


DELTA = '{"type": "delta"'  # how every delta frame begins, in both servers' JSON


async def assistant_reply(
    ws: ClientWebSocketResponse, turn: Turn | None = None, stale: object = None
) -> str:
    """Frames until the assistant's stored reply; the first delta's time goes on `turn`
    (a late delta of the previous turn, `stale`, does not count). Only that first delta
    is parsed: 200 streams are 13,000 frames a second for this one process to read."""
    while True:
        message = await ws.receive(timeout=120)
        if message.type != WSMsgType.TEXT:
            raise ConnectionError(f"socket {message.type.name}")
        if message.data.startswith(DELTA) and (turn is None or turn.first_delta is not None):
            continue
        frame = json.loads(message.data)
        if frame["type"] == "delta" and turn is not None:
            if stale is None or frame.get("turn_id") != stale:
                turn.first_delta = now()
                turn.turn_id = frame.get("turn_id")
        elif frame["type"] == "error":
            raise ConnectionError(frame.get("code", "error"))
        elif frame["type"] == "message" and frame.get("role") == "assistant":
            return str(frame["text"])


async def open_chat(http: ClientSession, base: str, relay: bool) -> ClientWebSocketResponse:
    conversation, token = (uuid.uuid4().hex, "") if relay else await create(http, base)
    return await connect(http, base, conversation, token)


async def exchange(ws: ClientWebSocketResponse, turn: Turn, stale: object = None) -> None:
    """Send one message and wait for its stored reply; what went wrong goes on `turn`."""
    try:
        turn.sent = now()
        text = f"Where is my parcel? bench-{turn.key}"
        await ws.send_json({"type": "message", "client_id": str(uuid.uuid4()), "text": text})
        # One deadline per wait: aiohttp answers Daphne's pings inside receive() and
        # restarts its per-read timeout each time.
        async with asyncio.timeout(180):
            turn.text = await assistant_reply(ws, turn, stale)
        turn.reply_at = now()
    except Exception as exc:
        turn.error = repr(exc)[:200]
    finally:
        turn.ended = now()


async def one_turn(http: ClientSession, base: str, relay: bool, tab_base: str = "") -> Turn:
    """A new chat: create, connect (and a second tab), one message, close."""
    turn = Turn(key=uuid.uuid4().hex[:12])
    tab = None
    try:
        conversation, token = (uuid.uuid4().hex, "") if relay else await create(http, base)
        ws = await connect(http, base, conversation, token)
        if tab_base:
            tab = await connect(http, tab_base, conversation, token)
    except Exception as exc:
        turn.error = f"connect: {exc!r}"[:200]
        return turn
    try:
        await exchange(ws, turn)
        if tab is not None and turn.reply_at is not None:
            try:
                async with asyncio.timeout(30):
                    turn.tab = "ok" if await assistant_reply(tab) == turn.text else "other text"
                turn.tab_lag = now() - turn.reply_at
            except Exception as exc:
                turn.tab = repr(exc)[:60] or "timed out"
    finally:
        await ws.close()
        if tab is not None:
            await tab.close()
    return turn


class Meter:
    """CPU of the server, the fake model and this process (the clients) over a run."""

    def __init__(self, server: int, model: int) -> None:
        self.server, self.model = server, model
        self.started = self.used = [0.0, 0.0, 0.0, 1.0]
        self.idle = 0.0  # the server's CPU when nothing happens, share of a core

    def measure_idle(self, seconds: float = 3.0) -> None:
        """What the server burns doing nothing (Daphne's timers: a few % of a core),
        taken out of CPU per turn, where it would swamp a sequential turn's own work."""
        self.start()
        time.sleep(seconds)
        self.stop()
        self.idle = self.used[0] / self.used[3]

    def read(self) -> list[float]:
        return [cpu_seconds(self.server), cpu_seconds(self.model), time.process_time(), now()]

    def start(self) -> None:
        self.started = self.read()

    def stop(self) -> None:
        self.used = [b - a for a, b in zip(self.started, self.read(), strict=True)]

    @property
    def server_cpu(self) -> float:
        """The server's CPU over the run beyond its idle burn."""
        return max(0.0, self.used[0] - self.idle * self.used[3])

    def load(self) -> str:
        """The load generator's own share of a core: near 100% its timestamps run late."""
        wall = max(self.used[3], 1e-9)
        return (
            f"clients {self.used[2] / wall:.0%} model {self.used[1] / wall:.0%} "
            f"server {self.used[0] / wall:.0%} of a core; load average {os.getloadavg()[0]:.1f}"
        )


async def burst(base: str, relay: bool, count: int, meter: Meter, tab_base: str = "") -> list[Turn]:
    """`count` chats created, connected and messaged in the same instant: a connect
    burst, each chat one turn, every turn measured."""
    async with client() as http:
        meter.start()
        turns = await asyncio.gather(*(one_turn(http, base, relay, tab_base) for _ in range(count)))
        meter.stop()
        return list(turns)


async def sequential(base: str, relay: bool, count: int, meter: Meter) -> list[Turn]:
    async with client() as http:
        meter.start()
        turns = [await one_turn(http, base, relay) for _ in range(count)]
        meter.stop()
        return turns


async def steady(
    base: str, relay: bool, chats: int, rounds: int, spread: float, pause: float, meter: Meter
) -> list[Turn]:
    """`chats` chats streaming at once: all created and connected first (20 at a time,
    not measured), then each sends `rounds` messages, the next `pause` after the
    previous reply, the first ones spread over `spread` (about one reply), so about
    `chats` streams are in flight throughout. A chat's first and last turns (the
    ramp up and down) are not measured when it has three or more."""
    async with client() as http:
        gate = asyncio.Semaphore(20)

        async def opened() -> ClientWebSocketResponse:
            async with gate:
                return await open_chat(http, base, relay)

        made = await asyncio.gather(*(opened() for _ in range(chats)), return_exceptions=True)
        turns = [
            Turn(error=f"connect: {ws!r}"[:200]) for ws in made if isinstance(ws, BaseException)
        ]
        sockets = [ws for ws in made if isinstance(ws, ClientWebSocketResponse)]

        async def talk(index: int, ws: ClientWebSocketResponse) -> list[Turn]:
            await asyncio.sleep(spread * index / max(1, len(sockets)))
            mine: list[Turn] = []
            for number in range(rounds):
                turn = Turn(key=uuid.uuid4().hex[:12])
                turn.measured = rounds < 3 or 0 < number < rounds - 1
                mine.append(turn)
                await exchange(ws, turn, mine[-2].turn_id if number else None)
                if turn.error:
                    break
                await asyncio.sleep(pause)
            return mine

        meter.start()
        try:
            for mine in await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(sockets))):
                turns.extend(mine)
        finally:
            meter.stop()
            await asyncio.gather(*(ws.close() for ws in sockets))
        return turns


async def churn(base: str, cycles: int) -> None:
    """Connect, read the session, close: `cycles` times, 20 at a time."""
    async with client() as http:
        conversation, token = await create(http, base)

        async def one() -> None:
            ws = await connect(http, base, conversation, token)
            await ws.close()

        for start in range(0, cycles, 20):
            await asyncio.gather(*(one() for _ in range(min(20, cycles - start))))


def bulk_conversations(env: dict[str, str], count: int) -> list[tuple[str, str]]:
    made = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "benchmarks._conversations", str(count)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return [(line.split()[0], line.split()[1]) for line in made.stdout.splitlines()]


@dataclass
class Idle:
    held: int
    failed: int
    times: list[float]
    closed: int  # held sockets found closed after the probes
    open_seconds: float


async def idle_round_trips(
    base: str, conversations: list[tuple[str, str]], probes: int = 200
) -> Idle:
    """Hold a socket open on each conversation (100 connecting at a time), then time
    resume -> resumed on random ones, one at a time."""
    async with client() as http:
        gate = asyncio.Semaphore(100)

        async def hold(conversation: str, token: str) -> ClientWebSocketResponse:
            async with gate:
                return await connect(http, base, conversation, token)

        started = time.perf_counter()
        results = await asyncio.gather(
            *(hold(*pair) for pair in conversations), return_exceptions=True
        )
        opened = time.perf_counter() - started
        held = [ws for ws in results if isinstance(ws, ClientWebSocketResponse)]
        times = []
        for _ in range(probes if held else 0):
            ws = random.choice(held)
            sent = time.perf_counter()
            await ws.send_json({"type": "resume", "last_seq": 0})
            while json.loads((await ws.receive(timeout=30)).data)["type"] != "resumed":
                pass
            times.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.01)
        closed = sum(ws.closed for ws in held)
        await asyncio.gather(*(ws.close() for ws in held))
        return Idle(len(held), len(results) - len(held), times, closed, opened)


# --- Stacks ----------------------------------------------------------------------------


def stack_env(name: str, model: ModelProcess, db_url: str, redis_url: str) -> dict[str, str]:
    common = dict(
        model.env(),
        OPENAI_CONNECT_TIMEOUT="30",  # 200 connections open at once to one fake server
        OPENAI_READ_TIMEOUT="60",
        OPENAI_MAX_RETRIES="0",
        SUPPORTBOT_MODEL_SCREEN="false",
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
        "--full", action="store_true", help="--cycles 10000 --idle 2000 --tabs 200, both arrivals"
    )
    args = parser.parse_args(argv)
    if args.full:
        args.cycles, args.idle, args.tabs, args.arrivals = 10000, 2000, 200, "steady,burst"
    db_url = os.environ.get("BENCH_STREAM_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    stacks = [name.strip() for name in args.stacks.split(",") if name.strip()]
    sizes = [int(size) for size in args.concurrent.split(",") if size.strip()]
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
                env = stack_env(name, model, db_url, redis_url)
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
            model.plan(len(servers) * planned + 10)
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
