"""Rate limits are per client across all its conversations (resume too), and behind
a trusted proxy the client is the address the proxy saw, not the proxy."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.chat import engine, services
from apps.chat.models import Message
from apps.chat.ratelimit import client_key
from supportbot.asgi import application

from .conftest import ORIGIN, ChatSocket

PROXY = "10.0.0.2"


async def socket_from(address: str, forwarded_for: str | None = None) -> ChatSocket:
    conversation, token = await database_sync_to_async(services.do_create_conversation)()
    headers = [ORIGIN]
    if forwarded_for:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/?token={token}", headers=headers
    )
    communicator.scope["client"] = (address, 50000)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    socket = ChatSocket(communicator, str(conversation.pk))
    assert (await socket.receive())["type"] == "session"
    return socket


async def answer_or_refusal(socket: ChatSocket) -> str:
    await socket.say("hello")
    frames = await socket.receive_until(
        lambda f: f["type"] == "error" or (f["type"] == "message" and f["role"] == "assistant")
    )
    # the reply is stored before its turn ends: let the turn finish, so no turn is
    # still publishing when the test's event loop closes
    await engine.wait_idle(uuid.UUID(socket.conversation_id))
    return frames[-1].get("code", "answered")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_more_conversations_do_not_buy_one_client_more_messages(fast_local, settings):
    settings.SUPPORTBOT_RATE_MESSAGES = 3
    sockets = [await socket_from("203.0.113.7") for _ in range(3)]
    outcomes = [await answer_or_refusal(socket) for socket in sockets]
    outcomes += [await answer_or_refusal(socket) for socket in sockets]
    assert outcomes == ["answered"] * 3 + ["rate_limited"] * 3
    stored = await database_sync_to_async(Message.objects.filter(role="customer").count)()
    assert stored == 3
    # a control client elsewhere is still answered
    assert await answer_or_refusal(await socket_from("198.51.100.4")) == "answered"
    for socket in sockets:
        await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_resume_is_rate_limited_per_client(fast_local, settings):
    settings.SUPPORTBOT_RATE_RESUMES = 2
    first, second = await socket_from("203.0.113.7"), await socket_from("203.0.113.7")
    for socket in (first, second):
        await socket.send({"type": "resume", "last_seq": 0})
        assert (await socket.receive())["type"] == "resumed"
    await first.send({"type": "resume", "last_seq": 0})
    refused = await first.receive()
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    for socket in (first, second):
        await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_behind_a_trusted_proxy_each_customer_has_their_own_allowance(fast_local, settings):
    settings.SUPPORTBOT_RATE_MESSAGES = 1
    settings.SUPPORTBOT_TRUSTED_PROXIES = [PROXY]
    greedy = await socket_from(PROXY, "198.51.100.1")
    assert await answer_or_refusal(greedy) == "answered"
    assert await answer_or_refusal(greedy) == "rate_limited"
    # another customer through the same proxy is not locked out
    other = await socket_from(PROXY, "198.51.100.2")
    assert await answer_or_refusal(other) == "answered"
    for socket in (greedy, other):
        await socket.close()


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(settings):
    settings.SUPPORTBOT_TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client_key("10.0.0.2", "198.51.100.1") == "198.51.100.1"
    # a client's own forged entries come first; the proxy appends the real one
    assert client_key("10.0.0.2", "1.1.1.1, 198.51.100.1") == "198.51.100.1"
    # chained trusted proxies are skipped
    assert client_key("10.0.0.2", "198.51.100.1, 10.0.0.5") == "198.51.100.1"
    # from anyone else the header is ignored
    assert client_key("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    assert client_key("10.0.0.2", "not-an-address") == "10.0.0.2"


@pytest.mark.django_db
def test_new_conversations_behind_a_proxy_are_limited_per_customer(settings):
    settings.SUPPORTBOT_RATE_CONVERSATIONS = 2
    settings.SUPPORTBOT_TRUSTED_PROXIES = [PROXY]
    client = Client(REMOTE_ADDR=PROXY)

    def create(customer: str) -> int:
        return client.post(
            "/api/conversations/",
            "{}",
            content_type="application/json",
            HTTP_X_FORWARDED_FOR=customer,
        ).status_code

    assert [create("198.51.100.1") for _ in range(3)] == [201, 201, 429]
    assert create("198.51.100.2") == 201
    stored: Any = services.Conversation.objects.values_list("client_key", flat=True)
    assert set(stored) == {"198.51.100.1", "198.51.100.2"}


def test_a_window_allows_its_limit_then_refuses_and_its_counter_expires(redis_url):
    from django.core.cache.backends.redis import RedisCache

    from apps.chat.ratelimit import check_rate, counters

    cache = counters()
    if not isinstance(cache, RedisCache):
        pytest.skip("the rate counters are on Redis only with REDIS_URL set")
    # given a client new to this scope, early enough in a window to stay in it
    client = str(uuid.uuid4())
    if 60 - time.time() % 60 < 2:
        time.sleep(2)

    # when it is counted one more time than its limit
    allowed = [check_rate("test", client, limit=3, window=60) for _ in range(4)]

    # then the limit's hits pass and the next is refused, and the counter does not
    # outlive the next window
    assert allowed == [True, True, True, False]
    key = cache.make_and_validate_key(f"rate:test:{client}:{int(time.time() // 60)}")
    ttl = cache._cache.get_client(key).ttl(key)  # type: ignore[attr-defined]
    assert 60 < ttl <= 120
