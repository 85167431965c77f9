"""Layer 4, the conversation the model sees: this episode's messages, and the tool
calls and results of earlier turns, under a token budget.

A model that cannot see what its tools returned in earlier turns asks again, or
worse, guesses (an order id, a payment method id). So each turn stores its tool
steps exactly as the model saw them (`Turn.exchange`: the assistant message with
its `tool_calls`, then one `tool` message per call), and the next turn replays
them in place: right before that turn's reply, or right after the message it
answered when it stored none (a turn stopped by a hand-off ends late).

A customer's decision on a confirmation card is replayed as the change tool's
call with its real arguments and the outcome as its result, so the model knows
exactly which change was made or declined.

The budget (`SUPPORTBOT_HISTORY_TOKENS`, estimated at four characters a token)
is kept by compacting, oldest first: tool results become a short stub, then
whole exchanges and messages are dropped. The latest message always stays, and a
tool call is never separated from its results.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from apps.assistant import prompts
from apps.assistant.providers.base import ToolCall

from .models import Attachment, Conversation, Message, PendingAction, Turn
from .photos import model_data_url

log = logging.getLogger(__name__)

# The most recent events of an episode read from the database; the token budget
# usually stops well before.
HISTORY_EVENTS = 200
PHOTOS_TO_MODEL = 2  # the latest customer photos sent as images with a turn
CHARS_PER_TOKEN = 4
COMPACTED_NOTE = (
    "An earlier result, left out here to save space. Call the tool again if you need it."
)


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(m, ensure_ascii=False)) for m in messages) // CHARS_PER_TOKEN


@dataclass
class _Unit:
    """Messages that stay or go together: one message, or a tool-call message and its
    results."""

    messages: list[dict[str, Any]]
    compacted: bool = False
    names: dict[str, str] = field(default_factory=dict)  # tool_call_id -> tool name

    @property
    def has_results(self) -> bool:
        return any(m["role"] == "tool" for m in self.messages)


def conversation_layer(
    conversation: Conversation,
    *,
    budget: int | None = None,
    events: list[Message] | None = None,
) -> list[dict[str, Any]]:
    """The episode's conversation for the model, oldest first, within the budget.
    `events`: the episode's events, if episode_events() has read them already."""
    units = _units(conversation, episode_events(conversation) if events is None else events)
    return compact(units, settings.SUPPORTBOT_HISTORY_TOKENS if budget is None else budget)


def episode_events(conversation: Conversation) -> list[Message]:
    """The episode's most recent events the model may see, oldest first (at most
    HISTORY_EVENTS): its messages, replies and card decisions, not hand-offs, notices
    or the cards themselves."""
    events = list(
        Message.objects.filter(conversation=conversation, seq__gt=conversation.episode_start_seq)
        .exclude(kind__in=[Message.Kind.HANDOFF, Message.Kind.NOTICE, Message.Kind.CONFIRM_REQUEST])
        .order_by("-seq")[:HISTORY_EVENTS]
    )
    events.reverse()
    return events


def window_start(conversation: Conversation, events: list[Message]) -> int:
    """The seq after which episode_events() holds every event of those kinds: the
    episode's start, or, when the window was full, just before its oldest event.
    0: the whole conversation."""
    if len(events) < HISTORY_EVENTS:
        return conversation.episode_start_seq
    return events[0].seq - 1


def open_card(conversation_id: Any) -> str | None:
    """The summary of the confirmation card the customer has not decided yet, if any."""
    return _open_card_summary(conversation_id).first()


def open_card_column() -> Subquery:
    """open_card() as a column of a conversation query."""
    return Subquery(_open_card_summary(OuterRef("pk"))[:1])


