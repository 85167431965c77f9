"""The customer chat path under load: real Daphne, PostgreSQL and the Redis channel layer.

    python -m benchmarks.chat_turns            # or: make bench

Starts one Daphne process on its own PostgreSQL database (BENCH_CHAT_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/sb_bench_chat, created and migrated if
missing) and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/8), with the local
assistant answering at full speed, so what is measured is our own path: socket, storage,
turn engine, guard, coalescing and the channel layer. BENCH_CONVERSATIONS customers
(default 50) each send BENCH_MESSAGES messages (default 5), waiting for each reply:
first as a burst (all at once, no pause: the capacity of one process), then paced
like people (BENCH_THINK_SECONDS, default 5 s, between a reply and the next message).
Prints time to first delta and to the stored reply (median, p95), turns per second,
and Daphne's memory. Targets (paced): p95 first delta under 250 ms, and under 2 MiB
of memory per conversation.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from benchmarks.dashboard import ensure_database, p95
from tests.servers import child_env, daphne, free_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sb_bench_chat"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
TARGET_FIRST_DELTA_MS = 250.0
TARGET_KIB_PER_CONVERSATION = 2048.0


def pid_listening_on(port: int) -> int:
    """The Daphne process serving `port` (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"daphne" in args and str(port).encode() in args:
            return int(entry.name)
    raise RuntimeError(f"no Daphne process found on port {port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def customer(
    base: str, messages: int, samples: dict[str, list[float]], think: float = 0.0
) -> None:
    import random

    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/conversations/") as response:
            created = await response.json()
        url = base.replace("http", "ws") + (
            f"/ws/chat/{created['conversation_id']}/?token={created['token']}"
        )
        async with http.ws_connect(url, headers={"Origin": base}) as ws:
            for index in range(messages):
                if think:
                    # a person reads the reply and types: 50-150% of the mean think time
                    await asyncio.sleep(think * (0.5 + random.random()))
                text = "hello" if index == 0 else "thanks"
                sent = time.perf_counter()
                await ws.send_json(
                    {"type": "message", "client_id": str(uuid.uuid4()), "text": text}
                )
                first_delta = None
                while True:
                    frame = json.loads((await ws.receive(timeout=60)).data)
                    if frame["type"] == "delta" and first_delta is None:
                        first_delta = time.perf_counter() - sent
                    if frame["type"] == "message" and frame["role"] == "assistant":
                        samples["reply"].append((time.perf_counter() - sent) * 1000)
                        if first_delta is not None:
                            samples["first_delta"].append(first_delta * 1000)
                        break


async def run_load(
    base: str, conversations: int, messages: int, think: float = 0.0
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"first_delta": [], "reply": []}
    await asyncio.gather(*(customer(base, messages, samples, think) for _ in range(conversations)))
    return samples


def main() -> int:
    db_url = os.environ.get("BENCH_CHAT_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    conversations = int(os.environ.get("BENCH_CONVERSATIONS", "50"))
    messages = int(os.environ.get("BENCH_MESSAGES", "5"))
    think = float(os.environ.get("BENCH_THINK_SECONDS", "5"))
    ensure_database(db_url)
    env = dict(
        REDIS_URL=redis_url,
        SUPPORTBOT_CHANNEL_PREFIX=f"bench{uuid.uuid4().hex[:6]}",
        SUPPORTBOT_LOCAL_WORD_DELAY="0",
        SUPPORTBOT_RATE_MESSAGES="100000",
        SUPPORTBOT_RATE_CONVERSATIONS="100000",
        SUPPORTBOT_RATE_RESUMES="100000",
        DJANGO_LOG_LEVEL="WARNING",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=child_env(db_url, **env),
        check=True,
    )
    port = free_port()
    with daphne(ROOT / "var", port=port, database=db_url, **env) as base:
        pid = pid_listening_on(port)
        asyncio.run(run_load(base, 2, 1))  # warm-up: imports, connections
        before = rss_kib(pid)
        started = time.perf_counter()
        burst = asyncio.run(run_load(base, conversations, messages))
        burst_elapsed = time.perf_counter() - started
        paced = asyncio.run(run_load(base, conversations, messages, think))
        after = rss_kib(pid)
    turns = len(burst["reply"])
    capacity = turns / burst_elapsed
    per_conversation = max(0, after - before) / (2 * conversations)
    print(
        f"chat turns on {urlparse(db_url).path.lstrip('/')} + Redis, one Daphne process, "
        "local assistant at full speed"
    )
    print(
        f"  burst: {conversations} customers send at once, {messages} messages each: "
        f"{turns} turns in {burst_elapsed:.1f} s = {capacity:.1f} turns/s per process"
    )
    report("    first delta", burst["first_delta"])
    report("    stored reply", burst["reply"])
    offered = conversations / (think + 0.05)
    print(
        f"  paced: {conversations} customers, {think:.1f} s mean think time "
        f"(about {offered:.0f} turns/s offered):"
    )
    report("    first delta", paced["first_delta"], TARGET_FIRST_DELTA_MS)
    report("    stored reply", paced["reply"])
    print(
        f"  Daphne memory: {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB "
        f"({per_conversation:.0f} KiB per conversation; "
        f"target < {TARGET_KIB_PER_CONVERSATION:.0f} KiB)"
    )
    ok = (
        len(paced["reply"]) == conversations * messages
        and p95(paced["first_delta"]) < TARGET_FIRST_DELTA_MS
        and per_conversation < TARGET_KIB_PER_CONVERSATION
    )
    print("  result: " + ("within targets" if ok else "OUTSIDE TARGETS"))
    return 0 if ok else 1


def report(label: str, values: list[float], target: float | None = None) -> None:
    line = f"{label:<16} median {statistics.median(values):7.1f} ms   p95 {p95(values):7.1f} ms"
    if target is not None:
        line += f"   (target p95 < {target:.0f} ms)"
    print(line)


if __name__ == "__main__":
    raise SystemExit(main())
