"""Conversation analysis: intent, sentiment, resolution and a one-paragraph summary.

Three ways to the same typed result: the model in real time (structured output,
strict json_schema), the model through a nightly OpenAI Batch API job (half the
price), or deterministic rules when the local assistant is configured.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from django.conf import settings
from pydantic import BaseModel, ValidationError

from apps.chat.models import Conversation, Message, Turn

from . import openai_batch
from .models import AnalysisBatch, ConversationAnalysis
from .queries import escalated
from .structured_output import NO_MODEL, ModelUsage, StructuredCall

log = logging.getLogger(__name__)

PROMPT_NAME = "analysis.v1"
PROMPT = (Path(__file__).parent / "prompt_templates" / f"{PROMPT_NAME}.txt").read_text()
MAX_TRANSCRIPT_CHARS = 12_000

Intent = Literal[
    "order_status",
    "cancel_order",
    "return_items",
    "exchange_items",
    "change_address",
    "change_payment",
    "modify_items",
    "product_info",
    "help_center",
    "account",
    "human_request",
    "other",
]
INTENTS: tuple[str, ...] = get_args(Intent)


class AnalysisResult(BaseModel):
    intent: Intent
    sentiment: Literal["positive", "neutral", "negative"]
    resolution: Literal["resolved_by_bot", "escalated", "abandoned"]
    summary: str


# The question to the model, answered in the strict json_schema of the result model.
ANALYSE = StructuredCall("conversation_analysis", AnalysisResult, max_tokens=300)


# --- Facts of a conversation ---------------------------------------------------------


@dataclass
class Facts:
    customer_texts: list[str] = field(default_factory=list)
    assistant_count: int = 0
    agent_count: int = 0
    tools: list[str] = field(default_factory=list)
    confirmed_changes: int = 0
    escalated: bool = False
    last_role: str = ""
    close_reason: str = ""
    csat: int | None = None
    lines: list[str] = field(default_factory=list)  # the transcript, one line per message


def facts_of(conversation: Conversation) -> Facts:
    facts = Facts(close_reason=conversation.close_reason, csat=conversation.csat_score)
    messages = Message.objects.filter(
        conversation=conversation, seq__gt=conversation.episode_start_seq
    ).order_by("seq")
    for message in messages:
        if message.kind == Message.Kind.MESSAGE:
            facts.lines.append(f"{message.role}: {message.text}")
            if message.role == Message.Role.CUSTOMER:
                facts.customer_texts.append(message.text)
            elif message.role == Message.Role.ASSISTANT:
                facts.assistant_count += 1
            elif message.role == Message.Role.AGENT:
                facts.agent_count += 1
            if message.role != Message.Role.SYSTEM:
                facts.last_role = message.role
        elif message.kind == Message.Kind.CONFIRM_RESULT:
            facts.lines.append(f"change outcome: {message.text}")
            if (message.metadata or {}).get("status") == "done":
                facts.confirmed_changes += 1
        elif message.kind == Message.Kind.HANDOFF and message.text:
            facts.lines.append(f"hand-off: {message.text}")
    start = messages.first()
    turns = Turn.objects.filter(conversation=conversation)
    if start is not None:
        turns = turns.filter(started_at__gte=start.created_at)
    for calls in turns.values_list("tool_calls", flat=True):
        facts.tools.extend(str(call.get("name", "")) for call in calls or [])
    facts.escalated = (
        Conversation.objects.filter(pk=conversation.pk).filter(escalated()).exists()
        or facts.agent_count > 0
    )
    return facts


# --- Deterministic rules (the local assistant) ----------------------------------------

_TOOL_INTENTS = [
    ("cancel_pending_order", "cancel_order"),
    ("return_delivered_order_items", "return_items"),
    ("exchange_delivered_order_items", "exchange_items"),
    ("modify_pending_order_address", "change_address"),
    ("modify_user_address", "account"),
    ("modify_pending_order_payment", "change_payment"),
    ("modify_pending_order_items", "modify_items"),
    ("escalate_to_human", "human_request"),
    ("get_order", "order_status"),
    ("list_my_orders", "order_status"),
    ("get_product", "product_info"),
    ("get_item", "product_info"),
    ("list_product_types", "product_info"),
    ("get_my_profile", "account"),
    ("search_help_center", "help_center"),
]
_WORD_INTENTS = [
    (r"\bcancel", "cancel_order"),
    (r"\breturn|\brefund", "return_items"),
    (r"\bexchange|\bswap", "exchange_items"),
    (r"\baddress", "change_address"),
    (r"\bpayment|\bpay with|\bcard\b|\bpaypal|\bgift card", "change_payment"),
    (r"\b(human|person|agent|representative|real someone)\b", "human_request"),
    (r"\bwhere is|\btrack|\bstatus|\bshipped|\bdeliver", "order_status"),
    (r"\bin stock|\bavailable|\bsize|\bcolou?r|\bproduct", "product_info"),
    (r"\bshipping|\bpolicy|\bwarranty|\bhow long|\bhow do i|\bdo you", "help_center"),
    (r"\baccount|\bpassword|\bemail", "account"),
]
_NEGATIVE = re.compile(
    r"(?i)\b(angry|annoy\w*|terrible|awful|useless|ridiculous|worst|frustrat\w*|unacceptable|"
    r"disappoint\w*|never again|still (?:not|hasn't|haven't)|not happy|waste)\b"
)
_POSITIVE = re.compile(
    r"(?i)\b(thanks?|thank you|great|perfect|awesome|appreciate\w*|helpful|brilliant|"
    r"excellent|love)\b"
)


def rules_analysis(facts: Facts) -> AnalysisResult:
    intent = _rules_intent(facts)
    text = " ".join(facts.customer_texts)
    score = len(_POSITIVE.findall(text)) - 2 * len(_NEGATIVE.findall(text))
    if facts.csat is not None:
        score += {1: -3, 2: -2, 3: 0, 4: 2, 5: 3}.get(facts.csat, 0)
    sentiment: Literal["positive", "neutral", "negative"] = (
        "positive" if score > 0 else "negative" if score < 0 else "neutral"
    )
    resolution: Literal["resolved_by_bot", "escalated", "abandoned"]
    if facts.escalated:
        resolution = "escalated"
    elif facts.assistant_count == 0 or (
        facts.close_reason == "idle" and facts.last_role == "customer"
    ):
        # The customer left without an answer to what they last said.
        resolution = "abandoned"
    else:
        resolution = "resolved_by_bot"
    return AnalysisResult(
        intent=intent,
        sentiment=sentiment,
        resolution=resolution,
        summary=_rules_summary(facts, intent, resolution),
    )


def _rules_intent(facts: Facts) -> str:
    # The tools the assistant used say most reliably what the customer wanted;
    # a change tool outranks the look-ups that came before it.
    for tool_name, intent in _TOOL_INTENTS:
        if tool_name in facts.tools:
            return intent
    text = " ".join(facts.customer_texts).lower()
    for pattern, intent in _WORD_INTENTS:
        if re.search(pattern, text):
            return intent
    return "other"


def _rules_summary(facts: Facts, intent: str, resolution: str) -> str:
    first = facts.customer_texts[0] if facts.customer_texts else "nothing"
    first = first if len(first) <= 140 else first[:137] + "…"
    parts = [f'The customer wrote "{first}" ({intent.replace("_", " ")}).']
    if facts.tools:
        used = ", ".join(dict.fromkeys(t.replace("_", " ") for t in facts.tools))
        parts.append(f"The assistant used: {used}.")
    if facts.confirmed_changes:
        parts.append(f"{facts.confirmed_changes} change(s) were confirmed and made.")
    ending = {
        "escalated": "The conversation went to a human agent.",
        "abandoned": "The customer left before getting an answer.",
        "resolved_by_bot": "The assistant handled it without a human.",
    }[resolution]
    parts.append(ending)
    if facts.close_reason:
        parts.append(f"Closed by {facts.close_reason}.")
    return " ".join(parts)


# --- The model ------------------------------------------------------------------------


def model_prompt(facts: Facts) -> tuple[str, str]:
    """The system and user texts of an analysis call: our instructions, then the transcript
    as data."""
    from apps.assistant.prompts import wrap_untrusted

    transcript = "\n".join(facts.lines)[-MAX_TRANSCRIPT_CHARS:]
    user = wrap_untrusted(
        "conversation",
        {
            "transcript": transcript,
            "tools_used": facts.tools,
            "human_involved": facts.escalated,
            "closed_by": facts.close_reason,
            "intents": list(INTENTS),
        },
    )
    return PROMPT, user


def model_analysis(facts: Facts) -> tuple[AnalysisResult, ModelUsage]:
    return ANALYSE.ask(*model_prompt(facts))


def batch_mode() -> bool:
    return settings.SUPPORTBOT_ANALYSIS_MODE == "batch" and bool(settings.OPENAI_API_KEY)


def do_analyze_conversation(conversation_id: uuid.UUID | str) -> ConversationAnalysis | None:
    """Analyse the conversation's latest episode now, or queue it for the nightly batch."""
    from apps.assistant.providers.base import ProviderError

    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return None
    if batch_mode():
        analysis, _ = ConversationAnalysis.objects.update_or_create(
            conversation=conversation,
            defaults={"status": ConversationAnalysis.Status.QUEUED, "batch": None},
        )
        return analysis
    facts = facts_of(conversation)
    source, usage = ConversationAnalysis.Source.RULES, NO_MODEL
    if settings.OPENAI_API_KEY:
        try:
            result, usage = model_analysis(facts)
            source = ConversationAnalysis.Source.MODEL
        except (ProviderError, ValidationError) as exc:
            log.warning("model analysis of %s failed, using rules: %s", conversation_id, exc)
            result = rules_analysis(facts)
    else:
        result = rules_analysis(facts)
    return store_analysis(conversation, result, source=source, usage=usage)


