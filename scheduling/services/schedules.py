"""Making, changing, pausing and deleting schedules; each change journalled and its
PeriodicTask re-armed in the same transaction.

A schedule is validated as a whole and every problem named by its field: the cron
expression and time zone (``scheduling.cron``), exactly one of ``cron`` and
``event_type``, exactly one target (``job`` — a registered type and a payload valid
against its schema — or ``workflow``), the policies and their bounds.
"""

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from conductor import names, registry
from conductor.errors import Conflict, FieldError, ValidationFailed
from conductor.journal import catalogue
from conductor.journal.catalogue import (
    SCHEDULE_CREATED,
    SCHEDULE_DELETED,
    SCHEDULE_PAUSED,
    SCHEDULE_RESUMED,
    SCHEDULE_UPDATED,
)
from conductor.journal.writer import event_record
from conductor.models import Priority
from conductor.services.payloads import payload_errors, payload_sealed
from conductor.workflows.models import Workflow
from scheduling import cron, policies
from scheduling.models import CatchupPolicy, OverlapPolicy, Schedule
from scheduling.services.arming import periodic_task_arm, periodic_task_drop

#: Fields a caller may set (``job`` is ``{"type", "payload"}``; ``workflow`` a name).
FIELDS = (
    "name",
    "description",
    "cron",
    "timezone",
    "event_type",
    "event_filter",
    "job",
    "workflow",
    "priority",
    "enabled",
    "overlap_policy",
    "catchup_policy",
    "catchup_max",
    "jitter_s",
)


#: Names a schedule may not take: the API reads /schedules/<these> as other routes.
RESERVED_NAMES = frozenset({"preview"})


def _target_errors(data: dict[str, Any], errors: list[FieldError]) -> None:
    job, workflow = data.get("job"), data.get("workflow")
    if (job is None) == (workflow is None):
        errors.append(
            FieldError(
                "job",
                "give a job ({type, payload}) or a workflow, exactly one",
                "required",
            )
        )
        return
    if workflow is not None:
        if not Workflow.objects.filter(name=workflow).exists():
            errors.append(
                FieldError("workflow", f"no workflow named {workflow!r}", "not_found")
            )
        if data.get("overlap_policy") == OverlapPolicy.QUEUE:
            errors.append(
                FieldError(
                    "overlap_policy",
                    "queue needs a job target; use skip or allow for a workflow",
                    "invalid",
                )
            )
        return
    if not isinstance(job, dict) or not isinstance(job.get("type"), str):
        errors.append(FieldError("job.type", "this field is required", "required"))
        return
    try:
        registry.get(job["type"])
    except registry.UnknownJobType:
        errors.append(
            FieldError(
                "job.type", f"unknown job type {job['type']!r}", "unknown_job_type"
            )
        )
        return
    errors += payload_errors(job["type"], job.get("payload", {}), "job.payload")


def _trigger_errors(data: dict[str, Any], errors: list[FieldError]) -> None:
    expression, event_type = data.get("cron") or "", data.get("event_type") or ""
    if bool(expression) == bool(event_type):
        errors.append(
            FieldError(
                "cron",
                "give a cron expression or an event_type, exactly one",
                "required",
            )
        )
    try:
        cron.parse(expression or "@hourly", data.get("timezone") or "UTC")
    except ValidationFailed as exc:
        errors += [e for e in exc.errors if expression or e.field == "timezone"]
    if not event_type:
        if data.get("event_filter"):
            errors.append(
                FieldError("event_filter", "only with an event_type", "invalid")
            )
        return
    if not policies.triggerable(event_type):
        message = "schedules cannot fire on schedule events (they would loop)"
        errors.append(FieldError("event_type", message, "invalid"))
        return
    try:
        known = catalogue.get(event_type)
    except KeyError:
        errors.append(
            FieldError(
                "event_type",
                f"{event_type!r} is not an event type (docs/events.md lists them)",
                "invalid",
            )
        )
        return
    event_filter = data.get("event_filter") or {}
    if (
        not isinstance(event_filter, dict)
        or len(event_filter) > policies.FILTER_KEYS_MAX
    ):
        errors.append(
            FieldError(
                "event_filter",
                f"an object of at most {policies.FILTER_KEYS_MAX} fields",
                "invalid",
            )
        )
        return
    for key, value in event_filter.items():
        if key not in known.fields:
            errors.append(
                FieldError(
                    f"event_filter.{key}",
                    f"{event_type} events have no field {key!r}",
                    "invalid",
                )
            )
        elif not isinstance(value, str | int | float | bool) or value is None:
            errors.append(FieldError(f"event_filter.{key}", "a JSON scalar", "type"))


