"""Owed turns after a process dies: a lapsed lease is taken over, a sweep finds
turns nobody runs, the interruption is told in order, nothing is answered twice.

The whole path with a real Daphne killed mid-stream is in
tests/integration/test_fault_daphne_crash.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from apps.chat import engine, leases, services
from apps.chat.models import Conversation, Message, Turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def short_lease(settings: Any) -> None:
    settings.SUPPORTBOT_TURN_LEASE_SECONDS = 2.0
    settings.SUPPORTBOT_TURN_SWEEP_SECONDS = 0.2


def left_by_a_dead_process(*, heartbeat_age: float, turns: list[str]) -> tuple[str, str]:
    """A conversation whose last question was being answered by a process that died."""
    conversation, token = services.do_create_conversation()
    services.do_append_event(conversation.pk, role="customer", text="hello")
    Conversation.objects.filter(pk=conversation.pk).update(
        answered_seq=1,
        turn_owner="a-dead-process",
        turn_heartbeat=timezone.now() - timedelta(seconds=heartbeat_age),
    )
    for status in turns:
        Turn.objects.create(conversation=conversation, answers_seq=1, status=status)
    return str(conversation.pk), token


def statuses(conversation_id: str) -> list[str]:
    return list(
        Turn.objects.filter(conversation_id=conversation_id)
        .order_by("started_at")
        .values_list("status", flat=True)
    )


def assistant_texts(conversation_id: str) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, role="assistant")
        .order_by("seq")
        .values_list("text", flat=True)
    )


async def one_turn_here(chat) -> float:
    """How long one ordinary turn takes on this machine now, from message to reply: a
    loaded machine slows the turn under test as much, so its bound scales with this."""
    socket = await chat()
    started = time.monotonic()
    await socket.say("hello")
    await socket.reply()
    return time.monotonic() - started


async def test_a_message_sent_while_a_dead_process_holds_the_lease_is_answered_when_it_lapses(
    chat, settings
):
    lease = settings.SUPPORTBOT_TURN_LEASE_SECONDS
    ordinary = await one_turn_here(chat)
    # given a lease renewed just now by a process that then died
    conversation = await database_sync_to_async(left_by_a_dead_process)(
        heartbeat_age=0, turns=["running"]
    )
    renewed = time.monotonic()
    socket = await chat(conversation)

    # when the customer writes again
    await socket.say("thanks")

    # then, once the lease lapses, the dead turn is told and everything is answered, once
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant", timeout=lease + 10
    )
    waited = time.monotonic() - renewed
    notices = [f for f in frames if f["type"] == "message" and f["role"] == "system"]
    assert [n["notice"] for n in notices] == ["interrupted"]
    assert notices[0]["seq"] < frames[-1]["seq"]
    # not while the dead process's lease stood, and promptly once it lapsed: the take-over
    # and the turn (a recovery notice, then the reply) cost a few ordinary turns at most
    assert lease - 0.1 <= waited < lease + 3 * ordinary + 0.5
    await engine.wait_idle(uuid.UUID(conversation[0]))
    assert await database_sync_to_async(statuses)(conversation[0]) == ["interrupted", "completed"]
    assert len(await database_sync_to_async(assistant_texts)(conversation[0])) == 1


async def test_the_sweep_picks_up_a_dead_processs_turn_with_nobody_connected(chat):
    # given a conversation a dead process left mid-turn, and no one on it
    orphan = await database_sync_to_async(left_by_a_dead_process)(
        heartbeat_age=60, turns=["running"]
    )

    # when this process serves anyone at all (its sweep runs)
    await chat()

    # then the orphan's question is answered, after the notice
    async with asyncio.timeout(5):
        while len(await database_sync_to_async(assistant_texts)(orphan[0])) < 1:
            await asyncio.sleep(0.1)
    await engine.wait_idle(uuid.UUID(orphan[0]))
    assert await database_sync_to_async(statuses)(orphan[0]) == ["interrupted", "completed"]
    kinds = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(conversation_id=orphan[0])
            .order_by("seq")
            .values_list("role", "kind")
        )
    )()
    assert kinds == [("customer", "message"), ("system", "notice"), ("assistant", "message")]


async def test_a_second_interruption_in_a_row_is_not_retried_again_but_offers_retry(chat):
    # given the retry of an interrupted turn was interrupted too
    conversation = await database_sync_to_async(left_by_a_dead_process)(
        heartbeat_age=60, turns=["interrupted", "running"]
    )

    # when the customer comes back
    socket = await chat(conversation)
    await socket.send({"type": "resume", "last_seq": 0})
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "system", timeout=5
    )

    # then the notice offers the Retry button and nothing runs by itself
    assert frames[-1]["retry"] is True
    await asyncio.sleep(0.5)
    await engine.wait_idle(uuid.UUID(conversation[0]))
    assert await database_sync_to_async(statuses)(conversation[0]) == ["interrupted"] * 2
    await socket.send({"type": "retry"})
    assert (await socket.reply())["text"].startswith("Hi there!")


async def test_a_turn_taken_over_while_its_process_stalled_stores_no_second_reply(chat, settings):
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0.05
    socket = await chat()
    await socket.say("hello")
    delta = (await socket.receive_until(lambda f: f["type"] == "delta"))[-1]

    # when another process takes the turn for dead while this one still streams it
    await database_sync_to_async(
        lambda: Turn.objects.filter(pk=delta["turn_id"]).update(status=Turn.Status.INTERRUPTED)
    )()
    await socket.receive_until(lambda f: f["type"] == "turn" and f["state"] == "ended")
    await engine.wait_idle(uuid.UUID(socket.conversation_id))

    # then this process stores nothing: the other one answers
    assert await database_sync_to_async(assistant_texts)(socket.conversation_id) == []
    assert await database_sync_to_async(statuses)(socket.conversation_id) == ["interrupted"]


async def test_one_heartbeat_renews_every_lease_whose_runner_is_here_and_no_other(settings):
    lease = settings.SUPPORTBOT_TURN_LEASE_SECONDS

    def conversation_leased_to(owner: str) -> uuid.UUID:
        conversation, _ = services.do_create_conversation()
        Conversation.objects.filter(pk=conversation.pk).update(
            turn_owner=owner, turn_heartbeat=timezone.now() - timedelta(seconds=lease / 2)
        )
        return conversation.pk

    def heartbeat_age(conversation_id: uuid.UUID) -> float:
        beat = Conversation.objects.values_list("turn_heartbeat", flat=True).get(pk=conversation_id)
        assert beat is not None
        return (timezone.now() - beat).total_seconds()

    # given two conversations whose runners are in this process, one of them taken
    # over by another process meanwhile
    ours = await database_sync_to_async(conversation_leased_to)(leases.PROCESS_ID)
    taken = await database_sync_to_async(conversation_leased_to)("another-process")
    release = asyncio.Event()

    async def runner() -> None:
        await release.wait()

    for conversation_id in (ours, taken):
        engine._runners[conversation_id] = asyncio.create_task(runner())
    try:
        engine._ensure_heartbeat()
        # when a quarter of the lease has passed (and some)
        await asyncio.sleep(lease / 4 + 0.5)
        # then only this process's lease was renewed
        assert await database_sync_to_async(heartbeat_age)(ours) < lease / 4 + 0.5
        assert await database_sync_to_async(heartbeat_age)(taken) >= lease / 2
    finally:
        release.set()
        for conversation_id in (ours, taken):
            await engine._runners.pop(conversation_id)


async def test_after_a_turn_the_lease_is_kept_while_a_turn_is_owed_and_let_go_once_none_is():
    def leased_here(*, owed: bool) -> uuid.UUID:
        conversation, _ = services.do_create_conversation()
        services.do_append_event(conversation.pk, role="customer", text="hello")
        Conversation.objects.filter(pk=conversation.pk).update(
            answered_seq=0 if owed else 1,
            turn_owner=leases.PROCESS_ID,
            turn_heartbeat=timezone.now(),
        )
        return conversation.pk

    def owner(conversation_id: uuid.UUID) -> str:
        return Conversation.objects.values_list("turn_owner", flat=True).get(pk=conversation_id)

    take_next_turn = database_sync_to_async(leases.take_next_turn)
    # given a runner here that has just finished a turn, with a message still owed
    owed = await database_sync_to_async(leased_here)(owed=True)
    # when it takes its next turn, then it begins that one and keeps the lease
    step = await take_next_turn(owed, claim=False)
    assert step.held and step.setup is not None
    assert await database_sync_to_async(owner)(owed) == leases.PROCESS_ID

    # given one with nothing owed
    done = await database_sync_to_async(leased_here)(owed=False)
    # when it takes its next turn, then it lets the lease go, with nothing owed
    step = await take_next_turn(done, claim=False)
    assert not step.held and step.setup is None and not step.owed
    assert await database_sync_to_async(owner)(done) == ""


async def test_a_first_claim_takes_the_lease_only_with_a_turn_to_run_and_never_from_a_live_one():
    def conversation_with(*, owed: bool, owner: str = "", heartbeat_age: float = 0.0) -> uuid.UUID:
        conversation, _ = services.do_create_conversation()
        services.do_append_event(conversation.pk, role="customer", text="hello")
        Conversation.objects.filter(pk=conversation.pk).update(
            answered_seq=0 if owed else 1,
            turn_owner=owner,
            turn_heartbeat=timezone.now() - timedelta(seconds=heartbeat_age) if owner else None,
        )
        return conversation.pk

    def lease(conversation_id: uuid.UUID) -> tuple[str, bool]:
        row = Conversation.objects.get(pk=conversation_id)
        return row.turn_owner, row.turn_heartbeat is not None

    claim = database_sync_to_async(leases.take_next_turn)
    read = database_sync_to_async(lease)
    make = database_sync_to_async(conversation_with)

    # a turn owed, no lease: the turn begins and the lease is this process's
    owed = await make(owed=True)
    step = await claim(owed, claim=True)
    assert step.held and step.setup is not None
    assert await read(owed) == (leases.PROCESS_ID, True)

    # nothing owed: no turn, and the lease is never taken
    idle = await make(owed=False)
    step = await claim(idle, claim=True)
    assert (step.held, step.setup, step.owed, step.wait) == (False, None, False, None)
    assert await read(idle) == ("", False)

    # this process's own lease left held, nothing owed: it is let go
    left = await make(owed=False, owner=leases.PROCESS_ID)
    step = await claim(left, claim=True)
    assert not step.held and step.setup is None
    assert await read(left) == ("", False)

    # another process's live lease on an owed turn: no turn here, only when it lapses
    live = await make(owed=True, owner="another-process", heartbeat_age=0.5)
    step = await claim(live, claim=True)
    assert not step.held and step.setup is None
    assert step.wait is not None and 1.0 <= step.wait <= 1.5
    assert await read(live) == ("another-process", True)

    # the same, lapsed: taken over, and the owed turn begins here
    lapsed = await make(owed=True, owner="another-process", heartbeat_age=5.0)
    step = await claim(lapsed, claim=True)
    assert step.held and step.setup is not None
    assert (await read(lapsed))[0] == leases.PROCESS_ID
