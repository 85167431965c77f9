"""Every state change of a conversation. Consumers, views and tasks call these.

Each change is stored as an event (events.py: `do_append_event`) and announced only
after its transaction commits, so no client ever sees an event that was rolled back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from pydantic import BaseModel

from apps.assistant.tools import ToolContext, ToolError, ToolResult, ToolSpec, get_tool

from . import verification
from .errors import ChatError
from .events import ConversationClosed, do_append_event, do_tell_customer, publish
from .models import Attachment, Conversation, Message, PendingAction
from .text import clean_text

log = logging.getLogger(__name__)


# --- Conversations ------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def do_create_conversation(
    *, identity_token: str | None = None, client_key: str = "", language: str = "en"
) -> tuple[Conversation, str]:
    """A new conversation and its secret; the secret is returned once, stored hashed."""
    customer_id = None
    if identity_token:
        from apps.orders.identity import read_identity_token

        customer_id = read_identity_token(identity_token)
        if customer_id is None:
            raise ChatError("invalid_identity", "The identity token is invalid or expired.")
    token = secrets.token_urlsafe(32)
    conversation = Conversation.objects.create(
        token_hash=hash_token(token),
        client_key=client_key[:64],
        customer_id=customer_id,
        verified_by="token" if customer_id else "",
        language=language if language in dict(settings.LANGUAGES) else "en",
    )
    return conversation, token


def access_conversation(conversation_id: str | uuid.UUID, token: str) -> Conversation | None:
    """The conversation if the token is its secret; None for a bad id or token alike."""
    try:
        conversation_uuid = uuid.UUID(str(conversation_id))
    except ValueError:
        return None
    conversation = (
        Conversation.objects.select_related("customer").filter(pk=conversation_uuid).first()
    )
    if conversation is None:
        return None
    if not token or not hmac.compare_digest(conversation.token_hash, hash_token(token)):
        return None
    return conversation


def check_customer_text(raw: str, *, allow_empty: bool = False) -> str:
    """A customer's message as it will be stored: control characters (NUL among
    them) removed and trimmed; ChatError if nothing is left (unless a photo carries
    the message) or it is too long."""
    text = clean_text(raw).strip()
    if not text and not allow_empty:
        raise ChatError("invalid_frame", "text: the message is empty")
    if len(text) > settings.SUPPORTBOT_MAX_MESSAGE_CHARS:
        raise ChatError(
            "message_too_long",
            f"Messages may be at most {settings.SUPPORTBOT_MAX_MESSAGE_CHARS} characters.",
        )
    return text


def do_store_photo(conversation_id: uuid.UUID | str, data: bytes) -> Attachment:
    """Check and re-encode an uploaded photo (PhotoError if refused) and keep it for
    the customer's next message, which sends it (`attachment_id`)."""
    from django.core.files.base import ContentFile

    from .photos import clean_photo

    photo = clean_photo(data)
    attachment = Attachment(
        conversation_id=conversation_id,
        width=photo.width,
        height=photo.height,
        size=len(photo.data),
    )
    attachment.file.save(f"{attachment.id}.jpg", ContentFile(photo.data), save=False)
    attachment.save()
    return attachment


def do_store_customer_message(
    conversation_id: uuid.UUID | str,
    *,
    client_id: uuid.UUID,
    text: str,
    attachment_id: uuid.UUID | None = None,
) -> tuple[Message, bool]:
    """Store a customer message once per client_id, with the photo uploaded for it if
    any. Returns (message, created).

    The usual message costs two statements, the seq counted up and the row inserted: a
    closed conversation is found by the first (it counts up only an open one), a frame
    sent again by the second (the unique client_id), and both are rare."""
    from apps.assistant.guardrails import mask_pii, screen_input

    masked, pii = mask_pii(clean_text(text))
    verdict = screen_input(masked)
    metadata: dict[str, Any] = {}
    if pii:
        metadata["pii_masked"] = pii
    if verdict.tripwire:
        metadata["screen"] = verdict.as_dict()
    try:
        try:
            return _stored_once(conversation_id, client_id, masked, metadata, attachment_id)
        except ConversationClosed:
            resent = _stored_with(conversation_id, client_id)
            if resent is not None:
                return resent, False  # a frame sent again must not reopen the chat
            do_reopen_conversation(conversation_id)  # a closed conversation starts a new episode
            return _stored_once(
                conversation_id, client_id, masked, metadata, attachment_id, open_only=False
            )
    except IntegrityError:
        # This client_id is stored already: the frame was sent again, or arrived twice
        # at once and the other one won.
        resent = _stored_with(conversation_id, client_id)
        if resent is None:
            raise
        return resent, False


