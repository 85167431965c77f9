"""The typed result every guardrail check returns, recorded in the turn's audit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Verdict:
    check: str  # "input_screen", "output_guard", "pii"
    tripwire: bool
    reason: str = ""
    categories: list[str] = field(default_factory=list)
    score: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
