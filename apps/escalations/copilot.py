"""The agents' copilot: a suggested reply streamed into the composer, a summary of
the conversation so far with a suggested next step, and a record of each
suggestion and what the agent did with it (shown, edited, sent as is, discarded).

With an OpenAI key the reply comes from the model (the conversation, the
customer's orders and the best help-center passages passed as untrusted data);
without one, the offline copilot suggests the canned reply that best fits the
customer's latest message. Nothing here sends anything to the customer: the agent
sends, through the console's reply view.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.chat.models import Conversation, Message
from apps.common.errors import Refusal

from . import services, summaries
from .models import AgentNote, CannedReply, CopilotSuggestion, Escalation

PROMPT_VERSION = "copilot_reply.v1"
PROMPT_PATH = Path(__file__).parent / "prompt_templates" / f"{PROMPT_VERSION}.txt"
TRANSCRIPT_LIMIT = 30
WORD = re.compile(r"[a-z0-9']+")
# Words that say nothing about which canned reply fits.
STOP = frozenset(
    re.findall(
        r"\S+",
        "a an and are be but can could do for from have hi hello i i'm if in is it its me my "
        "of on or our please so that the their them there they this to was we what when where "
        "which who will with would you your",
    )
)
Outcome = CopilotSuggestion.Outcome


class CopilotError(Refusal):
    """A suggestion the copilot cannot write; its code is recorded on the suggestion."""


# --- Reading the conversation ------------------------------------------------------------


def _transcript(conversation: Conversation) -> list[dict[str, Any]]:
    rows = list(
        Message.objects.filter(conversation=conversation, kind=Message.Kind.MESSAGE)
        .exclude(role=Message.Role.SYSTEM)
        .order_by("-seq")[:TRANSCRIPT_LIMIT]
    )
    rows.reverse()
    return [
        {
            "seq": m.seq,
            "role": m.role,
            "text": m.text,
            **({"agent": m.metadata.get("agent_name")} if m.role == Message.Role.AGENT else {}),
        }
        for m in rows
    ]


def _orders(conversation: Conversation) -> list[dict[str, Any]]:
    if conversation.customer_id is None:
        return []
    from apps.orders.models import Order

    orders = (
        Order.objects.filter(customer_id=conversation.customer_id)
        .prefetch_related("lines")
        .order_by("position")[:10]
    )
    return [
        {
            "order_id": order.order_id,
            "status": order.status,
            "items": [line.name for line in order.lines.all()],
        }
        for order in orders
    ]


def _articles(question: str) -> list[dict[str, str]]:
    if not question.strip():
        return []
    from apps.knowledge.search import current_index

    result = current_index().search(question, limit=2)
    return [
        {
            "title": hit.passage.title,
            "section": hit.passage.heading,
            "url": hit.passage.url,
            "text": hit.passage.text[:1500],
        }
        for hit in result.hits
    ]


def reply_context(conversation: Conversation, agent: Any) -> dict[str, Any]:
    customer = conversation.customer
    return {
        "agent_first_name": services.agent_name(agent),
        "customer": (
            {
                "first_name": customer.first_name,
                "last_name": customer.last_name,
                "verified_by": conversation.verified_by,
            }
            if customer is not None
            else "not verified"
        ),
        "orders": _orders(conversation),
        "help_center": _articles(Message.objects.latest_customer_text(conversation.pk)),
        "private_notes": [
            note.text[:500] for note in AgentNote.objects.filter(conversation=conversation)[:5]
        ],
        "messages": _transcript(conversation),
    }


def best_canned_reply(conversation: Conversation, agent: Any) -> str:
    """The offline suggestion: the active canned reply sharing the most words with the
    customer's latest message (the first one when nothing overlaps), names filled in."""
    replies = list(CannedReply.objects.filter(active=True))
    if not replies:
        raise CopilotError("no_suggestion", "There are no canned replies to suggest.")
    latest = Message.objects.latest_customer_text(conversation.pk)
    asked = {w for w in WORD.findall(latest.lower())} - STOP

    def overlap(reply: CannedReply) -> int:
        words = set(WORD.findall(f"{reply.title} {reply.text}".lower())) - STOP
        return len(asked & words)

    best = max(replies, key=lambda reply: (overlap(reply), -reply.position, -reply.pk))
    first = conversation.customer.first_name if conversation.customer else "there"
    return best.text.replace("{customer_first_name}", first).replace(
        "{agent_first_name}", services.agent_name(agent)
    )


# --- Recording ------------------------------------------------------------------------


def do_start_suggestion(conversation_id: uuid.UUID | str, agent: Any) -> CopilotSuggestion:
    """A new suggested reply for the agent holding the conversation. An earlier one
    they never sent is discarded (a new suggestion replaces it in the composer)."""
    with transaction.atomic():
        escalation = services.held_by(conversation_id, agent)
        conversation = Conversation.objects.get(pk=conversation_id)
        CopilotSuggestion.objects.filter(
            conversation_id=conversation_id,
            agent=agent,
            kind=CopilotSuggestion.Kind.REPLY,
            status__in=[Outcome.PENDING, Outcome.SHOWN],
        ).update(status=Outcome.DISCARDED, resolved_at=timezone.now())
        return CopilotSuggestion.objects.create(
            conversation_id=conversation_id,
            escalation=escalation,
            agent=agent,
            kind=CopilotSuggestion.Kind.REPLY,
            source=(
                CopilotSuggestion.Source.MODEL
                if settings.OPENAI_API_KEY
                else CopilotSuggestion.Source.CANNED
            ),
            after_seq=conversation.last_seq,
        )