def _stored_once(
    conversation_id: uuid.UUID | str,
    client_id: uuid.UUID,
    text: str,
    metadata: dict[str, Any],
    attachment_id: uuid.UUID | None,
    *,
    open_only: bool = True,
) -> tuple[Message, bool]:
    with transaction.atomic():
        attachment = None
        if attachment_id is not None:
            attachment = (
                Attachment.objects.select_for_update()
                .filter(pk=attachment_id, conversation_id=conversation_id, message=None)
                .first()
            )
            if attachment is None:
                resent = _stored_with(conversation_id, client_id)
                if resent is not None:
                    return resent, False  # the photo went with the first copy
                raise ChatError("not_found", "That photo was not uploaded to this chat.")
            metadata = {**metadata, "attachment": attachment.as_metadata()}
        message = do_append_event(
            conversation_id,
            role=Message.Role.CUSTOMER,
            text=text,
            client_id=client_id,
            metadata=metadata,
            open_only=open_only,
        )
        if attachment is not None:
            attachment.message = message
            attachment.save(update_fields=["message"])
    return message, True


def _stored_with(conversation_id: uuid.UUID | str, client_id: uuid.UUID) -> Message | None:
    return Message.objects.filter(conversation_id=conversation_id, client_id=client_id).first()


def do_mark_read(conversation_id: uuid.UUID | str, seq: int) -> bool:
    """The customer has seen every event up to `seq`; staff watching are told.
    Only ever moves forward, and never past the conversation's last event."""
    with transaction.atomic(savepoint=False):
        updated = Conversation.objects.filter(
            pk=conversation_id, customer_read_seq__lt=seq, last_seq__gte=seq
        ).update(customer_read_seq=seq)
        if updated:
            publish(
                conversation_id,
                {"type": "read", "seq": seq, "at": timezone.now().isoformat()},
                staff_only=True,
            )
    return bool(updated)


# --- Identity -----------------------------------------------------------------

MAX_VERIFICATION_FAILURES = 5


def do_bind_customer(conversation_id: uuid.UUID | str, customer_id: str, method: str) -> None:
    """Bind the verified customer to the conversation: tools act for them from now on."""
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation_id).update(
            customer_id=customer_id, verified_by=method[:20]
        )
        publish(conversation_id, {"type": "session", "verified": True})


def do_run_tool(spec: ToolSpec, ctx: ToolContext, args: BaseModel) -> ToolResult:
    """Run a tool for the conversation (sync, in a DB thread) and record the identity
    outcome it reports: tools read and return, only the chat app writes the conversation.

    The tool sees the count of failed verifications: this conversation's, or the cap
    itself while the client or the identity tried is cooling down from too many
    failures in any conversation. A verification result binds the customer or counts
    one more failure, on the conversation, the client and the identity."""
    conversation = Conversation.objects.filter(pk=ctx.conversation_id).first()
    failures = conversation.verification_failures if conversation is not None else 0
    client = conversation.client_key if conversation is not None else ""
    keys = verification.counter_keys(client, args)
    if verification.cooling_down(keys):
        failures = max(failures, MAX_VERIFICATION_FAILURES)
    result = spec.run(dataclasses.replace(ctx, verification_failures=failures), args)
    outcome = result.verification
    if outcome is not None:
        if outcome.customer_id is not None:
            do_bind_customer(ctx.conversation_id, outcome.customer_id, outcome.method)
        else:
            do_record_verification_failure(ctx.conversation_id, keys)
    return result


def do_record_verification_failure(
    conversation_id: uuid.UUID | str, keys: list[tuple[str, int]] | None = None
) -> int:
    """Count a failed verification attempt on the conversation and on each counter in
    `keys` (kept for SUPPORTBOT_VERIFY_COOLDOWN seconds); the attempt is logged, and
    staff are alerted when a counter reaches its cap. Returns the conversation's count."""
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation_id).update(
            verification_failures=F("verification_failures") + 1
        )
        failures = Conversation.objects.values_list("verification_failures", flat=True).get(
            pk=conversation_id
        )
    verification.count_failure(conversation_id, keys or [])
    verification.log_failure(conversation_id, failures, keys or [])
    return failures


def do_request_turn(conversation_id: uuid.UUID | str) -> None:
    """Ask for a bot turn that no new customer message calls for (retry, confirm outcome)."""
    Conversation.objects.filter(pk=conversation_id).update(turn_requested=True)


# --- Confirmations --------------------------------------------------------------


