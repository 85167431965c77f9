"""The nightly OpenAI Batch API jobs of conversation analyses and quality reviews.

A job is one JSONL file of chat.completions requests, one line per conversation (the
conversation's id is the line's custom_id), and one `AnalysisBatch` row. Each of its
conversations has a row of the job's purpose (`ConversationAnalysis` or `QualityReview`)
queued on the batch until a poll finds the job finished; then every row is stored from
its line, or, for a failed or missing line (or a failed job), by the rules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from pydantic import BaseModel

from apps.assistant.providers import openai_client
from apps.chat.models import Conversation

from .models import AnalysisBatch, ConversationAnalysis, QualityReview
from .structured_output import ModelUsage

log = logging.getLogger(__name__)

MAX_BATCH_REQUESTS = 50_000  # the Batch API's limit per file
FINISHED_FAILED = {"failed", "expired", "cancelled"}

Purpose = AnalysisBatch.Purpose
# The row each conversation of a job has, and the job's name at OpenAI (its metadata).
ROWS: dict[str, type[ConversationAnalysis] | type[QualityReview]] = {
    Purpose.ANALYSIS: ConversationAnalysis,
    Purpose.QUALITY: QualityReview,
}
JOB_NAMES: dict[str, str] = {
    Purpose.ANALYSIS: "conversation_analysis",
    Purpose.QUALITY: "quality_review",
}

Result = TypeVar("Result", bound=BaseModel)


def batch_client() -> Any:
    """The client of the Batch API calls (a job's files go up and come down whole), with
    twice the read timeout."""
    return openai_client(read_timeout=settings.OPENAI_READ_TIMEOUT * 2)


@dataclass
class BatchLine(Generic[Result]):
    custom_id: str
    result: Result | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""

    def usage(self, model: str) -> ModelUsage:
        return ModelUsage(model, self.prompt_tokens, self.completion_tokens, batch=True)


def parse_output(text: str, result_model: type[Result]) -> list[BatchLine[Result]]:
    """Read a Batch API output (or error) file: one result per line, errors kept per line."""
    out: list[BatchLine[Result]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            log.warning("unreadable batch output line: %.200s", raw)
            continue
        custom_id = str(line.get("custom_id", ""))
        response = line.get("response") or {}
        body = response.get("body") or {}
        if line.get("error") or response.get("status_code") != 200:
            error = (
                line.get("error") or body.get("error") or {"status": response.get("status_code")}
            )
            out.append(BatchLine(custom_id, None, error=json.dumps(error)[:500]))
            continue
        usage = body.get("usage") or {}
        try:
            choice = body["choices"][0]
            if choice.get("finish_reason") != "stop":
                raise ValueError(f"finished with {choice.get('finish_reason')!r}")
            result = result_model.model_validate_json(choice["message"]["content"] or "")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            out.append(BatchLine(custom_id, None, error=f"bad result: {exc}"[:500]))
            continue
        out.append(
            BatchLine(
                custom_id,
                result,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        )
    return out


def waiting(purpose: str) -> QuerySet[Conversation]:
    """Closed conversations the next job of this purpose takes: those without a row of
    it, or with one queued on no job."""
    # The row as the conversation names it (the `related_name` of its conversation field).
    row = ROWS[purpose]._meta.get_field("conversation").related_query_name()
    return Conversation.objects.filter(status=Conversation.Status.CLOSED).filter(
        Q(**{f"{row}__isnull": True})
        | Q(**{f"{row}__status": ROWS[purpose].Status.QUEUED, f"{row}__batch__isnull": True})
    )


def submit(
    purpose: str,
    line: Callable[[Conversation], str],
    client: Any | None = None,
) -> AnalysisBatch | None:
    """Upload a line for each waiting conversation (the earliest closed first, as many as a
    file takes) as one job and queue each conversation's row on it; None if none waits."""
    conversations = list(waiting(purpose).order_by("closed_at")[:MAX_BATCH_REQUESTS])
    if not conversations:
        return None
    lines = [line(conversation) for conversation in conversations]
    client = client or batch_client()
    content = ("\n".join(lines) + "\n").encode()
    uploaded = client.files.create(file=(f"{purpose}.jsonl", content), purpose="batch")
    job = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"purpose": JOB_NAMES[purpose]},
    )
    rows = ROWS[purpose]
    with transaction.atomic():
        batch = AnalysisBatch.objects.create(
            purpose=purpose,
            openai_batch_id=job.id,
            input_file_id=uploaded.id,
            remote_status=str(job.status),
            request_count=len(conversations),
        )
        for conversation in conversations:
            rows.objects.update_or_create(
                conversation=conversation,
                defaults={"status": rows.Status.QUEUED, "batch": batch},
            )
    return batch


@dataclass(frozen=True)
class Storing(Generic[Result]):
    """How the caller stores a conversation of a finished job: the line's result, with
    what it took of `model`; or, when the line failed, is missing, or the whole job
    failed, the rules' answer."""

    result_model: type[Result]
    model: str
    from_model: Callable[[AnalysisBatch, Conversation, Result, ModelUsage], object]
    from_rules: Callable[[AnalysisBatch, Conversation], object]

    def store(
        self, batch: AnalysisBatch, conversation: Conversation, line: BatchLine[Result] | None
    ) -> None:
        if line is not None and line.result is not None:
            self.from_model(batch, conversation, line.result, line.usage(self.model))
        else:
            self.from_rules(batch, conversation)


def poll(purpose: str, storing: Storing[Result], client: Any | None = None) -> int:
    """Collect every finished job of this purpose; returns how many rows were stored."""
    pending = list(
        AnalysisBatch.objects.filter(status=AnalysisBatch.Status.SUBMITTED, purpose=purpose)
    )
    if not pending:
        return 0
    client = client or batch_client()
    stored = 0
    for batch in pending:
        job = client.batches.retrieve(batch.openai_batch_id)
        remote = str(job.status)
        if remote == "completed":
            lines: list[BatchLine[Result]] = []
            for file_id in (job.output_file_id, getattr(job, "error_file_id", None)):
                if file_id:
                    text = client.files.content(file_id).text
                    lines.extend(parse_output(text, storing.result_model))
            by_id = {line.custom_id: line for line in lines}
            stored += _collect(batch, remote, job.output_file_id or "", by_id, storing)
        elif remote in FINISHED_FAILED:
            stored += _collect(batch, remote, "", {}, storing)
        else:
            AnalysisBatch.objects.filter(pk=batch.pk).update(remote_status=remote)
    return stored


def _collect(
    batch: AnalysisBatch,
    remote: str,
    output_file_id: str,
    by_id: dict[str, BatchLine[Result]],
    storing: Storing[Result],
) -> int:
    completed = remote == "completed"
    with transaction.atomic():
        claimed = AnalysisBatch.objects.filter(
            pk=batch.pk, status=AnalysisBatch.Status.SUBMITTED
        ).update(
            status=AnalysisBatch.Status.COMPLETED if completed else AnalysisBatch.Status.FAILED,
            remote_status=remote,
            output_file_id=output_file_id,
            finished_at=timezone.now(),
            error="" if completed else f"batch {remote}",
        )
        if claimed != 1:
            return 0  # another poller collected it
        rows: list[ConversationAnalysis | QualityReview] = list(
            ROWS[batch.purpose].objects.filter(batch=batch).select_related("conversation")
        )
        for row in rows:
            storing.store(batch, row.conversation, by_id.get(str(row.conversation_id)))
    return len(rows)
