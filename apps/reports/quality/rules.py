"""The rule-based reviewer: reads the audit (tool errors, refused actions, hand-offs,
CSAT, unanswered questions) and says which criteria it could not judge."""

from __future__ import annotations

import re

from apps.assistant.recognisers import asks_for_human
from apps.chat.models import Message, PendingAction

from ..models import RubricCriterion
from .audit import Audit
from .rubric import FAITHFUL, HANDOFF, POLICY, RESOLVED, TONE, Judged

DATA_TOOLS = {
    "get_order",
    "list_my_orders",
    "get_my_profile",
    "get_user_details",
    "get_order_details",
}
THANKS = re.compile(r"(?i)\b(thanks?|thank you|perfect|great|that'?s all|awesome)\b")


def rules_review(audit: Audit, rubric: list[RubricCriterion]) -> dict[str, Judged]:
    judges = {
        RESOLVED: _judge_resolved,
        FAITHFUL: _judge_faithful,
        POLICY: _judge_policy,
        TONE: _judge_tone,
        HANDOFF: _judge_handoff,
    }
    out: dict[str, Judged] = {}
    for criterion in rubric:
        judge = judges.get(criterion.key)
        out[criterion.key] = (
            judge(audit)
            if judge is not None
            else Judged(None, "Could not judge: only the model reads this criterion.")
        )
    return out


def _judge_resolved(audit: Audit) -> Judged:
    customers = audit.spoken(Message.Role.CUSTOMER)
    spoken = audit.spoken()
    if not customers:
        return Judged(None, "Could not judge: the customer wrote nothing.")
    last = spoken[-1]
    if last.role == Message.Role.CUSTOMER and not THANKS.search(last.text):
        return Judged(
            1, "The customer's last message got no answer before the chat ended.", last.seq
        )
    for action, seq in audit.actions:
        if action.status == PendingAction.Status.FAILED:
            return Judged(2, f"The change failed: {action.summary[:120]}", seq)
        if action.status == PendingAction.Status.EXPIRED:
            return Judged(2, "The change was never confirmed; it expired.", seq)
    if audit.csat is not None and audit.csat <= 2:
        return Judged(2, f"The customer rated the conversation {audit.csat}/5.", last.seq)
    uncovered = [t for t in audit.tools if t.covered is False]
    agents = audit.spoken(Message.Role.AGENT)
    if uncovered and not agents:
        first = uncovered[0]
        return Judged(
            2, "The help center had no answer to the customer's question.", first.answers_seq
        )
    done = [(a, seq) for a, seq in audit.actions if a.status == PendingAction.Status.DONE]
    if done:
        return Judged(5, f"Done after confirmation: {done[-1][0].summary[:120]}", done[-1][1])
    if agents:
        return Judged(4, "An agent took over and answered the customer.", agents[-1].seq)
    if audit.csat is not None and audit.csat >= 4:
        return Judged(5, f"The customer rated the conversation {audit.csat}/5.", last.seq)
    thanked = [line for line in customers if THANKS.search(line.text)]
    if thanked:
        return Judged(4, "The customer thanked the assistant.", thanked[-1].seq)
    return Judged(3, "Every message was answered, but nothing shows the goal was met.", last.seq)


def _judge_faithful(audit: Audit) -> Judged:
    if audit.tripped_output_seqs:
        return Judged(
            2, "The output guard flagged an answer as unsupported.", audit.tripped_output_seqs[0]
        )
    return Judged(
        None, "Could not judge: comparing answers with articles and order data needs the model."
    )


def _judge_policy(audit: Audit) -> Judged:
    for tool in audit.tools:
        if not tool.ok and "verif" in tool.error.lower():
            return Judged(
                2,
                f"{tool.name} was tried before the customer's identity was verified (refused).",
                tool.reply_seq or tool.answers_seq,
            )
    refused = [t for t in audit.tools if not t.ok and t.error]
    if refused:
        tool = refused[0]
        return Judged(
            3, f"{tool.name} was refused: {tool.error[:120]}", tool.reply_seq or tool.answers_seq
        )
    if audit.actions:
        _, seq = audit.actions[-1]
        return Judged(5, "Every change waited for the customer's own confirmation.", seq)
    if any(t.name in DATA_TOOLS for t in audit.tools):
        first = next(t for t in audit.tools if t.name in DATA_TOOLS)
        return Judged(
            5, "Order data was shown only after the store accepted the identity.", first.reply_seq
        )
    return Judged(5, "No customer data or change was involved.")


def _judge_tone(audit: Audit) -> Judged:
    return Judged(None, "Could not judge: tone needs the model to read the replies.")


def _judge_handoff(audit: Audit) -> Judged:
    customers = audit.spoken(Message.Role.CUSTOMER)
    asked = next((line for line in customers if asks_for_human(line.text)), None)
    queued = next(
        (
            line
            for line in audit.lines
            if line.kind == Message.Kind.HANDOFF and line.meta.get("state") == "queued"
        ),
        None,
    )
    if asked is not None:
        if queued is None and not audit.escalated:
            return Judged(1, "The customer asked for a person and was never handed off.", asked.seq)
        if queued is not None:
            replies_between = [
                line
                for line in audit.spoken(Message.Role.ASSISTANT)
                if asked.seq < line.seq < queued.seq
            ]
            if len(replies_between) > 1:
                return Judged(
                    2,
                    f"Handed off only after {len(replies_between)} more replies.",
                    queued.seq,
                )
            return Judged(5, "Handed off as soon as the customer asked for a person.", queued.seq)
        return Judged(4, "A person took over after the customer asked.", asked.seq)
    if audit.escalated:
        return Judged(
            4, "Handed off to a person without being asked.", queued.seq if queued else None
        )
    stuck = [t for t in audit.tools if t.covered is False or (not t.ok and t.error)]
    if len(stuck) + len(audit.failed_turn_seqs) >= 2 or (
        stuck and audit.csat is not None and audit.csat <= 2
    ):
        seq = stuck[0].answers_seq if stuck else audit.failed_turn_seqs[0]
        return Judged(2, "The assistant could not help and did not offer a person.", seq)
    return Judged(5, "No hand-off was needed.")