def _policy_errors(data: dict[str, Any], errors: list[FieldError]) -> None:
    choices = {
        "overlap_policy": [OverlapPolicy.SKIP, *OverlapPolicy.values],
        "catchup_policy": [CatchupPolicy.LATEST, *CatchupPolicy.values],
        "priority": ["", *Priority.labels],
    }
    for field, allowed in choices.items():
        if data.get(field, allowed[0]) not in allowed:
            errors.append(
                FieldError(
                    field,
                    f"one of {', '.join(a for a in allowed if a)}",
                    "invalid_choice",
                )
            )
    bounds = {
        "catchup_max": (1, policies.CATCHUP_MAX),
        "jitter_s": (0, policies.JITTER_MAX_S),
    }
    for field, (low, high) in bounds.items():
        value = data.get(field, low)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not low <= value <= high
        ):
            errors.append(
                FieldError(field, f"an integer from {low} to {high}", "range")
            )


def _validated(data: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    if not names.is_name(data.get("name")):
        errors.append(FieldError("name", names.RULE, "invalid"))
    elif data["name"] in RESERVED_NAMES:
        message = f"{data['name']!r} is reserved (/api/v2/schedules/{data['name']})"
        errors.append(FieldError("name", message, "reserved"))
    _trigger_errors(data, errors)
    _target_errors(data, errors)
    _policy_errors(data, errors)
    if errors:
        raise ValidationFailed(errors)


def _fields(schedule: Schedule) -> dict[str, Any]:
    """A schedule as the dict ``FIELDS`` describes (what an update starts from)."""
    job = {"type": schedule.job_type, "payload": schedule.payload}
    return {
        "name": schedule.name,
        "description": schedule.description,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "event_type": schedule.event_type,
        "event_filter": schedule.event_filter,
        "job": None if schedule.workflow_id else job,
        "workflow": schedule.workflow.name if schedule.workflow_id else None,
        "priority": schedule.priority,
        "enabled": schedule.enabled,
        "overlap_policy": schedule.overlap_policy,
        "catchup_policy": schedule.catchup_policy,
        "catchup_max": schedule.catchup_max,
        "jitter_s": schedule.jitter_s,
    }


def _apply(schedule: Schedule, data: dict[str, Any], now: datetime) -> None:
    job = data.get("job")
    schedule.name, schedule.description = data["name"], data.get("description") or ""
    schedule.cron, schedule.timezone = (
        data.get("cron") or "",
        data.get("timezone") or "UTC",
    )
    schedule.event_type = data.get("event_type") or ""
    schedule.event_filter = data.get("event_filter") or {}
    schedule.job_type = job["type"] if job else ""
    schedule.payload = (
        payload_sealed(job["type"], job.get("payload", {})) if job else {}
    )
    schedule.workflow = (
        Workflow.objects.get(name=data["workflow"]) if data.get("workflow") else None
    )
    schedule.priority = data.get("priority") or ""
    schedule.enabled = data.get("enabled", True)
    schedule.overlap_policy = data.get("overlap_policy", OverlapPolicy.SKIP)
    schedule.catchup_policy = data.get("catchup_policy", CatchupPolicy.LATEST)
    schedule.catchup_max = data.get("catchup_max", 10)
    schedule.jitter_s = data.get("jitter_s", 0)
    _rearm(schedule, now)


def _rearm(schedule: Schedule, now: datetime) -> None:
    """From now on: the next fire time after now (nothing before it is caught up)."""
    schedule.next_execution_at = (
        cron.parse(schedule.cron, schedule.timezone).after(now)
        if schedule.cron and schedule.enabled
        else None
    )


def _saved(schedule: Schedule) -> Schedule:
    try:
        with transaction.atomic():
            schedule.save()
    except IntegrityError:
        raise Conflict(f"a schedule named {schedule.name!r} exists already") from None
    periodic_task_arm(schedule)
    return schedule


@transaction.atomic
def schedule_create(*, data: dict[str, Any], actor: str, now: datetime) -> Schedule:
    data = {key: data[key] for key in FIELDS if key in data}
    _validated(data)
    schedule = Schedule(created_by=actor, armed_at=now)
    _apply(schedule, data, now)
    _saved(schedule)
    event_record(
        type=SCHEDULE_CREATED,
        subject=schedule,
        actor=actor,
        at=now,
        data={
            "name": schedule.name,
            "target": schedule.target,
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "event_type": schedule.event_type,
        },
    )
    return schedule


@transaction.atomic
def schedule_update(
    *, schedule: Schedule, data: dict[str, Any], actor: str, now: datetime
) -> Schedule:
    """Change some fields; the whole schedule is validated again. A change of when
    it fires counts from now."""
    schedule = Schedule.objects.select_for_update().get(id=schedule.id)
    before = _fields(schedule)
    if "job" in data:  # a new target replaces the other kind
        before["workflow"] = None
    if "workflow" in data:
        before["job"] = None
    if data.get("cron"):
        before["event_type"], before["event_filter"] = "", {}
    if data.get("event_type"):
        before["cron"] = ""
    merged = {**before, **{key: data[key] for key in FIELDS if key in data}}
    _validated(merged)
    changed = sorted(key for key in merged if merged[key] != _fields(schedule)[key])
    timing = {"cron", "timezone", "enabled", "event_type", "event_filter"}
    next_before = schedule.next_execution_at
    _apply(schedule, merged, now)
    if not timing & set(changed):
        schedule.next_execution_at = next_before
    if {"enabled", "event_type", "event_filter"} & set(changed):
        schedule.armed_at = now
    _saved(schedule)
    event_record(
        type=SCHEDULE_UPDATED,
        subject=schedule,
        actor=actor,
        at=now,
        data={"name": schedule.name, "changed": changed},
    )
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule, actor: str, now: datetime) -> None:
    schedule = Schedule.objects.select_for_update().get(id=schedule.id)
    event_record(
        type=SCHEDULE_DELETED,
        subject=schedule,
        actor=actor,
        at=now,
        data={"name": schedule.name},
    )
    periodic_task_drop(schedule)
    schedule.delete()


