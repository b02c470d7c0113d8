"""Reading workflows and their runs."""

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from conductor.errors import NotFound
from conductor.models import Job
from conductor.workflows.models import Workflow, WorkflowRun


def workflow_list() -> QuerySet[Workflow]:
    return Workflow.objects.order_by("name")


def workflow_get(*, name: str) -> Workflow:
    try:
        return Workflow.objects.get(name=name)
    except Workflow.DoesNotExist:
        raise NotFound(f"no workflow named {name!r}") from None


def workflow_run_get(*, id: str | UUID) -> WorkflowRun:
    try:
        return WorkflowRun.objects.select_related("workflow").get(id=id)
    except (WorkflowRun.DoesNotExist, ValidationError, ValueError):
        raise NotFound(f"no workflow run with id {id}") from None


def workflow_run_jobs(*, run: WorkflowRun) -> QuerySet[Job]:
    return run.jobs.order_by("created_at")
