"""What managers review: transcripts sent, conversation analyses and quality reviews,
knowledge-gap drafts, staff actions."""

from __future__ import annotations

from decimal import Decimal

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


class EpisodeReport(models.Model):
    """What is kept of a conversation's latest episode, done at once by the rules or by a
    model (now, or queued for the nightly Batch API job, apps/reports/openai_batch.py),
    with what the model took (`ModelUsage.fields()`)."""

    class Status(models.TextChoices):
        DONE = "done"
        QUEUED = "queued"  # waiting for the nightly batch

    episode = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DONE)
    model = models.CharField(max_length=60, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Priced by apps.assistant.costs; batch results at the Batch API's half price.
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))

    class Meta:
        abstract = True


class ConversationAnalysis(EpisodeReport):
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

    conversation = models.OneToOneField(
        "chat.Conversation", on_delete=models.CASCADE, related_name="analysis"
    )
    intent = models.CharField(max_length=40, blank=True, default="", db_index=True)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True, default="")
    resolution = models.CharField(
        max_length=20, choices=Resolution.choices, blank=True, default="", db_index=True
    )
    summary = models.TextField(blank=True, default="")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.RULES)
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

    class Purpose(models.TextChoices):
        ANALYSIS = "analysis", "Conversation analysis"
        QUALITY = "quality", "Quality review"

    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.ANALYSIS)
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


# --- Quality reviews ---------------------------------------------------------------------


class RubricCriterion(models.Model):
    """One line of the rubric every closed conversation is scored against (1 to 5).

    The operator edits the name, the guidance the model reads and which criteria are
    active; the rule-based reviewer knows the built-in keys and says it could not judge
    any other."""

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    guidance = models.TextField(help_text="What a 5 and a 1 look like; the model reads this.")
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "key"]
        verbose_name = "rubric criterion"
        verbose_name_plural = "rubric criteria"

    def __str__(self) -> str:
        return self.name


class QualityReview(EpisodeReport):
    """The quality review of a closed conversation's latest episode."""

    class Source(models.TextChoices):
        RULES = "rules", "Rule-based (audit)"
        MODEL = "model", "Model (on demand)"
        BATCH = "batch", "Model (nightly batch)"

    LOW_SCORE = 3.0  # an overall score below this, or any criterion at 1 or 2, is low

    conversation = models.OneToOneField(
        "chat.Conversation", on_delete=models.CASCADE, related_name="quality_review"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.RULES)
    score = models.FloatField(null=True, blank=True, help_text="mean of the judged criteria")
    low = models.BooleanField(default=False, db_index=True)
    batch = models.ForeignKey(
        AnalysisBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="quality_reviews",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_at"]
        permissions = [("judge_qualityreview", "Can agree or disagree with a quality review")]

    def __str__(self) -> str:
        score = "—" if self.score is None else f"{self.score:.1f}"
        return f"Review of {str(self.conversation_id)[:8]}: {score}"


class CriterionScore(models.Model):
    """One criterion of a review: a score (empty: could not judge), a one-line reason,
    the message it points at, and the manager's agreement."""

    class Verdict(models.TextChoices):
        NONE = "", "—"
        AGREE = "agree", "Agree"
        DISAGREE = "disagree", "Disagree"

    review = models.ForeignKey(QualityReview, on_delete=models.CASCADE, related_name="scores")
    criterion = models.ForeignKey(
        RubricCriterion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300)
    turn_seq = models.PositiveIntegerField(
        null=True, blank=True, help_text="the message (seq) the reason points at"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices, blank=True, default="")
    verdict_note = models.CharField(max_length=300, blank=True, default="")
    verdict_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verdict_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["review_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "key"], name="criterion_score_once")
        ]

    def __str__(self) -> str:
        return f"{self.name}: {'n/a' if self.score is None else self.score}"


# --- Knowledge gaps ------------------------------------------------------------------------


class ArticleDraft(models.Model):
    """A help-center article (or an edit of one) drafted from a group of questions the
    assistant could not answer, citing the conversations they came from. An operator
    edits it, then approves (published and searchable at once) or rejects it."""

    class Kind(models.TextChoices):
        NEW = "new", "New article"
        EDIT = "edit", "Edit of an article"

    class Status(models.TextChoices):
        DRAFT = "draft", "Waiting for review"
        APPROVED = "approved", "Approved and published"
        REJECTED = "rejected", "Rejected"

    class Source(models.TextChoices):
        RULES = "rules", "Grouped questions and agents' answers"
        MODEL = "model", "Model"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NEW)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.RULES)
    signature = models.CharField(
        max_length=300, db_index=True, help_text="the grouped questions' key terms"
    )
    title = models.CharField(max_length=200)
    category = models.CharField(max_length=80, blank=True, default="")
    body = models.TextField(help_text="Markdown. For an edit: the article's whole new body.")
    questions = models.TextField(
        help_text="The customers' questions this answers, one per line; each becomes a "
        "question the article answers."
    )
    agent_answers = models.TextField(
        blank=True, default="", help_text="What agents answered, for the reviewer's reference."
    )
    asked = models.PositiveIntegerField(default=0, help_text="how often these were asked")
    article = models.ForeignKey(
        "knowledge.Article",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The article edited, or the one published from this draft.",
    )
    conversations = models.ManyToManyField(
        "chat.Conversation", blank=True, related_name="+", help_text="where the questions came from"
    )
    unanswered = models.ManyToManyField(
        "knowledge.UnansweredQuestion", blank=True, related_name="+"
    )
    conflicts = models.JSONField(
        default=list, blank=True, help_text="articles this draft duplicates or contradicts"
    )
    model = models.CharField(max_length=60, blank=True, default="")
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["status", "-asked", "-created_at"]
        permissions = [("approve_articledraft", "Can approve or reject an article draft")]

    def __str__(self) -> str:
        return self.title

    def question_list(self) -> list[str]:
        return [q.strip() for q in self.questions.splitlines() if q.strip()]


