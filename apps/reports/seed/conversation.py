"""The one builder every seeded scenario uses: a conversation written event by event on
its own clock (messages, audited turns, hand-offs to a person), then closed, rated and
analysed. Every random draw comes from the seeder's generator, so a seed gives the same
history every time."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.assistant.costs import cost_usd
from apps.chat.models import Conversation, Message, Turn

from ..models import ConversationAnalysis
from .phrases import CSAT_COMMENTS, HANDING_OVER, SCENARIOS
from .writing import SEED_CLIENT_KEY, SeedBatch

MODEL = "gpt-4o-mini"
LAYERS = {"platform": "platform.v1", "operator": "operator.v1@3", "session": "session.v1"}
SCREEN_OK = {
    "check": "input_screen",
    "tripwire": False,
    "reason": "",
    "categories": [],
    "score": 0.0,
}
# Scenarios whose customer never signs in.
ANONYMOUS = {"faq", "attack", "product", "gap"}


@dataclass
class _Totals:
    prompt: int = 0
    completion: int = 0
    cost: Decimal = Decimal("0")
    turns: int = 0


class ConversationScript:
    def __init__(
        self,
        rng: random.Random,
        batch: SeedBatch,
        start: datetime,
        scenario: str,
        customer: Any,
        order: str,
        agents: list[Any],
    ) -> None:
        self.rng = rng
        self.batch = batch
        self.scenario = scenario
        self.intent = SCENARIOS[scenario][1]
        self.customer = customer
        self.order = order
        self.agents = agents
        self.conversation = Conversation(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            token_hash=hashlib.sha256(rng.randbytes(16)).hexdigest(),
            created_at=start,
            client_key=SEED_CLIENT_KEY,
            customer=customer if scenario not in ANONYMOUS else None,
            verified_by="email_zip" if customer is not None else "",
        )
        self.seq = 0
        self.clock = start
        self.totals = _Totals()
        self.last_role = ""
        self.escalated = False
        self.close_reason = "customer"
        self.closer: Any = None

    # --- Events ---------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        role: str,
        text: str,
        meta: dict[str, Any] | None = None,
        author: Any = None,
    ) -> Message:
        self.seq += 1
        message = Message(
            conversation=self.conversation,
            seq=self.seq,
            kind=kind,
            role=role,
            text=text,
            metadata=meta or {},
            created_at=self.clock,
            author=author,
        )
        if role != Message.Role.SYSTEM and kind == Message.Kind.MESSAGE:
            self.last_role = role
        self.batch.messages.append(message)
        return message

    def wait(self, low: float, high: float) -> None:
        self.clock += timedelta(seconds=self.rng.uniform(low, high))

    def customer_says(self, text: str, flagged: bool = False) -> Message:
        meta: dict[str, Any] = {}
        if flagged:
            meta["screen"] = {
                "check": "input_screen",
                "tripwire": True,
                "score": round(self.rng.uniform(0.7, 1), 2),
                "reason": "instruction override attempt",
                "categories": ["injection"],
            }
        text = text.format(order=self.order)
        return self.add(Message.Kind.MESSAGE, Message.Role.CUSTOMER, text, meta)

    def bot_turn(
        self,
        text: str,
        answers: int,
        calls: list[str],
        flagged: bool = False,
        results: dict[str, Any] | None = None,
    ) -> Message:
        """An assistant reply and its audited turn: tokens, cost, time to first token."""
        rng = self.rng
        ttft = int(rng.lognormvariate(6.4, 0.45))  # ~600 ms median, a long tail
        duration = ttft + int(rng.uniform(400, 2500)) + 700 * len(calls)
        prompt = rng.randint(900, 2600) + 450 * len(calls)
        completion = rng.randint(35, 220)
        cost = cost_usd(MODEL, prompt, completion)
        turn_start = self.clock
        self.clock += timedelta(milliseconds=duration)
        tool_audit = [
            {
                "id": f"call_{rng.getrandbits(40):x}",
                "name": name,
                "arguments": {"order_id": self.order} if "order" in name else {"query": "shipping"},
                "ok": True,
                "result": '{"status": "ok"}',
                **(results or {}).get(name, {}),
                "ms": rng.randint(8, 120),
            }
            for name in calls
        ]
        verdicts = [
            SCREEN_OK | ({"tripwire": True, "reason": "injection"} if flagged else {}),
            SCREEN_OK | {"check": "output_guard"},
        ]
        message = self.add(
            Message.Kind.MESSAGE,
            Message.Role.ASSISTANT,
            text.format(order=self.order),
            {"turn_id": None},
        )
        turn = self._turn(
            answers,
            turn_start,
            status=Turn.Status.COMPLETED,
            verdicts=verdicts,
            tool_calls=tool_audit,
            steps=len(calls) + 1,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
            ttft_ms=ttft,
            duration_ms=duration,
        )
        message.metadata["turn_id"] = str(turn.id)
        self.batch.turns.append((turn, message))
        self.totals.prompt += prompt
        self.totals.completion += completion
        self.totals.cost += cost
        self.totals.turns += 1
        return message

    def failed_turn(self, answers: int) -> None:
        """The model kept failing: a failed turn and the notice the customer can retry."""
        started = self.clock
        self.clock += timedelta(seconds=self.rng.uniform(5, 30))
        turn = self._turn(
            answers,
            started,
            status=Turn.Status.FAILED,
            verdicts=[SCREEN_OK],
            steps=1,
            error_code="provider_error",
            error_message="the model did not answer in time",
        )
        self.batch.turns.append((turn, None))
        self.add(
            Message.Kind.NOTICE,
            Message.Role.SYSTEM,
            "Sorry, I couldn't answer just now. Please try again.",
            {"notice": "provider_error", "retry": True, "turn_id": str(turn.id)},
        )

    def _turn(self, answers: int, started: datetime, **fields: Any) -> Turn:
        """A turn of the seeded model answering message `answers`, from `started` to now."""
        return Turn(
            conversation=self.conversation,
            trigger="message",
            answers_seq=answers,
            provider="openai",
            model=MODEL,
            layers=LAYERS,
            started_at=started,
            finished_at=self.clock,
            **fields,
        )

    # --- A person takes over --------------------------------------------------------------

    def hand_over(self, answers: int, waiting: tuple[float, float]) -> tuple[Any, str, datetime]:
        """The assistant hands over, the conversation queues and an agent joins after
        `waiting` seconds; returns the agent, their name and when it was queued."""
        self.bot_turn(HANDING_OVER, answers, [])
        queued_at = self.queue_for_person()
        agent = self.pick_agent()
        self.wait(*waiting)
        return agent, self.agent_joins(agent), queued_at

    def pick_agent(self) -> Any:
        return self.rng.choice(self.agents) if self.agents else None

    def queue_for_person(self) -> datetime:
        """The hand-off notice; returns when the conversation was queued."""
        self.add(
            Message.Kind.HANDOFF,
            Message.Role.SYSTEM,
            "You're in the queue (position 1).",
            {"state": "queued", "position": self.rng.randint(1, 4)},
        )
        self.escalated = True
        return self.clock

    def agent_joins(self, agent: Any) -> str:
        name = agent.first_name if agent is not None else "Alex"
        self.add(
            Message.Kind.HANDOFF,
            Message.Role.SYSTEM,
            f"{name} joined the conversation.",
            {"state": "agent_joined", "agent_name": name},
            author=agent,
        )
        return name

    def agent_says(self, agent: Any, name: str, text: str) -> Message:
        return self.add(
            Message.Kind.MESSAGE, Message.Role.AGENT, text, {"agent_name": name}, author=agent
        )

    def record_escalation(
        self,
        agent: Any,
        queued_at: datetime,
        *,
        reason: str,
        claimed_within: float,
        note_chance: float = 0.0,
    ) -> None:
        """The escalation row (written later, with its events) of an agent's hand-off."""
        claimed_at = queued_at + timedelta(seconds=self.rng.uniform(10, claimed_within))
        self.batch.escalations.append(
            {
                "conversation": self.conversation,
                "created_at": queued_at,
                "agent": agent,
                "claimed_at": claimed_at,
                "reason": reason,
                "note": bool(note_chance) and self.rng.random() < note_chance,
            }
        )
        self.close_reason, self.closer = "agent", agent

    # --- The end --------------------------------------------------------------------------

    def close(self, now: datetime) -> None:
        """Close it (unless it ended in the last minutes, then maybe still open), rate it
        sometimes, and queue the conversation with its analysis."""
        rng, conversation = self.rng, self.conversation
        idle = self.close_reason == "idle"
        closed_at = self.clock + timedelta(minutes=30 if idle else rng.uniform(0.1, 1))
        is_open = closed_at > now - timedelta(minutes=5) and rng.random() < 0.5
        if not is_open:
            self.clock = closed_at
            self.add(
                Message.Kind.HANDOFF,
                Message.Role.SYSTEM,
                "This conversation was closed.",
                {"state": "closed", "reason": self.close_reason, "csat": True},
                author=self.closer,
            )
        conversation.status = Conversation.Status.BOT if is_open else Conversation.Status.CLOSED
        conversation.closed_at = None if is_open else closed_at
        conversation.close_reason = "" if is_open else self.close_reason
        conversation.last_seq = self.seq
        conversation.answered_seq = self.seq
        conversation.updated_at = self.clock
        conversation.turn_count = self.totals.turns
        conversation.prompt_tokens = self.totals.prompt
        conversation.completion_tokens = self.totals.completion
        conversation.cost_usd = self.totals.cost
        csat = None
        if not is_open and not idle and rng.random() < 0.45:
            weights = [12, 10, 14, 25, 39] if not self.escalated else [18, 14, 20, 22, 26]
            csat = rng.choices([1, 2, 3, 4, 5], weights)[0]
            conversation.csat_score = csat
            conversation.csat_at = closed_at + timedelta(seconds=20)
            if rng.random() < 0.3:
                conversation.csat_comment = rng.choice(CSAT_COMMENTS)
        self.batch.conversations.append(conversation)
        if not is_open:
            self.batch.analyses.append(self._analysis(csat, closed_at))

    def _analysis(self, csat: int | None, closed_at: datetime) -> ConversationAnalysis:
        if self.escalated:
            resolution = ConversationAnalysis.Resolution.ESCALATED
        elif self.scenario == "abandon" or (
            self.close_reason == "idle" and self.last_role == "customer"
        ):
            resolution = ConversationAnalysis.Resolution.ABANDONED
        else:
            resolution = ConversationAnalysis.Resolution.RESOLVED_BY_BOT
        sentiment = "neutral"
        if csat is not None:
            sentiment = "positive" if csat >= 4 else "negative" if csat <= 2 else "neutral"
        elif self.scenario in {"human", "attack"}:
            sentiment = "negative"
        return ConversationAnalysis(
            conversation=self.conversation,
            intent=self.intent,
            sentiment=sentiment,
            resolution=resolution,
            source=ConversationAnalysis.Source.RULES,
            summary=f"The customer wanted help with {self.intent.replace('_', ' ')} "
            f"({self.order}); {resolution.label.lower()}.",
            created_at=closed_at,
            updated_at=closed_at,
        )
