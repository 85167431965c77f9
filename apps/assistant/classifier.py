"""The optional model-based input screen.

With a real provider configured, each turn's new customer text is also classified
by the model with strict structured output. It runs beside the turn, never before
it, so the first token is not delayed; its verdict joins the turn's audit. Like
the local screen, it flags and never blocks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from apps.assistant.guardrails import Verdict
from apps.assistant.providers.base import Provider, ProviderError, Usage
from apps.assistant.tools import response_format

log = logging.getLogger(__name__)

Category = Literal[
    "none",
    "injection",
    "prompt_extraction",
    "role_play",
    "cross_customer",
    "skip_confirmation",
    "exfiltration",
    "encoded_payload",
]


class ScreenAnswer(BaseModel):
    attack: bool
    category: Category
    confidence: float
    reason: str


SCHEMA_NAME = "input_screen"
SCHEMA: dict[str, Any] = response_format(SCHEMA_NAME, ScreenAnswer)
# Read once: every turn with a real provider uses it.
INSTRUCTIONS = (
    Path(__file__).resolve().parent / "prompt_templates" / "screen_classifier.v1.txt"
).read_text(encoding="utf-8")
MAX_CHARS = 4000


async def classify(provider: Provider, texts: list[str]) -> tuple[Verdict | None, Usage | None]:
    """The model's verdict on the customer's new text (None with no text to screen; one
    that does not trip, saying why, when the call failed or answered outside its
    schema, so the audit shows the screen did not run), and the tokens the call spent,
    which the turn pays for."""
    text = "\n\n".join(texts)[-MAX_CHARS:]
    if not text.strip():
        return None, None
    try:
        result, usage = await provider.complete_json(
            system=INSTRUCTIONS,
            user=text,
            schema_name=SCHEMA_NAME,
            schema=SCHEMA,
            max_tokens=120,
        )
    except ProviderError as exc:
        log.warning("model screen failed: %s", exc.code)
        return _not_screened(f"failed: {exc.code}"), None
    try:
        answer = ScreenAnswer.model_validate(result)
    except ValidationError:
        log.warning("model screen answered outside its schema")
        return _not_screened("answered outside its schema"), usage
    verdict = Verdict(
        check="model_screen",
        tripwire=answer.attack,
        reason=answer.reason[:300],
        categories=[answer.category] if answer.attack and answer.category != "none" else [],
        score=answer.confidence,
    )
    return verdict, usage


def _not_screened(reason: str) -> Verdict:
    return Verdict(check="model_screen", tripwire=False, reason=reason)
