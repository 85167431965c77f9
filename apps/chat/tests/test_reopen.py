"""Writing to a closed chat starts a new episode: the customer is told so in plain words;
the summary of the earlier episode is for staff only."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from apps.chat import events, ownership, services
from apps.chat.models import Conversation, Message
from apps.chat.roles import MANAGERS, ensure_groups

pytestmark = pytest.mark.django_db


def closed_and_rated() -> Conversation:
    conversation, _ = services.do_create_conversation()
    services.do_store_customer_message(
        conversation.pk, client_id=uuid.uuid4(), text="Where is my order #W2378156?"
    )
    ownership.do_close_conversation(conversation.pk, reason="customer")
    services.check_rate_conversation(conversation.pk, 4, "quick")
    return conversation


def test_the_customer_sees_that_a_new_chat_began_and_nothing_internal() -> None:
    # given a closed, rated conversation
    conversation = closed_and_rated()
    # when the customer writes again
    services.do_store_customer_message(conversation.pk, client_id=uuid.uuid4(), text="hi again")
    # then the notice the customer's page replays says only that a new chat began
    notices = [
        frame
        for frame in events.events_after(conversation.pk, 0)
        if frame["type"] == "message" and frame.get("notice") == "episode"
    ]
    assert [frame["text"] for frame in notices] == ["New conversation started."]
    for internal in ("Earlier", "customer asked", "message(s)", "closed by", "rated"):
        assert internal not in notices[0]["text"]


def test_staff_still_see_the_summary_of_the_earlier_episode() -> None:
    conversation = closed_and_rated()
    services.do_store_customer_message(conversation.pk, client_id=uuid.uuid4(), text="hi again")
    notice = Message.objects.get(conversation=conversation, metadata__notice="episode")
    assert "rated 4/5" in notice.metadata["previous_summary"]
    # the manager's review shows it
    manager = get_user_model().objects.create_user("morgan", "m@example.com", "pw", is_staff=True)
    manager.groups.set([ensure_groups()[MANAGERS]])
    client = Client()
    client.force_login(manager)
    page = client.get(reverse("admin:chat_conversation_change", args=[conversation.pk]))
    assert page.status_code == 200
    assert "Earlier episode" in page.content.decode()
    assert "rated 4/5" in page.content.decode()


def test_a_message_sent_again_after_the_chat_closed_does_not_reopen_it() -> None:
    # given a message stored, then the conversation closed before its echo came back
    conversation, _ = services.do_create_conversation()
    client_id = uuid.uuid4()
    first, _ = services.do_store_customer_message(
        conversation.pk, client_id=client_id, text="Where is my order #W2378156?"
    )
    ownership.do_close_conversation(conversation.pk, reason="idle")
    closed = Conversation.objects.get(pk=conversation.pk)
    # when the browser sends the same frame again
    again, created = services.do_store_customer_message(
        conversation.pk, client_id=client_id, text="Where is my order #W2378156?"
    )
    # then it is the stored message, and the chat stays closed, its seqs untouched
    assert (again, created) == (first, False)
    now = Conversation.objects.get(pk=conversation.pk)
    assert (now.status, now.episode, now.last_seq) == (
        Conversation.Status.CLOSED,
        closed.episode,
        closed.last_seq,
    )
    # while a new message reopens it, in a new episode
    _, created = services.do_store_customer_message(
        conversation.pk, client_id=uuid.uuid4(), text="One more thing"
    )
    now = Conversation.objects.get(pk=conversation.pk)
    assert created and now.status == Conversation.Status.BOT
    assert now.episode == closed.episode + 1


def test_a_resent_message_takes_no_seq() -> None:
    conversation, _ = services.do_create_conversation()
    client_id = uuid.uuid4()
    first, _ = services.do_store_customer_message(conversation.pk, client_id=client_id, text="hi")
    again, created = services.do_store_customer_message(
        conversation.pk, client_id=client_id, text="hi"
    )
    assert (again, created) == (first, False)
    assert Conversation.objects.get(pk=conversation.pk).last_seq == first.seq
    assert Message.objects.filter(conversation=conversation).count() == 1
