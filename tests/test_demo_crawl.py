"""The crawl: with the demo data a new user has (store, help center, seeded history), every
staff role opens every admin changelist and change page, every report page, the agent
console and the conversation review for a sample covering every event kind and state.
Each page answers as the role's permissions say (200 or 403), never with an error."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from apps.chat.models import Conversation, Message, PendingAction, Turn

pytestmark = pytest.mark.django_db

# Role -> the demo login of that role (setup_demo creates them); "nobody" is staff
# without a group: it may open the admin index and nothing else.
ROLES = ["admin", "manager", "agent", "nobody"]
CHANGE_PAGES_PER_MODEL = 2


@dataclass(frozen=True)
class Page:
    url: str
    permission: str | None  # None: any staff member may open it


@pytest.fixture(scope="module")
def demo_loaded(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The demo data, loaded once for the module (each test still runs in its own
    transaction on top of it) and flushed afterwards, as a transactional test would."""
    with django_db_blocker.unblock():
        call_command("setup_demo", stdout=io.StringIO())
        get_user_model().objects.create_user("nobody", "nobody@example.com", "pw", is_staff=True)
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def demo(demo_loaded: None, db: None) -> None:
    """A test's view of the demo data."""


def _perm(model: type[Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def admin_pages() -> Iterator[Page]:
    yield Page(reverse("admin:index"), None)
    for app_label in sorted({model._meta.app_label for model in admin.site._registry}):
        yield Page(reverse("admin:app_list", args=[app_label]), f"{app_label}")
    for model in admin.site._registry:
        view = _perm(model, "view")
        info = model._meta.app_label, model._meta.model_name
        yield Page(reverse("admin:{}_{}_changelist".format(*info)), view)
        pks = model._default_manager.order_by("-pk").values_list("pk", flat=True)
        for pk in pks[:CHANGE_PAGES_PER_MODEL]:
            yield Page(reverse("admin:{}_{}_change".format(*info), args=[pk]), view)


def report_pages() -> Iterator[Page]:
    yield Page(reverse("reports:dashboard"), "reports.view_dashboard")
    yield Page(
        reverse("reports:dashboard") + "?start=2020-01-01&end=2020-01-31", "reports.view_dashboard"
    )
    yield Page(reverse("escalations:queue"), "escalations.view_escalation")
    yield Page(reverse("escalations:inbox"), "escalations.view_escalation")
    yield Page(reverse("escalations:copilot-report"), "escalations.view_copilotsuggestion")


def review_sample() -> dict[str, Conversation]:
    """One conversation for each message kind and hand-off state, each confirmation and
    turn status, each escalation event kind, agent notes and flagged messages. States
    the seeded history has no example of are given to a copy of a seeded one, so the
    sample always covers every state the models define."""
    sample: dict[str, Conversation] = {}
    for kind in Message.Kind.values:
        found = Message.objects.filter(kind=kind).select_related("conversation").first()
        assert found is not None, f"the demo history has no {kind} event"
        sample[f"message {kind}"] = found.conversation
    for state in (
        Message.objects.filter(kind=Message.Kind.HANDOFF)
        .values_list("metadata__state", flat=True)
        .distinct()
    ):
        found = Message.objects.filter(metadata__state=state).first()
        assert found is not None
        sample[f"hand-off {state}"] = found.conversation
    flagged = Message.objects.filter(metadata__has_key="screen").first()
    assert flagged is not None, "the demo history has no flagged message"
    sample["flagged"] = flagged.conversation
    actions = list(PendingAction.objects.select_related("conversation").order_by("pk"))
    for status in PendingAction.Status.values:
        action = next((a for a in actions if a.status == status), None)
        if action is None:
            action = actions.pop()
            PendingAction.objects.filter(pk=action.pk).update(status=status, result={})
        sample[f"action {status}"] = action.conversation
    turns = list(Turn.objects.select_related("conversation").order_by("pk")[:200])
    for status in Turn.Status.values:
        turn = next((t for t in turns if t.status == status), None)
        if turn is None:
            turn = turns.pop()
            Turn.objects.filter(pk=turn.pk).update(status=status, error_code=status)
        sample[f"turn {status}"] = turn.conversation
    from apps.escalations.models import AgentNote, EscalationEvent

    for kind in EscalationEvent.objects.values_list("kind", flat=True).distinct():
        event = EscalationEvent.objects.filter(kind=kind).select_related("escalation").first()
        assert event is not None
        sample[f"escalation {kind}"] = event.escalation.conversation
    note = AgentNote.objects.first()
    assert note is not None, "the demo history has no agent note"
    sample["agent note"] = note.conversation
    return sample


def review_pages(sample: dict[str, Conversation]) -> Iterator[Page]:
    for conversation in {c.pk: c for c in sample.values()}.values():
        yield Page(
            reverse("admin:chat_conversation_change", args=[conversation.pk]),
            "chat.view_conversation",
        )
        yield Page(
            reverse("escalations:conversation", args=[conversation.pk]),
            "escalations.view_escalation",
        )
        yield Page(
            reverse("escalations:inbox-conversation", args=[conversation.pk]),
            "escalations.view_escalation",
        )


def expected_status(user: Any, page: Page) -> int:
    if page.permission is None:
        return 200
    if "." not in page.permission:  # an app's index: lists the models the user may use
        models = [m for m in admin.site._registry if m._meta.app_label == page.permission]
        usable = any(
            user.has_perm(_perm(m, action))
            for m in models
            for action in ("view", "change", "add", "delete")
        )
        return 200 if usable else 404
    if user.has_perm(page.permission):
        return 200
    model_perm = page.permission.replace(".view_", ".change_")
    return 200 if user.has_perm(model_perm) else 403


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_page_answers_as_the_roles_permissions_say(demo: None, role: str) -> None:
    # given the demo data and a sample covering every event kind and state
    sample = review_sample()
    pages = [*admin_pages(), *report_pages(), *review_pages(sample)]
    user = get_user_model().objects.get(username=role)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    # when the role opens every page
    wrong = []
    for page in pages:
        status = client.get(page.url).status_code
        want = expected_status(user, page)
        if status != want:
            wrong.append(f"{page.url}: {status}, expected {want}")
    # then each answers as the permissions say
    assert not wrong, f"{role}:\n" + "\n".join(wrong)
    assert len(pages) > 60


def test_the_sample_covers_every_event_kind_and_action_state(demo: None) -> None:
    sample = review_sample()
    for kind in Message.Kind.values:
        assert f"message {kind}" in sample
    for status in PendingAction.Status.values:
        assert f"action {status}" in sample
    assert {"hand-off queued", "hand-off agent_joined", "hand-off closed"} <= set(sample)


def test_a_review_with_every_kind_of_confirmation_outcome_renders(demo: None) -> None:
    # given confirmations that ended every way, with and without a message or an error
    manager = get_user_model().objects.get(username="manager")
    client = Client(raise_request_exception=False)
    client.force_login(manager)
    action = PendingAction.objects.filter(status=PendingAction.Status.DECLINED).first()
    assert action is not None
    for result in ({}, {"error": "no longer pending"}, {"message": "Done."}, {"detail": "x"}):
        PendingAction.objects.filter(pk=action.pk).update(result=result)
        # when the manager opens its review
        response = client.get(
            reverse("admin:chat_conversation_change", args=[action.conversation_id])
        )
        # then it renders, with the outcome in words
        assert response.status_code == 200
        for value in result.values():
            assert value in response.content.decode()


def test_anonymous_visitors_are_sent_to_the_login_page(demo: None) -> None:
    client = Client()
    conversation = Conversation.objects.first()
    assert conversation is not None
    for url in (
        reverse("admin:chat_conversation_change", args=[conversation.pk]),
        reverse("reports:dashboard"),
        reverse("escalations:queue"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