@transaction.atomic
def schedule_pause(*, schedule: Schedule, actor: str, now: datetime) -> Schedule:
    schedule = Schedule.objects.select_for_update().get(id=schedule.id)
    if schedule.enabled:
        schedule.enabled, schedule.next_execution_at = False, None
        schedule.save(update_fields=["enabled", "next_execution_at", "updated_at"])
        periodic_task_arm(schedule)
        event_record(
            type=SCHEDULE_PAUSED,
            subject=schedule,
            actor=actor,
            at=now,
            data={"name": schedule.name},
        )
    return schedule


@transaction.atomic
def schedule_resume(*, schedule: Schedule, actor: str, now: datetime) -> Schedule:
    schedule = Schedule.objects.select_for_update().get(id=schedule.id)
    if not schedule.enabled:
        schedule.enabled, schedule.armed_at = True, now
        _rearm(schedule, now)
        schedule.save(
            update_fields=["enabled", "armed_at", "next_execution_at", "updated_at"]
        )
        periodic_task_arm(schedule)
        when = schedule.next_execution_at
        event_record(
            type=SCHEDULE_RESUMED,
            subject=schedule,
            actor=actor,
            at=now,
            data={
                "name": schedule.name,
                "next_execution_at": when.isoformat() if when else None,
            },
        )
    return schedule
