"""Writing seeded history: a day's rows in bulk, with the past timestamps kept, and the
earlier seeded history removed first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from apps.chat.models import Conversation, Message, PendingAction, Turn

from ..models import ConversationAnalysis
from ..queries import escalation_model

SEED_CLIENT_KEY = "demo-seed"


@dataclass
class SeedStats:
    conversations: int = 0
    messages: int = 0
    turns: int = 0
    escalations: int = 0
    analyses: int = 0
    replaced: int = 0


@contextmanager
def historical_timestamps() -> Iterator[None]:
    """Let bulk_create keep the past timestamps we set instead of stamping "now"."""
    switched: list[tuple[models.Field[Any, Any], bool, bool]] = []
    from django.apps import apps

    models_: list[type[models.Model]] = [
        Conversation,
        Message,
        Turn,
        PendingAction,
        ConversationAnalysis,
    ]
    for name in ("Escalation", "EscalationEvent", "AgentNote"):
        with suppress(LookupError):
            models_.append(apps.get_model("escalations", name))
    for model in models_:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                switched.append((f, f.auto_now, f.auto_now_add))  # type: ignore[attr-defined]
                f.auto_now = f.auto_now_add = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in switched:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add  # type: ignore[attr-defined]


@dataclass
class SeedBatch:
    """A day's rows, built in memory and written together."""

    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    turns: list[tuple[Turn, Message | None]] = field(default_factory=list)
    actions: list[PendingAction] = field(default_factory=list)
    analyses: list[ConversationAnalysis] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)


def remove_seeded() -> int:
    """Drop earlier seeded history (and everything hanging off it) so a second run
    replaces it instead of colliding with it."""
    seeded = Conversation.objects.filter(client_key=SEED_CLIENT_KEY)
    count = seeded.count()
    if count:
        with transaction.atomic():
            seeded.delete()
    return count


def write(batch: SeedBatch, stats: SeedStats) -> None:
    with transaction.atomic():
        Conversation.objects.bulk_create(batch.conversations, batch_size=1000)
        Message.objects.bulk_create(batch.messages, batch_size=2000)
        turns = []
        for turn, message in batch.turns:
            turn.message_id = message.pk if message is not None else None
            turns.append(turn)
        Turn.objects.bulk_create(turns, batch_size=2000)
        PendingAction.objects.bulk_create(batch.actions, batch_size=1000)
        ConversationAnalysis.objects.bulk_create(batch.analyses, batch_size=1000)
        stats.escalations += _write_escalations(batch.escalations)
    stats.conversations += len(batch.conversations)
    stats.messages += len(batch.messages)
    stats.turns += len(turns)
    stats.analyses += len(batch.analyses)


def _write_escalations(rows: list[dict[str, Any]]) -> int:
    """Escalation rows, once the escalations app has its model (read generically)."""
    model = escalation_model()
    if model is None or not rows:
        return 0
    objects = [
        model(
            conversation=row["conversation"],
            status="closed",
            trigger="customer_request" if row["reason"] != "abuse" else "frustration",
            reason=row["reason"],
            priority=2,
            customer=row["conversation"].customer,
            claimed_by=row["agent"],
            created_at=row["created_at"],
            claimed_at=row["claimed_at"],
            closed_at=row["conversation"].closed_at,
            summary={"goal": row["reason"]},
            summary_source="extractive",
        )
        for row in rows
    ]
    model.objects.bulk_create(objects, batch_size=1000)
    _write_escalation_history(objects, rows)
    return len(objects)


def _write_escalation_history(escalations: list[Any], rows: list[dict[str, Any]]) -> None:
    """What the console and the review show for a hand-off: its events (created,
    claimed, closed) and, for some, a private agent note."""
    from django.apps import apps

    try:
        event_model = apps.get_model("escalations", "EscalationEvent")
        note_model = apps.get_model("escalations", "AgentNote")
    except LookupError:
        return
    events, notes = [], []
    for escalation, row in zip(escalations, rows, strict=True):
        if escalation.pk is None:  # a backend that does not return ids from bulk_create
            return
        agent = row["agent"]
        for kind, when, actor in (
            ("created", row["created_at"], None),
            ("claimed", row["claimed_at"], agent),
            ("closed", escalation.closed_at or row["claimed_at"], agent),
        ):
            events.append(
                event_model(escalation=escalation, kind=kind, actor=actor, created_at=when)
            )
        if row.get("note"):
            notes.append(
                note_model(
                    conversation=row["conversation"],
                    escalation=escalation,
                    author=agent,
                    text="Customer was polite; order checked, nothing else needed.",
                    created_at=row["claimed_at"],
                )
            )
    event_model.objects.bulk_create(events, batch_size=1000)
    note_model.objects.bulk_create(notes, batch_size=1000)