def _open_card_summary(conversation_id: Any) -> QuerySet[PendingAction, str]:
    return (
        PendingAction.objects.filter(
            conversation_id=conversation_id,
            status=PendingAction.Status.PENDING,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
        .values_list("summary", flat=True)
    )


# --- Building -------------------------------------------------------------------------------


def _units(conversation: Conversation, events: list[Message]) -> list[_Unit]:
    if not events:
        return []
    replies = {event.pk for event in events if event.role == Message.Role.ASSISTANT}
    # One read of the turns serves both uses: those of the window replay their tool
    # steps, and those that wrote a reply of the window tell which message it answers.
    of_window = Q(
        answers_seq__gte=conversation.episode_start_seq, started_at__gte=events[0].created_at
    )
    turns = list(
        Turn.objects.filter(conversation=conversation)
        .filter(of_window | Q(message__in=replies))
        .only("answers_seq", "trigger", "message_id", "exchange")  # not the audit's columns
        .annotate(
            reply_seq=F("message__seq"),
            replayed=ExpressionWrapper(of_window & ~Q(exchange=[]), BooleanField()),
        )
    )
    decided = [
        event.metadata["action_id"]
        for event in events
        if event.kind == Message.Kind.CONFIRM_RESULT and event.metadata.get("action_id")
    ]
    actions = {
        str(action.pk): action
        for action in (PendingAction.objects.filter(pk__in=decided) if decided else ())
    }
    # Each piece gets a place in the conversation's seq order: an event at its seq, a
    # turn's exchange just before its reply, or just after the message it answered when
    # it stored none (a turn stopped by a hand-off finishes late, after later events).
    # A reply the customer wrote over (a message sent while it streamed is stored before
    # it) goes, with its exchange, right under the question it answers, as the chat page
    # shows it: otherwise the newer message would read as answered by the older reply.
    # The model sees the latest photos as images; older ones it was shown before.
    photos = sorted(
        event.pk
        for event in events
        if event.role == Message.Role.CUSTOMER and (event.metadata or {}).get("attachment")
    )
    recent_photos = set(photos[-PHOTOS_TO_MODEL:])
    customer_seqs = [event.seq for event in events if event.role == Message.Role.CUSTOMER]
    written_over: dict[int, float] = {
        turn.reply_seq: turn.answers_seq + 0.5
        for turn in turns
        if turn.message_id in replies
        and turn.trigger == "message"
        and any(turn.answers_seq < seq < turn.reply_seq for seq in customer_seqs)
    }
    pieces: list[tuple[float, list[_Unit]]] = []
    for event in events:
        unit = _event_unit(event, actions, recent_photos)
        if unit is not None:
            pieces.append((written_over.get(event.seq, event.seq), [unit]))
    for turn in turns:
        if not turn.replayed:
            continue
        reply_seq: int | None = turn.reply_seq
        if reply_seq is None:
            position = turn.answers_seq + 0.5
        else:
            position = written_over.get(reply_seq, reply_seq) - 0.25
        pieces.append((position, _exchange_units(turn.exchange)))
    pieces.sort(key=lambda piece: piece[0])
    return [unit for _, units in pieces for unit in units]


def _event_unit(
    event: Message, actions: dict[str, PendingAction], recent_photos: set[int]
) -> _Unit | None:
    if event.kind == Message.Kind.CONFIRM_RESULT:
        return _decision_unit(event, actions.get(str(event.metadata.get("action_id"))))
    if event.role == Message.Role.CUSTOMER:
        return _Unit([prompts.user_message(event.text, _photos(event, recent_photos))])
    if event.role == Message.Role.ASSISTANT:
        return _Unit([{"role": "assistant", "content": event.text}])
    if event.role == Message.Role.AGENT:
        name = event.metadata.get("agent_name") or "a support agent"
        return _Unit([{"role": "assistant", "content": f"[{name}, human agent]: {event.text}"}])
    return None


def _photos(event: Message, recent: set[int]) -> list[str]:
    """The message's photo as a data URL for the model, or [] (no photo, an older one,
    or its file gone)."""
    photo = (event.metadata or {}).get("attachment")
    if not photo or event.pk not in recent:
        return []
    attachment = Attachment.objects.filter(pk=photo.get("id")).first()
    if attachment is None:
        return []
    try:
        with attachment.file.open("rb") as handle:
            return [model_data_url(handle.read())]
    except OSError:
        log.warning("photo %s of message %s is missing", attachment.pk, event.pk)
        return []


def _decision_unit(event: Message, action: PendingAction | None) -> _Unit:
    """The customer's decision on a card, told as the change tool's call and result."""
    call_id = f"confirm_{event.metadata.get('action_id', event.seq)}"
    tool_name = str(event.metadata.get("tool") or (action.tool_name if action else "confirmation"))
    arguments = action.arguments if action is not None else {}
    call = ToolCall(
        call_id, tool_name, json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
    )
    outcome = {
        "confirmation": event.metadata.get("status"),
        "decided_by": "the customer, on the confirmation card",
        "outcome": event.text,
    }
    return _Unit(
        [
            prompts.tool_calls_message(None, [call]),
            prompts.tool_result_message(
                call_id, prompts.wrap_untrusted(f"confirmation:{tool_name}", outcome)
            ),
        ],
        names={call_id: tool_name},
    )


def _exchange_units(exchange: list[dict[str, Any]]) -> list[_Unit]:
    """A turn's stored steps, grouped so a call is never apart from its results. A step
    whose results are incomplete (the turn crashed mid-step) is left out whole."""
    units: list[_Unit] = []
    current: _Unit | None = None
    for stored in exchange:
        message = canonical(stored)
        if message.get("role") == "assistant" and message.get("tool_calls"):
            current = _Unit(
                [message],
                names={call["id"]: call["function"]["name"] for call in message["tool_calls"]},
            )
            units.append(current)
        elif message.get("role") == "tool" and current is not None:
            current.messages.append(message)
    return [unit for unit in units if _answered(unit)]


def canonical(message: dict[str, Any]) -> dict[str, Any]:
    """A stored step rebuilt by the builders the engine sent it with: PostgreSQL's jsonb
    reorders keys, and the replayed prefix must stay byte-identical for the prompt cache."""
    if message.get("role") == "tool":
        return prompts.tool_result_message(message["tool_call_id"], message["content"])
    calls = [
        ToolCall(call["id"], call["function"]["name"], call["function"]["arguments"])
        for call in message.get("tool_calls") or []
    ]
    return prompts.tool_calls_message(message.get("content"), calls)


def _answered(unit: _Unit) -> bool:
    asked = {call["id"] for call in unit.messages[0]["tool_calls"]}
    answered = [m["tool_call_id"] for m in unit.messages[1:]]
    return sorted(answered) == sorted(asked)


# --- Compacting ---------------------------------------------------------------------------


def compact(units: list[_Unit], budget: int) -> list[dict[str, Any]]:
    """Fit the units into `budget` tokens: stub old tool results, then drop old units."""
    total = sum(estimate_tokens(unit.messages) for unit in units)
    # The newest unit (usually the customer's latest message) is never touched.
    for unit in units[:-1]:
        if total <= budget:
            break
        if unit.has_results and not unit.compacted:
            before = estimate_tokens(unit.messages)
            _stub_results(unit)
            total -= before - estimate_tokens(unit.messages)
    kept = list(units)
    dropped = False
    while total > budget and len(kept) > 1:
        total -= estimate_tokens(kept.pop(0).messages)
        dropped = True
    # Once the start is cut, open with the customer, not with a reply out of context.
    while dropped and len(kept) > 1 and kept[0].messages[0]["role"] != "user":
        kept.pop(0)
    return [message for unit in kept for message in unit.messages]


def _stub_results(unit: _Unit) -> None:
    stubbed = []
    for message in unit.messages:
        if message["role"] == "tool":
            name = unit.names.get(message["tool_call_id"], "tool")
            message = {
                **message,
                "content": prompts.wrap_untrusted(
                    f"tool:{name}", {"compacted": True, "note": COMPACTED_NOTE}
                ),
            }
        stubbed.append(message)
    unit.messages = stubbed
    unit.compacted = True
