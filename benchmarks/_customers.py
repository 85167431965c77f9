"""The streaming benchmark's customers: chats over real sockets, one at a time, steady
or in a burst, and sockets held idle or opened and closed in cycles."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession, ClientWebSocketResponse, TCPConnector, WSMsgType

from benchmarks._figures import (
    Turn,
    now,
)
from benchmarks._processes import (
    cpu_seconds,
)

ROOT = Path(__file__).resolve().parent.parent


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
