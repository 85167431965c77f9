"""What managers review: transcripts sent, conversation analyses, staff actions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TranscriptDelivery(models.Model):
    """The transcript email of one episode of a conversation. The row is the claim:
    one per conversation and episode, so two deliveries of the task send one email."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"  # no verified address to send to

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="transcripts"
    )
    episode = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    recipient = models.EmailField(blank=True, default="")
    send_count = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "episode"], name="transcript_once_per_episode"
            )
        ]
        permissions = [("resend_transcript", "Can resend a conversation transcript")]
        verbose_name_plural = "transcript deliveries"

    def __str__(self) -> str:
        return f"Transcript of {self.conversation_id} #{self.episode} ({self.status})"


class ConversationAnalysis(models.Model):
    """Intent, sentiment, resolution and a summary of a conversation's latest episode."""

    class Resolution(models.TextChoices):
        RESOLVED_BY_BOT = "resolved_by_bot", "Resolved by the bot"
        ESCALATED = "escalated", "Escalated"
        ABANDONED = "abandoned", "Abandoned"

    class Sentiment(models.TextChoices):
        POSITIVE = "positive"
        NEUTRAL = "neutral"
        NEGATIVE = "negative"

    class Source(models.TextChoices):
        RULES = "rules", "Deterministic rules"
        MODEL = "model", "Model (realtime)"
        BATCH = "batch", "Model (batch)"

    class Status(models.TextChoices):
        DONE = "done"
        QUEUED = "queued"  # waiting for the nightly batch

    conversation = models.OneToOneField(
        "chat.Conversation", on_delete=models.CASCADE, related_name="analysis"
    )
    episode = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DONE)
    intent = models.CharField(max_length=40, blank=True, default="", db_index=True)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True, default="")
    resolution = models.CharField(
        max_length=20, choices=Resolution.choices, blank=True, default="", db_index=True
    )
    summary = models.TextField(blank=True, default="")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.RULES)
    model = models.CharField(max_length=60, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    batch = models.ForeignKey(
        "AnalysisBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "conversation analyses"

    def __str__(self) -> str:
        return f"{self.intent or '?'} / {self.resolution or '?'}"


class AnalysisBatch(models.Model):
    """One OpenAI Batch API job of conversation analyses: submitted, polled, collected."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted"
        COMPLETED = "completed"  # results collected
        FAILED = "failed"

    openai_batch_id = models.CharField(max_length=80, unique=True)
    input_file_id = models.CharField(max_length=80)
    output_file_id = models.CharField(max_length=80, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUBMITTED)
    remote_status = models.CharField(max_length=20, blank=True, default="")
    request_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    submitted_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "analysis batches"

    def __str__(self) -> str:
        return f"Batch {self.openai_batch_id} ({self.status})"


class StaffAuditEvent(models.Model):
    """Who viewed, exported or resent what, and when."""

    class Action(models.TextChoices):
        VIEW = "view", "Viewed a conversation"
        EXPORT = "export", "Exported conversations"
        RESEND = "resend_transcript", "Resent a transcript"
        DASHBOARD = "dashboard", "Viewed the dashboard"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    conversation = models.ForeignKey(
        "chat.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff_events",
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_dashboard", "Can view the manager dashboard")]

    def __str__(self) -> str:
        return f"{self.user} {self.action} {self.created_at:%Y-%m-%d %H:%M}"
