"""The input screen's feature table: data in `features.toml`, loaded and checked once.

The screen itself (apps/assistant/guardrails/screen.py) adds weights; what it looks for
lives in the table, so tuning a feature is an edit to data, not to code.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("features.toml")

INSTRUCTION_OVERRIDE = "instruction_override"
PROMPT_EXTRACTION = "prompt_extraction"
ROLE_PLAY = "role_play"
FAKE_ROLE_MARKER = "fake_role_marker"
ENCODED_PAYLOAD = "encoded_payload"
OTHER_CUSTOMER = "other_customer"
SKIP_CONFIRMATION = "skip_confirmation"
EXFILTRATION = "exfiltration"

SCREEN_CATEGORIES = (
    INSTRUCTION_OVERRIDE,
    PROMPT_EXTRACTION,
    ROLE_PLAY,
    FAKE_ROLE_MARKER,
    ENCODED_PAYLOAD,
    OTHER_CUSTOMER,
    SKIP_CONFIRMATION,
    EXFILTRATION,
)


@dataclass(frozen=True)
class Feature:
    name: str
    category: str
    weight: float
    pattern: re.Pattern[str]
    raw: bool = False  # match the original text (case and line starts matter)
    tool_only: bool = False  # only in tool output (addresses, notes, product text)


_FRAGMENT = re.compile(r"\$\{(\w+)\}")
_FLAGS = {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE}


def _joined(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def load_table(path: Path = TABLE) -> tuple[dict[str, str], tuple[Feature, ...]]:
    """The shared fragments and the features, with every pattern compiled.

    Refuses a table with an unknown category, fragment or flag, or a duplicate name."""
    with path.open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    fragments = {name: _joined(value) for name, value in data["fragments"].items()}

    def expand(match: re.Match[str]) -> str:
        if match.group(1) not in fragments:
            raise ValueError(f"{path.name}: unknown fragment ${{{match.group(1)}}}")
        return fragments[match.group(1)]

    features: list[Feature] = []
    for entry in data["feature"]:
        if entry["category"] not in SCREEN_CATEGORIES:
            raise ValueError(
                f"{path.name}: {entry['name']} has unknown category {entry['category']}"
            )
        flags = 0
        for flag in entry.get("flags", []):
            flags |= _FLAGS[flag]
        pattern = _FRAGMENT.sub(expand, _joined(entry["pattern"]))
        features.append(
            Feature(
                name=entry["name"],
                category=entry["category"],
                weight=float(entry["weight"]),
                pattern=re.compile(pattern, flags),
                raw=bool(entry.get("raw", False)),
                tool_only=bool(entry.get("tool_only", False)),
            )
        )
    names = [feature.name for feature in features]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: duplicate feature names")
    return fragments, tuple(features)


FRAGMENTS, FEATURES = load_table()
