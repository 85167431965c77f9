"""`python manage.py evaluate`: the product against simulated customers (tau2-bench).

Each episode runs on a fresh store that is never the configured database: the
command prepares one migrated SQLite database with the demo store, and each of
`--concurrency` worker processes works on its own copy of it, reloading the
store before every episode. Workers use in-memory channels, run background tasks
in-line and write mail to the locmem backend, so an evaluation touches nothing
outside its temporary directory but the model API.

See docs/evaluation.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.evaluation.report import build_report, one_line
from apps.evaluation.scenarios import Scenario, all_scenarios, select
from apps.reports.cases import CaseSpec, active_specs, do_record_case_runs, judge

MANAGE = Path(settings.BASE_DIR) / "manage.py"


class Command(BaseCommand):
    help = (
        "Run simulated customers (tau2-bench retail scenarios) against the assistant and "
        "judge each episode by the store's end state; prints pass^k and writes a report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--split",
            choices=["train", "test", "all", "none"],
            default="train",
            help="the tau2-bench scenarios to run (none: only --cases)",
        )
        parser.add_argument(
            "--cases",
            action="store_true",
            help="also run the saved test cases (real chats saved by managers, docs/quality.md)",
        )
        parser.add_argument("--label", default="", help="a name for this run's case results")
        parser.add_argument(
            "--policy",
            default="",
            help="a JSON file of operator policy fields to run under (a policy trial)",
        )
        parser.add_argument("--ids", default="", help="comma-separated scenario ids")
        parser.add_argument("--trials", type=int, default=1, help="trials per scenario (K)")
        parser.add_argument("--concurrency", type=int, default=1, help="worker processes")
        parser.add_argument(
            "--user-model",
            default="gpt-4o-mini",
            help="the simulated customer's model, on the same OpenAI-compatible server",
        )
        parser.add_argument("--max-steps", type=int, default=30, help="customer actions")
        parser.add_argument("--out", default="", help="write the JSON report here")
        # Internal: the parent starts itself in these two roles.
        parser.add_argument("--prepare", default="", help=_internal())
        parser.add_argument("--worker", default="", help=_internal())
        parser.add_argument("--jobs", default="", help=_internal())

    def handle(self, *args: Any, **options: Any) -> None:
        if options["prepare"]:
            _prepare(options["prepare"])
            return
        if options["worker"]:
            _work(options)
            return
        self._run(options)

    # --- The parent ----------------------------------------------------------------

    def _run(self, options: dict[str, Any]) -> None:
        if not settings.OPENAI_API_KEY:
            raise CommandError(
                "evaluate needs a model: set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
                "OpenAI-compatible server)."
            )
        if options["trials"] < 1 or options["concurrency"] < 1 or options["max_steps"] < 1:
            raise CommandError("--trials, --concurrency and --max-steps must be at least 1")
        ids = [part.strip() for part in options["ids"].split(",") if part.strip()]
        try:
            scenarios = (
                []
                if options["split"] == "none" and not ids
                else select("all" if options["split"] == "none" else options["split"], ids or None)
            )
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from None
        if options["policy"]:
            try:
                json.loads(Path(options["policy"]).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"--policy: {exc}") from None
        specs = active_specs() if options["cases"] else []
        jobs: list[dict[str, Any]] = [
            {"task_id": scenario.id, "trial": trial}
            for trial in range(options["trials"])
            for scenario in scenarios
        ]
        jobs += [
            {"task_id": spec.id, "trial": trial, "case": spec.as_dict()}
            for trial in range(options["trials"])
            for spec in specs
        ]
        if not jobs:
            raise CommandError("nothing to run: no scenarios selected and no active saved cases")
        config = {
            "split": options["split"] if not ids else "ids",
            "ids": [scenario.id for scenario in scenarios],
            "cases": [spec.id for spec in specs],
            "trials": options["trials"],
            "concurrency": options["concurrency"],
            "agent_model": settings.SUPPORTBOT_MODEL,
            "user_model": options["user_model"],
            "max_steps": options["max_steps"],
            "base_url": settings.OPENAI_BASE_URL or "https://api.openai.com/v1",
        }
        started = time.monotonic()
        workdir = Path(tempfile.mkdtemp(prefix="supportbot-eval-"))
        try:
            episodes = self._run_workers(jobs, options, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        config["duration_s"] = round(time.monotonic() - started, 1)
        report = build_report(episodes, config)
        if options["out"]:
            Path(options["out"]).write_text(json.dumps(report, indent=2, ensure_ascii=False))
        self.stdout.write(one_line(report))
        if specs:
            do_record_case_runs(episodes, label=options["label"])
            runs = [e for e in episodes if str(e["task_id"]).startswith("case-")]
            passed = sum(1 for e in runs if e["passed"])
            self.stdout.write(f"saved cases: {passed}/{len(runs)} episodes passed")
            for episode in runs:
                if not episode["passed"]:
                    why = "; ".join(episode.get("failures") or []) or episode.get("error", "")
                    self.stdout.write(f"  {episode['task_id']} failed: {why}")

    def _run_workers(
        self, jobs: list[dict[str, Any]], options: dict[str, Any], workdir: Path
    ) -> list[dict[str, Any]]:
        template = workdir / "template.sqlite3"
        # This command itself, with arguments it builds: no outside input reaches the shell.
        prepared = subprocess.run(  # noqa: S603
            [sys.executable, str(MANAGE), "evaluate", "--prepare", str(template)],
            env=_worker_env(template),
            capture_output=True,
            text=True,
            check=False,
        )
        if prepared.returncode != 0:
            raise CommandError(f"could not prepare the evaluation store:\n{prepared.stderr}")
        count = min(options["concurrency"], len(jobs)) or 1
        shares = [jobs[index::count] for index in range(count)]
        lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
        workers = []
        for number, share in enumerate(shares):
            database = workdir / f"worker{number}.sqlite3"
            shutil.copyfile(template, database)
            process = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    str(MANAGE),
                    "evaluate",
                    "--worker",
                    str(database),
                    "--jobs",
                    json.dumps(share),
                    "--user-model",
                    options["user_model"],
                    "--max-steps",
                    str(options["max_steps"]),
                    "--policy",
                    options["policy"],
                ],
                env=_worker_env(database),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            workers.append(process)
            threading.Thread(target=_pump, args=(number, process, lines), daemon=True).start()
        episodes: list[dict[str, Any]] = []
        finished = 0
        self._progress(episodes, len(jobs))
        while finished < len(workers):
            number, line = lines.get()
            if line is None:
                finished += 1
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "episode" in message:
                episodes.append(message["episode"])
                self._progress(episodes, len(jobs))
        self.stderr.write("")
        failed = [
            (number, process.stderr.read() if process.stderr else "")
            for number, process in enumerate(workers)
            if process.wait() != 0
        ]
        missing = len(jobs) - len(episodes)
        if failed and missing:
            details = "\n".join(f"worker {n}: {err[-2000:]}" for n, err in failed)
            raise CommandError(f"{missing} episode(s) did not run:\n{details}")
        return episodes

    def _progress(self, episodes: list[dict[str, Any]], total: int) -> None:
        done = len(episodes)
        passed = sum(1 for e in episodes if e["passed"])
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        self.stderr.write(f"\r[{bar}] {done}/{total} episodes, {passed} passed", ending="")
        self.stderr.flush()


def _internal() -> str:
    return "(internal)"


def _pump(number: int, process: subprocess.Popen[str], lines: queue.Queue[Any]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put((number, line))
    lines.put((number, None))


def _worker_env(database: Path) -> dict[str, str]:
    """A worker's environment: its own SQLite store, nothing shared but the model API."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        REDIS_URL="",
        SUPPORTBOT_TASKS_EAGER="true",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        OPENAI_API_KEY=settings.OPENAI_API_KEY,
        OPENAI_BASE_URL=settings.OPENAI_BASE_URL or "",
        SUPPORTBOT_MODEL=settings.SUPPORTBOT_MODEL,
        OPENAI_CONNECT_TIMEOUT=str(settings.OPENAI_CONNECT_TIMEOUT),
        OPENAI_READ_TIMEOUT=str(settings.OPENAI_READ_TIMEOUT),
        OPENAI_MAX_RETRIES=str(settings.OPENAI_MAX_RETRIES),
        SUPPORTBOT_MODEL_SCREEN="true" if settings.SUPPORTBOT_MODEL_SCREEN else "false",
        SUPPORTBOT_TEMPERATURE=str(settings.SUPPORTBOT_TEMPERATURE),
    )
    return env


