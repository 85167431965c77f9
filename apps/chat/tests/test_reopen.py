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
