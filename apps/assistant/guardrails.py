"""Guardrails around every turn: input screen, PII masking, output guard.

Each check returns a typed `Verdict`; verdicts are recorded in the turn's audit
and shown to managers. The input screen flags, it does not block: a flagged
customer still gets an answer, under the same code-enforced authorization.
"""

from __future__ import annotations

import re
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


# --- PII ----------------------------------------------------------------------

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_CVV = re.compile(r"(?i)\b(cvv|cvc|security code)\b\D{0,12}\d{3,4}\b")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_PASSWORD = re.compile(r"(?i)\b(password|passcode|pin)\b(\s*(is|:|=)\s*)\S+")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def mask_pii(text: str) -> tuple[str, list[str]]:
    """Mask card numbers, CVVs, SSNs and passwords. Returns the text and what was found."""
    found: list[str] = []

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            found.append("card_number")
            return f"[card ending {digits[-4:]}]"
        return match.group(0)

    text = _CARD.sub(card, text)

    def cvv(match: re.Match[str]) -> str:
        found.append("card_security_code")
        return f"{match.group(1)} [redacted]"

    text = _CVV.sub(cvv, text)
    if _SSN.search(text):
        found.append("ssn")
        text = _SSN.sub("[redacted id number]", text)

    def password(match: re.Match[str]) -> str:
        found.append("password")
        return f"{match.group(1)}{match.group(2)}[redacted]"

    text = _PASSWORD.sub(password, text)
    return text, found


# --- Input screen -----------------------------------------------------------

_ATTACK_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "injection",
        re.compile(
            r"(?i)\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|"
            r"all|your|system)\b.{0,20}\b(instructions?|rules|prompt|directives|guidelines)"
        ),
    ),
    (
        "prompt_extraction",
        re.compile(
            r"(?i)\b(reveal|show|print|repeat|display|output|tell me|what (is|are))\b.{0,40}"
            r"\b(system prompt|instructions|initial prompt|hidden prompt|rules you follow)"
        ),
    ),
    (
        "role_play",
        re.compile(r"(?i)\b(you are now|act as|pretend (to be|you are)|DAN\b|developer mode)"),
    ),
]


def screen_input(text: str, *, source: str = "customer") -> Verdict:
    """A fast local screen for likely injection and jailbreak attempts."""
    categories = [name for name, pattern in _ATTACK_PATTERNS if pattern.search(text)]
    return Verdict(
        check="input_screen",
        tripwire=bool(categories),
        reason=f"{source} text matched {', '.join(categories)}" if categories else "",
        categories=categories,
        score=1.0 if categories else 0.0,
    )


# --- Output guard -------------------------------------------------------------

SAFE_REPLY = (
    "Sorry, I can't share that. I'm here to help with your orders and questions about the "
    "store. What can I do for you?"
)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")


class OutputGuard:
    """Checks model text before any client sees it, streaming included.

    `feed` returns the text that is safe to release now and holds back a small
    window at the end, so a leak that spans two deltas is still caught. Once
    tripped, nothing more is released and the caller sends `SAFE_REPLY`.
    """

    HOLD_BACK = 48

    def __init__(self, *, canary: str, instructions: list[str]) -> None:
        self.canary = canary
        self.instructions = instructions
        self.buffer = ""  # everything the model said
        self.released = 0  # how much of `buffer` went out
        self.tripped: Verdict | None = None
        self.verdicts: list[Verdict] = []

    def feed(self, text: str) -> str:
        if self.tripped:
            return ""
        self.buffer += text
        if self._leaks(self.buffer):
            return ""
        safe_end = max(self.released, len(self.buffer) - self.HOLD_BACK)
        return self._release(safe_end)

    def finish(self) -> str:
        if self.tripped or self._leaks(self.buffer):
            return ""
        return self._release(len(self.buffer))

    def final_text(self) -> str:
        return SAFE_REPLY if self.tripped else _IMAGE.sub("", self.buffer).strip()

    def _release(self, end: int) -> str:
        chunk = self.buffer[self.released : end]
        self.released = end
        return _IMAGE.sub("", chunk)

    def _leaks(self, text: str) -> bool:
        if self.canary and self.canary in text:
            self._trip("canary marker in model output")
            return True
        return False

    def _trip(self, reason: str) -> None:
        self.tripped = Verdict(
            check="output_guard",
            tripwire=True,
            reason=reason,
            categories=["instruction_leak"],
            score=1.0,
        )
        self.verdicts.append(self.tripped)
