"""Who owns a conversation changes in one place (apps/chat/ownership.py): only along the
allowed moves, only from the state the caller saw, and always with a hand-off event."""

from __future__ import annotations

import pytest

from apps.chat import events, ownership, services
from apps.chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

Status = Conversation.Status


def test_a_move_happens_only_from_the_state_the_caller_saw() -> None:
    conversation, _ = services.do_create_conversation()

    assert ownership.do_move(conversation.pk, Status.BOT, Status.QUEUED)
    # a second actor who also saw "bot" loses the race
    assert not ownership.do_move(conversation.pk, Status.BOT, Status.AGENT)

    conversation.refresh_from_db()
    assert conversation.status == Status.QUEUED


def test_a_move_outside_the_hand_off_states_is_refused() -> None:
    conversation, _ = services.do_create_conversation()

    with pytest.raises(ValueError, match="does not move from queued to bot"):
        ownership.do_move(conversation.pk, Status.QUEUED, Status.BOT)
    with pytest.raises(ValueError):
        ownership.do_move(conversation.pk, Status.CLOSED, Status.BOT)

    conversation.refresh_from_db()
    assert conversation.status == Status.BOT


def test_the_hand_off_event_carries_its_state_and_is_in_the_transcript() -> None:
    conversation, _ = services.do_create_conversation()

    message = ownership.do_announce(conversation.pk, "queued", "You're number 1.", position=1)

    stored = Message.objects.get(pk=message.pk)
    assert (stored.kind, stored.role, stored.text) == ("handoff", "system", "You're number 1.")
    assert stored.metadata == {"state": "queued", "position": 1}
    assert [f["seq"] for f in events.events_after(conversation.pk, 0)] == [stored.seq]


def test_closing_twice_closes_once() -> None:
    conversation, _ = services.do_create_conversation()

    assert ownership.do_close_conversation(conversation.pk, reason="customer")
    assert not ownership.do_close_conversation(conversation.pk, reason="idle")

    conversation.refresh_from_db()
    assert (conversation.status, conversation.close_reason) == (Status.CLOSED, "customer")


def test_the_row_lock_returns_nothing_for_a_conversation_that_is_gone() -> None:
    conversation, _ = services.do_create_conversation()
    pk = conversation.pk
    conversation.delete()

    assert Conversation.objects.lock(pk) is None
