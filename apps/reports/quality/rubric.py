"""The rubric every closed conversation is scored against, and a verdict on one criterion."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import RubricCriterion

# The built-in criteria (a data migration creates them; the operator may edit them).
RESOLVED, FAITHFUL, POLICY, TONE, HANDOFF = "resolved", "faithful", "policy", "tone", "handoff"

# The rubric a new installation starts with (the reports migration writes these rows).
DEFAULT_RUBRIC = [
    (
        "resolved",
        "Resolved",
        "5: the customer got what they came for (an answer, a change made, a person who "
        "solved it). 1: they left without it, or the last question went unanswered.",
    ),
    (
        "faithful",
        "Faithful to sources",
        "5: every fact about policy, orders and products matches what the help-center "
        "articles and order tools returned. 1: an answer invents or contradicts them.",
    ),
    (
        "policy",
        "Policy followed",
        "5: identity verified before any order or account data was shown, and every change "
        "proposed for the customer's explicit confirmation. 1: data shown or a change made "
        "without them.",
    ),
    (
        "tone",
        "Tone",
        "5: polite, clear, concise and empathetic, in the customer's language. 1: curt, "
        "robotic, repetitive or condescending.",
    ),
    (
        "handoff",
        "Hand-off",
        "5: handed to a person promptly when asked or when the assistant could not help, "
        "and not otherwise. 1: a request for a person ignored, or the customer kept going "
        "round in circles.",
    ),
]


def ensure_rubric() -> None:
    """Write the default rubric when there is none at all (a flushed database)."""
    if RubricCriterion.objects.exists():
        return
    for position, (key, name, guidance) in enumerate(DEFAULT_RUBRIC):
        RubricCriterion.objects.get_or_create(
            key=key, defaults={"name": name, "guidance": guidance, "position": position}
        )


def active_rubric() -> list[RubricCriterion]:
    ensure_rubric()
    return list(RubricCriterion.objects.filter(active=True))


@dataclass(frozen=True)
class Judged:
    """A criterion's score from 1 (bad) to 5 (good), or None when it could not be judged,
    with a one-line reason and the message (seq) it points at."""

    score: int | None
    reason: str
    turn: int | None = None
