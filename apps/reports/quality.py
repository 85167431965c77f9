"""Quality reviews: every closed conversation scored against the operator's rubric.

Three ways to the same typed review: the model on demand for one conversation
(structured output, strict json_schema), the model through the nightly Batch API
(half the price), or a rule-based reviewer reading the audit (tool errors, refused
actions, hand-offs, CSAT, unanswered questions) that says which criteria it could
not judge. Each criterion gets a score from 1 to 5 (empty: not judged), a one-line
reason and the message (seq) it points at.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from apps.assistant.costs import cost_usd
from apps.assistant.recognisers import asks_for_human
from apps.assistant.tools import response_format
from apps.chat.models import Conversation, Message, PendingAction, Turn

from .models import AnalysisBatch, CriterionScore, QualityReview, RubricCriterion
from .queries import escalated

log = logging.getLogger(__name__)

PROMPT_NAME = "quality.v1"
PROMPT = (Path(__file__).parent / "prompt_templates" / f"{PROMPT_NAME}.txt").read_text()
MAX_OUTPUT_TOKENS = 700
MAX_TRANSCRIPT_CHARS = 14_000
MAX_REASON = 300

# The built-in criteria (a data migration creates them; the operator may edit them).
RESOLVED, FAITHFUL, POLICY, TONE, HANDOFF = "resolved", "faithful", "policy", "tone", "handoff"

DATA_TOOLS = {
    "get_order",
    "list_my_orders",
    "get_my_profile",
    "get_user_details",
    "get_order_details",
}
THANKS = re.compile(r"(?i)\b(thanks?|thank you|perfect|great|that'?s all|awesome)\b")


class CriterionResult(BaseModel):
    key: str
    score: int | None  # 1 (bad) to 5 (good); null when the transcript cannot tell
    turn: int | None  # the message number the reason points at
    reason: str


class ReviewResult(BaseModel):
    criteria: list[CriterionResult]


SCHEMA_NAME = "conversation_quality_review"
SCHEMA: dict[str, Any] = response_format(SCHEMA_NAME, ReviewResult)


# The rubric a new installation starts with (migration 0002 writes the same rows).
DEFAULT_RUBRIC = [
    (
        "resolved",
        "Resolved",
        "5: the customer got what they came for (an answer, a change made, a person who "
        "solved it). 1: they left without it, or the last question went unanswered.",
    ),
    (
        "faithful",
        "Faithful to sources",
        "5: every fact about policy, orders and products matches what the help-center "
        "articles and order tools returned. 1: an answer invents or contradicts them.",
    ),
    (
        "policy",
        "Policy followed",
        "5: identity verified before any order or account data was shown, and every change "
        "proposed for the customer's explicit confirmation. 1: data shown or a change made "
        "without them.",
    ),
    (
        "tone",
        "Tone",
        "5: polite, clear, concise and empathetic, in the customer's language. 1: curt, "
        "robotic, repetitive or condescending.",
    ),
    (
        "handoff",
        "Hand-off",
        "5: handed to a person promptly when asked or when the assistant could not help, "
        "and not otherwise. 1: a request for a person ignored, or the customer kept going "
        "round in circles.",
    ),
]


def ensure_rubric() -> None:
    """Write the default rubric when there is none at all (a flushed database)."""
    if RubricCriterion.objects.exists():
        return
    for position, (key, name, guidance) in enumerate(DEFAULT_RUBRIC):
        RubricCriterion.objects.get_or_create(
            key=key, defaults={"name": name, "guidance": guidance, "position": position}
        )


def active_rubric() -> list[RubricCriterion]:
    ensure_rubric()
    return list(RubricCriterion.objects.filter(active=True))


# --- What the reviewers read -----------------------------------------------------------


@dataclass
class Line:
    seq: int
    role: str  # customer, assistant, agent, system
    kind: str
    text: str
    meta: dict[str, Any]


@dataclass
class ToolUse:
    answers_seq: int  # the customer message the turn answered
    reply_seq: int | None  # the assistant message the turn wrote
    name: str
    ok: bool
    error: str
    covered: bool | None  # search_help_center: did the help center have an answer


@dataclass
class Audit:
    lines: list[Line] = field(default_factory=list)
    tools: list[ToolUse] = field(default_factory=list)
    failed_turn_seqs: list[int] = field(default_factory=list)  # customer seqs left unanswered
    tripped_output_seqs: list[int] = field(default_factory=list)  # output guard flagged
    actions: list[tuple[PendingAction, int | None]] = field(default_factory=list)  # (, result seq)
    escalated: bool = False
    close_reason: str = ""
    csat: int | None = None

    def spoken(self, role: str | None = None) -> list[Line]:
        return [
            line
            for line in self.lines
            if line.kind == Message.Kind.MESSAGE
            and line.role != Message.Role.SYSTEM
            and (role is None or line.role == role)
        ]


def audit_of(conversation: Conversation) -> Audit:
    audit = Audit(close_reason=conversation.close_reason, csat=conversation.csat_score)
    messages = list(
        Message.objects.filter(
            conversation=conversation, seq__gt=conversation.episode_start_seq
        ).order_by("seq")
    )
    result_seq: dict[str, int] = {}
    for message in messages:
        meta = message.metadata or {}
        audit.lines.append(Line(message.seq, message.role, message.kind, message.text, meta))
        if message.kind == Message.Kind.CONFIRM_RESULT and meta.get("action_id"):
            result_seq[str(meta["action_id"])] = message.seq
    start = messages[0].created_at if messages else None
    turns = Turn.objects.filter(conversation=conversation).select_related("message")
    if start is not None:
        turns = turns.filter(started_at__gte=start)
    for turn in turns.order_by("started_at"):
        reply_seq = turn.message.seq if turn.message is not None else None
        if turn.status == Turn.Status.FAILED:
            audit.failed_turn_seqs.append(turn.answers_seq)
        for verdict in turn.verdicts or []:
            if (
                isinstance(verdict, dict)
                and verdict.get("tripwire")
                and str(verdict.get("check", "")).startswith("output")
            ):
                audit.tripped_output_seqs.append(reply_seq or turn.answers_seq)
        for call in turn.tool_calls or []:
            audit.tools.append(_tool_use(turn.answers_seq, reply_seq, call))
    actions = PendingAction.objects.filter(conversation=conversation)
    if start is not None:
        actions = actions.filter(created_at__gte=start)
    audit.actions = [(a, result_seq.get(str(a.pk))) for a in actions.order_by("created_at")]
    audit.escalated = (
        Conversation.objects.filter(pk=conversation.pk).filter(escalated()).exists()
        or bool(audit.spoken(Message.Role.AGENT))
        or any(line.meta.get("state") == "queued" for line in audit.lines)
    )
    return audit


def _tool_use(answers_seq: int, reply_seq: int | None, call: dict[str, Any]) -> ToolUse:
    result: Any = call.get("result", "")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except json.JSONDecodeError:
            result = {}
    result = result if isinstance(result, dict) else {}
    data = result.get("untrusted_data", result)
    data = data if isinstance(data, dict) else {}
    error = str(data.get("error") or result.get("error") or "")
    covered = data.get("covered") if call.get("name") == "search_help_center" else None
    return ToolUse(
        answers_seq=answers_seq,
        reply_seq=reply_seq,
        name=str(call.get("name", "")),
        ok=bool(call.get("ok", True)) and not error,
        error=error,
        covered=covered if isinstance(covered, bool) else None,
    )


# --- The rule-based reviewer -----------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    score: int | None
    reason: str
    turn: int | None = None


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


def _first_after(audit: Audit, seq: int, role: str) -> Line | None:
    return next((line for line in audit.spoken(role) if line.seq > seq), None)


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


# --- The model ---------------------------------------------------------------------------


def model_messages(audit: Audit, rubric: list[RubricCriterion]) -> list[dict[str, str]]:
    """Our instructions and rubric, then the numbered transcript and tool audit as data."""
    from apps.assistant.prompts import wrap_untrusted

    lines = []
    for line in audit.lines:
        if line.kind == Message.Kind.MESSAGE:
            lines.append(f"#{line.seq} {line.role}: {line.text}")
        elif line.text:
            lines.append(f"#{line.seq} ({line.kind}): {line.text}")
    tools = [
        {
            "after_message": t.answers_seq,
            "reply": t.reply_seq,
            "tool": t.name,
            "ok": t.ok,
            **({"error": t.error[:200]} if t.error else {}),
            **({"help_center_covered": t.covered} if t.covered is not None else {}),
        }
        for t in audit.tools
    ]
    rubric_text = "\n".join(f"- {c.key} ({c.name}): {c.guidance}" for c in rubric)
    system = PROMPT.replace("{rubric}", rubric_text)
    user = wrap_untrusted(
        "conversation",
        {
            "transcript": "\n".join(lines)[-MAX_TRANSCRIPT_CHARS:],
            "tool_calls": tools,
            "customer_rating": audit.csat,
            "closed_by": audit.close_reason,
        },
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def judged_from_model(
    result: ReviewResult, rubric: list[RubricCriterion], seqs: set[int]
) -> dict[str, Judged]:
    """The model's answer checked against the rubric: unknown keys dropped, scores outside
    1..5 and turns that are no message of the conversation discarded."""
    given = {c.key: c for c in result.criteria}
    out: dict[str, Judged] = {}
    for criterion in rubric:
        item = given.get(criterion.key)
        if item is None:
            out[criterion.key] = Judged(None, "The model gave no score for this criterion.")
            continue
        score = item.score if item.score is not None and 1 <= item.score <= 5 else None
        turn = item.turn if item.turn in seqs else None
        reason = " ".join(item.reason.split())[:MAX_REASON] or "(no reason given)"
        out[criterion.key] = Judged(score, reason, turn)
    return out


def model_review(
    audit: Audit, rubric: list[RubricCriterion]
) -> tuple[dict[str, Judged], int, int, str]:
    from apps.assistant.providers import get_provider

    provider = get_provider()
    system, user = (m["content"] for m in model_messages(audit, rubric))
    parsed, usage = async_to_sync(provider.complete_json)(
        system=system,
        user=user,
        schema_name=SCHEMA_NAME,
        schema=SCHEMA,
        max_tokens=MAX_OUTPUT_TOKENS,
    )
    result = ReviewResult.model_validate(parsed)
    seqs = {line.seq for line in audit.lines}
    return (
        judged_from_model(result, rubric, seqs),
        usage.prompt_tokens,
        usage.completion_tokens,
        provider.model,
    )


# --- Storing --------------------------------------------------------------------------------


def store_review(
    conversation: Conversation,
    judged: dict[str, Judged],
    rubric: list[RubricCriterion],
    *,
    source: str,
    model: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    batch: AnalysisBatch | None = None,
) -> QualityReview:
    """Replace the conversation's review with this one (a manager's verdicts on an older
    review of the same episode are kept for the criteria whose score did not change)."""
    scores = [j.score for j in judged.values() if j.score is not None]
    mean = sum(scores) / len(scores) if scores else None
    low = (mean is not None and mean < QualityReview.LOW_SCORE) or any(s <= 2 for s in scores)
    cost = (
        cost_usd(model, prompt_tokens, completion_tokens, batch=batch is not None)
        if model
        else Decimal(0)
    )
    with transaction.atomic():
        review, _ = QualityReview.objects.select_for_update().update_or_create(
            conversation=conversation,
            defaults={
                "episode": conversation.episode,
                "status": QualityReview.Status.DONE,
                "source": source,
                "score": mean,
                "low": low,
                "model": model,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": cost,
                "batch": batch,
                "reviewed_at": timezone.now(),
            },
        )
        kept = {
            s.key: s
            for s in review.scores.exclude(verdict="")
            if s.key in judged and judged[s.key].score == s.score
        }
        review.scores.exclude(key__in=kept).delete()
        for criterion in rubric:
            j = judged[criterion.key]
            if criterion.key in kept:
                CriterionScore.objects.filter(pk=kept[criterion.key].pk).update(
                    reason=j.reason[:MAX_REASON], turn_seq=j.turn, name=criterion.name
                )
                continue
            CriterionScore.objects.create(
                review=review,
                criterion=criterion,
                key=criterion.key,
                name=criterion.name,
                score=j.score,
                reason=j.reason[:MAX_REASON],
                turn_seq=j.turn,
            )
    return review


def batch_mode() -> bool:
    return bool(settings.OPENAI_API_KEY) and settings.SUPPORTBOT_REVIEW_MODE == "batch"


def do_review_conversation(
    conversation_id: uuid.UUID | str, *, now: bool = False
) -> QualityReview | None:
    """Review a closed conversation: queue it for the nightly batch (with a key, unless
    `now`), ask the model now (with a key), or apply the rules (without one)."""
    from apps.assistant.providers.base import ProviderError

    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return None
    if batch_mode() and not now:
        review, _ = QualityReview.objects.update_or_create(
            conversation=conversation,
            defaults={"status": QualityReview.Status.QUEUED, "batch": None},
        )
        return review
    rubric = active_rubric()
    audit = audit_of(conversation)
    if settings.OPENAI_API_KEY:
        try:
            judged, prompt, completion, model = model_review(audit, rubric)
        except (ProviderError, ValidationError) as exc:
            log.warning("model review of %s failed, using rules: %s", conversation_id, exc)
        else:
            return store_review(
                conversation,
                judged,
                rubric,
                source=QualityReview.Source.MODEL,
                model=model,
                prompt_tokens=prompt,
                completion_tokens=completion,
            )
    return store_review(
        conversation, rules_review(audit, rubric), rubric, source=QualityReview.Source.RULES
    )


# --- The nightly Batch API job ---------------------------------------------------------------


def batch_request_line(
    conversation_id: uuid.UUID | str, audit: Audit, rubric: list[RubricCriterion], model: str
) -> str:
    body = {
        "model": model,
        "messages": model_messages(audit, rubric),
        "max_tokens": MAX_OUTPUT_TOKENS,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": SCHEMA, "strict": True},
        },
    }
    line = {"custom_id": str(conversation_id), "method": "POST", "url": "/v1/chat/completions"}
    return json.dumps({**line, "body": body}, separators=(",", ":"), ensure_ascii=False)


MAX_BATCH_REQUESTS = 50_000


def waiting_for_review() -> Any:
    return Conversation.objects.filter(status=Conversation.Status.CLOSED).filter(
        Q(quality_review__isnull=True)
        | Q(
            quality_review__status=QualityReview.Status.QUEUED,
            quality_review__batch__isnull=True,
        )
    )


def do_submit_review_batch(client: Any | None = None) -> AnalysisBatch | None:
    """Send every closed conversation without a review as one Batch API job."""
    from .analysis import openai_client

    if not batch_mode():
        return None
    conversations = list(waiting_for_review().order_by("closed_at")[:MAX_BATCH_REQUESTS])
    if not conversations:
        return None
    rubric = active_rubric()
    model = settings.SUPPORTBOT_REVIEW_MODEL
    lines = [batch_request_line(c.pk, audit_of(c), rubric, model) for c in conversations]
    client = client or openai_client()
    content = ("\n".join(lines) + "\n").encode()
    uploaded = client.files.create(file=("quality.jsonl", content), purpose="batch")
    job = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"purpose": "quality_review"},
    )
    with transaction.atomic():
        batch = AnalysisBatch.objects.create(
            purpose=AnalysisBatch.Purpose.QUALITY,
            openai_batch_id=job.id,
            input_file_id=uploaded.id,
            remote_status=str(job.status),
            request_count=len(conversations),
        )
        for conversation in conversations:
            QualityReview.objects.update_or_create(
                conversation=conversation,
                defaults={"status": QualityReview.Status.QUEUED, "batch": batch},
            )
    return batch


@dataclass
class BatchLine:
    custom_id: str
    result: ReviewResult | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""


def parse_batch_output(text: str) -> list[BatchLine]:
    out = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            continue
        custom_id = str(line.get("custom_id", ""))
        response = line.get("response") or {}
        body = response.get("body") or {}
        if line.get("error") or response.get("status_code") != 200:
            out.append(BatchLine(custom_id, None, error=json.dumps(line.get("error"))[:300]))
            continue
        usage = body.get("usage") or {}
        try:
            choice = body["choices"][0]
            if choice.get("finish_reason") != "stop":
                raise ValueError(f"finished with {choice.get('finish_reason')!r}")
            result = ReviewResult.model_validate_json(choice["message"]["content"] or "")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            out.append(BatchLine(custom_id, None, error=f"bad result: {exc}"[:300]))
            continue
        out.append(
            BatchLine(
                custom_id,
                result,
                int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0),
            )
        )
    return out


def do_poll_review_batches(client: Any | None = None) -> int:
    """Collect every finished quality batch; a failed line falls back to the rules."""
    from .analysis import FINISHED_FAILED, openai_client

    pending = list(
        AnalysisBatch.objects.filter(
            status=AnalysisBatch.Status.SUBMITTED, purpose=AnalysisBatch.Purpose.QUALITY
        )
    )
    if not pending:
        return 0
    client = client or openai_client()
    stored = 0
    for batch in pending:
        job = client.batches.retrieve(batch.openai_batch_id)
        remote = str(job.status)
        if remote == "completed":
            lines: list[BatchLine] = []
            for file_id in (job.output_file_id, getattr(job, "error_file_id", None)):
                if file_id:
                    lines.extend(parse_batch_output(client.files.content(file_id).text))
            stored += _collect(batch, {line.custom_id: line for line in lines}, "completed")
        elif remote in FINISHED_FAILED:
            stored += _collect(batch, {}, remote)
        else:
            AnalysisBatch.objects.filter(pk=batch.pk).update(remote_status=remote)
    return stored


def _collect(batch: AnalysisBatch, by_id: dict[str, BatchLine], remote: str) -> int:
    rubric = active_rubric()
    model = settings.SUPPORTBOT_REVIEW_MODEL
    status = (
        AnalysisBatch.Status.COMPLETED if remote == "completed" else AnalysisBatch.Status.FAILED
    )
    stored = 0
    with transaction.atomic():
        claimed = AnalysisBatch.objects.filter(
            pk=batch.pk, status=AnalysisBatch.Status.SUBMITTED
        ).update(
            status=status,
            remote_status=remote,
            finished_at=timezone.now(),
            error="" if remote == "completed" else f"batch {remote}",
        )
        if claimed != 1:
            return 0  # another poller collected it
        for review in batch.quality_reviews.select_related("conversation"):
            conversation = review.conversation
            audit = audit_of(conversation)
            line = by_id.get(str(conversation.pk))
            if line is not None and line.result is not None:
                seqs = {a.seq for a in audit.lines}
                store_review(
                    conversation,
                    judged_from_model(line.result, rubric, seqs),
                    rubric,
                    source=QualityReview.Source.BATCH,
                    model=model,
                    prompt_tokens=line.prompt_tokens,
                    completion_tokens=line.completion_tokens,
                    batch=batch,
                )
            else:
                store_review(
                    conversation,
                    rules_review(audit, rubric),
                    rubric,
                    source=QualityReview.Source.RULES,
                )
            stored += 1
    return stored


# --- Manager agreement ---------------------------------------------------------------------


def do_judge_criterion(
    score: CriterionScore, *, verdict: str, user_id: int | None, note: str = ""
) -> None:
    if verdict not in CriterionScore.Verdict.values:
        raise ValueError(f"unknown verdict {verdict!r}")
    CriterionScore.objects.filter(pk=score.pk).update(
        verdict=verdict,
        verdict_note=note[:MAX_REASON],
        verdict_by_id=user_id if verdict else None,
        verdict_at=timezone.now() if verdict else None,
    )
