from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.assistant.costs import cached_share


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def lock(self, conversation_id: Any, *related: str, **annotations: Any) -> Conversation | None:
        """The conversation's row, locked until the transaction ends (None if it is gone),
        with `related` rows and `annotations` read in the same statement.

        Every change of owner, the final reply of a turn and the recovery of interrupted
        turns take this lock, so of two of them only one sees the row at a time."""
        rows = self.select_for_update(of=("self",)).filter(pk=conversation_id)
        if annotations:
            rows = rows.annotate(**annotations)
        return rows.select_related(*related).first() if related else rows.first()


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", "Assistant"
        QUEUED = "queued", "Waiting for an agent"
        AGENT = "agent", "With an agent"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)  # sha256 of the secret
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.BOT, db_index=True
    )
    customer = models.ForeignKey(
        "orders.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    verified_by = models.CharField(max_length=20, blank=True, default="")  # token, email_zip, ...
    verification_failures = models.PositiveSmallIntegerField(default=0)
    last_seq = models.PositiveIntegerField(default=0)
    # The highest customer-message seq a turn has taken up; later ones still need an answer.
    answered_seq = models.PositiveIntegerField(default=0)
    # A turn owed without a new customer message: a retry, or a confirmed change to explain.
    turn_requested = models.BooleanField(default=False)
    episode = models.PositiveIntegerField(default=1)
    episode_start_seq = models.PositiveIntegerField(default=0)
    # Which process runs this conversation's turn now, and when it last said so.
    turn_owner = models.CharField(max_length=64, blank=True, default="")
    turn_heartbeat = models.DateTimeField(null=True, blank=True)
    client_key = models.CharField(max_length=64, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    close_reason = models.CharField(max_length=20, blank=True, default="")  # customer/agent/idle
    csat_score = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    csat_comment = models.TextField(blank=True, default="")
    csat_at = models.DateTimeField(null=True, blank=True)
    # The customer's language (their page's, from the browser): the model answers in it.
    language = models.CharField(max_length=8, default="en")
    # The last event the customer has seen with the chat in view (read receipts for agents).
    customer_read_seq = models.PositiveIntegerField(default=0)
    turn_count = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("export_conversation", "Can export any conversation")]

    def __str__(self) -> str:
        return f"Conversation {str(self.id)[:8]} ({self.get_status_display()})"

    @property
    def group_name(self) -> str:
        return group_for(self.id)

    def owes_bot_turn(self, unanswered: bool | None = None) -> bool:
        """Whether the bot owes a turn: it is in bot mode, and a customer message came
        after the last one answered, or a turn was asked for (a retry, a confirmed
        change to explain). `unanswered`: whether such a message exists, if the caller
        read it with the row (leases.with_needs_runner); else it is queried."""
        if self.status != self.Status.BOT:
            return False
        if self.turn_requested:
            return True
        if unanswered is not None:
            return unanswered
        return Message.objects.from_customer(self.pk).filter(seq__gt=self.answered_seq).exists()


def group_for(conversation_id: uuid.UUID | str) -> str:
    return f"conversation.{conversation_id}"


def staff_group_for(conversation_id: uuid.UUID | str) -> str:
    """Frames about the customer that only staff watching the conversation get
    (the customer is typing, has read up to a seq). Never stored."""
    return f"conversation.{conversation_id}.staff"


class SuggestedQuestion(models.Model):
    """A first question offered as a chip before the customer has written anything.
    Operators edit them in the admin."""

    text = models.CharField(max_length=120)
    language = models.CharField(
        max_length=8,
        blank=True,
        default="",
        choices=[("", "Every language"), *settings.LANGUAGES],
        help_text="Shown to customers whose page is in this language; blank: every language.",
    )
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.text

    @classmethod
    def for_language(cls, language: str) -> list[str]:
        """The active chips for a page in `language` (e.g. "es"), at most four."""
        base = language.split("-")[0].lower()
        rows = cls.objects.filter(active=True).filter(Q(language=base) | Q(language=""))
        return [row.text for row in rows[:4]]


class MessageQuerySet(models.QuerySet["Message"]):
    def from_customer(self, conversation_id: uuid.UUID | str) -> MessageQuerySet:
        """The customer's chat messages in a conversation (not cards, notices or hand-offs)."""
        return self.filter(
            conversation_id=conversation_id,
            role=Message.Role.CUSTOMER,
            kind=Message.Kind.MESSAGE,
        )

    def _latest_customer(self, conversation_id: uuid.UUID | str, column: str) -> Any:
        latest = self.from_customer(conversation_id).order_by("-seq")
        return latest.values_list(column, flat=True).first()

    def latest_customer_seq(self, conversation_id: uuid.UUID | str) -> int:
        return self._latest_customer(conversation_id, "seq") or 0

    def latest_customer_text(self, conversation_id: uuid.UUID | str) -> str:
        return self._latest_customer(conversation_id, "text") or ""


class Message(models.Model):
    """One stored event of a conversation, in `seq` order. Most are messages;
    confirmation cards, their outcomes, hand-off changes and notices are stored
    the same way so that reload and resume replay all of them."""

    class Kind(models.TextChoices):
        MESSAGE = "message"
        CONFIRM_REQUEST = "confirm_request"
        CONFIRM_RESULT = "confirm_result"
        HANDOFF = "handoff"
        NOTICE = "notice"

    class Role(models.TextChoices):
        CUSTOMER = "customer"
        ASSISTANT = "assistant"
        AGENT = "agent"
        SYSTEM = "system"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MESSAGE)
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(blank=True, default="")
    client_id = models.UUIDField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]
        indexes = [
            # The sweeper's and a turn's "is a customer message unanswered?" probe:
            # customer messages only, so it reads the index alone.
            models.Index(
                fields=["conversation", "seq"],
                condition=Q(role="customer", kind="message"),
                name="message_customer_seq",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.role}: {self.text[:40]}"

    @property
    def photo_url(self) -> str:
        """The signed URL of the customer's photo on this message, or ""."""
        photo = (self.metadata or {}).get("attachment")
        return attachment_url(photo["id"]) if isinstance(photo, dict) and photo.get("id") else ""


class Turn(models.Model):
    """One assistant turn and its audit: layers, verdicts, tool calls, tokens, timings."""

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        INTERRUPTED = "interrupted"
        STOPPED = "stopped"  # a human took over mid-turn

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=20, default="message")
    answers_seq = models.PositiveIntegerField(default=0)
    provider = models.CharField(max_length=20, blank=True, default="")
    model = models.CharField(max_length=60, blank=True, default="")
    layers = models.JSONField(default=dict, blank=True)
    verdicts = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    steps = models.PositiveSmallIntegerField(default=0)
    # This turn's tool steps exactly as the model saw them (assistant messages with
    # tool_calls, then the tool results), replayed to the model in later turns.
    exchange = models.JSONField(default=list, blank=True)
    # Why the model's last response ended: stop, tool_calls, length, content_filter.
    finish_reason = models.CharField(max_length=20, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)  # cached ones included
    cached_tokens = models.PositiveIntegerField(default=0)  # served by the prompt cache
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at"]
        indexes = [
            # Running turns are few; the sweeper looks them up every second.
            models.Index(
                fields=["conversation"], condition=Q(status="running"), name="turn_running"
            ),
        ]

    def __str__(self) -> str:
        return f"Turn {str(self.id)[:8]} ({self.status})"

    @property
    def cached_share(self) -> float:
        """The part of this turn's input that OpenAI's prompt cache served, 0..1."""
        return cached_share(self.prompt_tokens, self.cached_tokens)