def store_analysis(
    conversation: Conversation,
    result: AnalysisResult,
    *,
    source: str,
    usage: ModelUsage = NO_MODEL,
    batch: AnalysisBatch | None = None,
) -> ConversationAnalysis:
    analysis, _ = ConversationAnalysis.objects.update_or_create(
        conversation=conversation,
        defaults={
            "episode": conversation.episode,
            "status": ConversationAnalysis.Status.DONE,
            "intent": result.intent,
            "sentiment": result.sentiment,
            "resolution": result.resolution,
            "summary": result.summary,
            "source": source,
            **usage.fields(),
            "batch": batch,
        },
    )
    return analysis


# --- The nightly Batch API job (apps/reports/openai_batch.py) --------------------------


def batch_request_line(conversation_id: uuid.UUID | str, facts: Facts, model: str) -> str:
    """One JSONL line of a Batch API input file: a chat.completions request."""
    return ANALYSE.batch_line(conversation_id, *model_prompt(facts), model)


def do_submit_analysis_batch(client: Any | None = None) -> AnalysisBatch | None:
    """Send every queued analysis (closed conversations without one) as one batch job."""
    if not batch_mode():
        return None
    return openai_batch.submit(
        AnalysisBatch.Purpose.ANALYSIS,
        lambda c: batch_request_line(c.pk, facts_of(c), settings.SUPPORTBOT_MODEL),
        client,
    )


def do_poll_analysis_batches(client: Any | None = None) -> int:
    """Collect every finished batch; returns how many analyses were stored."""
    storing = openai_batch.Storing(
        AnalysisResult, settings.SUPPORTBOT_MODEL, _from_batch, _from_rules
    )
    return openai_batch.poll(AnalysisBatch.Purpose.ANALYSIS, storing, client)


def _from_batch(
    batch: AnalysisBatch, conversation: Conversation, result: AnalysisResult, usage: ModelUsage
) -> None:
    store_analysis(
        conversation, result, source=ConversationAnalysis.Source.BATCH, usage=usage, batch=batch
    )


def _from_rules(batch: AnalysisBatch, conversation: Conversation) -> None:
    # A failed or missing line (or job): the rules still give managers an answer.
    result = rules_analysis(facts_of(conversation))
    store_analysis(conversation, result, source=ConversationAnalysis.Source.RULES, batch=batch)
