"""The optional model-based input screen.

With a real provider configured, each turn's new customer text is also classified
by the model with strict structured output. It runs beside the turn, never before
it, so the first token is not delayed; its verdict joins the turn's audit. Like
the local screen, it flags and never blocks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from apps.assistant.guardrails import Verdict
from apps.assistant.providers.base import Provider, ProviderError

log = logging.getLogger(__name__)

CATEGORIES = [
    "none",
    "injection",
    "prompt_extraction",
    "role_play",
    "cross_customer",
    "skip_confirmation",
    "exfiltration",
    "encoded_payload",
]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "attack": {"type": "boolean"},
        "category": {"type": "string", "enum": CATEGORIES},
        "confidence": {"type": "number"},
        "reason": {"type": "string"},
    },
    "required": ["attack", "category", "confidence", "reason"],
    "additionalProperties": False,
}
TEMPLATE = Path(__file__).resolve().parent / "prompt_templates" / "screen_classifier.v1.txt"
MAX_CHARS = 4000


async def classify(provider: Provider, texts: list[str]) -> Verdict | None:
    """The model's verdict on the customer's new text; None when the call failed."""
    text = "\n\n".join(texts)[-MAX_CHARS:]
    if not text.strip():
        return None
    try:
        result, _usage = await provider.complete_json(
            system=TEMPLATE.read_text(encoding="utf-8"),
            user=text,
            schema_name="input_screen",
            schema=SCHEMA,
            max_tokens=120,
        )
    except ProviderError as exc:
        log.warning("model screen failed: %s", exc.code)
        return None
    attack = bool(result.get("attack"))
    category = str(result.get("category") or "none")
    return Verdict(
        check="model_screen",
        tripwire=attack,
        reason=str(result.get("reason") or "")[:300],
        categories=[category] if attack and category != "none" else [],
        score=float(result.get("confidence") or 0.0),
    )
