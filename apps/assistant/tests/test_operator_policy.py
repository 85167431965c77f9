"""Operator policy versions: every admin save is a new row; turns record the version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import path

from apps.assistant import prompts
from apps.assistant.models import OperatorPolicy

# Only the admin is needed here; a urlconf of our own keeps these tests independent
# of routes other apps add to the project's.
urlpatterns = [path("admin/", admin.site.urls)]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

FORM = {
    "store_name": "Sierra Outfitters",
    "voice": "Warm and brief.",
    "business_hours": "Mon-Fri 9-17 ET",
    "refund_rules": "Refunds to the original payment method.",
    "topics_to_avoid": "Politics.",
    "extra": "",
    "identity_rule": "email_and_zip",
    "handoff_rule": "on_request",
}


def staff(username: str, *, superuser: bool = False, can_change: bool = False) -> Client:
    user = User.objects.create_user(username, password="pw-for-tests-123", is_staff=True)
    user.is_superuser = superuser
    user.save()
    if can_change:
        user.user_permissions.add(Permission.objects.get(codename="change_operatorpolicy"))
    client = Client()
    client.force_login(user)
    return client


def test_saving_the_current_policy_publishes_a_new_version_and_keeps_the_old_one() -> None:
    # given version 1
    first = OperatorPolicy.objects.create(version=1, voice="Formal.")
    client = staff("root", superuser=True)
    # when an editor saves its change form with a new voice
    response = client.post(
        f"/admin/assistant/operatorpolicy/{first.pk}/change/", {**FORM, "voice": "Playful."}
    )
    # then version 2 exists, made by that editor, and version 1 is untouched
    assert response.status_code == 302
    assert list(OperatorPolicy.objects.values_list("version", flat=True)) == [2, 1]
    latest = OperatorPolicy.current()
    assert latest.version == 2 and latest.voice == "Playful."
    assert latest.created_by is not None and latest.created_by.username == "root"
    first.refresh_from_db()
    assert first.voice == "Formal."


def test_adding_a_policy_on_an_empty_store_creates_version_one() -> None:
    client = staff("editor", can_change=True)
    response = client.post("/admin/assistant/operatorpolicy/add/", FORM)
    assert response.status_code == 302
    assert OperatorPolicy.current().version == 1


def test_every_save_counts_up_from_the_highest_version() -> None:
    OperatorPolicy.objects.create(version=1)
    OperatorPolicy.objects.create(version=7)
    client = staff("root", superuser=True)
    client.post("/admin/assistant/operatorpolicy/add/", FORM)
    client.post("/admin/assistant/operatorpolicy/add/", {**FORM, "extra": "Be nice."})
    assert list(OperatorPolicy.objects.values_list("version", flat=True)) == [9, 8, 7, 1]


def test_older_versions_are_read_only_history() -> None:
    old = OperatorPolicy.objects.create(version=1, voice="Old.")
    OperatorPolicy.objects.create(version=2)
    client = staff("root", superuser=True)
    page = client.get(f"/admin/assistant/operatorpolicy/{old.pk}/change/")
    assert page.status_code == 200
    assert b'name="voice"' not in page.content  # shown, not editable
    response = client.post(f"/admin/assistant/operatorpolicy/{old.pk}/change/", FORM)
    assert response.status_code == 403
    assert OperatorPolicy.objects.count() == 2


def test_no_version_can_be_deleted() -> None:
    policy = OperatorPolicy.objects.create(version=1)
    client = staff("root", superuser=True)
    response = client.post(f"/admin/assistant/operatorpolicy/{policy.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert OperatorPolicy.objects.filter(pk=policy.pk).exists()


def test_staff_without_the_change_permission_cannot_publish() -> None:
    policy = OperatorPolicy.objects.create(version=1)
    client = staff("agent")
    assert client.get("/admin/assistant/operatorpolicy/").status_code == 403
    response = client.post(f"/admin/assistant/operatorpolicy/{policy.pk}/change/", FORM)
    assert response.status_code == 403
    assert client.post("/admin/assistant/operatorpolicy/add/", FORM).status_code == 403
    assert OperatorPolicy.objects.count() == 1


def test_a_built_prompt_records_the_operator_version_it_used() -> None:
    # given a policy published through the admin
    OperatorPolicy.objects.create(version=1)
    client = staff("root", superuser=True)
    client.post("/admin/assistant/operatorpolicy/add/", {**FORM, "store_name": "Trail & Co"})
    # when a prompt is built
    facts = prompts.SessionFacts(identity=None, now=datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    built = prompts.build(facts, [prompts.user_message("hi")])
    # then the layers name that version and its text is in the operator layer
    assert built.layers["operator"] == "operator.v2@2"
    assert "Trail & Co" in built.messages[1]["content"]
    assert built.layers["platform"] == prompts.PLATFORM_LAYER


def test_the_texts_built_from_a_policy_follow_its_rules_not_its_version_number() -> None:
    # given: the same version number twice, as after a rolled-back save
    first = OperatorPolicy(version=7, **{**FORM, "voice": "Warm and brief."})
    second = OperatorPolicy(version=7, **{**FORM, "voice": "Formal, never jokes."})

    # when
    first_text, first_version = prompts.operator_text(first)
    second_text, second_version = prompts.operator_text(second)

    # then
    assert first_version == second_version == "operator.v2@7"
    assert "Warm and brief." in first_text and "Warm and brief." not in second_text
    assert "Formal, never jokes." in second_text
    assert any("Formal, never jokes." in text for text in prompts.instruction_texts(second))
    assert not any("Formal, never jokes." in text for text in prompts.instruction_texts(first))
