"""Real chats as regression tests: a case drafted from a conversation and saved from the
admin; `manage.py evaluate --cases` plays saved cases with the user simulator alongside
tau2-bench tasks, judges each against what its manager asked for (the store's end state,
escalation, phrases), and the admin shows each case's last results."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apps.chat.models import PendingAction
from apps.evaluation.scenarios import Scenario, all_scenarios
from apps.evaluation.tests.test_evaluate import Oracle
from apps.reports import cases
from apps.reports.models import SavedCase, SavedCaseRun
from tests import fake_openai as fake

pytestmark = pytest.mark.django_db


def test_a_case_is_drafted_from_the_transcript_with_the_changes_that_were_made(build, customer):
    b = build(timezone.now() - timedelta(hours=1), customer)
    b.customer("I need to cancel order #W1234567, I ordered it by mistake")
    b.bot("Could you confirm your email and zip code?")
    b.customer("ana.lopez@example.com 62704")
    b.bot("Please confirm the cancellation on the card.")
    PendingAction.objects.create(
        conversation=b.conversation,
        tool_name="cancel_pending_order",
        arguments={"order_id": "#W1234567", "reason": "ordered by mistake"},
        summary="Cancel order #W1234567",
        status=PendingAction.Status.DONE,
        expires_at=timezone.now(),
    )
    b.customer("thanks!")
    b.close("customer")
    draft = cases.draft_case(b.conversation)
    assert draft["goal"] == "I need to cancel order #W1234567, I ordered it by mistake"
    assert "Your name is Ana Lopez." in draft["facts"]
    assert "ana.lopez@example.com" in draft["facts"] and "62704" in draft["facts"]
    assert "#W1234567" in draft["facts"]
    assert draft["expected_actions"] == [
        {
            "name": "cancel_pending_order",
            "arguments": {"order_id": "#W1234567", "reason": "ordered by mistake"},
        }
    ]
    assert draft["escalation"] == "none"


def test_save_as_test_case_opens_the_drafted_form_and_saving_lists_the_case(
    build, customer, manager_client
):
    b = build(timezone.now() - timedelta(hours=1), customer)
    b.customer("Where is my order #W7654321?")
    b.bot("It shipped yesterday.")
    b.close("customer")
    response = manager_client.get(reverse("reports:save_case", args=[b.conversation.pk]))
    assert response.status_code == 302
    form = manager_client.get(response.url).content.decode()
    assert "Where is my order #W7654321?" in form  # the drafted goal, editable
    data = cases.draft_case(b.conversation)
    post = {
        **{k: v for k, v in data.items() if k != "expected_actions"},
        "expected_actions": "[]",
        "must_include": "shipped",
        "must_not_include": "",
        "active": "on",
        "check_store": "on",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
    }
    saved = manager_client.post(response.url, post)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    case = SavedCase.objects.get()
    assert (case.conversation_id, case.must_include) == (b.conversation.pk, "shipped")
    listing = manager_client.get(reverse("admin:reports_savedcase_changelist")).content.decode()
    assert "Where is my order #W7654321?" in listing and "not run yet" in listing


def case_from(scenario: Scenario, **overrides: Any) -> SavedCase:
    """A saved case that asks for what a tau2 scenario's customer wants."""
    values: dict[str, Any] = {
        "name": f"like task {scenario.id}",
        "goal": scenario.instructions["reason_for_call"],
        "facts": scenario.instructions.get("known_info") or "",
        "behaviour": scenario.instructions.get("task_instructions") or "",
        "expected_actions": list(scenario.actions),
        "escalation": SavedCase.Escalation.NONE,
    }
    return SavedCase.objects.create(**(values | overrides))


def test_evaluate_cases_runs_saved_cases_beside_tau2_tasks_and_records_pass_and_fail(
    fake_openai: fake.FakeOpenAI, manager_client
):
    scenarios = all_scenarios()
    # given: a case asking for what the oracle does (a return), and one that says
    # nothing may change and "All done" must not be said (the oracle does both)
    passing = case_from(scenarios["13"])
    failing = case_from(scenarios["2"], expected_actions=[], must_not_include="All done")
    played = [
        Scenario(id=c.scenario_id, instructions=cases.spec_of(c).instructions, actions=a)
        for c, a in ((passing, scenarios["13"].actions), (failing, scenarios["2"].actions))
    ]
    fake_openai.script(*[fake.dynamic(Oracle([*played, scenarios["34"]], {})) for _ in range(300)])
    out = io.StringIO()
    # when: the saved cases run alongside a tau2 task
    call_command(
        "evaluate",
        "--ids",
        "34",
        "--cases",
        "--concurrency",
        "2",
        "--max-steps",
        "12",
        "--label",
        "nightly",
        stdout=out,
    )
    # then
    printed = out.getvalue()
    # the tau2 task and the passing case pass; the failing case does not
    assert printed.startswith("2/3 episodes passed over 3 tasks")
    assert "saved cases: 1/2 episodes passed" in printed
    ok = SavedCaseRun.objects.get(case=passing)
    bad = SavedCaseRun.objects.get(case=failing)
    assert (ok.passed, ok.failures, ok.label) == (True, [], "nightly")
    assert bad.passed is False
    assert bad.failures == [
        "the store's end state is not the expected one (no change)",
        "the assistant said “All done”",
    ]
    assert any(t["role"] == "assistant" for t in bad.transcript)
    listing = manager_client.get(reverse("admin:reports_savedcase_changelist")).content.decode()
    assert "passed" in listing and "FAILED" in listing
    page = manager_client.get(reverse("admin:reports_savedcase_change", args=[failing.pk]))
    assert "the assistant said “All done”" in page.content.decode()
