"""The agents' inbox: the three-pane page, transfer with the cap, presence, unread counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from apps.chat import services as chat_services
from apps.chat.models import Conversation, Message
from apps.chat.roles import MANAGERS
from apps.escalations import inbox, labels, services
from apps.escalations.models import AgentPresence, Escalation, EscalationEvent
from apps.escalations.services import EscalationError

from .conftest import logged_in, queued, staff_socket


def online(user, status: str = "online") -> None:
    AgentPresence.objects.update_or_create(
        user=user, defaults={"connections": 1, "last_seen": timezone.now(), "status": status}
    )


@pytest.mark.django_db
def test_the_inbox_needs_staff_with_the_permission(make_agent):
    escalation = queued()
    url = f"/admin/console/inbox/{escalation.conversation_id}/"
    assert Client().get("/admin/console/inbox/").status_code == 302
    outsider = make_agent("visitor", group=None)
    assert logged_in(outsider).get("/admin/console/inbox/").status_code == 403
    assert logged_in(outsider).get(url).status_code == 403
    manager = make_agent("morgan", "Morgan", group=MANAGERS)
    assert logged_in(manager).get(url).status_code == 200
    assert logged_in(manager).get("/admin/console/copilot/").status_code == 200
    alex = make_agent("alex", "Alex")
    assert logged_in(alex).get("/admin/console/copilot/").status_code == 403  # managers only
    response = logged_in(manager).post(
        f"/admin/console/conversations/{escalation.conversation_id}/transfer/", {"to": "queue"}
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_the_inbox_shows_three_panes_with_readable_events_and_escaped_text(make_agent):
    alex = make_agent("alex", "Alex")
    escalation = queued("my <b>lamp</b> broke")
    services.check_claim(escalation.pk, alex)
    page = (
        logged_in(alex).get(f"/admin/console/inbox/{escalation.conversation_id}/").content.decode()
    )
    assert 'aria-label="Conversations"' in page and 'aria-label="Context"' in page
    assert "my &lt;b&gt;lamp&lt;/b&gt; broke" in page and "<b>lamp" not in page
    assert "Waiting for an agent" in page and "Alex joined" in page  # not "handoff: queued"
    assert "Hand-over note" in page and "Escalation log" in page and "Private notes" in page
    assert 'id="reply-text"' in page and 'id="transfer-to"' in page
    assert "csrfmiddlewaretoken" in page


@pytest.mark.django_db
def test_the_inbox_script_gets_its_event_words_from_labels_py(make_agent):
    # given an agent on the inbox
    alex = make_agent("alex", "Alex")
    response = logged_in(alex).get("/admin/console/inbox/")
    # then the page's state carries the same tables the server renders stored events with
    page = response.content.decode()
    state_json = page.split('id="inbox-state" type="application/json">', 1)[1].split("</script>")[0]
    assert json.loads(state_json)["labels"] == labels.labels_for_page()
    assert labels.HANDOFF["queued"] == "Waiting for an agent"


@pytest.mark.django_db
def test_transfer_to_another_agent_tells_the_customer_and_respects_presence_and_cap(
    make_agent, settings
):
    settings.SUPPORTBOT_AGENT_MAX_CONVERSATIONS = 1
    alex, sam = make_agent("alex", "Alex"), make_agent("sam", "Sam")
    first, second = queued("first"), queued("second")
    services.check_claim(first.pk, alex)

    # given Sam is away, then online but full
    online(sam, "away")
    with pytest.raises(EscalationError) as refused:
        services.check_transfer(first.conversation_id, alex, sam)
    assert refused.value.code == "unavailable"
    online(sam)
    services.check_claim(second.pk, sam)
    with pytest.raises(EscalationError) as full:
        services.check_transfer(first.conversation_id, alex, sam)
    assert full.value.code == "at_capacity"

    # when Sam has room again
    services.do_close(second.conversation_id, sam)
    response = logged_in(alex, csrf=False).post(
        f"/admin/console/conversations/{first.conversation_id}/transfer/",
        {"to": str(sam.pk)},
        HTTP_ACCEPT="application/json",
    )

    # then Sam holds it, the customer is told, and Alex may no longer reply
    assert response.json()["ok"] is True
    escalation = Escalation.objects.get(pk=first.pk)
    assert escalation.claimed_by_id == sam.pk and escalation.status == "claimed"
    last = Message.objects.filter(conversation_id=first.conversation_id).order_by("-seq").first()
    assert last is not None and last.metadata["state"] == "agent_joined"
    assert last.text == "Alex passed your chat to Sam, who can see everything so far."
    assert EscalationEvent.objects.filter(escalation=escalation, kind="transferred").exists()
    with pytest.raises(EscalationError):
        services.do_agent_message(first.conversation_id, alex, "still me?")
    services.do_agent_message(first.conversation_id, sam, "Hi, Sam here.")


@pytest.mark.django_db
def test_transfer_back_to_the_queue_frees_the_agent_and_requeues_the_customer(make_agent):
    alex = make_agent("alex", "Alex")
    escalation = queued()
    services.check_claim(escalation.pk, alex)
    services.check_transfer(escalation.conversation_id, alex, None)
    escalation.refresh_from_db()
    assert escalation.status == "queued" and escalation.claimed_by is None
    conversation = Conversation.objects.get(pk=escalation.conversation_id)
    assert conversation.status == "queued"
    assert services.agent_load(alex) == 0
    last = Message.objects.filter(conversation=conversation).order_by("-seq").first()
    assert last is not None and last.metadata == {
        "state": "queued",
        "position": 1,
        "escalation_id": escalation.pk,
    }
    # and anyone may claim it again
    sam = make_agent("sam", "Sam")
    services.check_claim(escalation.pk, sam)


@pytest.mark.django_db
def test_away_agents_do_not_count_as_available_for_the_queue_or_the_sla_emails(
    make_agent, mailoutbox
):
    alex, sam = make_agent("alex", "Alex"), make_agent("sam", "Sam")
    online(alex)
    online(sam)
    services.do_set_presence(sam, "away")
    assert list(services.online_agents().values_list("user_id", flat=True)) == [alex.pk]
    assert services.agent_recipients() == ["alex@example.com"]
    # everyone away: a waiting customer is offered email, and all agents are emailed
    services.do_set_presence(alex, "away")
    assert services.should_offer_email()[0] is True
    assert services.agent_recipients() == ["alex@example.com", "sam@example.com"]


@pytest.mark.django_db
def test_unread_counts_are_customer_messages_after_the_agents_read_mark(make_agent):
    alex = make_agent("alex", "Alex")
    escalation = queued("one")
    conversation_id = str(escalation.conversation_id)
    chat_services.do_append_event(escalation.conversation_id, role="customer", text="two")
    assert inbox.unread_counts(alex, [conversation_id]) == {conversation_id: 2}
    # opening the conversation reads it
    logged_in(alex).get(f"/admin/console/inbox/{conversation_id}/")
    assert inbox.unread_counts(alex, [conversation_id]) == {}
    chat_services.do_append_event(escalation.conversation_id, role="customer", text="three")
    assert inbox.unread_counts(alex, [conversation_id]) == {conversation_id: 1}
    # marks never move back
    inbox.do_mark_read(alex, conversation_id, 1)
    assert inbox.unread_counts(alex, [conversation_id]) == {conversation_id: 1}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_queue_socket_carries_open_conversations_unread_counts_and_new_messages(
    chat, make_agent
):
    alex = await database_sync_to_async(make_agent)("alex", "Alex")
    customer = await chat()
    await customer.say("I need a representative")
    await customer.receive_until(lambda f: f["type"] == "handoff")
    connected, socket = await staff_socket("/ws/agent/", alex)
    assert connected
    snapshot = await socket.receive()
    assert [card["conversation_id"] for card in snapshot["open"]] == [customer.conversation_id]
    assert snapshot["unread"] == {customer.conversation_id: 1}
    await customer.say("are you there?")
    frames = await socket.receive_until(lambda f: f.get("event") == "message")
    assert frames[-1]["escalation"]["conversation_id"] == customer.conversation_id
    assert frames[-1]["data"]["preview"] == "are you there?"
    await socket.close()


@pytest.mark.django_db
def test_the_sla_sweep_requeues_a_waiting_customer_whose_agent_is_away_or_offline(
    make_agent, settings
):
    from apps.escalations import tasks

    settings.SUPPORTBOT_AGENT_AWAY_REQUEUE_MINUTES = 10
    alex = make_agent("alex", "Alex")
    online(alex)
    escalation = queued("my parcel is lost")
    services.check_claim(escalation.pk, alex)
    services.do_agent_message(escalation.conversation_id, alex, "Let me check.")

    # away for a short while, or with nothing to answer: nothing moves
    services.do_set_presence(alex, "away")
    chat_services.do_append_event(escalation.conversation_id, role="customer", text="hello?")
    assert tasks.sweep_escalations.delay().get() == 0
    long_ago = timezone.now() - timedelta(minutes=11)
    AgentPresence.objects.filter(user=alex).update(status_changed_at=long_ago)
    services.do_agent_message(escalation.conversation_id, alex, "Still checking.")
    assert services.due_requeues() == []

    # when the customer has been waiting on an agent away for over 10 minutes
    chat_services.do_append_event(escalation.conversation_id, role="customer", text="anyone?")
    assert tasks.sweep_escalations.delay().get() == 1

    # then the conversation is back in the queue and the customer is told
    escalation.refresh_from_db()
    assert escalation.status == "queued" and escalation.claimed_by is None
    conversation = Conversation.objects.get(pk=escalation.conversation_id)
    assert conversation.status == "queued"
    last = Message.objects.filter(conversation=conversation).order_by("-seq").first()
    assert last is not None and last.text.startswith("Alex had to step away")
    assert EscalationEvent.objects.filter(
        escalation=escalation, kind="requeued", data__reason="agent_unavailable"
    ).exists()
    assert tasks.sweep_escalations.delay().get() == 0


@pytest.mark.django_db
def test_an_online_agent_with_the_console_open_keeps_their_conversations(make_agent):
    alex = make_agent("alex", "Alex")
    online(alex)
    escalation = queued()
    services.check_claim(escalation.pk, alex)
    chat_services.do_append_event(escalation.conversation_id, role="customer", text="hello?")
    assert services.due_requeues(timezone.now() + timedelta(seconds=30)) == []
    # but one whose console went quiet long ago does not
    AgentPresence.objects.filter(user=alex).update(
        connections=0, last_seen=timezone.now() - timedelta(hours=1)
    )
    assert services.due_requeues() == [escalation.pk]


@pytest.mark.django_db
def test_a_manager_watching_the_inbox_is_not_counted_as_an_available_agent(make_agent):
    manager = make_agent("morgan", "Morgan", group=MANAGERS)
    online(manager)
    assert not services.online_agents().exists()
    assert services.should_offer_email()[0] is True  # the customer may go on by email
    alex = make_agent("alex", "Alex")
    online(alex)
    assert list(services.online_agents().values_list("user_id", flat=True)) == [alex.pk]
