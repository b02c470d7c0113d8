"""Schedules and their runs (SPEC §4).

A ``Schedule`` fires on a cron expression in its time zone, or on a journal event
type. It owns a django-celery-beat ``PeriodicTask`` (``periodic_task``), armed with a
one-off clocked time at the next fire time that ``scheduling.cron`` computes, and
re-armed after each fire (``scheduling.services.arming``). ``next_execution_at`` is
the next fire time not handled yet: everything before it has a ``ScheduleRun``
(fired, skipped or missed).

A ``ScheduleRun`` exists once per (schedule, fire time) — a unique constraint, so a
beat restarting across a due time or two beats running by mistake never fire twice —
and once per (schedule, event) for event-triggered schedules. Its status follows its
job (or workflow run) to the end.
"""

import uuid

from django.db import models
from django_celery_beat.models import PeriodicTask

from conductor.models import Job
from conductor.workflows.models import Workflow, WorkflowRun


class OverlapPolicy(models.TextChoices):
    SKIP = "skip"  # the previous run is still going: record this one skipped
    QUEUE = "queue"  # start after the previous one ends
    ALLOW = "allow"  # run side by side


class CatchupPolicy(models.TextChoices):
    NONE = "none"  # fire times missed while beat was down are recorded missed
    LATEST = "latest"  # run the latest missed one, record the others missed
    ALL = "all"  # run each missed one (at most catchup_max, the latest)


class Schedule(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Time-driven: a 5-field cron expression or an alias, in an IANA time zone.
    cron = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    # Event-driven instead: fires once per journal event of this type whose data
    # holds every key/value of ``event_filter``.
    event_type = models.CharField(max_length=64, blank=True)
    event_filter = models.JSONField(default=dict, blank=True)
    # The target: a job type and its payload (secret values sealed), or a workflow.
    job_type = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.PROTECT,
        related_name="schedules",
    )  # fmt: skip
    priority = models.CharField(max_length=16, blank=True)  # blank: the type's
    enabled = models.BooleanField(default=True)
    overlap_policy = models.CharField(
        max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP
    )
    catchup_policy = models.CharField(
        max_length=8, choices=CatchupPolicy.choices, default=CatchupPolicy.LATEST
    )
    catchup_max = models.PositiveIntegerField(default=10)
    jitter_s = models.PositiveIntegerField(
        default=0, help_text="Each run's job starts up to this many seconds late."
    )
    next_execution_at = models.DateTimeField(null=True, blank=True)
    last_execution_at = models.DateTimeField(null=True, blank=True)
    # Event-driven schedules see events from this instant on (creation, resume).
    armed_at = models.DateTimeField()
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="conductor_schedule",
    )  # fmt: skip
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("trigger_schedule", "Can trigger a schedule now"),
            ("pause_schedule", "Can pause and resume a schedule"),
        ]
        indexes = [
            models.Index(
                fields=["next_execution_at"],
                name="scheduling_time_driven",
                condition=models.Q(enabled=True) & ~models.Q(cron=""),
            ),
            models.Index(
                fields=["event_type"],
                name="scheduling_event_driven",
                condition=models.Q(enabled=True) & ~models.Q(event_type=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target(self) -> str:
        return f"workflow {self.workflow}" if self.workflow_id else self.job_type


class RunStatus(models.TextChoices):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"


class RunTrigger(models.TextChoices):
    CRON = "cron"  # a fire time of the cron expression
    EVENT = "event"  # a journal event
    MANUAL = "manual"  # POST …/trigger, or the admin's action


class ScheduleRun(models.Model):
    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="runs"
    )
    trigger = models.CharField(max_length=8, choices=RunTrigger.choices)
    scheduled_for = models.DateTimeField()
    event_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=RunStatus.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    execution_time_ms = models.PositiveBigIntegerField(null=True, blank=True)
    # Retention prunes old jobs; their runs stay, without the job.
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    workflow_run = models.ForeignKey(
        WorkflowRun, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    actor = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "scheduled_for"],
                condition=models.Q(trigger="cron"),
                name="scheduling_once_per_fire_time",
            ),
            models.UniqueConstraint(
                fields=["schedule", "event_id"],
                condition=models.Q(event_id__isnull=False),
                name="scheduling_once_per_event",
            ),
        ]
        indexes = [
            models.Index(
                fields=["schedule", "-scheduled_for"], name="scheduling_history"
            ),
            models.Index(
                fields=["status"],
                name="scheduling_runs_running",
                condition=models.Q(status="running"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S%z}"
