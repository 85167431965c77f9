"""The turn engine: streamed, coalesced, audited, one at a time, never silently lost."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from apps.chat import engine, services
from apps.chat.models import Conversation, Turn
from tests import fake_openai as fake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def turns(conversation_id: str) -> list[Turn]:
    return list(Turn.objects.filter(conversation_id=conversation_id).order_by("started_at"))


async def test_a_reply_streams_in_coalesced_deltas_and_is_stored_with_its_audit(chat, settings):
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0.005
    settings.SUPPORTBOT_DELTA_INTERVAL = 0.04
    socket = await chat()
    await socket.say("hello")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    deltas = [f for f in frames if f["type"] == "delta"]
    final = frames[-1]
    words = final["text"].split()
    # then: fewer frames than words (coalesced), and together they are the reply
    assert 1 < len(deltas) < len(words) / 2
    assert "".join(d["text"] for d in deltas).strip() == final["text"]
    assert {d["turn_id"] for d in deltas} == {final["turn_id"]}
    assert final["offline"] is True
    [turn] = await database_sync_to_async(turns)(socket.conversation_id)
    assert turn.status == "completed"
    assert turn.prompt_tokens > 0 and turn.completion_tokens > 0
    assert turn.ttft_ms is not None and turn.duration_ms >= turn.ttft_ms
    assert turn.layers["platform"] == "platform.v2"
    assert turn.layers["operator"].startswith("operator.v2@")
    assert str(turn.message_id) and turn.answers_seq == 1


async def test_a_message_sent_mid_turn_is_stored_and_answered_next(chat, settings):
    settings.SUPPORTBOT_LOCAL_WORD_DELAY = 0.01
    socket = await chat()
    await socket.say("hello")
    await socket.receive_until(lambda f: f["type"] == "delta")  # the first turn is streaming
    await socket.say("thanks")
    first = await socket.reply()
    second = await socket.reply()
    assert first["text"].startswith("Hi there!")
    assert second["text"].startswith("You're welcome")
    assert first["turn_id"] != second["turn_id"]
    done = await database_sync_to_async(turns)(socket.conversation_id)
    assert [t.answers_seq for t in done] == [1, 2]


async def test_a_turn_left_running_by_a_dead_process_is_noticed_and_answered_again(chat):
    # given a turn that a crashed process left behind
    conversation, token = await database_sync_to_async(services.do_create_conversation)()

    def crashed() -> None:
        services.do_append_event(conversation.pk, role="customer", text="hello")
        Conversation.objects.filter(pk=conversation.pk).update(
            answered_seq=1,
            turn_owner="some-dead-process",
            turn_heartbeat=timezone.now() - timedelta(minutes=5),
        )
        Turn.objects.create(conversation=conversation, answers_seq=1)

    await database_sync_to_async(crashed)()
    # when the customer reconnects
    socket = await chat((str(conversation.pk), token))
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    # then the interruption is told, in order, and the question answered without asking
    [notice] = [f for f in frames if f["type"] == "message" and f["role"] == "system"]
    assert notice["retry"] is False and "interrupted" in notice["text"]
    assert notice["seq"] < frames[-1]["seq"]
    assert frames[-1]["text"].startswith("Hi there!")
    statuses = [t.status for t in await database_sync_to_async(turns)(str(conversation.pk))]
    assert statuses == ["interrupted", "completed"]


async def test_a_failing_provider_ends_in_an_error_frame_and_a_retryable_notice(chat, fake_openai):
    fake_openai.script(fake.error(500), fake.error(500), fake.error(500))
    socket = await chat()
    await socket.say("hello")
    frames = await socket.receive_until(lambda f: f["type"] == "turn" and f["state"] == "ended")
    [error] = [f for f in frames if f["type"] == "error"]
    assert error["code"] == "provider_unavailable"
    [notice] = [f for f in frames if f["type"] == "message" and f["role"] == "system"]
    assert notice["retry"] is True and notice["turn_id"] == error["turn_id"]
    # and the retry answers
    fake_openai.script(fake.text("Hello! How can I help?"))
    await socket.send({"type": "retry"})
    reply = await socket.reply()
    assert reply["text"] == "Hello! How can I help?"
    statuses = [t.status for t in await database_sync_to_async(turns)(socket.conversation_id)]
    assert statuses == ["failed", "completed"]


async def test_a_stream_cut_midway_is_a_visible_error_not_a_hang(chat, fake_openai):
    fake_openai.script(fake.cut(after_chunks=3))
    socket = await chat()
    await socket.say("hello")
    frames = await socket.receive_until(lambda f: f["type"] == "error", timeout=15)
    assert frames[-1]["code"] == "stream_broken"


async def test_tool_calls_run_server_side_with_status_frames_and_are_audited(chat, fake_openai):
    fake_openai.script(
        fake.tool_calls([("list_product_types", {})]),
        fake.text("We sell many things."),
    )
    socket = await chat()
    await socket.say("what do you sell?")
    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    assert any(f["type"] == "status" for f in frames)
    assert frames[-1]["text"] == "We sell many things."
    second = fake_openai.requests[1]
    tool_message = second["messages"][-2]  # the last one is the session state
    assert tool_message["role"] == "tool" and "untrusted_data" in tool_message["content"]
    [turn] = await database_sync_to_async(turns)(socket.conversation_id)
    assert [c["name"] for c in turn.tool_calls] == ["list_product_types"]
    assert turn.steps == 2


async def test_the_step_loop_is_bounded(chat, fake_openai, settings):
    settings.SUPPORTBOT_MAX_TOOL_STEPS = 2
    fake_openai.script(*[fake.tool_calls([("list_product_types", {})]) for _ in range(3)])
    socket = await chat()
    await socket.say("loop forever")
    reply = await socket.reply()
    assert "connect you with a person" in reply["text"]
    [turn] = await database_sync_to_async(turns)(socket.conversation_id)
    assert len(turn.tool_calls) == 2
    assert any(v["check"] == "limits" for v in turn.verdicts)


async def test_a_tool_the_conversation_may_not_use_is_refused(chat, fake_openai):
    fake_openai.script(
        fake.tool_calls([("list_my_orders", {})]),  # personal, and nobody is verified
        fake.text("Please verify first."),
    )
    socket = await chat()
    await socket.say("show my orders")
    await socket.reply()
    tool_message = fake_openai.requests[1]["messages"][-2]
    assert "unknown tool list_my_orders" in tool_message["content"]
    offered = {t["function"]["name"] for t in fake_openai.requests[0]["tools"]}
    assert "list_my_orders" not in offered and "verify_customer" in offered


async def test_the_conversation_caps_offer_a_person_instead_of_calling_the_model(
    chat, fake_openai, settings
):
    settings.SUPPORTBOT_MAX_TURNS = 1
    fake_openai.script(fake.text("First answer."))
    socket = await chat()
    await socket.say("hello")
    assert (await socket.reply())["text"] == "First answer."
    await socket.say("hello again")
    reply = await socket.reply()
    assert "connect you with a person" in reply["text"]
    assert len(fake_openai.requests) == 1


async def test_wait_idle_returns_when_no_turn_runs():
    # it returns at once, not after some timeout of its own
    async with asyncio.timeout(0.5):
        await engine.wait_idle(uuid.uuid4())
