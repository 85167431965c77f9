"""The classic console's details: readable event names, one time format, the hand-over
note's goal, the escalation list's order and the admin home's links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.chat import services as chat_services
from apps.chat.roles import MANAGERS
from apps.escalations import services
from apps.escalations.labels import event_label
from apps.escalations.models import Escalation
from apps.escalations.summaries import extractive_summary, stated_goal

from .conftest import logged_in

pytestmark = pytest.mark.django_db


def escalated(*texts: str) -> Escalation:
    conversation, _ = chat_services.do_create_conversation()
    for text in texts:
        chat_services.do_append_event(conversation.pk, role="customer", text=text)
    escalation, _ = services.do_escalate(
        conversation.pk, trigger="customer_request", reason="customer asked for a person"
    )
    assert escalation is not None
    return escalation


def test_event_names_read_as_words_not_internal_states() -> None:
    assert event_label("handoff", "system", {"state": "agent_joined"}) == "Agent joined"
    assert event_label("handoff", "system", {"state": "returned_to_bot"}) == (
        "Handed back to the assistant"
    )
    assert event_label("confirm_result", "system", {"status": "done"}) == (
        "Change confirmed and made"
    )
    assert event_label("message", "customer", {}) == "Customer"
    assert event_label("handoff", "system", {"state": "some_new_state"}) == "Some new state"


def test_the_console_page_shows_readable_names_and_one_time_format(make_agent) -> None:
    # given an escalated conversation an agent has claimed
    escalation = escalated("Where is my order #W2378156?", "I want a person")
    alex = make_agent("alex", "Alex")
    services.check_claim(escalation.pk, alex)
    services.do_add_note(escalation.conversation_id, alex, "checking the carrier")
    # when the agent opens it
    page = logged_in(alex).get(f"/admin/console/conversations/{escalation.conversation_id}/")
    html = page.content.decode()
    # then no internal state names, and every time is an HH:MM:SS <time> with its instant
    assert page.status_code == 200
    assert "agent_joined" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "Hand-off:" not in html
    assert "Agent joined" in html and "Escalated" in html and "Claimed" in html
    times = re.findall(r'<time datetime="([^"]+)">([^<]*)</time>', html)
    assert len(times) >= 4  # messages, the note, the escalation log
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", shown) for _, shown in times), times


def test_the_hand_over_note_goal_is_the_request_not_the_greeting_or_the_ask_for_a_person(
    make_agent,
) -> None:
    escalation = escalated("hi", "My lamp arrived broken in order #W2378156", "agent please")
    assert extractive_summary(escalation)["goal"] == "My lamp arrived broken in order #W2378156"
    assert stated_goal(["I want to talk to a real person"]) == ""
    assert stated_goal(["ana@example.com 62704"]) == ""
    assert stated_goal(["get me a human, my refund never arrived"]) == (
        "get me a human, my refund never arrived"
    )


def test_the_escalation_list_opens_on_open_ones_then_the_newest(make_agent) -> None:
    # given an old closed, a recent closed, a claimed and a queued escalation
    old, recent, claimed, waiting = (escalated(f"question {n}") for n in range(4))
    now = timezone.now()
    for escalation, days in ((old, 30), (recent, 1)):
        Escalation.objects.filter(pk=escalation.pk).update(
            status="closed", created_at=now - timedelta(days=days)
        )
    services.check_claim(claimed.pk, make_agent("alex", "Alex"))
    manager = make_agent("morgan", "Morgan", group=MANAGERS)
    # when a manager opens the escalation list
    page = logged_in(manager).get("/admin/escalations/escalation/")
    ids = [
        int(i) for i in re.findall(r'name="_selected_action" value="(\d+)"', page.content.decode())
    ]
    if not ids:  # no actions column: read the id column instead
        ids = [
            int(i) for i in re.findall(r'<th class="field-id">.*?>(\d+)<', page.content.decode())
        ]
    # then waiting first, then with an agent, then the newest closed
    assert ids == [waiting.pk, claimed.pk, recent.pk, old.pk]


def test_the_admin_home_links_to_the_console_and_the_dashboard_by_role(make_agent) -> None:
    agent_home = logged_in(make_agent("alex", "Alex")).get("/admin/").content.decode()
    assert 'href="/admin/console/"' in agent_home
    assert 'href="/admin/reports/dashboard/"' not in agent_home  # agents have no dashboard
    manager_home = logged_in(make_agent("morgan", "Morgan", group=MANAGERS)).get("/admin/")
    assert 'href="/admin/reports/dashboard/"' in manager_home.content.decode()
    assert 'href="/admin/console/"' in manager_home.content.decode()
    nobody = logged_in(make_agent("visitor", group=None)).get("/admin/").content.decode()
    assert "Where to work" not in nobody
