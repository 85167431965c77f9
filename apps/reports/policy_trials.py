"""Policy trials: before an operator policy change is published, the saved cases and the
tau2-bench train split run under the current policy and under the proposed one
(`manage.py evaluate --cases --policy`), and the manager sees both pass rates."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from apps.assistant.models import OperatorPolicy
from apps.outbox.services import enqueue

from .models import PolicyTrial


def policy_fields(policy: OperatorPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in OperatorPolicy.RULE_FIELDS}


def do_start_policy_trial(
    proposed: dict[str, Any],
    *,
    user_id: int | None,
    split: str = "train",
    ids: list[str] | None = None,
) -> PolicyTrial:
    """Record the proposal and queue its runs (after the commit, through the outbox)."""
    current = OperatorPolicy.current()
    with transaction.atomic():
        trial = PolicyTrial.objects.create(
            proposed={k: v for k, v in proposed.items() if k in OperatorPolicy.RULE_FIELDS},
            based_on_version=current.version,
            split=split,
            ids=list(ids or []),
            created_by_id=user_id,
        )
        enqueue("apps.reports.tasks.run_policy_trial_task", trial.pk)
    return trial


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """Pass counts of the tau2 tasks and of the saved cases in an evaluate report."""
    tau2 = [0, 0]
    saved = [0, 0]
    for task_id, data in report.get("tasks", {}).items():
        bucket = saved if str(task_id).startswith("case-") else tau2
        bucket[0] += sum(1 for passed in data["passed"] if passed)
        bucket[1] += len(data["passed"])
    return {
        "tau2": {"passed": tau2[0], "total": tau2[1]},
        "cases": {"passed": saved[0], "total": saved[1]},
        "cost_usd": report.get("summary", {}).get("cost_usd", {}).get("total", "0"),
    }


def do_run_policy_trial(trial_id: int) -> PolicyTrial | None:
    """Run the trial once (a second delivery of the task finds it claimed)."""
    claimed = PolicyTrial.objects.filter(pk=trial_id, status=PolicyTrial.Status.QUEUED).update(
        status=PolicyTrial.Status.RUNNING
    )
    trial = PolicyTrial.objects.filter(pk=trial_id).first()
    if claimed != 1 or trial is None:
        return trial
    current = policy_fields(OperatorPolicy.current())
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="policy-trial-") as workdir:
            for label, fields in (("before", current), ("after", {**current, **trial.proposed})):
                policy = Path(workdir) / f"{label}.json"
                policy.write_text(json.dumps(fields), encoding="utf-8")
                out = Path(workdir) / f"{label}-report.json"
                arguments = ["--cases", "--policy", str(policy), "--out", str(out)]
                arguments += ["--label", f"policy trial {trial.pk}: {label}"]
                if trial.ids:
                    arguments += ["--ids", ",".join(trial.ids)]
                else:
                    arguments += ["--split", trial.split]
                call_command("evaluate", *arguments, stdout=_Quiet(), stderr=_Quiet())
                results[label] = summarize(json.loads(out.read_text(encoding="utf-8")))
    except (CommandError, OSError, ValueError) as exc:
        PolicyTrial.objects.filter(pk=trial.pk).update(
            status=PolicyTrial.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
    else:
        PolicyTrial.objects.filter(pk=trial.pk).update(
            status=PolicyTrial.Status.DONE,
            before=results["before"],
            after=results["after"],
            finished_at=timezone.now(),
        )
    trial.refresh_from_db()
    return trial


def do_publish_trial(trial_id: int, *, user: Any) -> OperatorPolicy:
    """Publish the trial's proposed policy as a new version."""
    from apps.assistant.admin import do_publish_operator_policy

    with transaction.atomic():
        trial = PolicyTrial.objects.select_for_update().get(pk=trial_id)
        if trial.published_version is not None:
            raise ValueError("this proposal is already published")
        policy = OperatorPolicy(**{**policy_fields(OperatorPolicy.current()), **trial.proposed})
        published = do_publish_operator_policy(policy, user=user)
        PolicyTrial.objects.filter(pk=trial.pk).update(published_version=published.version)
    return published


def rate(summary: dict[str, Any], part: str) -> str:
    counts = summary.get(part) or {}
    total = counts.get("total", 0)
    if not total:
        return "–"
    return f"{counts['passed']}/{total} ({counts['passed'] / total:.0%})"


class _Quiet:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None
