from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from apps.orders.services import export_store

from .conftest import load_json, train_scenarios

pytestmark = pytest.mark.django_db


def _replay(tmp_path: Path, scenarios: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(scenarios), encoding="utf-8")
    out = io.StringIO()
    call_command("replay_actions", str(path), stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_replaying_every_train_scenario_matches_the_expected_records(
    store: None, tmp_path: Path
) -> None:
    expected = load_json("expected_train.json.gz")
    scenarios = train_scenarios()
    assert len(scenarios) == 74

    result = _replay(tmp_path, scenarios)

    mismatched = sorted(k for k in expected if result.get(k) != expected[k])
    assert mismatched == []
    assert set(result) == set(expected)


def test_replay_leaves_the_store_unchanged_and_isolates_scenarios(
    store: None, tmp_path: Path
) -> None:
    before = export_store()
    cancel = {
        "name": "cancel_pending_order",
        "arguments": {"order_id": "#W6779827", "reason": "no longer needed"},
    }

    # The same cancel in two scenarios: each starts from the untouched store.
    result = _replay(tmp_path, {"a": [cancel], "b": [cancel, cancel]})

    assert result["a"]["errors"] == []
    assert result["a"]["orders"]["#W6779827"]["status"] == "cancelled"
    assert result["b"]["errors"] == ["1: Non-pending order cannot be cancelled"]
    assert export_store() == before


def test_a_refused_action_is_recorded_and_the_rest_continue(store: None, tmp_path: Path) -> None:
    actions = [
        {
            "name": "cancel_pending_order",
            "arguments": {"order_id": "#W2611340", "reason": "no longer needed"},
        },
        {
            "name": "modify_user_address",
            "arguments": {
                "user_id": "james_li_5688",
                "address1": "1 Main St",
                "address2": "",
                "city": "Austin",
                "state": "TX",
                "country": "USA",
                "zip": "78701",
            },
        },
        {"name": "get_order_details", "arguments": {"order_id": "#W0000000"}},
    ]

    result = _replay(tmp_path, {"s": actions})["s"]

    assert result["errors"] == ["0: Non-pending order cannot be cancelled"]
    assert result["orders"]["#W2611340"]["status"] == "processed"
    assert result["users"]["james_li_5688"]["address"]["city"] == "Austin"
    assert "#W0000000" not in result["orders"]


def test_replay_refuses_a_file_that_is_not_scenarios(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    path = tmp_path / "bad.json"
    path.write_text("[1, 2]", encoding="utf-8")

    with pytest.raises(CommandError):
        call_command("replay_actions", str(path), stdout=io.StringIO())
