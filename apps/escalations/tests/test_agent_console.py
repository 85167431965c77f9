"""The agent console in the admin: staff-only pages and sockets, CSRF-protected changes."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from apps.chat import services as chat_services
from apps.chat.models import Message, Turn
from apps.chat.roles import MANAGERS
from apps.escalations import services
from apps.escalations.models import AgentNote, Escalation

from .conftest import logged_in, queued, staff_socket

# --- Sockets -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_staff_socket_refuses_anonymous_customers_and_staff_without_permission(
    make_agent,
):
    outsider = await database_sync_to_async(make_agent)("visitor", group=None)
    connected, _ = await staff_socket("/ws/agent/", None)
    assert not connected
    connected, _ = await staff_socket("/ws/agent/", outsider)
    assert not connected
    escalation = await database_sync_to_async(queued)()
    connected, _ = await staff_socket(
        f"/ws/agent/conversations/{escalation.conversation_id}/", outsider
    )
    assert not connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_queue_socket_shows_the_queue_and_updates_live(make_agent):
    alex = await database_sync_to_async(make_agent)("alex", "Alex")
    waiting = await database_sync_to_async(queued)("first")
    connected, socket = await staff_socket("/ws/agent/", alex)
    assert connected
    snapshot = await socket.receive()
    assert snapshot["type"] == "snapshot"
    assert [card["id"] for card in snapshot["escalations"]] == [waiting.pk]
    assert snapshot["online_agents"] == 1

    # when a new escalation arrives, and then one is claimed
    second = await database_sync_to_async(queued)("second")
    created = await socket.receive_until(
        lambda f: f.get("event") == "created" and f["escalation"]["id"] == second.pk
    )
    assert created[-1]["escalation"]["position"] == 2
    await database_sync_to_async(services.check_claim)(waiting.pk, alex)
    claimed = await socket.receive_until(lambda f: f.get("event") == "claimed")
    card = claimed[-1]["escalation"]
    assert card["status"] == "claimed" and card["claimed_by"] == "Alex"
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_private_notes_reach_staff_and_never_the_customer(chat, make_agent):
    alex = await database_sync_to_async(make_agent)("alex", "Alex")
    customer = await chat()
    await customer.say("I need a representative")
    await customer.receive_until(lambda f: f["type"] == "handoff")
    connected, staff = await staff_socket(
        f"/ws/agent/conversations/{customer.conversation_id}/", alex
    )
    assert connected
    assert (await staff.receive())["type"] == "snapshot"
    await database_sync_to_async(services.do_add_note)(
        customer.conversation_id, alex, "SECRET: customer sounds like a reseller"
    )
    note = await staff.receive_until(lambda f: f.get("event") == "note")
    assert note[-1]["data"]["note"]["text"].startswith("SECRET")
    # the customer hears a later event, but never the note
    await customer.say("hello?")
    seen = await customer.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "customer"
    )
    assert not any("SECRET" in str(frame) for frame in customer.frames + seen)
    # and the agent sees the customer's message live
    live = await staff.receive_until(
        lambda f: f["type"] == "chat" and f["frame"].get("text") == "hello?"
    )
    assert live[-1]["frame"]["role"] == "customer"
    await staff.close()


# --- Pages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_console_pages_need_staff_with_the_permission(make_agent):
    escalation = queued()
    url = f"/admin/console/conversations/{escalation.conversation_id}/"
    assert Client().get("/admin/console/").status_code == 302  # to the admin login
    outsider = make_agent("visitor", group=None)
    assert logged_in(outsider).get("/admin/console/").status_code == 403
    assert logged_in(outsider).get(url).status_code == 403
    manager = make_agent("morgan", "Morgan", group=MANAGERS)
    assert logged_in(manager).get(url).status_code == 200  # managers may look
    response = logged_in(manager).post(f"/admin/console/escalations/{escalation.pk}/claim/")
    assert response.status_code == 403  # but not take conversations
    assert Escalation.objects.get(pk=escalation.pk).status == "queued"


@pytest.mark.django_db
def test_the_queue_page_lists_waiting_customers_with_a_claim_form(make_agent):
    alex = make_agent("alex", "Alex")
    escalation = queued("my parcel is lost")
    page = logged_in(alex).get("/admin/console/").content.decode()
    assert "my parcel is lost" in page
    assert f"/admin/console/escalations/{escalation.pk}/claim/" in page
    assert "csrfmiddlewaretoken" in page
    assert 'src="/static/escalations/queue.js"' in page


@pytest.mark.django_db
def test_claiming_needs_a_csrf_token_and_the_loser_is_told_who_won(make_agent):
    alex, sam = make_agent("alex", "Alex"), make_agent("sam", "Sam")
    escalation = queued()
    url = f"/admin/console/escalations/{escalation.pk}/claim/"
    assert logged_in(alex, csrf=True).post(url).status_code == 403  # no token
    client = logged_in(alex, csrf=True)
    client.get("/admin/console/")
    token = client.cookies["csrftoken"].value
    response = client.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/console/conversations/{escalation.conversation_id}/"
    lost = logged_in(sam).post(url, HTTP_ACCEPT="application/json")
    assert lost.status_code == 409
    assert lost.json() == {
        "ok": False,
        "code": "taken",
        "message": "Already taken by Alex.",
        "redirect": "/admin/console/",
    }


@pytest.mark.django_db
def test_the_conversation_page_shows_history_tool_activity_audit_and_notes_escaped(make_agent):
    alex = make_agent("alex", "Alex")
    escalation = queued("<script>alert('x')</script> where is #W1234567?")
    turn = Turn.objects.create(
        conversation_id=escalation.conversation_id,
        status="completed",
        answers_seq=1,
        tool_calls=[
            {
                "name": "get_order",
                "arguments": {"order_id": "#W1234567"},
                "ok": True,
                "result": "{}",
            }
        ],
        verdicts=[{"check": "input_screen", "tripwire": True, "reason": "injection"}],
        layers={"platform": "platform.v1"},
    )
    AgentNote.objects.create(conversation_id=escalation.conversation_id, author=alex, text="VIP")
    services.check_claim(escalation.pk, alex)
    page = (
        logged_in(alex)
        .get(f"/admin/console/conversations/{escalation.conversation_id}/")
        .content.decode()
    )
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page
    assert "Tool get_order" in page and "#W1234567" in page
    assert "Guardrail input_screen" in page and "platform.v1" in page
    assert "VIP" in page and 'id="reply-form"' in page and "Greeting" in page
    assert turn.pk


@pytest.mark.django_db
def test_reply_hand_back_and_note_through_the_console(make_agent):
    alex = make_agent("alex", "Alex")
    escalation = queued()
    services.check_claim(escalation.pk, alex)
    client = logged_in(alex)
    base = f"/admin/console/conversations/{escalation.conversation_id}"
    sent = client.post(
        f"{base}/reply/", {"text": "Hello from Alex"}, HTTP_ACCEPT="application/json"
    )
    assert sent.json()["ok"] is True
    client.post(f"{base}/notes/", {"text": "private"})
    client.post(f"{base}/hand-back/")
    roles = list(
        Message.objects.filter(conversation_id=escalation.conversation_id).values_list(
            "role", "text"
        )
    )
    assert ("agent", "Hello from Alex") in roles
    assert not any("private" in text for _, text in roles)
    assert Escalation.objects.get(pk=escalation.pk).status == "returned"


@pytest.mark.django_db
def test_an_agent_may_take_over_a_conversation_the_bot_is_handling(make_agent):
    alex = make_agent("alex", "Alex")
    conversation, _ = chat_services.do_create_conversation()
    response = logged_in(alex).post(f"/admin/console/conversations/{conversation.pk}/take-over/")
    assert response.status_code == 302
    escalation = Escalation.objects.get(conversation=conversation)
    assert escalation.trigger == "agent" and escalation.claimed_by == alex
    conversation.refresh_from_db()
    assert conversation.status == "agent"
