"""pass^k and the report of a run."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from math import comb
from typing import Any


def pass_hat_k(successes: dict[str, list[bool]], k: int) -> float:
    """tau2-bench's pass^k: over tasks, the chance that k trials drawn without replacement
    from a task's n trials all pass, C(c, k) / C(n, k), averaged. Tasks with fewer than k
    trials are left out."""
    scores = [
        comb(sum(results), k) / comb(len(results), k)
        for results in successes.values()
        if len(results) >= k
    ]
    return sum(scores) / len(scores) if scores else 0.0


def build_report(episodes: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for episode in sorted(episodes, key=lambda e: (e["task_id"], e["trial"])):
        by_task[episode["task_id"]].append(episode)
    successes = {task: [bool(e["passed"]) for e in runs] for task, runs in by_task.items()}
    trials = int(config.get("trials") or 1)
    agent_cost = sum((Decimal(e["agent_cost_usd"]) for e in episodes), Decimal(0))
    user_cost = sum((Decimal(e["user_cost_usd"]) for e in episodes), Decimal(0))
    count = len(episodes) or 1
    summary = {
        "tasks": len(by_task),
        "episodes": len(episodes),
        "passed": sum(1 for e in episodes if e["passed"]),
        "pass_hat_k": {str(k): round(pass_hat_k(successes, k), 4) for k in range(1, trials + 1)},
        "average_turns": round(sum(e["turns"] for e in episodes) / count, 2),
        "escalations": sum(1 for e in episodes if e["escalated"]),
        "errors": sum(1 for e in episodes if e.get("error")),
        "terminations": _count(e["termination"] for e in episodes),
        "cost_usd": {
            "agent": str(agent_cost),
            "user_simulator": str(user_cost),
            "total": str(agent_cost + user_cost),
            "per_episode": str((agent_cost + user_cost) / count) if episodes else "0",
        },
    }
    return {
        "config": config,
        "summary": summary,
        "tasks": {
            task: {
                "passed": successes[task],
                "pass_rate": round(sum(successes[task]) / len(successes[task]), 4),
                "trials": runs,
            }
            for task, runs in by_task.items()
        },
    }


def one_line(report: dict[str, Any]) -> str:
    summary = report["summary"]
    hats = " ".join(f"pass^{k}={value:.3f}" for k, value in summary["pass_hat_k"].items())
    return (
        f"{summary['passed']}/{summary['episodes']} episodes passed over {summary['tasks']} "
        f"tasks; {hats}; avg turns {summary['average_turns']}; escalations "
        f"{summary['escalations']}; errors {summary['errors']}; cost "
        f"${Decimal(summary['cost_usd']['total']):.4f}"
    )


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[str(value)] += 1
    return dict(counts)
