"""Hand-over notes for the agent: the customer's goal, what was tried, identity,
sentiment and the suggested next step.

With a real model configured the note is structured output from the model (the
conversation passed as untrusted data); otherwise, or when the model keeps
failing, it is a plain extractive summary built by rules from the stored events.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from asgiref.sync import async_to_sync
from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apps.assistant.recognisers import EMAIL, ZIP
from apps.assistant.tools import response_format
from apps.chat.models import Conversation, Message, Turn

from .detection import asks_for_human, frustration_score, without_person_request
from .models import Escalation

PROMPT_VERSION = "summary.v1"
PROMPT_PATH = Path(__file__).parent / "prompt_templates" / f"{PROMPT_VERSION}.txt"
TRANSCRIPT_LIMIT = 40


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(max_length=600)
    tried: list[str] = Field(max_length=20)
    identity: str = Field(max_length=300)
    sentiment: Literal["positive", "neutral", "negative", "angry"]
    next_step: str = Field(max_length=600)


SUMMARY_SCHEMA_NAME = "handover_summary"
SUMMARY_SCHEMA: dict[str, Any] = response_format(
    SUMMARY_SCHEMA_NAME,
    {
        "type": "object",
        "properties": {
            "goal": {"type": "string"},
            "tried": {"type": "array", "items": {"type": "string"}},
            "identity": {"type": "string"},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative", "angry"]},
            "next_step": {"type": "string"},
        },
        "required": ["goal", "tried", "identity", "sentiment", "next_step"],
        "additionalProperties": False,
    },
)

NEXT_STEP: dict[str, str] = {
    Escalation.Trigger.VERIFICATION: (
        "Verification failed repeatedly: confirm the customer's identity another way "
        "before sharing or changing anything."
    ),
    Escalation.Trigger.PROVIDER_FAILURE: (
        "The assistant kept failing: answer the customer's last question yourself."
    ),
    Escalation.Trigger.LIMIT: (
        "The assistant reached its limit for this chat: pick up from the last question."
    ),
    Escalation.Trigger.FRUSTRATION: (
        "The customer is frustrated: acknowledge it, then resolve the goal directly."
    ),
    Escalation.Trigger.CUSTOMER_REQUEST: "Greet the customer and confirm what they need.",
    Escalation.Trigger.MODEL: "Read the assistant's note and take over the request.",
    Escalation.Trigger.AGENT: "Continue the conversation.",
}


def _episode_messages(conversation: Conversation) -> list[Message]:
    events = list(
        Message.objects.filter(
            conversation=conversation,
            seq__gt=conversation.episode_start_seq,
            kind=Message.Kind.MESSAGE,
        ).order_by("-seq")[:TRANSCRIPT_LIMIT]
    )
    events.reverse()
    return events


def _tool_activity(escalation: Escalation) -> list[dict[str, Any]]:
    activity = []
    turns = Turn.objects.filter(pk__in=escalation.tool_turns).order_by("started_at")
    for turn in turns:
        for call in turn.tool_calls or []:
            activity.append(
                {
                    "tool": call.get("name"),
                    "arguments": call.get("arguments"),
                    "ok": call.get("ok"),
                    "result": str(call.get("result", ""))[:400],
                }
            )
    return activity


def identity_text(escalation: Escalation) -> str:
    identity = escalation.identity or {}
    if not identity.get("customer_id"):
        return "not verified"
    return (
        f"{identity.get('first_name', '')} {identity.get('last_name', '')} "
        f"(customer id {identity['customer_id']}, verified by {identity.get('verified_by') or '?'})"
    ).strip()


_SMALL_TALK = re.compile(
    r"(?i)^\W*(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|thanks?|thank you|ok(?:ay)?|"
    r"yes|yeah|yep|no|nope|sure|please|hello\?|anyone there\??|still here|are you there\??)"
    r"(?:[\s,!.?]+(?:there|again|so much|a lot|please|thanks?))*\W*$"
)


def stated_goal(customer_texts: list[str]) -> str:
    """What the customer came for: their latest message that asks for something, not a
    greeting, a request for a person, a yes or no, or the email and zip code they typed
    to verify. "" when they have not said yet."""
    for text in reversed(customer_texts):
        stripped = ZIP.sub(" ", EMAIL.sub(" ", text)).strip(" ,.;:-")
        if asks_for_human(stripped):
            stripped = without_person_request(stripped)
            content = [w for w in re.findall(r"\w{3,}", stripped.lower()) if w not in _FILLER]
            if len(content) < 2:
                continue
        if len(stripped) < 4 or _SMALL_TALK.match(stripped):
            continue
        return text
    return ""


_FILLER = frozenset(
    [
        "want",
        "need",
        "would",
        "like",
        "please",
        "now",
        "the",
        "and",
        "you",
        "can",
        "could",
        "just",
        "really",
        "right",
        "away",
        "asap",
    ]
)


def extractive_summary(escalation: Escalation) -> dict[str, Any]:
    conversation = escalation.conversation
    messages = _episode_messages(conversation)
    customer = [m.text for m in messages if m.role == Message.Role.CUSTOMER]
    goal = stated_goal(customer)
    if not goal:
        goal = (
            "Not stated yet: the customer asked for a person"
            if escalation.trigger == Escalation.Trigger.CUSTOMER_REQUEST
            else f"Not stated yet ({escalation.reason})"
        )
    goal = _clip(goal, 300)
    tried = []
    for call in _tool_activity(escalation):
        outcome = "ok" if call["ok"] else "failed"
        tried.append(f"{call['tool']} ({outcome})")
    assistant = [m.text for m in messages if m.role == Message.Role.ASSISTANT]
    if assistant:
        tried.append(f'assistant last said: "{_clip(assistant[-1], 160)}"')
    if escalation.model_note:
        tried.append(f"assistant's note: {_clip(escalation.model_note, 300)}")
    worst = max((frustration_score(text) for text in customer[-4:]), default=0)
    sentiment = "angry" if worst >= 3 else "negative" if worst >= 1 else "neutral"
    summary = Summary(
        goal=goal,
        tried=tried[-20:],
        identity=identity_text(escalation),
        sentiment=sentiment,
        next_step=NEXT_STEP.get(escalation.trigger, NEXT_STEP[Escalation.Trigger.MODEL]),
    )
    return summary.model_dump()


def model_summary(escalation: Escalation) -> dict[str, Any]:
    """Structured output from the configured model. Raises ProviderError on failure."""
    from apps.assistant.prompts import wrap_untrusted
    from apps.assistant.providers import get_provider
    from apps.assistant.providers.base import ErrorCode, ProviderError

    conversation = escalation.conversation
    transcript = [
        {"role": m.role, "text": m.text, "seq": m.seq} for m in _episode_messages(conversation)
    ]
    data = {
        "trigger": escalation.trigger,
        "reason": escalation.reason,
        "assistant_note": escalation.model_note,
        "identity": identity_text(escalation),
        "messages": transcript,
        "tool_calls": _tool_activity(escalation),
    }
    provider = get_provider()
    result, _usage = async_to_sync(provider.complete_json)(
        system=PROMPT_PATH.read_text(),
        user=wrap_untrusted("conversation", data),
        schema_name=SUMMARY_SCHEMA_NAME,
        schema=SUMMARY_SCHEMA,
        max_tokens=min(settings.SUPPORTBOT_MAX_OUTPUT_TOKENS, 500),
    )
    try:
        return Summary.model_validate(result).model_dump()
    except ValidationError as exc:
        raise ProviderError(
            ErrorCode.BAD_RESPONSE, f"summary does not fit the schema: {exc}"
        ) from exc


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
