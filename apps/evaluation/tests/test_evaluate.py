"""`manage.py evaluate` offline: a scripted oracle agent (the fake model calling the
product's tools with each scenario's reference actions) and a scripted customer pass
train scenarios end to end, and a perturbed scenario (a wrong item id) fails. This
shows the judge can pass and can fail, and that the report carries pass^k."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.assistant.prompts import unwrap_untrusted
from apps.evaluation.report import pass_hat_k
from apps.evaluation.scenarios import Scenario, all_scenarios, select
from apps.evaluation.simulator import STOP
from apps.orders.actions import CHANGE_ACTIONS
from apps.orders.loader import read_dataset
from tests import fake_openai as fake

PASSING = ["2", "13", "34"]  # a return (name and zip), a return (email), an address change
PERTURBED = "3"  # modify pending items: the oracle picks another variant than the reference


def perturbed(scenario: Scenario) -> list[dict[str, Any]]:
    """The scenario's actions with one new item id swapped for another variant of the
    same product: a change the store accepts, but not the one the customer wanted."""
    products = read_dataset()["products"]
    actions = [dict(a, arguments=dict(a["arguments"])) for a in scenario.actions]
    for action in actions:
        new_ids = action["arguments"].get("new_item_ids")
        if action["name"] in CHANGE_ACTIONS and new_ids:
            wanted, old = new_ids[0], action["arguments"]["item_ids"][0]
            variants = next(p["variants"] for p in products.values() if wanted in p["variants"])
            other = next(
                item_id
                for item_id, variant in variants.items()
                if item_id not in {wanted, old} and variant["available"]
            )
            action["arguments"]["new_item_ids"] = [other, *new_ids[1:]]
            return actions
    raise AssertionError("no item id to perturb")


class Oracle:
    """The fake model's two roles, told apart by the system prompt: the customer
    (scripted from the scenario) and the agent (the reference actions, through the
    product's own tools and confirmation cards)."""

    def __init__(self, scenarios: list[Scenario], wrong: dict[str, list[dict[str, Any]]]):
        self.scenarios = scenarios
        self.wrong = wrong

    def __call__(self, body: dict[str, Any]) -> Any:
        if body.get("response_format"):
            return fake.json_output(
                {"attack": False, "category": "none", "confidence": 0.01, "reason": "ordinary"}
            )
        system = body["messages"][0]["content"]
        if system.startswith("# Simulated customer"):
            return self.customer(body, self.scenario_in(system))
        first = next(m["content"] for m in body["messages"] if m["role"] == "user")
        return self.agent(body, self.scenario_in(first))

    def scenario_in(self, text: str) -> Scenario:
        return next(s for s in self.scenarios if s.instructions["reason_for_call"][:80] in text)

    # --- the customer

    def customer(self, body: dict[str, Any], scenario: Scenario) -> Any:
        said = [m for m in body["messages"] if m["role"] == "assistant"]
        heard = body["messages"][-1]
        if not said:
            return fake.text(f"{scenario.instructions['reason_for_call']} {identity(scenario)}")
        if heard["role"] == "user" and "[Confirmation card:" in heard["content"]:
            return fake.tool_calls([("confirm_card", {})])
        return fake.text(STOP)

    # --- the agent

    def agent(self, body: dict[str, Any], scenario: Scenario) -> Any:
        messages = body["messages"]
        actions = self.wrong.get(scenario.id, list(scenario.actions))
        if "not verified yet" in messages[2]["content"]:
            return fake.tool_calls([("verify_customer", verification(actions))])
        results = [_tool_data(m) for m in messages if m["role"] == "tool"]
        last = results[-1] if results else {}
        if last.get("confirmation") == "requested":
            return fake.text("Please review the change on the card and confirm it.")
        if last.get("error") or last.get("confirmation") in {"declined", "failed", "expired"}:
            return fake.text("Sorry, I could not do that.")
        done = sum(1 for data in results if data.get("confirmation") == "done")
        changes = [a for a in actions if a["name"] in CHANGE_ACTIONS]
        if done < len(changes):
            action = changes[done]
            arguments = {k: v for k, v in action["arguments"].items() if k != "user_id"}
            return fake.tool_calls([(action["name"], arguments)])
        return fake.text("All done. Is there anything else?")


def _tool_data(message: dict[str, Any]) -> dict[str, Any]:
    data = unwrap_untrusted(message["content"])
    return data if isinstance(data, dict) else {}


def identity(scenario: Scenario) -> str:
    lookup = scenario.actions[0]["arguments"]
    if "email" in lookup:
        return f"My email is {lookup['email']}."
    return f"I'm {lookup['first_name']} {lookup['last_name']}, zip code {lookup['zip']}."


def verification(actions: list[dict[str, Any]]) -> dict[str, Any]:
    lookup = actions[0]["arguments"]
    return {
        "email": lookup.get("email"),
        "first_name": lookup.get("first_name"),
        "last_name": lookup.get("last_name"),
        "zip": lookup.get("zip"),
    }


def test_the_oracle_passes_train_scenarios_and_a_perturbed_one_fails(
    fake_openai: fake.FakeOpenAI, tmp_path: Path
) -> None:
    # given the fake model playing a perfect agent and a cooperative customer
    scenarios = all_scenarios()
    chosen = [scenarios[i] for i in [*PASSING, PERTURBED]]
    assert all(s.id in {x.id for x in select("train")} for s in chosen)
    oracle = Oracle(chosen, {PERTURBED: perturbed(scenarios[PERTURBED])})
    fake_openai.script(*[fake.dynamic(oracle) for _ in range(400)])
    out = tmp_path / "report.json"

    # when the evaluation runs them, two workers at a time
    call_command(
        "evaluate",
        "--ids",
        ",".join(s.id for s in chosen),
        "--concurrency",
        "2",
        "--max-steps",
        "12",
        "--out",
        str(out),
    )

    # then the judge passes the oracle's episodes and fails the perturbed one
    report = json.loads(out.read_text())
    outcome = {task: data["passed"] for task, data in report["tasks"].items()}
    assert outcome == {"2": [True], "13": [True], "34": [True], "3": [False]}, json.dumps(
        {
            t: d["trials"][0].get("error") or d["trials"][0]["termination"]
            for t, d in report["tasks"].items()
        }
    )
    episode = report["tasks"]["13"]["trials"][0]
    assert episode["termination"] == "stop"
    assert episode["tools_called"] == ["verify_customer", "return_delivered_order_items"]
    assert episode["expected_hash"] == episode["actual_hash"]
    wrong = report["tasks"]["3"]["trials"][0]
    assert wrong["expected_hash"] != wrong["actual_hash"] and not wrong["error"]
    assert report["summary"]["pass_hat_k"] == {"1": 0.75}
    assert report["summary"]["episodes"] == 4 and report["summary"]["escalations"] == 0
    assert float(report["summary"]["cost_usd"]["total"]) > 0


def test_pass_hat_k_is_the_chance_that_k_drawn_trials_all_pass() -> None:
    results = {"a": [True, True, False], "b": [True, True, True], "c": [False, False, False]}

    assert pass_hat_k(results, 1) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert pass_hat_k(results, 2) == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert pass_hat_k(results, 3) == pytest.approx((0 + 1 + 0) / 3)


def test_the_splits_hold_the_benchmarks_114_scenarios() -> None:
    assert len(select("train")) == 74
    assert len(select("test")) == 40
    assert len(select("all")) == 114
    assert [s.id for s in select("test", ["5", "2"])] == ["5", "2"]


def test_evaluate_needs_a_model(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""

    with pytest.raises(CommandError, match="needs a model"):
        call_command("evaluate", "--ids", "2")