# --- The workers ------------------------------------------------------------------------


def _prepare(path: str) -> None:
    """Migrate a new SQLite database and load the demo store into it (the template)."""
    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_demo_store", verbosity=0)
    # The help center is public knowledge the assistant cites; load it when available.
    try:
        call_command("load_help_center", verbosity=0)
    except Exception as exc:  # the store is what is judged; articles only help
        sys.stderr.write(f"help center not loaded: {exc}\n")


def _work(options: dict[str, Any]) -> None:
    from apps.evaluation.episode import run_episode, use_policy
    from apps.orders.loader import load_store

    scenarios = all_scenarios()
    jobs = json.loads(options["jobs"] or "[]")
    if options["policy"]:
        use_policy(json.loads(Path(options["policy"]).read_text(encoding="utf-8")))
    for index, job in enumerate(jobs):
        if index:
            load_store(reset=True)  # a fresh store for every episode
        spec = CaseSpec.from_dict(job["case"]) if job.get("case") else None
        scenario = (
            Scenario(id=spec.id, instructions=spec.instructions, actions=tuple(spec.actions))
            if spec is not None
            else scenarios[job["task_id"]]
        )
        result = asyncio.run(
            run_episode(
                scenario,
                trial=int(job["trial"]),
                user_model=options["user_model"],
                max_steps=options["max_steps"],
            )
        )
        episode = result.as_dict()
        if spec is not None:
            # A saved case is judged by what its manager asked for, not the store alone.
            failures = judge(
                spec,
                store_matches=bool(result.expected_hash)
                and result.actual_hash == result.expected_hash,
                escalated=result.escalated,
                assistant_texts=[t["text"] for t in result.transcript if t["role"] == "assistant"],
            )
            episode.update(failures=failures, passed=not failures and not result.error)
        sys.stdout.write(json.dumps({"episode": episode}) + "\n")
        sys.stdout.flush()
