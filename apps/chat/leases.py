"""Which process runs a conversation's turns: a lease renewed by a heartbeat, taken over
once it lapses, and the recovery of turns a dead process left running (told to the
customer in order, and answered once more)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .events import do_tell_customer, publish
from .models import (
    Conversation,
    Message,
    Turn,
)
from .turn_store import LeaseClaim, TurnSetup, begin_turn, running_turns

log = logging.getLogger(__name__)


# This process's identity for turn leases: a lease held by another id is live
# while its heartbeat is fresh (SUPPORTBOT_TURN_LEASE_SECONDS).
PROCESS_ID = uuid.uuid4().hex


@dataclass
class NextTurn:
    """What a conversation's runner does next: run `setup`, or stop. `held`: this
    process holds the lease. Not claimed, `wait` says when another process's lease
    lapses if this one must take over then; let go, `owed` says a turn became owed
    meanwhile (claim again)."""

    held: bool
    setup: TurnSetup | None = None
    wait: float | None = None
    owed: bool = False


def take_next_turn(conversation_id: uuid.UUID, *, claim: bool) -> NextTurn:
    """A runner's one database step before each turn: claim the lease (the first time)
    and begin the owed turn; with none owed, let the lease go. The first claim is taken
    in begin_turn's own locked step, and only with a turn to run (LeaseClaim); turns a
    dead process left running are recovered first."""
    if claim:
        lease = LeaseClaim(
            owner=PROCESS_ID, fresh_since=timezone.now() - timedelta(seconds=lease_seconds())
        )
        try:
            setup = begin_turn(conversation_id, lease)
        except BaseException:
            if lease.taken:
                do_release_turn_lease(conversation_id)  # so another runner can try
            raise
        if setup is not None:
            return NextTurn(held=True, setup=setup)
        if lease.refused:
            return NextTurn(held=False, wait=seconds_until_lease_lapses(conversation_id))
        if lease.recover:
            return _recover_and_begin(conversation_id)
        if not lease.left_held:
            return NextTurn(held=False)
        # Let go of a lease this process had left held.
        do_release_turn_lease(conversation_id)
        return _let_go(conversation_id)
    let_go = let_go_unless_owed(conversation_id)
    return let_go if let_go is not None else _begin_holding(conversation_id)


def let_go_unless_owed(conversation_id: uuid.UUID, *, locked: bool = False) -> NextTurn | None:
    """After a turn, usually nothing more is owed: one statement says so and lets the
    lease go, before the row is locked for nothing (None: a turn is owed, still held).
    `locked`: run while the conversation's row is locked (by the step that stores a
    reply, turn_store.store_final): no message or request for a turn can commit before
    the lock ends, so what the statement read stays true and no second read is needed."""
    if not do_release_turn_lease(conversation_id, unless_owed=True):
        return None
    return NextTurn(held=False) if locked else _let_go(conversation_id)


def _let_go(conversation_id: uuid.UUID) -> NextTurn:
    """What a runner does once it has let the lease go. Read after letting go, in a
    statement of its own: a message stored meanwhile (its runner found the lease still
    held) is seen here, and this runner claims again."""
    return NextTurn(held=False, owed=needs_answer(conversation_id))


def _recover_and_begin(conversation_id: uuid.UUID) -> NextTurn:
    """Claim the lease, then turn every turn still `running` (holding the lease, they
    are a dead process's) into a notice, and begin the turn owed."""
    if not check_claim_turn_lease(conversation_id):
        return NextTurn(held=False, wait=seconds_until_lease_lapses(conversation_id))
    try:
        do_recover_interrupted_turns(conversation_id)
    except BaseException:
        do_release_turn_lease(conversation_id)
        raise
    return _begin_holding(conversation_id)


def _begin_holding(conversation_id: uuid.UUID) -> NextTurn:
    """Begin the owed turn with the lease held; with none owed, let it go."""
    try:
        setup = begin_turn(conversation_id)
    except BaseException:
        do_release_turn_lease(conversation_id)  # so another runner can try
        raise
    if setup is not None:
        return NextTurn(held=True, setup=setup)
    do_release_turn_lease(conversation_id)
    return _let_go(conversation_id)


def needs_answer(conversation_id: uuid.UUID | str) -> bool:
    """True when a bot turn is owed (see Conversation.owes_bot_turn), in one query."""
    return Conversation.objects.filter(pk=conversation_id).filter(_owes_bot_turn()).exists()


def _owes_bot_turn() -> Q:
    """Conversation.owes_bot_turn as a filter."""
    return Q(status=Conversation.Status.BOT) & (Q(turn_requested=True) | Q(Exists(_unanswered())))


def _unanswered() -> QuerySet[Message]:
    """The customer's messages after the last one answered (of the outer conversation)."""
    return Message.objects.filter(
        conversation_id=OuterRef("pk"),
        role=Message.Role.CUSTOMER,
        kind=Message.Kind.MESSAGE,
        seq__gt=OuterRef("answered_seq"),
    )


def check_claim_turn_lease(conversation_id: uuid.UUID | str) -> bool:
    """Claim the right to run this conversation's turns (one process at a time)."""
    now = timezone.now()
    stale = now - timedelta(seconds=lease_seconds())
    claimed = (
        Conversation.objects.filter(pk=conversation_id)
        .filter(Q(turn_owner="") | Q(turn_owner=PROCESS_ID) | Q(turn_heartbeat__lt=stale))
        .update(turn_owner=PROCESS_ID, turn_heartbeat=now)
    )
    return claimed == 1


def do_heartbeat_turn_leases(conversation_ids: Collection[uuid.UUID | str]) -> int:
    """Renew this process's leases on these conversations, all in one statement (those
    another process took over are left alone); returns how many were renewed."""
    return Conversation.objects.filter(pk__in=conversation_ids, turn_owner=PROCESS_ID).update(
        turn_heartbeat=timezone.now()
    )


def do_release_turn_lease(conversation_id: uuid.UUID | str, *, unless_owed: bool = False) -> bool:
    """Let this process's lease go (`unless_owed`: only while no bot turn is owed, in
    the same statement); returns whether it was let go."""
    held = Conversation.objects.filter(pk=conversation_id, turn_owner=PROCESS_ID)
    if unless_owed:
        held = held.exclude(_owes_bot_turn())
    return held.update(turn_owner="", turn_heartbeat=None) == 1


def lease_seconds() -> float:
    return float(settings.SUPPORTBOT_TURN_LEASE_SECONDS)


def seconds_until_lease_lapses(conversation_id: uuid.UUID | str) -> float | None:
    """How long until another process's lease on a conversation that still needs it
    (a turn owed or left running) lapses; None if nothing here needs this process."""
    read = with_needs_runner(conversation_id)
    if read is None:
        return None
    conversation, needs_runner = read
    if conversation.turn_owner in {"", PROCESS_ID} or not needs_runner:
        return None
    if conversation.turn_heartbeat is None:
        return 0.0
    lapses_at = conversation.turn_heartbeat + timedelta(seconds=lease_seconds())
    return max(0.0, (lapses_at - timezone.now()).total_seconds())


def with_needs_runner(
    conversation_id: uuid.UUID | str, *related: str
) -> tuple[Conversation, bool] | None:
    """The conversation's row (with `related` rows) and whether it needs a runner: a
    turn is owed (Conversation.owes_bot_turn), or one was left running (by this or a
    dead process). One query: both subqueries are columns of the row."""
    row = (
        Conversation.objects.filter(pk=conversation_id)
        .select_related(*related)
        .annotate(unanswered=Exists(_unanswered()), running=Exists(running_turns()))
        .first()
    )
    if row is None:
        return None
    unanswered: bool = row.unanswered  # type: ignore[attr-defined]
    running: bool = row.running  # type: ignore[attr-defined]
    return row, row.owes_bot_turn(unanswered) or running


def _needs_runner() -> Q:
    return _owes_bot_turn() | Q(Exists(running_turns()))


def conversations_needing_a_runner(limit: int = 100) -> list[uuid.UUID]:
    """Conversations whose owed turn nobody is running: no lease, or a lapsed one
    (its process died). Every server process sweeps for these."""
    now = timezone.now()
    stale = now - timedelta(seconds=lease_seconds())
    unowned = Q(turn_owner="") | Q(turn_heartbeat__lt=stale) | Q(turn_heartbeat__isnull=True)
    return list(
        Conversation.objects.filter(unowned)
        .filter(_needs_runner())
        .filter(updated_at__gte=now - timedelta(days=1))
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


INTERRUPTED_TEXT = "My reply was interrupted before it finished. You can retry it."


RESUMED_TEXT = "My reply was interrupted before it finished. Answering again…"


def do_recover_interrupted_turns(conversation_id: uuid.UUID | str) -> int:
    """Turns left `running` by a crashed or restarted process become `interrupted`,
    each with a notice in the conversation, and the question is owed again, so it is
    answered without the customer asking twice. A turn that was itself such a second
    try is not tried a third time: its notice offers the Retry button instead.

    Only the holder of the conversation's turn lease calls this, before it runs any
    turn, so every `running` turn here belongs to a process that is gone. Returns
    how many turns were interrupted."""
    now = timezone.now()
    count = 0
    for turn in Turn.objects.filter(conversation_id=conversation_id, status=Turn.Status.RUNNING):
        with transaction.atomic():
            conversation = Conversation.objects.lock(conversation_id)
            if conversation is None:
                return count
            changed = Turn.objects.filter(pk=turn.pk, status=Turn.Status.RUNNING).update(
                status=Turn.Status.INTERRUPTED,
                finished_at=now,
                error_code="interrupted",
                error_message="the process running this turn stopped",
            )
            if not changed:
                continue
            count += 1
            earlier = (
                Turn.objects.filter(conversation_id=conversation_id, started_at__lt=turn.started_at)
                .order_by("-started_at")
                .first()
            )
            again = conversation.status == Conversation.Status.BOT and not (
                earlier is not None and earlier.status == Turn.Status.INTERRUPTED
            )
            if again:
                # The interrupted turn stored no reply, so the conversation still ends
                # with what it was answering: one more turn answers that.
                Conversation.objects.filter(pk=conversation_id).update(turn_requested=True)
            do_tell_customer(
                conversation_id,
                "interrupted",
                RESUMED_TEXT if again else INTERRUPTED_TEXT,
                retry=not again,
                turn_id=str(turn.pk),
            )
            # The dead process never said the turn ended: say it, so pages stop waiting.
            publish(conversation_id, {"type": "turn", "turn_id": str(turn.pk), "state": "ended"})
    return count
