"""Hostile input on every entry point: both sockets and the forms.

NUL and other control characters, lone surrogates, integers of thousands of
digits, nesting thousands deep, oversize frames. Each gets a clear error (or is
cleaned before it is stored), the socket stays open, nothing stored is lost, and
the service keeps answering a control client. PostgreSQL is the strict one here:
it refuses NUL in text and JSON.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from apps.chat import services as chat_services
from apps.chat.models import Conversation, Message
from apps.escalations import services
from apps.escalations.models import AgentNote

from .conftest import ChatSocket, chat, fast_local, logged_in, make_agent, staff_socket

__all__ = ["chat", "fast_local", "make_agent"]  # fixtures, used by name

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

HUGE_INT = "9" * 5000  # over Python's 4300-digit limit for int(str)
DEEP = 4000  # nesting levels, within the 16 KiB frame cap
NESTED = "[" * DEEP + "]" * DEEP


def raw_frame(frame_type: str, key: str, raw_value: str) -> str:
    """A frame written by hand, as a hostile client would, with `raw_value` unescaped."""
    return f'{{"type": "{frame_type}", "{key}": {raw_value}}}'


async def answers_a_control_client(chat: Any) -> None:
    control: ChatSocket = await chat()
    await control.say("hello")
    assert (await control.reply())["text"].startswith("Hi there!")


def stored_texts(conversation_id: str) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, role="customer")
        .order_by("seq")
        .values_list("text", flat=True)
    )


async def test_a_nul_in_a_customer_message_is_removed_and_the_message_answered(chat):
    socket: ChatSocket = await chat()
    await socket.say("hel\x00lo")
    echo = await socket.receive_until(lambda f: f["type"] == "message")
    assert echo[-1]["text"] == "hello"
    assert (await socket.reply())["text"].startswith("Hi there!")
    assert await database_sync_to_async(stored_texts)(socket.conversation_id) == ["hello"]


async def test_control_characters_are_removed_and_a_lone_surrogate_is_refused(chat):
    socket: ChatSocket = await chat()
    await socket.say("a\x1b[31mb\x07c\x7f")
    echo = await socket.receive_until(lambda f: f["type"] == "message")
    assert echo[-1]["text"] == "a[31mbc"
    turn_id = (await socket.reply())["turn_id"]
    # that turn's `ended` frame follows its reply; after it the socket is quiet
    await socket.receive_until(
        lambda f: f["type"] == "turn" and f["turn_id"] == turn_id and f["state"] == "ended"
    )
    # a raw frame: the escaped lone surrogate, as a hostile client sends it
    surrogate = f'"a\\ud800", "client_id": "{uuid.uuid4()}"'
    await socket.communicator.send_to(text_data=raw_frame("message", "text", surrogate))
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == "invalid_frame", error
    assert error["message"].startswith("text:")
    # nothing else: no echo of a stored message, no turn started for it
    assert await socket.communicator.receive_nothing(timeout=0.5)
    assert await database_sync_to_async(stored_texts)(socket.conversation_id) == ["a[31mbc"]


async def test_a_message_of_only_control_characters_is_refused_as_empty(chat):
    socket: ChatSocket = await chat()
    await socket.say("\x00\x01\x02")
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    assert "empty" in error["message"]
    assert await database_sync_to_async(stored_texts)(socket.conversation_id) == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (raw_frame("resume", "last_seq", HUGE_INT), "invalid_frame"),
        (raw_frame("rate", "score", HUGE_INT), "invalid_frame"),
        (raw_frame("resume", "last_seq", str(2**63)), "invalid_frame"),
        (raw_frame("message", "nest", NESTED), "invalid_frame"),
        ('{"type": "resume", "last_seq": 1e999}', "invalid_frame"),
        ('{"type": "resume", "last_seq": NaN}', "invalid_frame"),
        ('{"type": "confirm", "action_id": "\\u0000", "decision": "approve"}', "not_found"),
        ("\x00", "invalid_json"),
        ('{"type": "rate", "score": 4, "comment": "a\\ud800"}', "invalid_frame"),
    ],
    ids=[
        "huge-seq",
        "huge-score",
        "bigint-overflow",
        "deep",
        "inf",
        "nan",
        "nul-id",
        "nul",
        "surrogate-comment",
    ],
)
async def test_frames_that_parse_but_blow_up_get_an_error_frame_on_the_customer_socket(
    chat, frame, code
):
    socket: ChatSocket = await chat()
    assert len(frame.encode()) < 16_384
    await socket.communicator.send_to(text_data=frame)
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == code, error
    # the same socket still works
    await socket.say("hello")
    assert (await socket.reply())["text"].startswith("Hi there!")


async def test_a_nul_in_a_csat_comment_is_removed_and_the_rating_stored(chat):
    socket: ChatSocket = await chat()
    await socket.send({"type": "end"})
    await socket.receive_until(lambda f: f["type"] == "handoff")
    await socket.send({"type": "rate", "score": 4, "comment": "good\x00 bot\x07"})
    assert (await socket.receive_until(lambda f: f["type"] == "rated"))[-1]["score"] == 4
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=socket.conversation_id)
    assert (conversation.csat_score, conversation.csat_comment) == (4, "good bot")


async def test_the_staff_sockets_answer_every_hostile_frame_with_an_error_frame(chat, make_agent):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    customer: ChatSocket = await chat()
    for path in ("/ws/agent/", f"/ws/agent/conversations/{customer.conversation_id}/"):
        connected, staff = await staff_socket(path, agent)
        assert connected
        await staff.receive_until(lambda f: f["type"] == "snapshot")
        hostile = [
            (raw_frame("ping", "n", HUGE_INT), "invalid_frame"),
            (raw_frame("ping", "n", NESTED), "invalid_frame"),
            ("x" * 20_000, "frame_too_large"),
            ("\x00", "invalid_json"),
            ('{"type": "\\u0000"}', "unknown_type"),
            ("[1]", "invalid_frame"),
        ]
        for raw, code in hostile:
            await staff.communicator.send_to(text_data=raw)
            error = await staff.receive()
            assert error["type"] == "error" and error["code"] == code, (raw[:30], error)
        await staff.communicator.send_to(bytes_data=b"\x00")
        assert (await staff.receive())["code"] == "invalid_frame"
        await staff.send({"type": "ping"})
        assert (await staff.receive())["type"] == "pong"
        await staff.close()
    await answers_a_control_client(chat)


def _take_over(agent: Any, conversation_id: str) -> None:
    chat_services.do_append_event(conversation_id, role="customer", text="a person please")
    escalation, _ = services.do_escalate(
        conversation_id, trigger="customer_request", reason="asked for a person"
    )
    assert escalation is not None
    services.check_claim(escalation.pk, agent)


async def test_a_nul_in_an_agent_reply_or_note_is_removed_not_a_500(chat, make_agent):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    customer: ChatSocket = await chat()
    await database_sync_to_async(_take_over)(agent, customer.conversation_id)
    client = await database_sync_to_async(logged_in)(agent)
    base = f"/admin/console/conversations/{customer.conversation_id}"
    headers = {"Accept": "application/json"}

    reply = await database_sync_to_async(client.post)(
        f"{base}/reply/", {"text": "Hi\x00, Alex here\x1b"}, headers=headers
    )
    note = await database_sync_to_async(client.post)(
        f"{base}/notes/", {"text": "call\x00 back"}, headers=headers
    )
    empty = await database_sync_to_async(client.post)(
        f"{base}/reply/", {"text": "\x00"}, headers=headers
    )

    assert reply.status_code == 200 and reply.json()["ok"] is True
    said = await customer.receive_until(lambda f: f.get("role") == "agent")
    assert said[-1]["text"] == "Hi, Alex here"
    assert note.status_code == 200 and note.json()["ok"] is True
    stored = await database_sync_to_async(AgentNote.objects.get)(pk=note.json()["id"])
    assert stored.text == "call back"
    assert empty.status_code == 409 and empty.json()["code"] == "empty"


async def test_a_lone_surrogate_in_an_identity_token_is_a_400_not_a_500(fast_local, settings):
    settings.SUPPORTBOT_IDENTITY_SECRET = "s" * 32
    client = Client()
    response = await database_sync_to_async(client.post)(
        "/api/conversations/",
        '{"identity": "abc.\\ud800"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_identity"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/chat/conversation/?q=%00",
        "/admin/chat/message/?q=a%00b",
        "/admin/console/?q=%00",
        "/admin/reports/?start=%00",
        "/help/?q=%00",
    ],
)
async def test_a_nul_in_a_query_string_is_never_a_500(make_agent, path):
    manager = await database_sync_to_async(make_agent)("mia", "Mia")

    def get() -> Any:
        client = Client()
        manager.is_superuser = True
        manager.save()
        client.force_login(manager)
        return client.get(path)

    response = await database_sync_to_async(get)()
    assert response.status_code in {200, 302, 400}, (path, response.status_code)
