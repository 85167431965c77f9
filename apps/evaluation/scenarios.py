"""The tau2-bench retail scenarios: what each simulated customer wants, and the
reference actions a correct agent takes."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

DATA = Path(__file__).resolve().parent / "data"
Split = Literal["train", "test", "all"]


@dataclass(frozen=True)
class Scenario:
    id: str
    instructions: dict[str, Any]  # domain, reason_for_call, known_info, unknown_info, ...
    actions: tuple[dict[str, Any], ...]  # {"name", "arguments"} in order

    @property
    def user_instructions(self) -> str:
        """The customer's side of the scenario, as the user simulator reads it."""
        parts = [
            ("Why you are contacting the store", self.instructions.get("reason_for_call")),
            ("What you know", self.instructions.get("known_info")),
            ("What you do not know", self.instructions.get("unknown_info")),
            ("How you behave", self.instructions.get("task_instructions")),
        ]
        return "\n".join(f"{title}: {text}" for title, text in parts if text)


@cache
def _raw() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    with gzip.open(DATA / "tasks.json.gz", "rt", encoding="utf-8") as handle:
        tasks = json.load(handle)
    split = json.loads((DATA / "split_tasks.json").read_text(encoding="utf-8"))
    return tasks, split


def all_scenarios() -> dict[str, Scenario]:
    tasks, _ = _raw()
    return {
        str(task["id"]): Scenario(
            id=str(task["id"]),
            instructions=dict(task["user_scenario"]["instructions"]),
            actions=tuple(
                {"name": action["name"], "arguments": dict(action.get("arguments") or {})}
                for action in task["evaluation_criteria"]["actions"]
            ),
        )
        for task in tasks
    }


def select(split: Split = "train", ids: list[str] | None = None) -> list[Scenario]:
    """The scenarios of a split (or all), narrowed to `ids` when given, in file order."""
    scenarios = all_scenarios()
    _, splits = _raw()
    chosen = list(scenarios) if split == "all" else [str(task_id) for task_id in splits[split]]
    if ids:
        unknown = [task_id for task_id in ids if task_id not in scenarios]
        if unknown:
            raise KeyError(f"no such scenario: {', '.join(unknown)}")
        chosen = [task_id for task_id in ids]
    return [scenarios[task_id] for task_id in chosen]
