"""The apps stand in layers and no module imports an app above its own.

Layers, lowest first: assistant and outbox -> orders, knowledge -> chat ->
escalations, reports -> evaluation. An import inside a function is still an upward
arrow; what a higher app must learn travels through signals or a tool's typed result.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parent.parent / "apps"
LAYER = {
    "assistant": 0,
    "outbox": 0,
    "orders": 1,
    "knowledge": 1,
    "chat": 2,
    "escalations": 3,
    "reports": 3,
    "evaluation": 4,
}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_the_common_helpers_and_the_project_package_stand_below_and_above_every_app() -> None:
    # apps/common is the floor: Django only. supportbot/ (settings, ASGI, URLs) is the
    # roof: it wires the apps together, so an app that imported it would point up.
    common = {
        f"{path.relative_to(APPS)}: {name}"
        for path in (APPS / "common").rglob("*.py")
        for name in _imports(path)
        if name.startswith(("apps.", "supportbot"))
    }
    into_project = {
        f"{path.relative_to(APPS)}: {name}"
        for path in APPS.rglob("*.py")
        if "tests" not in path.relative_to(APPS).parts
        for name in _imports(path)
        if name == "supportbot" or name.startswith("supportbot.")
    }

    assert common == set()
    assert into_project == set()


def test_every_app_has_a_layer() -> None:
    apps = {p.name for p in APPS.iterdir() if (p / "apps.py").exists()}
    assert apps == set(LAYER)


@pytest.mark.parametrize("app", sorted(LAYER))
def test_no_module_imports_an_app_above_its_own(app: str) -> None:
    root = APPS / app
    sources = [p for p in root.rglob("*.py") if "tests" not in p.relative_to(root).parts]
    assert sources

    upward = {
        f"{path.relative_to(APPS)}: {name}"
        for path in sources
        for name in _imports(path)
        if name.startswith("apps.") and LAYER.get(name.split(".")[1], -1) > LAYER[app]
    }

    assert upward == set()


STATIC = APPS.parent / "static"
JS_IMPORT = re.compile(
    r"""(?:^|\s)(?:import|export)\s[^;]*?\sfrom\s+["'](\.{1,2}/[^"']+)["']""", re.M
)


def _script_imports(path: Path) -> set[Path]:
    text = path.read_text(encoding="utf-8")
    return {(path.parent / found).resolve() for found in JS_IMPORT.findall(text)}


def test_the_pages_scripts_import_each_other_without_a_circle() -> None:
    # The chat page's and the inbox's ES modules stand in layers too: a lower module
    # gets what it needs from above as an argument (connect({ onFrame })), never by
    # importing it.
    scripts = {path.resolve(): _script_imports(path) for path in STATIC.rglob("*.js")}
    assert sum(len(found) for found in scripts.values()) > 20  # the regex still sees them

    def circle_from(start: Path) -> list[Path] | None:
        path: list[Path] = []

        def walk(node: Path) -> list[Path] | None:
            if node in path:
                return [*path[path.index(node) :], node]
            path.append(node)
            for target in sorted(scripts.get(node, ())):
                found = walk(target)
                if found:
                    return found
            path.pop()
            return None

        return walk(start)

    circles = [found for start in sorted(scripts) if (found := circle_from(start))]
    assert circles == [], [" -> ".join(p.name for p in found) for found in circles[:1]]
