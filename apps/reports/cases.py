"""Real chats as regression tests: a saved case drafted from a conversation, the
scenario a simulated customer plays from it, and the judge of an episode against it.

The evaluation run (`manage.py evaluate --cases`) plays each case in a worker on a fresh
demo store; the worker knows a case only by its `CaseSpec` (plain JSON), and the parent
stores each episode's result as a `SavedCaseRun`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from apps.assistant.recognisers import EMAIL, ORDER_ID, ZIP, asks_for_human, is_yes
from apps.chat.models import Conversation, Message, PendingAction

from .models import SavedCase, SavedCaseRun
from .queries import escalated

DEFAULT_BEHAVIOUR = (
    "Write short messages, one thing at a time. Give a fact only when the assistant asks for "
    "it. Confirm a change only if it is exactly what you want."
)
MAX_GOAL_MESSAGES = 3


# --- Drafting from a conversation ---------------------------------------------------------


def draft_case(conversation: Conversation) -> dict[str, Any]:
    """The initial values of a case saved from this conversation (the manager edits them):
    the customer's goal and facts from the transcript, the changes that were made, and
    whether it went to a person."""
    texts = list(
        Message.objects.filter(
            conversation=conversation, kind=Message.Kind.MESSAGE, role=Message.Role.CUSTOMER
        )
        .order_by("seq")
        .values_list("text", flat=True)
    )
    wants = [t for t in texts if _says_what_they_want(t)][:MAX_GOAL_MESSAGES]
    goal = " ".join(wants) or (texts[0] if texts else "")
    facts: list[str] = []
    customer = conversation.customer
    if customer is not None:
        facts.append(f"Your name is {customer.first_name} {customer.last_name}.")
        facts.append(f"Your email is {customer.email} and your zip code is {customer.zip}.")
    mentioned = " ".join(texts)
    orders = list(
        dict.fromkeys(m.group(0).upper().lstrip("#") for m in ORDER_ID.finditer(mentioned))
    )
    if orders:
        facts.append("Your order ids: " + ", ".join(f"#{o}" for o in orders) + ".")
    if customer is None:
        emails = list(dict.fromkeys(m.group(0) for m in EMAIL.finditer(mentioned)))
        zips = list(dict.fromkeys(m.group(1) for m in ZIP.finditer(mentioned)))
        if emails:
            facts.append(f"Your email is {emails[0]}.")
        if zips:
            facts.append(f"Your zip code is {zips[0]}.")
    actions = [
        {"name": a.tool_name, "arguments": a.arguments}
        for a in PendingAction.objects.filter(
            conversation=conversation, status=PendingAction.Status.DONE
        ).order_by("created_at")
    ]
    went_to_person = Conversation.objects.filter(pk=conversation.pk).filter(escalated()).exists()
    behaviour = DEFAULT_BEHAVIOUR
    if any(asks_for_human(t) for t in texts):
        behaviour += " If the assistant cannot help, ask for a person."
    first = (wants or texts or ["Conversation"])[0]
    return {
        "name": (first if len(first) <= 80 else first[:77] + "…"),
        "conversation": conversation.pk,
        "goal": goal,
        "facts": "\n".join(facts),
        "behaviour": behaviour,
        "expected_actions": actions,
        "check_store": True,
        "escalation": (
            SavedCase.Escalation.ESCALATED if went_to_person else SavedCase.Escalation.NONE
        ),
    }


def _says_what_they_want(text: str) -> bool:
    """Not a bare identity answer, yes/no or thanks: a message that says what they want."""
    stripped = ZIP.sub(" ", EMAIL.sub(" ", text)).strip(" ,.!?")
    if len(stripped.split()) < 3:
        return False
    return not is_yes(text)


# --- What a worker plays and judges ----------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    id: str  # "case-<pk>"
    name: str
    goal: str
    facts: str
    behaviour: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    check_store: bool = True
    escalation: str = SavedCase.Escalation.EITHER
    must_include: list[str] = field(default_factory=list)
    must_not_include: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseSpec:
        return cls(**data)

    @property
    def instructions(self) -> dict[str, Any]:
        """The simulated customer's instructions, in the tau2-bench scenario's shape."""
        return {
            "reason_for_call": self.goal,
            "known_info": self.facts,
            "task_instructions": self.behaviour,
        }


def spec_of(case: SavedCase) -> CaseSpec:
    return CaseSpec(
        id=case.scenario_id,
        name=case.name,
        goal=case.goal,
        facts=case.facts,
        behaviour=case.behaviour,
        actions=[
            {"name": str(a["name"]), "arguments": dict(a.get("arguments") or {})}
            for a in case.expected_actions or []
        ],
        check_store=case.check_store,
        escalation=case.escalation,
        must_include=SavedCase.lines(case.must_include),
        must_not_include=SavedCase.lines(case.must_not_include),
    )


def active_specs(ids: list[int] | None = None) -> list[CaseSpec]:
    cases: QuerySet[SavedCase] = SavedCase.objects.filter(active=True).order_by("pk")
    if ids:
        cases = SavedCase.objects.filter(pk__in=ids).order_by("pk")
    return [spec_of(case) for case in cases]


def judge(
    spec: CaseSpec,
    *,
    store_matches: bool,
    escalated: bool,
    assistant_texts: list[str],
) -> list[str]:
    """Why an episode of the case failed; empty when it passed."""
    failures: list[str] = []
    if spec.check_store and not store_matches:
        wanted = ", ".join(a["name"] for a in spec.actions) or "no change"
        failures.append(f"the store's end state is not the expected one ({wanted})")
    if spec.escalation == SavedCase.Escalation.ESCALATED and not escalated:
        failures.append("expected a hand-off to a person; there was none")
    if spec.escalation == SavedCase.Escalation.NONE and escalated:
        failures.append("expected no hand-off; the conversation went to a person")
    said = "\n".join(assistant_texts).casefold()
    for phrase in spec.must_include:
        if phrase.casefold() not in said:
            failures.append(f"the assistant never said “{phrase}”")
    for phrase in spec.must_not_include:
        if phrase.casefold() in said:
            failures.append(f"the assistant said “{phrase}”")
    return failures


# --- Results -------------------------------------------------------------------------------


def do_record_case_runs(episodes: list[dict[str, Any]], *, label: str = "") -> int:
    """Store the saved cases' episodes of a run (the τ² tasks' stay in its report)."""
    rows = []
    for episode in episodes:
        task_id = str(episode.get("task_id", ""))
        if not task_id.startswith("case-"):
            continue
        case_id = int(task_id.removeprefix("case-"))
        if not SavedCase.objects.filter(pk=case_id).exists():
            continue
        rows.append(
            SavedCaseRun(
                case_id=case_id,
                passed=bool(episode.get("passed")),
                failures=list(episode.get("failures") or [])
                + ([episode["error"]] if episode.get("error") else []),
                termination=str(episode.get("termination", ""))[:20],
                escalated=bool(episode.get("escalated")),
                turns=int(episode.get("turns") or 0),
                cost_usd=Decimal(str(episode.get("agent_cost_usd") or 0)),
                transcript=list(episode.get("transcript") or [])[:200],
                label=label[:80],
            )
        )
    SavedCaseRun.objects.bulk_create(rows)
    return len(rows)