@dataclass
class Decision:
    action: PendingAction
    executed: bool


def do_propose_action(
    conversation_id: uuid.UUID | str,
    *,
    turn_id: uuid.UUID | None,
    tool_name: str,
    arguments: dict[str, Any],
    summary: str,
    details: dict[str, Any],
) -> PendingAction:
    """Store a proposed change and show the customer its confirmation card."""
    expires_at = timezone.now() + timedelta(seconds=settings.SUPPORTBOT_CONFIRM_TTL)
    with transaction.atomic():
        # One open card at a time: a newer proposal replaces an older one.
        for stale in PendingAction.objects.select_for_update().filter(
            conversation_id=conversation_id, status=PendingAction.Status.PENDING
        ):
            _close_action(stale, PendingAction.Status.EXPIRED, "Replaced by a newer request.")
        action = PendingAction.objects.create(
            conversation_id=conversation_id,
            turn_id=turn_id,
            tool_name=tool_name,
            arguments=arguments,
            summary=summary,
            details=details,
            expires_at=expires_at,
        )
        do_append_event(
            conversation_id,
            kind=Message.Kind.CONFIRM_REQUEST,
            role=Message.Role.SYSTEM,
            text=summary,
            metadata={
                "action_id": str(action.pk),
                "tool": tool_name,
                "details": details,
                "expires_at": expires_at.isoformat(),
                "turn_id": str(turn_id) if turn_id else None,
            },
        )
    return action


def _close_action(action: PendingAction, status: str, text: str) -> None:
    action.status = status
    action.decided_at = timezone.now()
    action.result = {**(action.result or {}), "message": text}
    action.save(update_fields=["status", "decided_at", "result"])
    _show_outcome(action, status, text)


def _show_outcome(action: PendingAction, status: str, text: str) -> None:
    """The card's outcome in the chat: done, failed, declined, expired or replaced."""
    do_append_event(
        action.conversation_id,
        kind=Message.Kind.CONFIRM_RESULT,
        role=Message.Role.SYSTEM,
        text=text,
        metadata={"action_id": str(action.pk), "status": status, "tool": action.tool_name},
    )


def check_decide_action(
    conversation_id: uuid.UUID | str, action_id: str, decision: str
) -> Decision:
    """Carry out or decline a proposed change, on the customer's own confirm frame.

    The pending -> executing step is a conditional update, so a confirm that
    arrives twice (two tabs, a replayed frame) runs the change at most once.
    """
    try:
        action_uuid = uuid.UUID(str(action_id))
    except ValueError:
        raise ChatError("not_found", "No such action.") from None
    action = PendingAction.objects.filter(pk=action_uuid, conversation_id=conversation_id).first()
    if action is None:
        raise ChatError("not_found", "No such action.")
    if decision not in {"approve", "decline"}:
        raise ChatError("invalid_frame", "decision must be approve or decline")
    now = timezone.now()
    if action.status == PendingAction.Status.PENDING and action.expires_at <= now:
        with transaction.atomic():
            locked = PendingAction.objects.select_for_update().get(pk=action.pk)
            if locked.status == PendingAction.Status.PENDING:
                _close_action(locked, PendingAction.Status.EXPIRED, "This request expired.")
        raise ChatError("expired", "This request expired. Ask the assistant again if needed.")
    if decision == "decline":
        with transaction.atomic():
            locked = PendingAction.objects.select_for_update().get(pk=action.pk)
            if locked.status != PendingAction.Status.PENDING:
                raise ChatError("already_decided", "This request was already answered.")
            _close_action(locked, PendingAction.Status.DECLINED, "You declined this change.")
        do_request_turn(conversation_id)
        return Decision(action=locked, executed=False)
    claimed = PendingAction.objects.filter(
        pk=action.pk, status=PendingAction.Status.PENDING, expires_at__gt=now
    ).update(status=PendingAction.Status.EXECUTING, decided_at=now)
    if claimed != 1:
        raise ChatError("already_decided", "This request was already answered.")
    action.refresh_from_db()
    _execute_action(action)
    do_request_turn(conversation_id)
    return Decision(action=action, executed=action.status == PendingAction.Status.DONE)