def do_finish_suggestion(suggestion_id: int, text: str, *, error_code: str = "") -> None:
    CopilotSuggestion.objects.filter(pk=suggestion_id, status=Outcome.PENDING).update(
        text=text,
        status=Outcome.FAILED if error_code else Outcome.SHOWN,
        error_code=error_code,
        resolved_at=timezone.now() if error_code else None,
    )


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def do_record_sent(suggestion_id: int, agent: Any, sent: Message) -> CopilotSuggestion | None:
    """The agent sent a reply that started from this suggestion: as is, or edited."""
    suggestion = CopilotSuggestion.objects.filter(
        pk=suggestion_id,
        agent=agent,
        conversation_id=sent.conversation_id,
        status__in=[Outcome.SHOWN, Outcome.PENDING],
    ).first()
    if suggestion is None:
        return None
    outcome = Outcome.SENT if _same(suggestion.text, sent.text) else Outcome.EDITED
    CopilotSuggestion.objects.filter(pk=suggestion.pk, status=suggestion.status).update(
        status=outcome, sent_text=sent.text, message_seq=sent.seq, resolved_at=timezone.now()
    )
    suggestion.refresh_from_db()
    return suggestion


def do_discard(suggestion_id: int, agent: Any) -> bool:
    return bool(
        CopilotSuggestion.objects.filter(
            pk=suggestion_id, agent=agent, status__in=[Outcome.SHOWN, Outcome.PENDING]
        ).update(status=Outcome.DISCARDED, resolved_at=timezone.now())
    )


# --- Writing ----------------------------------------------------------------------------


async def stream_reply(suggestion: CopilotSuggestion, agent: Any) -> AsyncIterator[str]:
    """The suggestion's text, piece by piece; recorded when it ends (or fails)."""
    conversation = await Conversation.objects.select_related("customer").aget(
        pk=suggestion.conversation_id
    )
    written: list[str] = []
    try:
        if suggestion.source == CopilotSuggestion.Source.MODEL:
            async for piece in _model_reply(conversation, agent):
                written.append(piece)
                yield piece
        else:
            text = await sync_to_async(best_canned_reply)(conversation, agent)
            for piece in re.findall(r"\S+\s*", text):
                written.append(piece)
                yield piece
    except Exception as exc:
        code = getattr(exc, "code", "internal_error")
        await sync_to_async(do_finish_suggestion)(suggestion.pk, "".join(written), error_code=code)
        raise
    await sync_to_async(do_finish_suggestion)(suggestion.pk, "".join(written).strip())


async def _model_reply(conversation: Conversation, agent: Any) -> AsyncIterator[str]:
    from apps.assistant.prompts import wrap_untrusted
    from apps.assistant.providers import get_provider
    from apps.assistant.providers.base import ModelRequest, TextDelta

    context = await sync_to_async(reply_context)(conversation, agent)
    request = ModelRequest(
        messages=[
            {"role": "system", "content": PROMPT_PATH.read_text()},
            {"role": "user", "content": wrap_untrusted("conversation", context)},
        ],
        max_tokens=min(settings.SUPPORTBOT_MAX_OUTPUT_TOKENS, 400),
    )
    async for event in get_provider().stream(request):
        if isinstance(event, TextDelta) and event.text:
            yield event.text


def do_summarise_now(conversation_id: uuid.UUID | str, agent: Any) -> CopilotSuggestion:
    """A summary of the conversation so far with a suggested next step (the model's
    when a key is set and it answers; rules otherwise), recorded as shown."""
    from apps.assistant.providers.base import ProviderError

    conversation = Conversation.objects.select_related("customer").get(pk=conversation_id)
    escalation = (
        Escalation.objects.filter(conversation=conversation).order_by("-pk").first()
    ) or Escalation(
        conversation=conversation,
        trigger=Escalation.Trigger.AGENT,
        reason="",
        identity=services.customer_identity(conversation),
        tool_turns=services.tool_turns(conversation),
    )
    source = CopilotSuggestion.Source.EXTRACTIVE
    error_code = ""
    if settings.OPENAI_API_KEY:
        try:
            data = summaries.model_summary(escalation)
            source = CopilotSuggestion.Source.MODEL
        except ProviderError as exc:
            error_code = exc.code
            data = summaries.extractive_summary(escalation)
    else:
        data = summaries.extractive_summary(escalation)
    return CopilotSuggestion.objects.create(
        conversation=conversation,
        escalation=escalation if escalation.pk else None,
        agent=agent,
        kind=CopilotSuggestion.Kind.SUMMARY,
        source=source,
        status=Outcome.SHOWN,
        text=f"{data.get('goal', '')}\nNext step: {data.get('next_step', '')}",
        data=data,
        after_seq=conversation.last_seq,
        error_code=error_code,
    )
