"""One episode: a simulated customer and the product, on a fresh store, judged.

The agent is the product itself: a conversation made by the normal service, the
customer's messages stored the way the socket stores them (PII masking, input
screen), turns run by the chat engine with its prompt layers, tools, guardrails
and confirmation cards, and the customer's button presses decided by the same
service the socket calls. The operator policy uses tau2-bench's identity rule.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from channels.db import database_sync_to_async
from django.db.models import Sum

from apps.assistant.models import OperatorPolicy
from apps.chat import engine, leases, services
from apps.chat.models import Conversation, Message, PendingAction, Turn
from apps.escalations.models import Escalation

from .judge import expected_hash, state_hash, store_state
from .scenarios import Scenario
from .simulator import STOP, TRANSFER, UserSimulator

TRANSFERRED_TEXT = "[You have been transferred to a human agent.]"


@dataclass
class EpisodeResult:
    task_id: str
    trial: int
    passed: bool
    termination: str  # stop, transfer, max_steps, error
    turns: int = 0
    user_steps: int = 0
    tools_called: list[str] = field(default_factory=list)
    escalated: bool = False
    agent_cost_usd: str = "0"
    user_cost_usd: str = "0"
    expected_hash: str = ""
    actual_hash: str = ""
    reference_refused: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    error: str = ""
    transcript: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def use_policy(fields: dict[str, Any]) -> None:
    """Publish these operator policy fields as the store's current version (a policy
    trial runs the same episodes under the current and a proposed policy)."""
    current = OperatorPolicy.current()
    values = {name: getattr(current, name) for name in OperatorPolicy.RULE_FIELDS}
    values.update({k: v for k, v in fields.items() if k in OperatorPolicy.RULE_FIELDS})
    OperatorPolicy.objects.create(version=current.version + 1, **values)


def use_tau2_identity_policy() -> None:
    """The store's operator policy (its other rules kept), with tau2-bench retail's
    identity rule."""
    current = OperatorPolicy.current()
    if current.pk and current.identity_rule == OperatorPolicy.IdentityRule.EMAIL_OR_NAME_ZIP:
        return
    use_policy({"identity_rule": OperatorPolicy.IdentityRule.EMAIL_OR_NAME_ZIP})


async def run_episode(
    scenario: Scenario, *, trial: int, user_model: str, max_steps: int
) -> EpisodeResult:
    """Run one episode on the store as it is now (the caller makes it fresh)."""
    started = time.monotonic()
    expected, refused = await database_sync_to_async(expected_hash)(scenario)
    await database_sync_to_async(use_tau2_identity_policy)()
    conversation, _token = await database_sync_to_async(services.do_create_conversation)()
    user = UserSimulator(
        instructions=scenario.user_instructions,
        model=user_model,
        episode_key=f"{scenario.id}-{trial}-{uuid.uuid4().hex[:8]}",
    )
    result = EpisodeResult(
        task_id=scenario.id,
        trial=trial,
        passed=False,
        termination="max_steps",
        expected_hash=expected,
        reference_refused=refused,
    )
    seen = 0
    try:
        for _ in range(max_steps):
            action = await user.act()
            result.user_steps += 1
            if action.button:
                outcome = await database_sync_to_async(_press)(conversation.pk, action.button)
                user.pressed(outcome)
                result.transcript.append({"role": "customer", "text": f"[{action.button}]"})
            elif action.stop:
                result.termination = "transfer" if action.stop == TRANSFER else "stop"
                result.transcript.append({"role": "customer", "text": action.text})
                break
            else:
                result.transcript.append({"role": "customer", "text": action.text})
                await database_sync_to_async(services.do_store_customer_message)(
                    conversation.pk, client_id=uuid.uuid4(), text=action.text
                )
            await _run_owed_turns(conversation.pk)
            heard, seen, transferred = await database_sync_to_async(_events_since)(
                conversation.pk, seen
            )
            result.transcript.extend(heard)
            if transferred:
                result.termination = "transfer"
                break
            user.hear("\n\n".join(event["text"] for event in heard) or "[no answer]")
    except Exception as exc:  # an episode that breaks is reported, not fatal to the run
        result.termination = "error"
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    await database_sync_to_async(_measure)(conversation.pk, result)
    result.user_cost_usd = user.cost_usd
    result.actual_hash = await database_sync_to_async(lambda: state_hash(store_state()))()
    result.passed = bool(expected) and result.actual_hash == expected and not result.error
    result.duration_s = round(time.monotonic() - started, 2)
    return result


async def _run_owed_turns(conversation_id: uuid.UUID) -> None:
    # The socket's path (engine.kick) in-line: every owed turn, one at a time.
    while await database_sync_to_async(leases.needs_answer)(conversation_id):
        if await engine.run_turn(conversation_id) is None:
            break


def _press(conversation_id: uuid.UUID, decision: str) -> str:
    action = (
        PendingAction.objects.filter(
            conversation_id=conversation_id, status=PendingAction.Status.PENDING
        )
        .order_by("-created_at")
        .first()
    )
    if action is None:
        return "There is no open confirmation card to press."
    try:
        services.check_decide_action(conversation_id, str(action.pk), decision)
    except services.ChatError as exc:
        return f"The button did not work: {exc.message}"
    return "Pressed."


def _events_since(conversation_id: uuid.UUID, seen: int) -> tuple[list[dict[str, str]], int, bool]:
    """What the customer's chat window showed after seq `seen`, as text, and whether the
    conversation went to a person."""
    heard: list[dict[str, str]] = []
    last = seen
    for message in Message.objects.filter(conversation_id=conversation_id, seq__gt=seen).order_by(
        "seq"
    ):
        last = message.seq
        if message.role == Message.Role.CUSTOMER:
            continue
        if message.kind == Message.Kind.CONFIRM_REQUEST:
            text = f"[Confirmation card: {message.text} Buttons: Confirm, Decline]"
        elif message.kind == Message.Kind.CONFIRM_RESULT:
            text = f"[Card result: {message.text}]"
        elif message.kind == Message.Kind.HANDOFF:
            text = f"[{message.text}]" if message.text else TRANSFERRED_TEXT
        elif message.kind == Message.Kind.NOTICE:
            text = f"[Notice: {message.text}]"
        else:
            text = message.text
        heard.append({"role": str(message.role), "text": text})
    status = Conversation.objects.values_list("status", flat=True).get(pk=conversation_id)
    transferred = status in {Conversation.Status.QUEUED, Conversation.Status.AGENT}
    if transferred:
        heard.append({"role": "system", "text": TRANSFERRED_TEXT})
    return heard, last, transferred


def _measure(conversation_id: uuid.UUID, result: EpisodeResult) -> None:
    turns = Turn.objects.filter(conversation_id=conversation_id)
    result.turns = turns.count()
    result.agent_cost_usd = str(turns.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0))
    result.tools_called = [
        str(call.get("name"))
        for calls in turns.values_list("tool_calls", flat=True)
        for call in calls
    ]
    result.escalated = Escalation.objects.filter(conversation_id=conversation_id).exists()


__all__ = ["STOP", "EpisodeResult", "run_episode"]
