"""Streaming at the speed of the model: the OpenAI provider path against a bare relay.

    python -m benchmarks.streaming [--token-ms 15] [--ttft-ms 300] [--words 80]
                                   [--sequential 20] [--concurrent 50,200]
                                   [--stacks embedded,production,relay] [--cycles 2000]
                                   [--idle 2000]

A fake OpenAI server (tests/fake_openai.py, the project's one model seam, in this
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
BENCH_STREAM_DATABASE_URL and the Redis layer BENCH_REDIS_URL, DEBUG off, one Daphne:
`make up` without Celery, which is not on the chat path), and `relay`
(benchmarks/_relay_asgi.py: the same stream relayed with nothing else, the floor).
Ratios are against the relay of the same run. With `--cycles` it also measures the
embedded stack's memory over socket connect/close cycles, and with `--idle` the
production stack's control round trip (resume -> resumed) with that many idle sockets.

Figures are medians/p95 of one run; on a shared machine, run twice and compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, WSMsgType, web

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


@dataclass
class Timings:
    requested: dict[str, float] = field(default_factory=dict)
    first_token: dict[str, float] = field(default_factory=dict)


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


# --- Customers -----------------------------------------------------------------------


@dataclass
class Turn:
    sent: float = 0.0
    first_delta: float | None = None
    reply_at: float | None = None
    text: str = ""
    error: str = ""
    key: str = ""


async def open_chat(http: ClientSession, base: str, relay: bool) -> Any:
    if relay:
        conversation = uuid.uuid4().hex
        url = base.replace("http", "ws") + f"/ws/chat/{conversation}/"
    else:
        async with http.post(f"{base}/api/conversations/") as response:
            created = await response.json()
        url = base.replace("http", "ws") + (
            f"/ws/chat/{created['conversation_id']}/?token={created['token']}"
        )
    ws = await http.ws_connect(url, headers={"Origin": base}, max_msg_size=0)
    first = json.loads((await ws.receive(timeout=30)).data)
    assert first["type"] == "session", first
    return ws


async def one_turn(http: ClientSession, base: str, relay: bool) -> Turn:
    turn = Turn(key=uuid.uuid4().hex[:12])
    try:
        ws = await open_chat(http, base, relay)
    except Exception as exc:
        turn.error = f"connect: {exc!r}"[:200]
        return turn
    try:
        turn.sent = time.perf_counter()
        text = f"Where is my parcel? bench-{turn.key}"
        await ws.send_json({"type": "message", "client_id": str(uuid.uuid4()), "text": text})
        while True:
            message = await ws.receive(timeout=120)
            if message.type != WSMsgType.TEXT:
                turn.error = f"socket {message.type.name}"
                break
            frame = json.loads(message.data)
            if frame["type"] == "delta" and turn.first_delta is None:
                turn.first_delta = time.perf_counter()
            elif frame["type"] == "error":
                turn.error = frame.get("code", "error")
                break
            elif frame["type"] == "message" and frame.get("role") == "assistant":
                turn.reply_at, turn.text = time.perf_counter(), frame["text"]
                break
    except Exception as exc:
        turn.error = repr(exc)[:200]
    finally:
        await ws.close()
    return turn


async def run_turns(base: str, relay: bool, count: int, concurrent: bool) -> list[Turn]:
    async with ClientSession() as http:
        if concurrent:
            return list(await asyncio.gather(*(one_turn(http, base, relay) for _ in range(count))))
        return [await one_turn(http, base, relay) for _ in range(count)]


# --- Figures ---------------------------------------------------------------------------


@dataclass
class Result:
    overhead: list[float]
    to_request: list[float]
    reply: list[float]
    errors: int
    incomplete: int
    cpu_per_turn: float
    kinds: dict[str, int] = field(default_factory=dict)


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
    return Result(overhead, to_request, reply, errors, incomplete, cpu / max(1, len(turns)), kinds)


def stat(values: list[float]) -> str:
    if not values:
        return "      -         -"
    return f"{statistics.median(values):8.1f} {p95(values):9.1f}"


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
        DJANGO_LOG_LEVEL="WARNING",
    )
    if name == "embedded":
        return child_env(f"sqlite:///{ROOT / 'var' / 'bench-embedded.sqlite3'}", **common)
    if name == "production":
        return child_env(
            db_url,
            **common,
            REDIS_URL=redis_url,
            SUPPORTBOT_CHANNEL_PREFIX=f"bench{uuid.uuid4().hex[:6]}",
            DJANGO_DEBUG="false",
            DATABASE_POOL_SIZE=str(min(32, (os.cpu_count() or 1) + 4) + 2),
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_"))}
    env.update(common, PYTHONUNBUFFERED="1")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


async def churn(base: str, cycles: int) -> None:
    """Connect, read the session, close: `cycles` times, 20 at a time."""
    async with ClientSession() as http:
        async with http.post(f"{base}/api/conversations/") as response:
            created = await response.json()
        url = base.replace("http", "ws") + (
            f"/ws/chat/{created['conversation_id']}/?token={created['token']}"
        )

        async def one() -> None:
            async with http.ws_connect(url, headers={"Origin": base}) as ws:
                await ws.receive(timeout=30)

        for start in range(0, cycles, 20):
            await asyncio.gather(*(one() for _ in range(min(20, cycles - start))))


async def idle_round_trips(base: str, sockets: int, probes: int = 200) -> list[float]:
    """Hold `sockets` open, then time resume -> resumed on random ones."""
    async with ClientSession() as http:
        held = []
        for start in range(0, sockets, 50):
            batch = [open_chat(http, base, False) for _ in range(min(50, sockets - start))]
            held += await asyncio.gather(*batch)
        times = []
        for _ in range(probes):
            ws = random.choice(held)
            sent = time.perf_counter()
            await ws.send_json({"type": "resume", "last_seq": 0})
            while json.loads((await ws.receive(timeout=30)).data)["type"] != "resumed":
                pass
            times.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.01)
        await asyncio.gather(*(ws.close() for ws in held))
        return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--token-ms", type=float, default=15.0, help="between words")
    parser.add_argument("--ttft-ms", type=float, default=300.0, help="before the first word")
    parser.add_argument("--words", type=int, default=80)
    parser.add_argument("--sequential", type=int, default=20, help="turns one at a time")
    parser.add_argument("--concurrent", default="50,200", help="chats at once, per run")
    parser.add_argument("--stacks", default="relay,embedded,production")
    parser.add_argument("--cycles", type=int, default=2000, help="connect/close (0: skip)")
    parser.add_argument("--idle", type=int, default=2000, help="idle sockets (0: skip)")
    args = parser.parse_args(argv)
    db_url = os.environ.get("BENCH_STREAM_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    stacks = [name.strip() for name in args.stacks.split(",") if name.strip()]
    sizes = [int(size) for size in args.concurrent.split(",") if size.strip()]
    words = [WORDS[i % len(WORDS)] for i in range(args.words)]
    expected = " ".join(words)
    timings = Timings()
    model = fake.FakeOpenAI(api_key="test-key").start()
    planned = args.sequential + sum(sizes) + 10
    (ROOT / "var").mkdir(exist_ok=True)
    log = ROOT / "var" / "bench-streaming.log"
    print(
        f"streaming benchmark: {args.words} words, first after {args.ttft_ms:.0f} ms, then one "
        f"every {args.token_ms:.0f} ms (~{1000 / args.token_ms:.0f} tokens/s); "
        f"{os.cpu_count()} CPUs; log {log.relative_to(ROOT)}"
    )
    results: dict[tuple[str, str], Result] = {}
    try:
        for name in stacks:
            env = stack_env(name, model, db_url, redis_url)
            if name == "production":
                ensure_database(db_url)
            if name != "relay":
                migrate(env)
            app = (
                "benchmarks._relay_asgi:application"
                if name == "relay"
                else ("supportbot.asgi:application")
            )
            with server(app, env, log) as (base, pid):
                relay = name == "relay"
                stream = ModelStream(words, args.ttft_ms / 1000, args.token_ms / 1000, timings)
                model.script(*([stream] * planned))
                asyncio.run(run_turns(base, relay, 3, False))  # warm-up
                runs = [("sequential", args.sequential, False)]
                runs += [(f"{size} at once", size, True) for size in sizes]
                for label, count, concurrent in runs:
                    before = cpu_seconds(pid)
                    turns = asyncio.run(run_turns(base, relay, count, concurrent))
                    cpu = cpu_seconds(pid) - before
                    results[(name, label)] = summarise(turns, timings, expected, cpu)
                    report(name, label, results[(name, label)])
                if name == "embedded" and args.cycles:
                    before = rss_mib(pid)
                    asyncio.run(churn(base, args.cycles))
                    grown = rss_mib(pid) - before
                    print(
                        f"  {name}: {args.cycles} connect/close cycles: RSS {before:.1f} -> "
                        f"{before + grown:.1f} MiB = {grown * 10000 / args.cycles:.1f} MiB "
                        "per 10k (target <= 10)"
                    )
                if name == "production" and args.idle:
                    times = asyncio.run(idle_round_trips(base, args.idle))
                    print(
                        f"  {name}: {args.idle} idle sockets, control round trip median "
                        f"{statistics.median(times):.1f} ms p95 {p95(times):.1f} ms "
                        f"(target p95 <= 100); RSS {rss_mib(pid):.0f} MiB"
                    )
    finally:
        model.stop()
    ratios(results, stacks)
    return 0


def report(name: str, label: str, result: Result) -> None:
    print(
        f"  {name:<10} {label:<11} first-word overhead ms {stat(result.overhead)}  "
        f"message->model ms {stat(result.to_request)}  reply ms {stat(result.reply)}  "
        f"errors {result.errors} incomplete {result.incomplete}  "
        f"CPU/turn {result.cpu_per_turn * 1000:.0f} ms"
        + (f"  {result.kinds}" if result.kinds else ""),
        flush=True,
    )


def ratios(results: dict[tuple[str, str], Result], stacks: list[str]) -> None:
    if "relay" not in stacks:
        return
    print("  ratios to the bare relay (p95 first-word overhead; CPU per turn):")
    for (name, label), result in results.items():
        floor = results.get(("relay", label))
        if name == "relay" or floor is None or not result.overhead or not floor.overhead:
            continue
        ours, base = p95(result.overhead), p95(floor.overhead)
        print(
            f"    {name:<10} {label:<11} overhead p95 {ours:7.1f} ms vs {base:6.1f} ms "
            f"({ours / max(base, 1):4.1f}x)   CPU "
            f"{result.cpu_per_turn / max(floor.cpu_per_turn, 1e-3):4.1f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
