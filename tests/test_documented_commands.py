"""Every `manage.py` command the README, docs/ and the Makefile show runs twice in a row
on the seeded demo without a traceback, as a new user would run it (the second run is
the one that used to crash: `seed_demo_conversations` hit an IntegrityError)."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"(?:python|\$\(PY\)) manage\.py ([a-z_]+)([^`\n]*)")
# How a command line's placeholders become real arguments in the test.
PLACEHOLDERS = {"SCENARIOS.json": "{scenarios}", "report.json": "{tmp}/report.json"}
# Arguments a command gets only here, to keep the suite fast (the full runs are the
# commands' own tests and figures).
# `evaluate` needs a model (it says so without one); apps/evaluation and the saved-case
# tests run it against the fake server.
FASTER = {"redteam": ["--limit", "1"], "runserver": None, "evaluate": None}
MAKE_VARIABLES = {"$(HOST)": "127.0.0.1", "$(PORT)": "8000", "$(HOST):$(PORT)": "127.0.0.1:8000"}


def documented_commands() -> list[tuple[str, list[str]]]:
    """(command, arguments) for each command line in the documents; an optional part in
    brackets is run both without and with it."""
    found: dict[str, tuple[str, list[str]]] = {}
    for document in DOCUMENTS:
        for name, rest in COMMAND.findall(document.read_text(encoding="utf-8")):
            rest = rest.split("#")[0].strip()
            for variable, value in sorted(MAKE_VARIABLES.items(), key=lambda kv: -len(kv[0])):
                rest = rest.replace(variable, value)
            optional = re.findall(r"\[([^\]]+)\]", rest)
            required = re.sub(r"\[[^\]]+\]", "", rest).split()
            for extra in ([], *[part.split() for part in optional]):
                args = [*required, *extra]
                found[" ".join([name, *args])] = (name, args)
    return list(found.values())


def test_the_documents_show_the_commands_a_new_user_runs() -> None:
    names = {name for name, _ in documented_commands()}
    assert {"setup_demo", "seed_demo_conversations", "load_demo_store", "screen_eval"} <= names


# About 30 command runs, 90 s alone on this 2-core machine: over the default 120 s
# when the rest of the suite's workers share the cores (CI, 1 December).
@pytest.mark.timeout(360)
@pytest.mark.django_db(transaction=True)
def test_every_documented_command_runs_twice_on_the_seeded_demo(
    tmp_path: Path, settings: object, no_typing_pause: None
) -> None:
    # given the seeded demo, as `make run` leaves it, and the assistant without typing pauses
    settings.STATIC_ROOT = str(tmp_path / "static")  # type: ignore[attr-defined]
    call_command("setup_demo", stdout=io.StringIO())
    scenarios = tmp_path / "scenarios.json"
    scenarios.write_text(
        '{"look": [{"name": "get_order_details", "arguments": {"order_id": "#W2378156"}}]}'
    )
    failures = []
    for name, args in documented_commands():
        if name in FASTER and FASTER[name] is None:
            continue  # a server: it does not return
        argv = [
            PLACEHOLDERS.get(arg, arg).format(scenarios=scenarios, tmp=tmp_path) for arg in args
        ]
        argv += FASTER.get(name) or []
        # when a new user runs it, and runs it again
        for attempt in (1, 2):
            try:
                call_command(name, *argv, stdout=io.StringIO(), stderr=io.StringIO())
            except BaseException as exc:
                failures.append(f"{shlex.join([name, *argv])} (run {attempt}): {exc!r}")
    # then neither run raises
    assert not failures, "\n".join(failures)
