"""The demo store, loaded once per test module (tests roll their own changes back)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.orders.loader import load_store, read_dataset, wipe_store

RETAIL = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def store(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_store(reset=True)
    yield
    with django_db_blocker.unblock():
        wipe_store()


@pytest.fixture(scope="session")
def dataset() -> dict[str, Any]:
    """db.json as shipped in the fixture, for comparisons."""
    return read_dataset()


def load_json(name: str) -> Any:
    """A file of tests/data: tau2-bench scenarios (MIT, see fixtures/README.md) and the
    expected replay results."""
    path = RETAIL / name
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    return json.loads(path.read_text(encoding="utf-8"))


def train_scenarios() -> dict[str, list[dict[str, Any]]]:
    """The train split's reference actions, in replay_actions' input shape."""
    tasks = load_json("tasks.json.gz")
    train = set(load_json("split_tasks.json")["train"])
    return {
        task["id"]: [
            {"action_id": a["action_id"], "name": a["name"], "arguments": a["arguments"]}
            for a in task["evaluation_criteria"]["actions"]
        ]
        for task in tasks
        if task["id"] in train
    }
