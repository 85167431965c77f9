"""The chat path's database steps: pool threads that keep no query log, however long
the process lives (DEBUG would keep 9,000 queries per thread), and as few steps as
possible between a customer's message and the model."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from apps.chat import engine, leases
from apps.chat.asyncdb import StepPool, in_db_thread
from apps.chat.models import Conversation, Turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_with_debug_on_a_pool_thread_forgets_each_steps_queries(settings) -> None:
    settings.DEBUG = True

    def step() -> int:
        Conversation.objects.exists()
        return len(connection.queries_log)

    logged = [await in_db_thread(step)() for _ in range(40)]
    # then each step sees only its own query, not those of the sockets before it
    assert max(logged) == 1


async def test_a_message_reaches_the_model_after_one_database_step_and_a_refused_one_begins_nothing(
    chat, settings, monkeypatch
) -> None:
    settings.SUPPORTBOT_RATE_MESSAGES = 2
    waited_on: list[int] = []  # the steps someone waits on (not the background lane)
    begun_after: list[int] = []  # how many of them had run when each turn began
    submit, run_begun = StepPool.submit, engine._run_begun

    def counted(pool: StepPool, background: bool, call: Callable[[], Any]) -> Any:
        if not background:
            waited_on.append(1)
        return submit(pool, background, call)

    async def noted(*args: Any) -> None:
        begun_after.append(len(waited_on))
        await run_begun(*args)

    monkeypatch.setattr(StepPool, "submit", counted)
    monkeypatch.setattr(engine, "_run_begun", noted)
    socket = await chat()
    conversation_id = uuid.UUID(socket.conversation_id)

    for text in ("hello", "thanks!"):
        # when a message comes with no turn running here
        waited_on.clear()
        await socket.say(text)
        await socket.reply()
        await engine.wait_idle(conversation_id)
        # then the step that stored the reply (in the background lane) let the lease go
        assert len(waited_on) == 1
        assert not await database_sync_to_async(leases.needs_answer)(conversation_id)
        row = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
        assert row.turn_owner == ""
    # and one database step stored each message and began its turn (it was two)
    assert begun_after == [1, 1]

    # when a message is refused (over the rate), nothing is begun and no lease is kept
    await socket.say("one more")
    refused = await socket.receive_until(lambda f: f["type"] == "error")
    assert refused[-1]["code"] == "rate_limited"
    await engine.wait_idle(conversation_id)
    row = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
    assert row.turn_owner == ""
    assert await database_sync_to_async(Turn.objects.filter(conversation=row).count)() == 2
