"""The seeded scenarios, from the customer's first message to the last word before the
close: left unanswered, a question the help center cannot answer, a request for a
person, or a request the assistant handles (with a change the customer confirms)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from apps.chat.models import Message, PendingAction

from .conversation import ConversationScript
from .phrases import (
    CHANGE_OUTCOMES,
    CHANGE_SUMMARY,
    FOLLOW_UPS,
    GAP_ANSWERS,
    NOT_COVERED_REPLY,
    OPENERS,
    REPLIES,
    SCENARIOS,
)


def play(script: ConversationScript) -> None:
    scenario, rng = script.scenario, script.rng
    first = script.customer_says(rng.choice(OPENERS[scenario]), flagged=scenario == "attack")
    if scenario == "abandon":
        script.close_reason = "idle"
    elif scenario == "gap":
        _not_in_the_help_center(script, first)
    elif scenario == "human" or (scenario == "attack" and rng.random() < 0.3):
        _asks_for_a_person(script, first)
    else:
        _handled_by_the_assistant(script, first)


def _not_in_the_help_center(script: ConversationScript, first: Message) -> None:
    """The search finds nothing; offered a person, most customers accept and an agent
    answers the question (what the gap finder drafts articles from)."""
    rng = script.rng
    script.wait(1, 3)
    question = first.text
    search = {
        "arguments": {"query": question},
        "result": json.dumps({"query": question, "covered": False, "passages": []}),
    }
    tools = SCENARIOS[script.scenario][2]
    results = {"search_help_center": search}
    script.bot_turn(NOT_COVERED_REPLY, first.seq, tools, results=results)
    script.wait(10, 60)
    if rng.random() >= 0.6:
        script.customer_says("no thanks")
        script.close_reason = "customer"
        return
    script.customer_says("yes please")
    script.wait(1, 3)
    agent, name, queued_at = script.hand_over(script.seq, waiting=(20, 400))
    script.wait(20, 120)
    topic = next(k for k in GAP_ANSWERS if k in question.lower())
    script.agent_says(agent, name, GAP_ANSWERS[topic])
    script.wait(10, 60)
    script.customer_says(rng.choice(FOLLOW_UPS))
    script.record_escalation(
        agent, queued_at, reason="not covered by the help center", claimed_within=300
    )


def _asks_for_a_person(script: ConversationScript, first: Message) -> None:
    rng = script.rng
    script.wait(1, 3)
    agent, name, queued_at = script.hand_over(first.seq, waiting=(20, 600))
    script.wait(5, 40)
    script.agent_says(agent, name, f"Hi, I'm {name} from the support team. How can I help?")
    script.wait(20, 90)
    script.customer_says(rng.choice(OPENERS["status"]))
    script.wait(30, 240)
    script.agent_says(
        agent, name, f"I've checked {script.order}: it is on its way and should arrive this week."
    )
    script.wait(10, 60)
    script.customer_says(rng.choice(FOLLOW_UPS))
    reason = "customer asked for a human" if script.scenario == "human" else "abuse"
    script.record_escalation(agent, queued_at, reason=reason, claimed_within=500, note_chance=0.3)


def _handled_by_the_assistant(script: ConversationScript, first: Message) -> None:
    rng, customer = script.rng, script.customer
    _, _, tools, change = SCENARIOS[script.scenario]
    script.wait(1, 3)
    if rng.random() < 0.03:
        script.failed_turn(first.seq)
        script.wait(5, 30)
        first = script.customer_says(rng.choice(OPENERS[script.scenario]))
        script.wait(1, 3)
    if customer is not None and tools and tools[0] == "get_order":
        script.bot_turn(
            "I can help with that. Could you confirm your email and zip code?", first.seq, []
        )
        script.wait(15, 70)
        first = script.customer_says(f"{customer.email} {customer.zip}")
        script.wait(0.5, 2)
    if change is None:
        reply = REPLIES.get(script.scenario, "I've looked up {order}.")
        script.bot_turn(reply, first.seq, tools, flagged=script.scenario == "attack")
    else:
        _proposes_a_change(script, first, tools, change)
    script.wait(10, 80)
    if rng.random() < 0.7:
        script.customer_says(rng.choice(FOLLOW_UPS))
        script.wait(1, 3)
        script.bot_turn("You're welcome! Anything else I can help with?", script.seq, [])
    if rng.random() < 0.35:
        script.close_reason = "idle"


def _proposes_a_change(
    script: ConversationScript, first: Message, tools: list[str], change: str
) -> None:
    """The change card, the customer's decision (or none: it expires) and the outcome."""
    rng = script.rng
    script.bot_turn("Here is what I can do — please confirm the change below.", first.seq, tools)
    summary = CHANGE_SUMMARY[change].format(order=script.order)
    action_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    script.add(
        Message.Kind.CONFIRM_REQUEST,
        Message.Role.SYSTEM,
        summary,
        {"action_id": str(action_id), "tool": tools[-1], "details": {}},
    )
    asked = script.clock
    script.wait(5, 40)
    _, status, card, stored = rng.choices(
        CHANGE_OUTCOMES, [weight for weight, *_ in CHANGE_OUTCOMES]
    )[0]
    if status == PendingAction.Status.EXPIRED:
        script.clock = max(script.clock, asked + timedelta(minutes=10))
    error = stored.get("error", "")
    script.add(
        Message.Kind.CONFIRM_RESULT,
        Message.Role.SYSTEM,
        card.format(summary=summary, error=error),
        {"action_id": str(action_id), "status": status, "tool": tools[-1]}
        | ({"error": error} if error else {}),
    )
    script.batch.actions.append(
        PendingAction(
            id=action_id,
            conversation=script.conversation,
            tool_name=tools[-1],
            arguments={"order_id": script.order},
            summary=summary,
            details={},
            status=status,
            result={k: v.format(summary=summary) for k, v in stored.items()},
            created_at=asked,
            expires_at=asked + timedelta(minutes=10),
            decided_at=None if status == PendingAction.Status.EXPIRED else script.clock,
        )
    )
    script.wait(0.5, 2)
    done = status == PendingAction.Status.DONE
    script.bot_turn(
        "All set — the change is made." if done else "Nothing was changed.", script.seq, []
    )
