"""Hand-off to humans: escalations, their event log, offers, agents' presence and tools.

A conversation's owner is `Conversation.status` (bot / queued / agent / closed);
an `Escalation` is the record of one hand-off: why, how urgent, who took it, and
what the tasks did with it. At most one escalation per conversation is open
(queued or claimed) at a time, enforced by the database.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Escalation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for an agent"
        CLAIMED = "claimed", "With an agent"
        RETURNED = "returned", "Handed back to the assistant"
        CLOSED = "closed", "Closed"

    class Trigger(models.TextChoices):
        CUSTOMER_REQUEST = "customer_request", "Customer asked for a person"
        MODEL = "model", "The assistant escalated"
        PROVIDER_FAILURE = "provider_failure", "The model kept failing"
        LIMIT = "limit", "A conversation limit was reached"
        VERIFICATION = "verification", "Verification failed too often"
        FRUSTRATION = "frustration", "The customer was frustrated"
        AGENT = "agent", "An agent took over"

    class Priority(models.IntegerChoices):
        LOW = 1, "low"
        NORMAL = 2, "normal"
        HIGH = 3, "high"
        URGENT = 4, "urgent"

    OPEN = (Status.QUEUED, Status.CLAIMED)

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="escalations"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    reason = models.CharField(max_length=300)
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.NORMAL, db_index=True
    )
    # Who the customer was verified as when the hand-off happened (a snapshot).
    customer = models.ForeignKey(
        "orders.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    identity = models.JSONField(default=dict, blank=True)
    # The conversation's last seq at hand-off, and the turns whose tool results came before.
    context_seq = models.PositiveIntegerField(default=0)
    tool_turns = models.JSONField(default=list, blank=True)
    model_note = models.TextField(blank=True, default="")  # the model's own summary, if any
    summary = models.JSONField(default=dict, blank=True)
    summary_source = models.CharField(max_length=12, blank=True, default="")  # model/extractive
    summarized_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_escalations",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    renotified_count = models.PositiveSmallIntegerField(default=0)
    renotified_at = models.DateTimeField(null=True, blank=True)
    wait_notice_at = models.DateTimeField(null=True, blank=True)
    email_offered_at = models.DateTimeField(null=True, blank=True)
    email_requested = models.BooleanField(default=False)
    email_requested_at = models.DateTimeField(null=True, blank=True)
    contact_email = models.EmailField(blank=True, default="")

    class Meta:
        ordering = ["-priority", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["queued", "claimed"]),
                name="one_open_escalation_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"Escalation #{self.pk} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class EscalationEvent(models.Model):
    """What happened to an escalation, in order: created, notified, summarised,
    claimed, returned, closed... Events written by tasks carry a unique `key`, so a
    task delivered twice records (and does) its work once."""

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} (escalation #{self.escalation_id})"


class HandoffOffer(models.Model):
    """The bot offered a person (frustration, a limit). The customer's next message
    accepts it ("yes please") or lets it lapse."""

    class Status(models.TextChoices):
        OPEN = "open"
        ACCEPTED = "accepted"
        LAPSED = "lapsed"

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="handoff_offers"
    )
    episode = models.PositiveIntegerField(default=1)
    trigger = models.CharField(max_length=20, choices=Escalation.Trigger.choices)
    reason = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    after_seq = models.PositiveIntegerField(default=0)  # answered by customer messages after it
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Offer of a person ({self.trigger}, {self.status})"


class CannedReply(models.Model):
    """A ready-made answer agents insert and edit. `{customer_first_name}` and
    `{agent_first_name}` are filled in."""

    title = models.CharField(max_length=80)
    text = models.TextField()
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "title"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title


class AgentNote(models.Model):
    """A private note on a conversation. Never stored as a message, never sent to a
    customer's socket: only staff pages and the staff socket show it."""

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="agent_notes"
    )
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note by {self.author} on {self.conversation_id}"


class AgentPresence(models.Model):
    """Whether an agent has the console open (sockets, with a heartbeat), whether
    they said they are away, and how many conversations they may hold at once
    (blank: the site default). An agent counts as available only when connected,
    seen recently and not away."""

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    connections = models.PositiveIntegerField(default=0)
    last_seen = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ONLINE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    max_conversations = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Blank: the site default."
    )

    class Meta:
        verbose_name_plural = "agent presence"

    def __str__(self) -> str:
        return f"{self.user} ({self.connections} open)"


class ReadMark(models.Model):
    """How far one agent has read one conversation (its last seq they saw): the
    inbox's unread counts are the customer messages after it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="read_marks"
    )
    seq = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="one_read_mark_per_agent")
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.conversation_id} to {self.seq}"


class CopilotSuggestion(models.Model):
    """One thing the copilot offered an agent, and what the agent did with it.

    A reply starts `shown` (streamed into the composer) and ends `sent` (as is),
    `edited` (sent after changes) or `discarded`. A summary is `shown` only."""

    class Kind(models.TextChoices):
        REPLY = "reply", "Suggested reply"
        SUMMARY = "summary", "Summary and next step"

    class Source(models.TextChoices):
        MODEL = "model", "Model"
        CANNED = "canned", "Canned reply (offline)"
        EXTRACTIVE = "extractive", "Rules (offline)"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Being written"
        SHOWN = "shown", "Shown"
        EDITED = "edited", "Edited, then sent"
        SENT = "sent", "Sent as is"
        DISCARDED = "discarded", "Discarded"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="copilot_suggestions"
    )
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REPLY)
    source = models.CharField(max_length=12, choices=Source.choices)
    status = models.CharField(
        max_length=10, choices=Outcome.choices, default=Outcome.PENDING, db_index=True
    )
    text = models.TextField(blank=True, default="")  # what the copilot wrote
    sent_text = models.TextField(blank=True, default="")  # what the agent sent
    data = models.JSONField(default=dict, blank=True)  # a summary's fields
    after_seq = models.PositiveIntegerField(default=0)  # the conversation it read
    message_seq = models.PositiveIntegerField(null=True, blank=True)  # the reply it became
    error_code = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"