# --- Real chats as regression tests --------------------------------------------------------


class SavedCase(models.Model):
    """A regression test made from a real conversation: a simulated customer with its goal
    and facts talks to the product (`manage.py evaluate --cases`), and the end must match."""

    class Escalation(models.TextChoices):
        NONE = "none", "No escalation"
        ESCALATED = "escalated", "Handed to a person"
        EITHER = "either", "Either"

    name = models.CharField(max_length=120)
    conversation = models.ForeignKey(
        "chat.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the real conversation this was saved from",
    )
    goal = models.TextField(help_text="What the customer wants, in their words.")
    facts = models.TextField(
        blank=True, default="", help_text="What the customer knows: name, email, zip, order ids."
    )
    behaviour = models.TextField(
        blank=True, default="", help_text="How the customer behaves (optional)."
    )
    expected_actions = models.JSONField(
        default=list,
        blank=True,
        help_text='The store changes that must be made, as [{"name": ..., "arguments": {...}}]; '
        "the store's end state must equal replaying exactly these. [] means nothing changes.",
    )
    check_store = models.BooleanField(default=True, help_text="judge the store's end state")
    escalation = models.CharField(
        max_length=10, choices=Escalation.choices, default=Escalation.EITHER
    )
    must_include = models.TextField(
        blank=True, default="", help_text="Phrases the assistant must say, one per line."
    )
    must_not_include = models.TextField(
        blank=True, default="", help_text="Phrases the assistant must never say, one per line."
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "saved test case"

    def __str__(self) -> str:
        return self.name

    @property
    def scenario_id(self) -> str:
        return f"case-{self.pk}"

    @staticmethod
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]


class SavedCaseRun(models.Model):
    """One episode of a saved case in an evaluation run."""

    case = models.ForeignKey(SavedCase, on_delete=models.CASCADE, related_name="runs")
    passed = models.BooleanField()
    failures = models.JSONField(default=list, blank=True, help_text="why it failed")
    termination = models.CharField(max_length=20, blank=True, default="")
    escalated = models.BooleanField(default=False)
    turns = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    transcript = models.JSONField(default=list, blank=True)
    label = models.CharField(max_length=80, blank=True, default="", help_text="the run's name")
    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"{self.case} {'passed' if self.passed else 'failed'} {self.ran_at:%Y-%m-%d %H:%M}"


class PolicyTrial(models.Model):
    """A proposed operator policy tried before it is published: the saved cases and the
    tau2-bench train split run under the current policy and under the proposed one."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    proposed = models.JSONField(help_text="the proposed policy's fields")
    based_on_version = models.PositiveIntegerField(default=0)
    split = models.CharField(max_length=10, default="train")
    ids = models.JSONField(default=list, blank=True, help_text="tau2 task ids (empty: the split)")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    published_version = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "policy trial"

    def __str__(self) -> str:
        return f"Policy trial {self.pk} ({self.status})"
