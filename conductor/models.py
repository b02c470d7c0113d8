"""Core data: job types, jobs, their attempts, the event journal, API keys, heartbeats.

Rows hold the truth. A job's row says what must happen next (``state``, ``run_at``,
``lease_expires_at``); Celery messages only say "there is work".
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey

from conductor import states
from conductor.states import JobState
from conductor.workflows.models import Workflow, WorkflowRun

__all__ = [
    "ApiKey",
    "DependencyFailure",
    "DependencyMode",
    "Event",
    "Heartbeat",
    "Job",
    "JobDependency",
    "JobType",
    "JournalCursor",
    "Priority",
    "RetryAttempt",
    "Workflow",
    "WorkflowRun",
]


class Priority(models.IntegerChoices):
    LOW = 0, "low"
    NORMAL = 1, "normal"
    HIGH = 2, "high"
    CRITICAL = 3, "critical"

    @classmethod
    def from_label(cls, label: str) -> "Priority":
        return _PRIORITY_BY_LABEL[label]


_PRIORITY_BY_LABEL = {p.label: p for p in Priority}


class DependencyMode(models.TextChoices):
    ALL = "all"  # every dependency must succeed
    ANY = "any"  # one success is enough


class DependencyFailure(models.TextChoices):
    ABORT = "abort"  # the dependent fails too
    CONTINUE = "continue"  # the dependent runs anyway once its dependencies are final
    RETRY = "retry"  # the failed dependency is retried (a few times), then abort


class JobType(models.Model):
    """A registered kind of job. Synced from the code registry; operators may override
    its policy fields in the admin (``override_*`` win over the registered values)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    schema = models.JSONField(default=dict)
    schema_version = models.PositiveIntegerField(default=1)
    sample_payload = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=64, default="default")
    default_priority = models.SmallIntegerField(
        choices=Priority.choices, default=Priority.NORMAL
    )
    timeout_s = models.PositiveIntegerField(default=300)
    max_timeout_s = models.PositiveIntegerField(default=3600)
    max_retries = models.PositiveIntegerField(default=3)
    retry_policy = models.JSONField(null=True, blank=True)
    breaker = models.CharField(max_length=100, blank=True)
    max_concurrency = models.PositiveIntegerField(null=True, blank=True)
    registered = models.BooleanField(
        default=True, help_text="False when the code no longer registers this type."
    )
    paused = models.BooleanField(default=False)
    override_max_retries = models.PositiveIntegerField(null=True, blank=True)
    override_timeout_s = models.PositiveIntegerField(null=True, blank=True)
    retry_policy_name = models.CharField(
        max_length=100, blank=True, help_text="a named retry policy for this type"
    )
    override_retry_policy = models.JSONField(
        null=True, blank=True, help_text="fields that override the type's policy"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_max_retries(self) -> int:
        if self.override_max_retries is not None:
            return self.override_max_retries
        return self.max_retries

    @property
    def effective_timeout_s(self) -> int:
        if self.override_timeout_s is not None:
            return self.override_timeout_s
        return self.timeout_s


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job_type = models.ForeignKey(
        JobType,
        to_field="name",
        db_column="type",
        on_delete=models.PROTECT,
        related_name="jobs",
        db_index=False,  # conductor_job_type (type, created_at) serves every lookup
    )
    payload = models.JSONField(default=dict)
    payload_version = models.PositiveIntegerField(default=1)
    state = models.CharField(
        max_length=16, choices=states.CHOICES, default=JobState.PENDING
    )
    # ``priority`` orders the claim; the sweeper ages it upward from ``base_priority``
    # (what was asked for) so low-priority work never starves.
    priority = models.SmallIntegerField(
        choices=Priority.choices, default=Priority.NORMAL
    )
    base_priority = models.SmallIntegerField(
        choices=Priority.choices, default=Priority.NORMAL
    )
    queue = models.CharField(max_length=64, default="default")
    run_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    max_retries = models.PositiveIntegerField(default=3)
    retry_policy = models.JSONField(null=True, blank=True)
    timeout_s = models.PositiveIntegerField(default=300)
    breaker = models.CharField(max_length=100, blank=True)
    # NULL, not "": many jobs have no key, and the unique constraint skips NULLs.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.CharField(max_length=255, blank=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        db_index=False,  # partial index below: most jobs have no parent
    )
    workflow_run = models.ForeignKey(
        "WorkflowRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="jobs",
        db_index=False,  # partial index below: most jobs are in no workflow
    )
    workflow_node = models.CharField(max_length=120, blank=True)  # id[:compensate]
    dependency_mode = models.CharField(
        max_length=8, choices=DependencyMode.choices, default=DependencyMode.ALL
    )
    on_dependency_failure = models.CharField(
        max_length=8, choices=DependencyFailure.choices, default=DependencyFailure.ABORT
    )
    dependency_retries = models.PositiveIntegerField(default=0)
    has_dependents = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    result_file = models.FileField(upload_to="results/", max_length=500, blank=True)
    # The result kept in another system: {"uri": …, "metadata": {…}} (ctx.refer).
    result_reference = models.JSONField(null=True, blank=True)
    checkpoint = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    progress_pct = models.FloatField(null=True, blank=True)
    progress_stage = models.CharField(max_length=255, blank=True)
    progress_message = models.TextField(blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_mode = models.CharField(max_length=8, blank=True)
    cancel_reason = models.TextField(blank=True)
    cancelled_by = models.CharField(max_length=150, blank=True)
    trace_id = models.CharField(max_length=64, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("cancel_job", "Can cancel jobs"),
            ("retry_job", "Can retry and resume jobs"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="conductor_job_idempotency_key_unique",
            ),
        ]
        indexes = [
            # The claim walks this per job type (fair share), best priority first.
            models.Index(
                fields=["job_type", "queue", "-priority", "run_at"],
                condition=Q(state=JobState.PENDING),
                name="conductor_job_due",
            ),
            models.Index(
                fields=["job_type"],
                condition=Q(state=JobState.RUNNING),
                name="conductor_job_running_type",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(state=JobState.RUNNING),
                name="conductor_job_leased",
            ),
            models.Index(
                fields=["breaker"],
                condition=Q(state=JobState.PARKED),
                name="conductor_job_parked",
            ),
            models.Index(fields=["state", "-created_at"], name="conductor_job_state"),
            models.Index(fields=["job_type", "-created_at"], name="conductor_job_type"),
            models.Index(fields=["-created_at"], name="conductor_job_created"),
            models.Index(
                fields=["parent"],
                condition=Q(parent__isnull=False),
                name="conductor_job_parent",
            ),
            models.Index(
                fields=["workflow_run"],
                condition=Q(workflow_run__isnull=False),
                name="conductor_job_workflow_run",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_type_id} {self.id} ({self.state})"


class JobDependency(models.Model):
    """``job`` waits for ``depends_on``."""

    # The unique (job, depends_on) index serves lookups by job.
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="dependency_rows", db_index=False
    )
    depends_on = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="dependent_rows"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "depends_on"], name="conductor_jobdependency_unique"
            ),
            models.CheckConstraint(
                condition=~Q(job=models.F("depends_on")),
                name="conductor_jobdependency_not_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} waits for {self.depends_on_id}"


class RetryAttempt(models.Model):
    """One execution attempt of a job; attempt numbers start at 1 and never repeat."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCESS = "success"
        FAILED = "failed"

    # The unique (job, attempt_number) index serves lookups by job.
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="attempt_rows", db_index=False
    )
    attempt_number = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["job", "attempt_number"]
        indexes = [
            # Run-time statistics read the recent successful attempts.
            models.Index(
                fields=["-finished_at"],
                condition=Q(status="success"),
                name="conductor_attempt_success",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "attempt_number"],
                name="conductor_retryattempt_number_unique",
            ),
            models.CheckConstraint(
                condition=Q(attempt_number__gte=1),
                name="conductor_retryattempt_number_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.attempt_number} {self.status}"


class WritingTransaction(models.Func):
    """The id of the transaction inserting the row: PostgreSQL's
    ``pg_current_xact_id()``; NULL on SQLite, whose single writer needs none."""

    template = "NULL"
    output_field = models.BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return "(pg_current_xact_id()::text::bigint)", []


class Event(models.Model):
    """The journal: one row per state change, written in the change's transaction.

    It is the audit trail, the webhook outbox and the live stream. Readers follow it by
    ``id`` ("events after N") or by subject.
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=32)
    subject_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    actor = models.CharField(max_length=150, blank=True)
    trace_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    # The id of the transaction that wrote the row (PostgreSQL; NULL on SQLite): the
    # journal reader's position is (tx, id), see conductor.journal.reader.
    tx = models.BigIntegerField(
        null=True, editable=False, db_default=WritingTransaction()
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["tx", "id"], name="conductor_event_position"),
            models.Index(
                fields=["subject_type", "subject_id", "id"],
                name="conductor_event_subject",
            ),
            models.Index(fields=["type", "id"], name="conductor_event_type"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.type} {self.subject_type}:{self.subject_id}"


class JournalCursor(models.Model):
    """Where a follower of the journal stands: the id of the last event it handled
    (event-triggered schedules, webhook delivery, the live stream)."""

    name = models.CharField(max_length=64, primary_key=True)
    after = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} after #{self.after}"


class ApiKey(AbstractAPIKey):
    """An API key: hashed at rest (SHA-512 of a random key), with scopes and a tier."""

    class Tier(models.TextChoices):
        STANDARD = "standard"
        PREMIUM = "premium"

    SCOPES = ("read", "write", "admin")

    scopes = models.JSONField(default=list)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.STANDARD)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_keys",
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        permissions = [("revoke_apikey", "Can revoke API keys")]


class Heartbeat(models.Model):
    """Last sign of life of a worker or beat process (``beat``, ``worker@host``)."""

    name = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=16)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
