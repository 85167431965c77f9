"""Guardrails around every turn: input screen, PII masking, output guard.

Each check returns a typed `Verdict`; verdicts are recorded in the turn's audit
and shown to managers. The input screen flags, it does not block: a flagged
customer still gets an answer, under the same code-enforced authorization.
See docs/prompt-layers.md for what each check does and does not promise.

One module per concern: `verdicts` (the Verdict), `pii` (masking), `folding` (how
text is read: folded look-alikes, de-obfuscated variants), `features` and
`features.toml` (the input screen's feature table, as data), `screen` (the input
screen) and `output` (the output guard). The names callers use are importable here.
"""

from __future__ import annotations

from .features import (
    ENCODED_PAYLOAD,
    EXFILTRATION,
    FAKE_ROLE_MARKER,
    INSTRUCTION_OVERRIDE,
    OTHER_CUSTOMER,
    PROMPT_EXTRACTION,
    ROLE_PLAY,
    SCREEN_CATEGORIES,
    SKIP_CONFIRMATION,
)
from .folding import fold
from .output import LINK_REMOVED, SAFE_REPLY, OutputGuard
from .pii import mask_pii
from .screen import SCREEN_THRESHOLD, screen_input
from .verdicts import Verdict

__all__ = [
    "ENCODED_PAYLOAD",
    "EXFILTRATION",
    "FAKE_ROLE_MARKER",
    "INSTRUCTION_OVERRIDE",
    "LINK_REMOVED",
    "OTHER_CUSTOMER",
    "PROMPT_EXTRACTION",
    "ROLE_PLAY",
    "SAFE_REPLY",
    "SCREEN_CATEGORIES",
    "SCREEN_THRESHOLD",
    "SKIP_CONFIRMATION",
    "OutputGuard",
    "Verdict",
    "fold",
    "mask_pii",
    "screen_input",
]
