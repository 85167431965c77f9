"""The chat path's database steps one at a time: CPU, statements and Redis round trips.

    python -m benchmarks.db_steps

Under load a step's Python competes for the GIL with the event loop that streams every
reply (apps/chat/asyncdb.py), so what each step costs in CPU is what it takes from the
streams. This runs each step alone, in the pool thread it runs in under Daphne, against
PostgreSQL (BENCH_DB_STEPS_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
sb_bench_db_steps, created and migrated if missing) and Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/8). BENCH_CONVERSATIONS anonymous conversations (default 20) are
first given BENCH_HISTORY customer messages each (default 11), answered through the same
steps (every other turn with a tool call), so the measured turn starts from a realistic
history; then BENCH_ROUNDS rounds (default 3) of one message each are measured. Prints,
per step, the median and p95 CPU of its thread, its statements and its Redis commands.
"""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.dashboard import django_on, p95

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sb_bench_db_steps"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"

_redis_commands = 0


def _count_redis_commands() -> None:
    """Count round trips to Redis: one per command, one per pipeline."""
    import redis.client

    def counted(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            global _redis_commands
            _redis_commands += 1
            return method(*args, **kwargs)

        return call

    redis.client.Redis.execute_command = counted(redis.client.Redis.execute_command)  # type: ignore[method-assign]
    redis.client.Pipeline.execute = counted(redis.client.Pipeline.execute)  # type: ignore[method-assign]


def measured(name: str, figures: dict[str, list[tuple[float, int, int]]], func: Any) -> Any:
    """`func` run as a database step, with its thread's CPU, statements and Redis
    commands added to figures[name]."""
    from django.db import connection

    from apps.chat.asyncdb import in_db_thread

    def step(*args: Any, **kwargs: Any) -> Any:
        global _redis_commands
        statements = 0

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        connection.ensure_connection()  # a pool thread's connection outlives its steps
        redis_before = _redis_commands
        started = time.thread_time()
        with connection.execute_wrapper(count):
            result = func(*args, **kwargs)
        cpu_ms = (time.thread_time() - started) * 1000
        figures.setdefault(name, []).append((cpu_ms, statements, _redis_commands - redis_before))
        return result

    return in_db_thread(step)


def exchange(turn_number: int) -> list[dict[str, Any]]:
    """Every other turn looked something up, as a help-center question does."""
    if turn_number % 2:
        return []
    call_id = f"call_{uuid.uuid4().hex[:12]}"
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "search_help_center", "arguments": '{"query":"returns"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": call_id,
            "content": "Items can be returned within 30 days of delivery, unused. " * 8,
        },
    ]


async def one_message(
    conversation_id: uuid.UUID,
    client: str,
    turn_number: int,
    figures: dict[str, list[tuple[float, int, int]]],
) -> None:
    """A customer message and its answer, through the two steps the consumer and the
    engine run (the model's stream left out): the message stored and the turn begun
    (engine.store_and_kick's first step), the reply stored and the lease let go."""
    from apps.chat import consumers, engine
    from apps.chat.frames import MessageFrame
    from apps.chat.turn_store import TurnState, audit_fields, store_final

    text = f"Hello, I ordered a jacket last week and want to return it (message {turn_number})."
    frame = MessageFrame(type="message", text=text, client_id=uuid.uuid4())
    store = functools.partial(consumers._store_message, conversation_id, client, frame, text)
    _, step = await measured("message + begin", figures, engine._stored_then_taken)(
        conversation_id, store
    )
    assert not isinstance(step, BaseException), step
    setup = step.setup
    assert setup is not None, "the message is owed a turn"
    state = TurnState(turn_id=setup.turn.pk, started=time.monotonic())
    state.prompt_tokens, state.completion_tokens, state.steps = 2400, 80, 1
    state.exchange = exchange(turn_number)
    audit = audit_fields(state, "gpt-4o-mini", "openai")
    metadata = {"turn_id": str(setup.turn.pk)}
    reply = "You can return it within 30 days of delivery: here is how. " * 3
    final = functools.partial(
        store_final, setup.turn.pk, conversation_id, setup.start_seq, reply, audit, metadata
    )
    stored, after = await measured("reply + let go", figures, engine._stored_then_let_go)(
        conversation_id, final, True
    )
    assert stored and after is not None and not after.owed, "stored, and nothing more owed"


async def run(conversations: int, history: int, rounds: int) -> None:
    from apps.chat import services
    from apps.chat.asyncdb import in_db_thread

    def create() -> uuid.UUID:
        return services.do_create_conversation(client_key="bench")[0].pk

    ids = [await in_db_thread(create)() for _ in range(conversations)]
    seeding: dict[str, list[tuple[float, int, int]]] = {}
    for turn_number in range(history):
        for index, conversation_id in enumerate(ids):
            await one_message(conversation_id, f"10.9.0.{index}", turn_number, seeding)
    figures: dict[str, list[tuple[float, int, int]]] = {}
    for turn_number in range(history, history + rounds):
        for index, conversation_id in enumerate(ids):
            await one_message(conversation_id, f"10.9.0.{index}", turn_number, figures)
    print(
        f"{conversations} conversations, {history} messages answered before, {rounds} measured each"
    )
    print(f"{'step':<24}{'CPU p50 ms':>11}{'p95 ms':>9}{'statements':>12}{'redis':>7}")
    for name, rows in figures.items():
        cpu = [row[0] for row in rows]
        statements = statistics.median(row[1] for row in rows)
        redis_commands = statistics.median(row[2] for row in rows)
        print(
            f"{name:<24}{statistics.median(cpu):>11.2f}{p95(cpu):>9.2f}"
            f"{statements:>12g}{redis_commands:>7g}"
        )


def main() -> int:
    url = os.environ.get("BENCH_DB_STEPS_DATABASE_URL", DEFAULT_DB)
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    os.environ.setdefault("DJANGO_DEBUG", "false")  # no query log, as in production
    os.environ.setdefault("SUPPORTBOT_RATE_MESSAGES", "1000000")
    os.environ.setdefault("OPENAI_API_KEY", "")
    if not django_on(url):
        return 2
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _count_redis_commands()
    asyncio.run(
        run(
            int(os.environ.get("BENCH_CONVERSATIONS", "20")),
            int(os.environ.get("BENCH_HISTORY", "11")),
            int(os.environ.get("BENCH_ROUNDS", "3")),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
