"""Recovery data: named retry policies, error rules, circuit breakers, dead letters.

Decisions live in pure modules (``backoff``, ``classify``, ``breaker``); these rows hold
what operators configure and what happened.
"""

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from conductor.models import Job
from recovery import backoff, breaker

STRATEGY_CHOICES = [(name, name.title()) for name in backoff.STRATEGIES]


class RetryPolicy(models.Model):
    """A named retry policy; job types and jobs refer to it by name (SPEC §3)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    max_retries = models.PositiveIntegerField(default=3)
    initial_delay_ms = models.PositiveIntegerField(default=1000)
    max_delay_ms = models.PositiveIntegerField(default=300_000)
    strategy = models.CharField(
        max_length=16,
        choices=STRATEGY_CHOICES,
        default="exponential",
    )
    backoff_multiplier = models.FloatField(default=2.0)
    jitter = models.FloatField(default=0.1)
    delays_ms = models.JSONField(default=list, blank=True)
    retryable_errors = models.JSONField(default=list, blank=True)
    non_retryable_errors = models.JSONField(default=list, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    POLICY_FIELDS = backoff.FIELDS

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "retry policies"

    def __str__(self) -> str:
        return self.name

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.POLICY_FIELDS}


class ErrorRule(models.Model):
    """An operator's rule: errors matching it are (not) retried. Read at every
    decision, so edits apply without a restart."""

    class Match(models.TextChoices):
        CODE = "code"
        EXCEPTION = "exception"

    match = models.CharField(max_length=16, choices=Match.choices, default=Match.CODE)
    pattern = models.CharField(
        max_length=200, help_text="exact code or class name; a trailing * matches more"
    )
    retryable = models.BooleanField()
    order = models.IntegerField(default=0, help_text="lower first")
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["match", "pattern"], name="recovery_errorrule_unique_pattern"
            )
        ]

    def __str__(self) -> str:
        verdict = "retry" if self.retryable else "do not retry"
        return f"{self.match} {self.pattern}: {verdict}"


class CircuitBreaker(models.Model):
    """One row per service; its state changes only through ``recovery.services``."""

    class State(models.TextChoices):
        CLOSED = "closed"
        OPEN = "open"
        HALF_OPEN = "half_open"

    service_name = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLOSED)
    failure_threshold = models.PositiveIntegerField(default=5)
    success_threshold = models.PositiveIntegerField(default=1)
    timeout_ms = models.PositiveIntegerField(default=30_000)
    monitoring_window_ms = models.PositiveIntegerField(default=60_000)
    failures = models.JSONField(default=list, blank=True, help_text="recent failures")
    opened_at = models.DateTimeField(null=True, blank=True)
    successes = models.PositiveIntegerField(default=0)
    trial_job = models.CharField(max_length=64, blank=True)
    trial_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service_name"]
        permissions = [("operate_circuitbreaker", "Can reset or force open breakers")]

    def __str__(self) -> str:
        return f"{self.service_name} ({self.state})"

    def as_state(self) -> breaker.BreakerState:
        """The row as the pure module's state value."""
        failures = tuple(sorted(parse_datetime(t) for t in self.failures))
        return breaker.BreakerState(
            status=self.state,
            failures=failures,
            opened_at=self.opened_at,
            successes=self.successes,
            trial_job=self.trial_job or None,
            trial_until=self.trial_until,
        )

    def policy(self) -> breaker.BreakerPolicy:
        return breaker.BreakerPolicy(
            failure_threshold=self.failure_threshold,
            success_threshold=self.success_threshold,
            timeout_ms=self.timeout_ms,
            monitoring_window_ms=self.monitoring_window_ms,
        )

    def open_until(self) -> datetime | None:
        """When an open breaker may half-open (None unless open)."""
        return breaker.open_until(self.as_state(), policy=self.policy())


class BreakerTransition(models.Model):
    breaker = models.ForeignKey(
        CircuitBreaker, on_delete=models.CASCADE, related_name="transitions"
    )
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["breaker", "-created_at"], name="recovery_transition_breaker"
            )
        ]

    def __str__(self) -> str:
        return f"{self.breaker_id}: {self.from_state} → {self.to_state}"


class DeadLetter(models.Model):
    """A job that could not succeed: what it was, why it failed, what was done."""

    class Resolution(models.TextChoices):
        RESUBMITTED = "resubmitted"
        RESOLVED = "resolved"
        DISCARDED = "discarded"

    # A job retried after it died can die again: one entry per death.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="dead_letters")
    job_type = models.CharField(max_length=100)
    snapshot = models.JSONField(help_text="the job definition when it died")
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    attempts = models.JSONField(default=list)
    retry_count = models.PositiveIntegerField(default=0)
    signature = models.CharField(max_length=64)
    signature_text = models.CharField(max_length=500)
    added_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    notes = models.TextField(blank=True)
    actor = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        permissions = [
            ("resubmit_deadletter", "Can resubmit dead letters"),
            ("resolve_deadletter", "Can resolve and discard dead letters"),
        ]
        indexes = [
            models.Index(
                fields=["signature", "-added_at"], name="recovery_dlq_signature"
            ),
            models.Index(
                fields=["-added_at"],
                condition=Q(resolved_at__isnull=True),
                name="recovery_dlq_open",
            ),
            models.Index(
                fields=["resolved_at"],
                condition=Q(resolved_at__isnull=False),
                name="recovery_dlq_resolved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_type} {self.error_code} ({self.resolution or 'open'})"


class Resubmission(models.Model):
    """The audit record of a resubmit: what was sent again, by whom, and why."""

    dead_letter = models.ForeignKey(
        DeadLetter, on_delete=models.CASCADE, related_name="resubmissions"
    )
    original_payload = models.JSONField()
    modified_payload = models.JSONField(null=True, blank=True)
    reason = models.TextField()
    actor = models.CharField(max_length=150)
    new_job = models.ForeignKey(
        Job, null=True, on_delete=models.SET_NULL, related_name="resubmitted_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"resubmit of {self.dead_letter_id} by {self.actor}"
