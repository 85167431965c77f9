"""Changing the operator policy offers a trial first: the saved cases and the tau2 split
run under the current and the proposed policy (the workers really use each), the pass
rates are shown side by side, and nothing is published until the manager says so."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.assistant.models import OperatorPolicy
from apps.evaluation.scenarios import Scenario, all_scenarios
from apps.evaluation.tests.test_evaluate import Oracle
from apps.reports import cases, policy_trials
from apps.reports.models import PolicyTrial, SavedCase, SavedCaseRun
from tests import fake_openai as fake

pytestmark = pytest.mark.django_db


def form_of(policy: OperatorPolicy, **changes: str) -> dict[str, str]:
    return {**{k: getattr(policy, k) for k in OperatorPolicy.RULE_FIELDS}, **changes}


def test_a_proposed_policy_runs_before_and_after_and_is_published_on_request(
    fake_openai: fake.FakeOpenAI, manager_client
):
    # given: the current policy, one saved case and one tau2 task the oracle passes
    OperatorPolicy.objects.create(version=1)
    scenarios = all_scenarios()
    task = scenarios["13"]
    case = SavedCase.objects.create(
        name="a return",
        goal=task.instructions["reason_for_call"],
        facts=task.instructions["known_info"],
        expected_actions=list(task.actions),
        escalation="none",
    )
    played = Scenario(case.scenario_id, cases.spec_of(case).instructions, task.actions)
    fake_openai.script(*[fake.dynamic(Oracle([played, scenarios["34"]], {})) for _ in range(300)])

    # when: the manager proposes a new store name and asks to try it first
    response = manager_client.post(
        reverse("admin:assistant_operatorpolicy_add"),
        {**form_of(OperatorPolicy.current(), store_name="Trial Outfitters"), "_trial": "Try"},
    )
    trial = PolicyTrial.objects.get()
    assert response.url == reverse("admin:reports_policytrial_change", args=[trial.pk])
    assert OperatorPolicy.objects.count() == 1  # nothing published yet
    trial.ids = ["34"]  # one tau2 task instead of the whole train split, to keep this short
    trial.save()
    policy_trials.do_run_policy_trial(trial.pk)

    # then: both runs passed, each under its own policy
    trial.refresh_from_db()
    assert trial.status == "done", trial.error
    assert trial.before["tau2"] == trial.after["tau2"] == {"passed": 1, "total": 1}
    assert trial.before["cases"] == trial.after["cases"] == {"passed": 1, "total": 1}
    # the agent's instructions (its system messages) name the store of the policy in use
    prompts = [
        " ".join(str(m["content"]) for m in r["messages"] if m["role"] == "system")
        for r in fake_openai.requests
        if "messages" in r and not str(r["messages"][0]["content"]).startswith("# Simulated")
    ]
    assert any("Trial Outfitters" in p for p in prompts)
    assert any("Sierra Outfitters" in p and "Trial Outfitters" not in p for p in prompts)
    assert SavedCaseRun.objects.filter(case=case).count() == 2
    page = manager_client.get(reverse("admin:reports_policytrial_change", args=[trial.pk]))
    assert "1/1 (100%)" in page.content.decode() and "Trial Outfitters" in page.content.decode()

    # when: the manager publishes it
    url = reverse("admin:reports_policytrial_change", args=[trial.pk])
    manager_client.post(url, {"_publish": "Publish"})
    assert OperatorPolicy.current().store_name == "Trial Outfitters"
    trial.refresh_from_db()
    assert trial.published_version == OperatorPolicy.current().version


def test_without_a_model_the_trial_says_why_it_could_not_run(settings, manager):
    settings.OPENAI_API_KEY = ""
    trial = policy_trials.do_start_policy_trial({"voice": "Terse."}, user_id=manager.pk)
    policy_trials.do_run_policy_trial(trial.pk)
    trial.refresh_from_db()
    assert trial.status == "failed" and "needs a model" in trial.error