class PendingAction(models.Model):
    """A change the model proposed. Only the customer's own confirm frame runs it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        EXECUTING = "executing"
        DONE = "done"
        FAILED = "failed"
        DECLINED = "declined"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="pending_actions"
    )
    turn = models.ForeignKey(Turn, null=True, blank=True, on_delete=models.SET_NULL)
    tool_name = models.CharField(max_length=60)
    arguments = models.JSONField(default=dict)
    summary = models.TextField()
    details = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.status})"

    def outcome(self) -> dict[str, Any]:
        return {"action_id": str(self.id), "status": self.status, **(self.result or {})}


ATTACHMENT_SALT = "chat.attachment"


def attachment_url(attachment_id: uuid.UUID | str) -> str:
    """A capability URL: whoever has the conversation's events may see the photo."""
    from django.core.signing import Signer
    from django.urls import reverse

    return reverse("attachment", args=[Signer(salt=ATTACHMENT_SALT).sign(str(attachment_id))])


class Attachment(models.Model):
    """A customer's photo: already checked and re-encoded (apps.chat.photos), stored
    without metadata. It belongs to a conversation and, once sent, to its message."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachment"
    )
    file = models.FileField(upload_to="photos/%Y/%m/")
    content_type = models.CharField(max_length=40, default="image/jpeg")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Photo {str(self.id)[:8]} ({self.width}x{self.height})"

    def signed_url(self) -> str:
        return attachment_url(self.id)

    def as_metadata(self) -> dict[str, Any]:
        return {"id": str(self.id), "width": self.width, "height": self.height}
