"""A hand-off across two Daphne processes on one Redis layer: the customer's socket
on one, the agent's console (HTTP and staff sockets) on the other."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from channels.db import database_sync_to_async
from yarl import URL

from apps.escalations.tests.conftest import make_agent, session_for
from tests.servers import daphne

__all__ = ["make_agent"]  # a fixture, used by name

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


async def frame_where(ws: aiohttp.ClientWebSocketResponse, check: Any, timeout: float = 15) -> Any:
    while True:
        message = await ws.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame = json.loads(message.data)
        if check(frame):
            return frame


async def hello_is_answered_and_watched(
    customer: aiohttp.ClientWebSocketResponse, watch: aiohttp.ClientWebSocketResponse
) -> None:
    """The customer says hello: the assistant answers, and the staff socket watching
    the conversation hears the same reply."""
    await customer.send_json({"type": "message", "client_id": str(uuid.uuid4()), "text": "hello"})
    reply = await frame_where(
        customer, lambda f: f["type"] == "message" and f["role"] == "assistant"
    )
    assert reply["text"].startswith("Hi there!")
    watched = await frame_where(
        watch, lambda f: f["type"] == "chat" and f["frame"].get("role") == "assistant"
    )
    assert watched["frame"]["text"] == reply["text"]


async def test_customer_and_agent_on_different_processes_talk_both_ways(
    redis_url: str, tmp_path: Path, make_agent: Any
):
    agent = await database_sync_to_async(make_agent)("alex", "Alex")
    session = await database_sync_to_async(session_for)(agent)
    env: dict[str, Any] = {
        "REDIS_URL": redis_url,
        "SUPPORTBOT_CHANNEL_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "SUPPORTBOT_TASKS_EAGER": "true",  # tasks in-process: this test has no worker
        "SUPPORTBOT_SUPPORT_HOURS": "",
    }
    with (
        daphne(tmp_path, **env) as customer_side,
        daphne(tmp_path, **env) as agent_side,
    ):
        async with (
            aiohttp.ClientSession() as customer_http,
            aiohttp.ClientSession(
                cookies={"sessionid": session}, cookie_jar=aiohttp.CookieJar(unsafe=True)
            ) as agent_http,
        ):
            # the customer asks for a person on process A
            async with customer_http.post(f"{customer_side}/api/conversations/") as response:
                created = await response.json()
            conversation_id = created["conversation_id"]
            customer = await customer_http.ws_connect(
                f"{customer_side.replace('http', 'ws')}/ws/chat/{conversation_id}/"
                f"?token={created['token']}",
                headers={"Origin": customer_side},
            )
            agent_ws = agent_side.replace("http", "ws")
            queue = await agent_http.ws_connect(
                f"{agent_ws}/ws/agent/", headers={"Origin": agent_side}
            )
            assert (await frame_where(queue, lambda f: f["type"] == "snapshot"))[
                "escalations"
            ] == []
            await customer.send_json(
                {"type": "message", "client_id": str(uuid.uuid4()), "text": "talk to a human"}
            )
            await frame_where(customer, lambda f: f["type"] == "handoff")

            # the agent's queue on process B hears of it live
            created_event = await frame_where(queue, lambda f: f.get("event") == "created")
            escalation_id = created_event["escalation"]["id"]
            assert created_event["escalation"]["conversation_id"] == conversation_id

            # the agent claims and writes through the console on process B
            async with agent_http.get(f"{agent_side}/admin/console/") as page:
                assert page.status == 200
            token = agent_http.cookie_jar.filter_cookies(URL(agent_side))["csrftoken"].value
            headers = {"X-CSRFToken": token, "Accept": "application/json"}
            async with agent_http.post(
                f"{agent_side}/admin/console/escalations/{escalation_id}/claim/", headers=headers
            ) as claimed:
                assert (await claimed.json())["ok"] is True
            watch = await agent_http.ws_connect(
                f"{agent_ws}/ws/agent/conversations/{conversation_id}/",
                headers={"Origin": agent_side},
            )
            await frame_where(watch, lambda f: f["type"] == "snapshot")
            joined = await frame_where(
                customer, lambda f: f["type"] == "handoff" and f["state"] == "agent_joined"
            )
            assert joined["agent_name"] == "Alex"
            base = f"{agent_side}/admin/console/conversations/{conversation_id}"
            async with agent_http.post(
                f"{base}/reply/", data={"text": "Hi, Alex here."}, headers=headers
            ) as sent:
                assert (await sent.json())["ok"] is True
            said = await frame_where(customer, lambda f: f.get("role") == "agent")
            assert said["text"] == "Hi, Alex here." and said["agent_name"] == "Alex"

            # the customer answers on process A; the agent sees it on process B
            await customer.send_json(
                {"type": "message", "client_id": str(uuid.uuid4()), "text": "my lamp is broken"}
            )
            heard = await frame_where(
                watch, lambda f: f["type"] == "chat" and f["frame"].get("role") == "customer"
            )
            assert heard["frame"]["text"] == "my lamp is broken"

            # handed back on B, the bot on A answers the question the agent left (the
            # help center has nothing on lamps), and B watches it
            async with agent_http.post(f"{base}/hand-back/", headers=headers) as back:
                assert (await back.json())["ok"] is True
            await frame_where(
                customer, lambda f: f["type"] == "handoff" and f["state"] == "returned_to_bot"
            )
            pending = await frame_where(
                customer, lambda f: f["type"] == "message" and f["role"] == "assistant"
            )
            assert "help center doesn't cover" in pending["text"]
            await frame_where(
                watch,
                lambda f: (
                    f["type"] == "chat"
                    and f["frame"].get("role") == "assistant"
                    and f["frame"]["text"] == pending["text"]
                ),
            )
            # then it answers the customer's next message, on A and watched on B
            await hello_is_answered_and_watched(customer, watch)
            for ws in (customer, queue, watch):
                await ws.close()
