"""Reading workflows and their runs."""

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from conductor import secrets
from conductor.errors import NotFound
from conductor.models import Job
from conductor.workflows.models import Workflow, WorkflowRun


def workflow_list() -> QuerySet[Workflow]:
    return Workflow.objects.order_by("name")


def definition_shown(definition: dict) -> dict:
    """A stored definition as people see it: its payloads' secret values masked."""

    def shown(item: dict) -> dict:
        if "payload" not in item:
            return item
        return {**item, "payload": secrets.shown(item["payload"], item["type"])}

    nodes = []
    for node in definition.get("nodes", []):
        node = shown(node)
        if isinstance(node.get("compensate"), dict):
            node = {**node, "compensate": shown(node["compensate"])}
        nodes.append(node)
    return {**definition, "nodes": nodes}


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
