"""The local assistant's "talk to a human" skills.

They call `escalate_to_human` the way the real model would: when the customer
asks for a person (in many wordings, see apps.assistant.recognisers), says yes
after the assistant offered one, or when verification has failed too often.
After the call a person owns the conversation and the turn engine lets no more
bot text out, so the closing line below only shows if the hand-off was refused.

Priorities: above the order skills (50-70) and the help center (30-40), so
"get me an agent about order #W123" goes to a person.
"""

from __future__ import annotations

import re

from ..recognisers import asks_for_human, frustration_score, is_yes
from .skills import LocalReply, LocalState, skill

TOOL = "escalate_to_human"
_OFFERED_PERSON = re.compile(
    r"(?i)\b(?:connect|put)\s+you\s+(?:with|through\s+to)\s+(?:a|an|one\s+of)\s+"
    r"|\bbring\s+in\s+a\s+person\b|\b(?:talk|speak)\s+to\s+a\s+person\b"
)


def _summary(state: LocalState) -> str:
    first = state.user_texts[0] if state.user_texts else ""
    parts = [f"First message: {first[:300]}"]
    if state.user_text and state.user_text != first:
        parts.append(f"Latest: {state.user_text[:300]}")
    parts.append("Verified." if state.verified else "Not verified.")
    return " ".join(parts)


def _escalate(state: LocalState, reason: str, priority: str) -> LocalReply:
    return LocalReply.call(TOOL, reason=reason, priority=priority, summary=_summary(state))


@skill(priority=95)
def after_escalation(state: LocalState) -> LocalReply | None:
    output = state.last_output(TOOL)
    if output is None:
        return None
    data = output.data if isinstance(output.data, dict) else {}
    if data.get("escalated"):
        return LocalReply(text="I've asked a person from our support team to take over.")
    return LocalReply(
        text="I couldn't reach our support team from here just now. You can also write to "
        "us by email, and I'm happy to keep helping in the meantime."
    )


@skill(priority=90)
def verification_exhausted(state: LocalState) -> LocalReply | None:
    output = state.last_output("verify_customer")
    if output is None or not state.can_call(TOOL):
        return None
    data = output.data if isinstance(output.data, dict) else {}
    if data.get("verified") or data.get("attempts_left") != 0:
        return None
    return _escalate(state, "Identity verification failed too many times.", "normal")


@skill(priority=85)
def wants_a_person(state: LocalState) -> LocalReply | None:
    if state.tool_outputs or not state.can_call(TOOL):
        return None
    text = state.user_text
    offered = bool(state.assistant_texts) and bool(
        _OFFERED_PERSON.search(state.assistant_texts[-1])
    )
    if asks_for_human(text):
        reason = "The customer asked to talk to a person."
    elif offered and is_yes(text):
        reason = "The customer accepted the offer of a person."
    else:
        return None
    priority = "high" if frustration_score(text) >= 2 else "normal"
    return _escalate(state, reason, priority)


PHOTO_TEXT = (
    "Thanks for the photo. I can't look at photos myself, but I can connect you with a "
    "person from our support team who can see it. Would you like that?"
)


@skill(priority=80)
def sent_a_photo(state: LocalState) -> LocalReply | None:
    """The offline assistant can't see images: it says so and offers a person (a "yes"
    then escalates, see wants_a_person)."""
    if not state.user_images or state.tool_outputs:
        return None
    if not state.can_call(TOOL):
        return LocalReply(text="Thanks for the photo. I can't look at photos myself.")
    return LocalReply(text=PHOTO_TEXT)
