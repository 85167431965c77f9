"""Streaming at the speed of the model: the OpenAI provider path against a bare relay.

    python -m benchmarks.streaming [--token-ms 15] [--ttft-ms 300] [--words 80]
                                   [--sequential 20] [--concurrent 50,200]
                                   [--stacks relay,embedded,production]
                                   [--cycles 2000] [--idle 500] [--tabs 0] [--full]

A fake OpenAI server (tests/fake_openai/, the project's one model seam, in this
process) streams each answer like a model: after `--ttft-ms`, one word of about four
characters every `--token-ms` (15 ms: about 65 tokens/s). Each customer is a real
WebSocket to a real Daphne process; every message carries an id the fake reads, so
each turn's figures line up with its own model request:

- first-word overhead: first `delta` on the customer's socket minus the model's first
  token (what the customer waits for beyond the model);
- message to model request: the model request's arrival minus the message's send;
- the stored reply: complete (the whole streamed text) and on time;
- server CPU per turn (utime + stime of the Daphne process over the run).

Stacks, each its own Daphne: `embedded` (SQLite at var/bench-embedded.sqlite3, the
in-memory channel layer, DEBUG on: `make run`), `production` (PostgreSQL
BENCH_STREAM_DATABASE_URL with the settings' connection pool and the Redis layer
BENCH_REDIS_URL, DEBUG off, one Daphne: `make up` without Celery, which is not on the
chat path), and `relay` (benchmarks/_relay_asgi.py: the same stream relayed with
nothing else, the floor). Ratios are against the relay of the same run.

On the two real stacks it also measures memory over `--cycles` socket connect/close
cycles (server RSS after a warm-up, scaled to 10k) and the control round trip
(`resume` -> `resumed`) with `--idle` sockets held open. On the production stack it
samples the Redis inbox of each process while chats stream (the most messages queued,
and drops logged as "over capacity"); `--tabs N` adds N chats at once whose customer
has a second tab on a second Daphne, so the layer carries every stream. `--full` is
`--cycles 10000 --idle 2000 --tabs 200`: the capacity targets (several minutes).

Figures are medians/p95 of one run; on a shared machine, run it several times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import redis
from aiohttp import ClientSession, ClientWebSocketResponse, TCPConnector, WSMsgType, web

from benchmarks._figures import (
    Result,
    Timings,
    Turn,
    headline,
    over_capacity,
    report,
    stat,
    summarise,
)
from benchmarks.dashboard import ensure_database, p95
from tests import fake_openai as fake
from tests.servers import child_env, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sb_bench_stream"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
WORDS = str.split(
    "your parcel left our depot this morning and the courier expects to reach you by "
    "friday; the tracking page will show each scan as it moves. if the date slips, "
    "write back here and we can look at options such as a refund of the postage or a "
    "replacement sent by express. thanks for your patience while it travels"
)
MARK = re.compile(r"bench-([0-9a-f]{12})")


# --- The model -----------------------------------------------------------------------


class ModelStream:
    """One planned answer: the role chunk, `ttft` later the first word, then a word
    every `interval`; records when the request came and when its first token left."""

    def __init__(self, words: list[str], ttft: float, interval: float, timings: Timings):
        self.words, self.ttft, self.interval, self.timings = words, ttft, interval, timings

    async def respond(
        self, request: web.Request, body: fake.JsonDict, server: fake.FakeOpenAI
    ) -> web.StreamResponse:
        arrived = time.perf_counter()
        # The customer's text may sit in any message (layers, wrapping): its mark is unique.
        found = MARK.search(json.dumps(body["messages"]))
        key = found.group(1) if found else uuid.uuid4().hex
        self.timings.requested[key] = arrived
        number = server.next_number()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        role = {"role": "assistant", "content": "", "refusal": None}
        await response.write(fake._sse(fake._chunk(body, number, [fake._choice(role)])))
        await asyncio.sleep(self.ttft)
        for index, word in enumerate(self.words):
            piece = word if index == 0 else " " + word
            if index == 0:
                self.timings.first_token[key] = time.perf_counter()
            chunk = fake._chunk(body, number, [fake._choice({"content": piece})])
            await response.write(fake._sse(chunk))
            await asyncio.sleep(self.interval)
        done = fake._chunk(body, number, [fake._choice({}, finish_reason="stop")])
        await response.write(fake._sse(done))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = fake._usage_dict((500, len(self.words)))
            await response.write(fake._sse(fake._chunk(body, number, [], usage=usage)))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


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


async def assistant_reply(ws: ClientWebSocketResponse, turn: Turn | None = None) -> str:
    """Frames until the assistant's stored reply; the first delta's time goes on `turn`."""
    while True:
        message = await ws.receive(timeout=120)
        if message.type != WSMsgType.TEXT:
            raise ConnectionError(f"socket {message.type.name}")
        frame = json.loads(message.data)
        if frame["type"] == "delta" and turn is not None and turn.first_delta is None:
            turn.first_delta = time.perf_counter()
        elif frame["type"] == "error":
            raise ConnectionError(frame.get("code", "error"))
        elif frame["type"] == "message" and frame.get("role") == "assistant":
            return str(frame["text"])


async def one_turn(http: ClientSession, base: str, relay: bool, tab_base: str = "") -> Turn:
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
        turn.sent = time.perf_counter()
        text = f"Where is my parcel? bench-{turn.key}"
        await ws.send_json({"type": "message", "client_id": str(uuid.uuid4()), "text": text})
        # One deadline per wait: aiohttp answers Daphne's pings inside receive() and
        # restarts its per-read timeout each time.
        async with asyncio.timeout(180):
            turn.text = await assistant_reply(ws, turn)
        turn.reply_at = time.perf_counter()
        if tab is not None:
            async with asyncio.timeout(30):
                turn.tab = "ok" if await assistant_reply(tab) == turn.text else "other text"
            turn.tab_lag = time.perf_counter() - turn.reply_at
    except Exception as exc:
        if turn.reply_at is None:
            turn.error = repr(exc)[:200]
        else:
            turn.tab = repr(exc)[:60] or "timed out"
    finally:
        await ws.close()
        if tab is not None:
            await tab.close()
    return turn


async def run_turns(
    base: str, relay: bool, count: int, concurrent: bool, tab_base: str = ""
) -> list[Turn]:
    async with client() as http:
        if concurrent:
            return list(
                await asyncio.gather(*(one_turn(http, base, relay, tab_base) for _ in range(count)))
            )
        return [await one_turn(http, base, relay) for _ in range(count)]


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


def stack_env(name: str, model: fake.FakeOpenAI, db_url: str, redis_url: str) -> dict[str, str]:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--token-ms", type=float, default=15.0, help="between words")
    parser.add_argument("--ttft-ms", type=float, default=300.0, help="before the first word")
    parser.add_argument("--words", type=int, default=80)
    parser.add_argument("--sequential", type=int, default=20, help="turns one at a time")
    parser.add_argument("--concurrent", default="50,200", help="chats at once, per run")
    parser.add_argument("--stacks", default="relay,embedded,production")
    parser.add_argument("--cycles", type=int, default=2000, help="connect/close (0: skip)")
    parser.add_argument("--idle", type=int, default=500, help="idle sockets (0: skip)")
    parser.add_argument("--tabs", type=int, default=0, help="chats with a second tab (0: skip)")
    parser.add_argument("--full", action="store_true", help="--cycles 10000 --idle 2000 --tabs 200")
    args = parser.parse_args(argv)
    if args.full:
        args.cycles, args.idle, args.tabs = 10000, 2000, 200
    db_url = os.environ.get("BENCH_STREAM_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    stacks = [name.strip() for name in args.stacks.split(",") if name.strip()]
    sizes = [int(size) for size in args.concurrent.split(",") if size.strip()]
    words = [WORDS[i % len(WORDS)] for i in range(args.words)]
    expected = " ".join(words)
    timings = Timings()
    files = raise_file_limit()
    model = fake.FakeOpenAI(api_key="test-key").start()
    planned = 3 + args.sequential + sum(sizes) + args.tabs + 10
    (ROOT / "var").mkdir(exist_ok=True)
    log = ROOT / "var" / "bench-streaming.log"
    log.touch()
    print(
        f"streaming benchmark: {args.words} words, first after {args.ttft_ms:.0f} ms, then one "
        f"every {args.token_ms:.0f} ms (~{1000 / args.token_ms:.0f} tokens/s); "
        f"{os.cpu_count()} CPUs, {files} open files; log {log.relative_to(ROOT)}",
        flush=True,
    )
    results: dict[tuple[str, str], Result] = {}
    extra: list[str] = []
    try:
        for name in stacks:
            env = stack_env(name, model, db_url, redis_url)
            if name == "production":
                ensure_database(db_url)
            if name != "relay":
                migrate(env)
            relay = name == "relay"
            app = "benchmarks._relay_asgi:application" if relay else "supportbot.asgi:application"
            with server(app, env, log) as (base, pid):
                stream = ModelStream(words, args.ttft_ms / 1000, args.token_ms / 1000, timings)
                model.script(*([stream] * planned))
                asyncio.run(run_turns(base, relay, 3, False))  # warm-up
                runs = [("sequential", args.sequential, False)] if args.sequential else []
                runs += [(f"{size} at once", size, True) for size in sizes]
                for label, count, concurrent in runs:
                    before, since = cpu_seconds(pid), log.stat().st_size
                    watch: AbstractContextManager[InboxWatch | None] = (
                        InboxWatch(redis_url, env["SUPPORTBOT_CHANNEL_PREFIX"])
                        if name == "production"
                        else nullcontext()
                    )
                    with watch as inbox:
                        turns = asyncio.run(run_turns(base, relay, count, concurrent))
                    cpu = cpu_seconds(pid) - before
                    results[(name, label)] = summarise(turns, timings, expected, cpu)
                    report(name, label, results[(name, label)])
                    if inbox is not None:
                        extra.append(
                            f"{name} {label}: {inbox.figures()}, "
                            f"{over_capacity(log, since)} dropped over capacity"
                        )
                        print(f"  {extra[-1]}", flush=True)
                if name == "production" and args.tabs:
                    with server(app, env, log) as (tab_base, _):
                        since = log.stat().st_size
                        with InboxWatch(redis_url, env["SUPPORTBOT_CHANNEL_PREFIX"]) as tabs:
                            turns = asyncio.run(run_turns(base, False, args.tabs, True, tab_base))
                        result = summarise(turns, timings, expected, 0.0)
                        extra.append(
                            f"{name} {args.tabs} at once, each with a second tab on a second "
                            f"Daphne: tabs that got the reply {result.tabs_ok}/{result.tabs}, "
                            f"later than the first tab by (median, p95 ms) "
                            f"{stat(result.tab_lag).strip()}; errors {result.errors} "
                            f"{result.kinds or ''}; {tabs.figures()}, "
                            f"{over_capacity(log, since)} dropped over capacity"
                        )
                        print(f"  {extra[-1]}", flush=True)
                if not relay and args.cycles:
                    asyncio.run(churn(base, min(1000, args.cycles)))  # warm-up
                    time.sleep(1)
                    before = rss_mib(pid)
                    asyncio.run(churn(base, args.cycles))
                    time.sleep(1)
                    grown = rss_mib(pid) - before
                    extra.append(
                        f"{name}: {args.cycles} connect/close cycles: RSS {before:.1f} -> "
                        f"{before + grown:.1f} MiB = {grown * 10000 / args.cycles:+.1f} MiB "
                        "per 10k (target <= 10)"
                    )
                    print(f"  {extra[-1]}", flush=True)
                if not relay and args.idle:
                    conversations = bulk_conversations(env, args.idle)
                    idle = asyncio.run(idle_round_trips(base, conversations))
                    times = idle.times or [float("nan")]
                    extra.append(
                        f"{name}: {idle.held} idle sockets ({idle.failed} failed to open, "
                        f"{idle.open_seconds:.0f} s to open), control round trip median "
                        f"{statistics.median(times):.1f} ms p95 {p95(times):.1f} ms "
                        f"(target p95 <= 100), {idle.closed} closed meanwhile; "
                        f"RSS {rss_mib(pid):.0f} MiB"
                    )
                    print(f"  {extra[-1]}", flush=True)
    finally:
        model.stop()
    headline(results, stacks, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
