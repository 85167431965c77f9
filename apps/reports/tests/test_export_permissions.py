"""Who may export conversations: a manager exports any (with the filters), an agent
only the conversations they handled, staff with neither role nothing."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.reports.models import StaffAuditEvent
from apps.reports.tests.conftest import staff

pytestmark = pytest.mark.django_db

EXPORT = "/admin/chat/conversation/export/csv/"


@pytest.fixture
def two(build, customer, agent):
    """One conversation the agent handled, one the bot handled alone."""
    now = timezone.now()
    handled = build(now - timedelta(hours=3), customer)
    handled.customer("I want a human")
    handled.at(2).handoff("queued")
    handled.at(60).agent("Hi, Alex here.", author=agent)
    bots = build(now - timedelta(hours=1), customer)
    bots.customer("where is my order?")
    bots.at(2).bot("It ships today.")
    return handled.conversation, bots.conversation


def exported(client: Client) -> set[str]:
    response = client.get(EXPORT)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    rows = csv.DictReader(io.StringIO(body.decode()))
    return {row["id"] for row in rows}


def test_an_agent_exports_only_the_conversations_they_handled(client, agent, two):
    client.force_login(agent)
    assert exported(client) == {str(two[0].pk)}
    event = StaffAuditEvent.objects.get(user=agent, action="export")
    assert event.detail["scope"] == "handled" and event.detail["count"] == 1


def test_a_manager_exports_every_conversation(manager_client, manager, two):
    assert exported(manager_client) == {str(two[0].pk), str(two[1].pk)}
    event = StaffAuditEvent.objects.get(user=manager, action="export")
    assert event.detail["scope"] == "all"


def test_staff_without_a_support_role_cannot_export(client, two):
    client.force_login(staff("guest", None))
    assert client.get(EXPORT).status_code == 403
