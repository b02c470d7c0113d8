"""Workflow data: named definitions and their runs.

Defined here, in the workflows' home, and registered with the core app through
``conductor.models`` (the app label stays ``conductor``: the tables did not move).
A run's nodes are jobs (``Job.workflow_run``, ``Job.workflow_node``).
"""

import uuid

from django.db import models


class Workflow(models.Model):
    """A named, validated DAG of job nodes (see ``conductor.workflows.dag``)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    definition = models.JSONField()
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkflowRun(models.Model):
    class State(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    definition = models.JSONField(
        help_text="The definition as it was when the run began."
    )
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.RUNNING
    )
    created_by = models.CharField(max_length=150, blank=True)
    trace_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.id} of {self.workflow_id} ({self.state})"