def _execute_action(action: PendingAction) -> None:
    conversation = Conversation.objects.get(pk=action.conversation_id)
    spec = get_tool(action.tool_name)
    ctx = ToolContext(
        conversation_id=conversation.pk,
        customer_id=conversation.customer_id,
        turn_id=action.turn_id,
    )
    status = PendingAction.Status.FAILED
    try:
        if spec is None or spec.execute is None or not spec.allowed(ctx):
            raise ToolError("This change is not available in this conversation.")
        args = spec.args_model.model_validate(action.arguments)
        result = spec.execute(ctx, args)
        status = PendingAction.Status.DONE if result.ok else PendingAction.Status.FAILED
        outcome = {"ok": result.ok, "data": result.data}
        text = _done_text(result.data) if result.ok else _refusal_text(result.data)
    except ToolError as exc:
        outcome = {"ok": False, "error": str(exc)}
        text = f"This change could not be made: {exc}"
    except Exception:
        log.exception("confirmed action %s failed", action.pk)
        outcome = {"ok": False, "error": "internal error"}
        text = "This change could not be made because of an internal error. Nothing was changed."
    with transaction.atomic():
        action.status = status
        action.result = outcome
        action.save(update_fields=["status", "result"])
        _show_outcome(action, status, text)


def _done_text(data: Any) -> str:
    """What the card says once the change is made: the outcome, not the summary again
    (the card already shows it)."""
    message = data.get("message") if isinstance(data, dict) else None
    return f"Done. {message}" if message else "Done."


def _refusal_text(data: Any) -> str:
    if isinstance(data, dict) and data.get("error"):
        return f"This change could not be made: {data['error']}"
    return "This change could not be made. Nothing was changed."


# --- Life cycle -------------------------------------------------------------------


def do_reopen_conversation(conversation_id: uuid.UUID | str) -> bool:
    """A customer writing to a closed conversation starts a new episode: the bot's
    context is fresh, the history stays visible, and a short summary of the earlier
    episode is kept. False if the conversation was not closed."""
    from .signals import conversation_reopened

    with transaction.atomic():
        conversation = Conversation.objects.lock(conversation_id)
        if conversation is None or conversation.status != Conversation.Status.CLOSED:
            return False
        summary = episode_summary(conversation)
        episode = conversation.episode + 1
        Conversation.objects.filter(pk=conversation_id).update(
            status=Conversation.Status.BOT,
            episode=episode,
            episode_start_seq=conversation.last_seq,
            closed_at=None,
            close_reason="",
            csat_score=None,
            csat_comment="",
            csat_at=None,
            verification_failures=0,
        )
        # The customer sees only that a new chat began; the summary of the earlier one
        # is for staff (review, console) and stays in the metadata.
        do_tell_customer(
            conversation_id,
            "episode",
            NEW_EPISODE_TEXT,
            episode=episode,
            previous_summary=summary,
            previous_csat=conversation.csat_score,
            previous_csat_comment=conversation.csat_comment,
        )
        transaction.on_commit(
            lambda: conversation_reopened.send(
                sender=Conversation, conversation_id=conversation_id, episode=episode
            )
        )
    return True


NEW_EPISODE_TEXT = "New conversation started."


def episode_summary(conversation: Conversation) -> str:
    """A short, plain summary of the current episode: what was asked, how it ended."""
    messages = Message.objects.filter(
        conversation=conversation, seq__gt=conversation.episode_start_seq, kind="message"
    ).order_by("seq")
    customer = [m.text for m in messages if m.role == Message.Role.CUSTOMER]
    first = customer[0] if customer else "no question"
    first = first if len(first) <= 120 else first[:117] + "…"
    done = PendingAction.objects.filter(
        conversation=conversation, status=PendingAction.Status.DONE
    ).count()
    parts = [f'the customer asked "{first}"', f"{len(customer)} customer message(s)"]
    if done:
        parts.append(f"{done} confirmed change(s)")
    if conversation.close_reason:
        parts.append(f"closed by {conversation.close_reason}")
    if conversation.csat_score:
        # The conversation's rating fields belong to the new episode from here on.
        parts.append(f"rated {conversation.csat_score}/5")
    return "; ".join(parts) + "."


def check_rate_conversation(conversation_id: uuid.UUID | str, score: int, comment: str) -> None:
    """Store the customer's 1-5 rating once, after the conversation closed."""
    if not 1 <= score <= 5:
        raise ChatError("invalid_frame", "score must be between 1 and 5")
    comment = clean_text(comment).strip()
    with transaction.atomic():
        rated = Conversation.objects.filter(
            pk=conversation_id, status=Conversation.Status.CLOSED, csat_score__isnull=True
        ).update(csat_score=score, csat_comment=comment[:2000], csat_at=timezone.now())
        if rated != 1:
            raise ChatError("not_allowed", "This conversation can't be rated now.")
        publish(conversation_id, {"type": "rated", "score": score})
