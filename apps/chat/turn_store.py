"""The turn's steps in the database (sync; the engine runs them in a thread): begin a
turn under the conversation's row lock, build its prompt, and store its reply, its stop
or its failure with the audit and the totals. A reply is stored only if the bot owned
the conversation throughout (`bot_kept_it`)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from apps.assistant import prompts
from apps.assistant.costs import cost_usd
from apps.assistant.guardrails import Verdict
from apps.assistant.models import OperatorPolicy
from apps.assistant.providers.base import (
    Provider,
)
from apps.assistant.tools import Citation, ToolContext, ToolSpec, tools_for

from . import history, services
from .models import Conversation, Message, Turn

TURN_LIMIT_TEXT = (
    "We've covered a lot in this chat, and I've reached the limit of what I can do in one "
    "conversation. Would you like me to connect you with a person from our support team?"
)


CUSTOMER_TEXTS_LIMIT = 200  # customer messages searched for identity facts


@dataclass
class TurnSetup:
    turn: Turn
    ctx: ToolContext
    conversation: list[dict[str, Any]]
    verdicts: list[Verdict]
    instructions: list[str]  # what the output guard must never let out verbatim
    new_texts: list[str]  # the customer messages this turn answers
    start_seq: int  # the conversation's last seq when the turn began
    policy: OperatorPolicy  # the operator policy version this turn uses throughout
    limit_text: str = ""
    first_prompt: StepPrompt | None = None  # None when a cap answers instead of the model


@dataclass
class TurnState:
    turn_id: uuid.UUID
    started: float
    first_token_at: float | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0
    finish_reason: str = ""
    # This turn's tool steps as the model saw them; stored on the turn for later turns.
    exchange: list[dict[str, Any]] = field(default_factory=list)
    proposed_in_response: bool = False  # a change card came from the current response
    # The current response's size while OpenAI has not reported its usage yet (usage
    # comes last): a turn stopped mid-stream is still priced, from this estimate.
    unreported_prompt_chars: int = 0
    unreported_completion_chars: int = 0
    tokens_estimated: bool = False
    tool_audit: list[dict[str, Any]] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)  # prompt layer -> version used


@dataclass
class LeaseClaim:
    """A runner's first step asks begin_turn to take the conversation's turn lease for
    `owner` in the same locked step, and only with a turn to run (leases.py). Without a
    turn, begin_turn says why: `refused`, another process's lease is live (its
    heartbeat is on or after `fresh_since`); `recover`, turns were left `running` (a
    dead process's: they are recovered first); `left_held`, nothing is owed but this
    process's own lease was left held (the caller lets it go)."""

    owner: str
    fresh_since: datetime
    refused: bool = False
    recover: bool = False
    left_held: bool = False
    taken: bool = False

    def allows(self, row: Conversation) -> bool:
        lapsed = row.turn_heartbeat is not None and row.turn_heartbeat < self.fresh_since
        if row.turn_owner not in {"", self.owner} and not lapsed:
            self.refused = True
        elif row.running_turns:  # type: ignore[attr-defined]
            self.recover = True
        return not (self.refused or self.recover)

    def take(self) -> dict[str, Any]:
        """The lease's columns for the turn's own update of the row."""
        self.taken = True
        return {"turn_owner": self.owner, "turn_heartbeat": timezone.now()}

    def nothing_owed(self, row: Conversation) -> None:
        self.left_held = row.turn_owner == self.owner


def begin_turn(conversation_id: uuid.UUID, lease: LeaseClaim | None = None) -> TurnSetup | None:
    """Begin the owed turn under the conversation's row lock, with the prompt of its
    first model call: one thread hop, a handful of queries (None if no turn is owed).
    With `lease`, the same step claims the conversation's turn lease (see LeaseClaim)."""
    with transaction.atomic():
        conversation = _lock_for_turn(conversation_id, lease)
        if conversation is None or (lease is not None and not lease.allows(conversation)):
            return None
        events: list[Message] = []
        new_messages: list[Message] = []
        if conversation.status == Conversation.Status.BOT:
            events = history.episode_events(conversation)
            new_messages = _new_messages(conversation, events)
        if conversation.status != Conversation.Status.BOT or not (
            new_messages or conversation.turn_requested
        ):
            # Nothing owed (Conversation.owes_bot_turn, from the locked row).
            if lease is not None:
                lease.nothing_owed(conversation)
            return None
        if new_messages:
            latest_customer = new_messages[-1].seq
        else:
            latest_customer = Message.objects.latest_customer_seq(conversation.pk)
        trigger = "message" if new_messages else "request"
        limit_text = ""
        total_tokens = conversation.prompt_tokens + conversation.completion_tokens
        over_turns = conversation.turn_count >= settings.SUPPORTBOT_MAX_TURNS
        over_tokens = total_tokens >= settings.SUPPORTBOT_MAX_CONVERSATION_TOKENS
        if over_turns or over_tokens:
            limit_text = TURN_LIMIT_TEXT
        verdicts = [
            Verdict(**m.metadata["screen"]) for m in new_messages if m.metadata.get("screen")
        ]
        if limit_text:
            verdicts.append(
                Verdict(check="limits", tripwire=True, reason="conversation cap reached")
            )
        Conversation.objects.filter(pk=conversation.pk).update(
            answered_seq=max(conversation.answered_seq, latest_customer),
            turn_requested=False,
            turn_count=F("turn_count") + 1,
            **(lease.take() if lease is not None else {}),
        )
        turn = Turn.objects.create(
            conversation=conversation,
            trigger=trigger,
            answers_seq=latest_customer,
            verdicts=[v.as_dict() for v in verdicts],
        )
    ctx = ToolContext(
        conversation_id=conversation.pk,
        customer_id=conversation.customer_id,
        turn_id=turn.pk,
        # Identity facts are taken only from here, and are asked for only before binding.
        customer_texts=() if conversation.customer_id else customer_texts(conversation, events),
    )
    policy = prompts.current_policy()
    layer = history.conversation_layer(conversation, events=events)
    return TurnSetup(
        turn=turn,
        ctx=ctx,
        conversation=layer,
        verdicts=verdicts,
        instructions=prompts.instruction_texts(policy),
        new_texts=[message.text for message in new_messages],
        start_seq=conversation.last_seq,
        policy=policy,
        limit_text=limit_text,
        first_prompt=None if limit_text else prompt_for(ctx, layer, policy, conversation),
    )


def _lock_for_turn(conversation_id: uuid.UUID, lease: LeaseClaim | None) -> Conversation | None:
    """The locked row, with its customer, the open card's summary (`open_card`) and,
    for a lease claim, whether any turn is still running (`running_turns`)."""
    columns: dict[str, Any] = {"open_card": history.open_card_column()}
    if lease is not None:
        columns["running_turns"] = Exists(running_turns())
    return Conversation.objects.lock(conversation_id, "customer", **columns)


def running_turns() -> QuerySet[Turn]:
    """The outer conversation's turns still `running`."""
    return Turn.objects.filter(conversation_id=OuterRef("pk"), status=Turn.Status.RUNNING)


def _typed(events: list[Message]) -> list[Message]:
    """The customer's chat messages among the events (as Message.objects.from_customer)."""
    return [
        event
        for event in events
        if event.role == Message.Role.CUSTOMER and event.kind == Message.Kind.MESSAGE
    ]


def _new_messages(conversation: Conversation, events: list[Message]) -> list[Message]:
    """The customer's messages after the last one answered, oldest first: taken from
    the episode's events (history.episode_events) when they hold them all, which is
    the rule; else one query reads them."""
    if conversation.answered_seq >= history.window_start(conversation, events):
        return [event for event in _typed(events) if event.seq > conversation.answered_seq]
    return list(
        Message.objects.from_customer(conversation.pk)
        .filter(seq__gt=conversation.answered_seq)
        .order_by("seq")
    )


def customer_texts(conversation: Conversation, events: list[Message]) -> tuple[str, ...]:
    """What the customer typed in this conversation, every episode (newest first).
    `events`: the episode's (history.episode_events), which serve when they are the
    whole conversation; otherwise one query reads them."""
    if history.window_start(conversation, events) == 0:
        typed = [event.text for event in reversed(_typed(events))]
        return tuple(typed[:CUSTOMER_TEXTS_LIMIT])
    texts = (
        Message.objects.from_customer(conversation.pk)
        .order_by("-seq")
        .values_list("text", flat=True)[:CUSTOMER_TEXTS_LIMIT]
    )
    return tuple(texts)


@dataclass
class StepPrompt:
    """One model call's prompt, and the tools offered with it."""

    ctx: ToolContext  # as of this step (verification binds a customer mid-turn)
    built: prompts.BuiltPrompt
    tools: list[ToolSpec]


def prompt_for(
    ctx: ToolContext,
    conversation: list[dict[str, Any]],
    policy: OperatorPolicy,
    row: Conversation | None = None,
) -> StepPrompt:
    """The prompt of the turn's next model call. `row`: the conversation as the turn's
    start just read it (with its customer and open card, _lock_for_turn); a later step
    reads it again, since a tool may have verified the customer or proposed a change
    meanwhile."""
    if row is None:
        row = Conversation.objects.select_related("customer").filter(pk=ctx.conversation_id).first()
        card = history.open_card(ctx.conversation_id)
    else:
        card = row.open_card  # type: ignore[attr-defined]
    customer = row.customer if row is not None else None
    ctx = dataclasses.replace(ctx, customer_id=row.customer_id if row is not None else None)
    identity = None
    if customer is not None:
        identity = prompts.Identity(
            customer_id=customer.pk, first_name=customer.first_name, last_name=customer.last_name
        )
    specs = tools_for(ctx)
    facts = prompts.SessionFacts(
        identity=identity,
        now=timezone.now(),
        locale=(row.language if row is not None else "") or "en",
        tool_names=[spec.name for spec in specs],
        open_card=card,
    )
    return StepPrompt(ctx=ctx, built=prompts.build(facts, conversation, policy), tools=specs)


def count_unreported(state: TurnState) -> None:
    """A response cut short never reported its usage: estimate it (4 characters a token)
    so a stopped or failed turn is still priced."""
    if state.unreported_prompt_chars:
        state.prompt_tokens += state.unreported_prompt_chars // 4
        state.completion_tokens += state.unreported_completion_chars // 4
        state.unreported_prompt_chars = state.unreported_completion_chars = 0
        state.tokens_estimated = True


def audit_fields(state: TurnState, model_name: str, provider_name: str) -> dict[str, Any]:
    now = time.monotonic()
    count_unreported(state)
    cost = cost_usd(
        model_name, state.prompt_tokens, state.completion_tokens, cached_tokens=state.cached_tokens
    )
    return {
        "provider": provider_name,
        "model": model_name,
        "steps": state.steps,
        "prompt_tokens": state.prompt_tokens,
        "cached_tokens": state.cached_tokens,
        "completion_tokens": state.completion_tokens,
        "cost_usd": cost,
        "finish_reason": state.finish_reason,
        "exchange": state.exchange,
        "ttft_ms": (
            round((state.first_token_at - state.started) * 1000) if state.first_token_at else None
        ),
        "duration_ms": round((now - state.started) * 1000),
        "tool_calls": state.tool_audit,
        "verdicts": state.verdicts,
        "layers": state.layers,
        "finished_at": timezone.now(),
    }


def store_final(
    turn_id: uuid.UUID,
    conversation_id: uuid.UUID,
    since_seq: int,
    text: str,
    audit: dict[str, Any],
    metadata: dict[str, Any],
    *,
    under_lock: Callable[[], object] | None = None,
) -> bool:
    """Store the reply only if the bot owned the conversation throughout the turn
    (re-checked under the conversation's row lock, which every hand-off takes too).
    `under_lock`: run once the reply is stored, in the same transaction, while no
    other change of the conversation's row (a message, a hand-off) can commit."""
    with transaction.atomic():
        conversation = Conversation.objects.lock(
            conversation_id, handed_off=handed_off_since(since_seq)
        )
        if conversation is None:
            return False
        # Not running: another process took this turn for dead (the lease lapsed while
        # this one stalled) and answers it again; one reply only, and its tokens are
        # counted there.
        running = Turn.objects.filter(pk=turn_id, status=Turn.Status.RUNNING)
        if not bot_kept_it(conversation):
            if running.update(status=Turn.Status.STOPPED, **audit):
                add_totals(conversation_id, audit)  # the tokens were spent all the same
            return False
        message = services.do_append_event(
            conversation_id, role=Message.Role.ASSISTANT, text=text, metadata=metadata
        )
        if not running.update(status=Turn.Status.COMPLETED, message=message, **audit):
            transaction.set_rollback(True)  # the reply goes, unannounced
            return False
        add_totals(conversation_id, audit)
        if under_lock is not None:
            under_lock()
    return True


def add_totals(conversation_id: uuid.UUID, audit: dict[str, Any]) -> None:
    Conversation.objects.filter(pk=conversation_id).update(
        prompt_tokens=F("prompt_tokens") + audit["prompt_tokens"],
        completion_tokens=F("completion_tokens") + audit["completion_tokens"],
        cost_usd=F("cost_usd") + Decimal(audit["cost_usd"]),
    )


def stop_turn(
    turn_id: uuid.UUID, conversation_id: uuid.UUID, state: TurnState, provider: Provider
) -> None:
    """A person took over mid-turn: the turn stops, and what it spent is still counted."""
    audit = audit_fields(state, provider.model, provider.name)
    if state.tokens_estimated:
        audit["error_message"] = "stopped mid-response: its tokens are estimated"
    with transaction.atomic():
        stopped = Turn.objects.filter(pk=turn_id, status=Turn.Status.RUNNING)
        if stopped.update(status=Turn.Status.STOPPED, **audit):
            add_totals(conversation_id, audit)


def store_failure(
    turn_id: uuid.UUID,
    conversation_id: uuid.UUID,
    code: str,
    text: str,
    detail: str,
    audit: dict[str, Any],
) -> None:
    with transaction.atomic():
        failed = Turn.objects.filter(pk=turn_id, status=Turn.Status.RUNNING).update(
            status=Turn.Status.FAILED, error_code=code, error_message=detail[:2000], **audit
        )
        add_totals(conversation_id, audit)
        if not failed:
            return  # taken over as interrupted: that process tells the customer
        if Conversation.objects.filter(pk=conversation_id, status=Conversation.Status.BOT).exists():
            services.do_tell_customer(conversation_id, code, text, retry=True, turn_id=str(turn_id))


def handed_off_since(since_seq: int) -> Exists:
    """Whether the outer conversation changed owner after `since_seq`, as a column:
    every change of owner stores a hand-off event."""
    handoffs = Message.objects.filter(
        conversation_id=OuterRef("pk"), kind=Message.Kind.HANDOFF, seq__gt=since_seq
    )
    return Exists(handoffs)


def bot_kept_it(locked: Conversation) -> bool:
    """Whether the bot has owned the conversation all along since the turn began.

    Being in bot mode now is not enough: a person may have taken over and handed
    back meanwhile, and a reply written before that must not follow the person's,
    so no hand-off event may stand after the turn began. `locked`: the conversation's
    row, read under its lock with `handed_off` (handed_off_since the turn's start).
    """
    return locked.status == Conversation.Status.BOT and not locked.handed_off  # type: ignore[attr-defined]
