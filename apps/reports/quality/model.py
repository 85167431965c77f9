"""The model reviewer: the rubric and the numbered transcript in, one typed score per
criterion out (structured output, strict json_schema), checked against the rubric."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from apps.chat.models import Message

from ..models import RubricCriterion
from ..structured_output import ModelUsage, StructuredCall
from .audit import Audit
from .rubric import Judged

PROMPT_NAME = "quality.v1"
PROMPT = (Path(__file__).parent.parent / "prompt_templates" / f"{PROMPT_NAME}.txt").read_text()
MAX_TRANSCRIPT_CHARS = 14_000
MAX_REASON = 300


class CriterionResult(BaseModel):
    key: str
    score: int | None  # 1 (bad) to 5 (good); null when the transcript cannot tell
    turn: int | None  # the message number the reason points at
    reason: str


class ReviewResult(BaseModel):
    criteria: list[CriterionResult]


REVIEW = StructuredCall("conversation_quality_review", ReviewResult, max_tokens=700)


def model_prompt(audit: Audit, rubric: list[RubricCriterion]) -> tuple[str, str]:
    """The system and user texts: our instructions and rubric, then the numbered
    transcript and tool audit as data."""
    from apps.assistant.prompts import wrap_untrusted

    lines = []
    for line in audit.lines:
        if line.kind == Message.Kind.MESSAGE:
            lines.append(f"#{line.seq} {line.role}: {line.text}")
        elif line.text:
            lines.append(f"#{line.seq} ({line.kind}): {line.text}")
    tools = [
        {
            "after_message": t.answers_seq,
            "reply": t.reply_seq,
            "tool": t.name,
            "ok": t.ok,
            **({"error": t.error[:200]} if t.error else {}),
            **({"help_center_covered": t.covered} if t.covered is not None else {}),
        }
        for t in audit.tools
    ]
    rubric_text = "\n".join(f"- {c.key} ({c.name}): {c.guidance}" for c in rubric)
    system = PROMPT.replace("{rubric}", rubric_text)
    user = wrap_untrusted(
        "conversation",
        {
            "transcript": "\n".join(lines)[-MAX_TRANSCRIPT_CHARS:],
            "tool_calls": tools,
            "customer_rating": audit.csat,
            "closed_by": audit.close_reason,
        },
    )
    return system, user


def judged_from_model(
    result: ReviewResult, rubric: list[RubricCriterion], seqs: set[int]
) -> dict[str, Judged]:
    """The model's answer checked against the rubric: unknown keys dropped, scores outside
    1..5 and turns that are no message of the conversation discarded."""
    given = {c.key: c for c in result.criteria}
    out: dict[str, Judged] = {}
    for criterion in rubric:
        item = given.get(criterion.key)
        if item is None:
            out[criterion.key] = Judged(None, "The model gave no score for this criterion.")
            continue
        score = item.score if item.score is not None and 1 <= item.score <= 5 else None
        turn = item.turn if item.turn in seqs else None
        reason = " ".join(item.reason.split())[:MAX_REASON] or "(no reason given)"
        out[criterion.key] = Judged(score, reason, turn)
    return out


def model_review(
    audit: Audit, rubric: list[RubricCriterion]
) -> tuple[dict[str, Judged], ModelUsage]:
    result, usage = REVIEW.ask(*model_prompt(audit, rubric))
    seqs = {line.seq for line in audit.lines}
    return judged_from_model(result, rubric, seqs), usage
