"""Submitting jobs, one or ten thousand at a time; ringing the doorbell after commit.

A submit is validated as a whole (every bad field of every job is named, prefixed
with ``jobs[i].`` in bulk), then written with bulk inserts in one transaction together
with its dependency rows and ``job.submitted`` events. An idempotency key that was
used before returns the job it made, never a second one.
"""

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conductor import doorbell, jsonvalue, readiness, registry
from conductor.errors import FieldError, PayloadTooLarge, ValidationFailed
from conductor.journal.catalogue import JOB_SUBMITTED
from conductor.journal.writer import NewEvent
from conductor.models import Job, JobDependency, JobType, Priority
from conductor.services import transitions
from conductor.services.job_types import job_type_ensure
from conductor.states import JobState
from recovery import backoff

log = logging.getLogger(__name__)

MAX_DEPENDENCIES = 1000


@dataclass(frozen=True)
class JobRequest:
    """What a caller asks for; the API's submit body, already typed."""

    type: str
    payload: Any
    priority: str | None = None
    idempotency_key: str | None = None
    run_at: datetime | None = None
    max_retries: int | None = None
    depends_on: Sequence[str] = ()
    dependency_mode: str = "all"
    on_dependency_failure: str = "abort"
    parent: str | None = None
    timeout_s: int | None = None
    retry_policy: Any = None  # a policy's name, or {fields…, "name"?: base policy}
    breaker: str | None = None  # overrides the job type's breaker
    # Internal (workflows): a chosen id, so jobs of one submit can depend on each other,
    # the run the job belongs to and its node.
    id: uuid.UUID | None = None
    workflow_run_id: uuid.UUID | None = None
    workflow_node: str = ""


def job_submit(
    *,
    request: JobRequest,
    actor: str = "",
    trace_id: str = "",
    named_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Job, bool]:
    """Create a job (or return the one already made with this idempotency key)."""
    results = jobs_submit(
        requests=[request],
        actor=actor,
        trace_id=trace_id,
        bulk=False,
        named_policies=named_policies,
    )
    return results[0]


def jobs_submit(
    *,
    requests: Sequence[JobRequest | None],
    actor: str = "",
    trace_id: str = "",
    bulk: bool = True,
    errors: Sequence[FieldError] = (),
    materialize: bool = True,
    named_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[tuple[Job | str, bool]]:
    """Create many jobs in one transaction; ``(job, created)`` per request, in order.

    ``errors`` are problems the caller found already (a request it could not read is
    ``None``): they are reported together with this function's own, in one answer.
    With ``materialize=False`` new jobs come back as their ids only (bulk answers need
    no more, and 10,000 model instances cost more than the insert).

    ``named_policies``: the fields of every named retry policy a request refers to
    (``retry_policy: "name"`` or ``{"name": …}``), as the caller read them
    (``recovery.selectors.retry_policies_named``); a name not among them is refused.
    """
    now = timezone.now()
    context = _Context.load([r for r in requests if r is not None])
    context.named_policies = named_policies
    jobs = _build_all(requests, context, now, actor, trace_id, bulk, list(errors))
    for _attempt in range(3):
        try:
            with transaction.atomic():
                results = _write(requests, jobs, context, now, actor, trace_id)
            return [(_as(job, materialize), new) for job, new in results]
        except IntegrityError:
            # Another submit took one of our idempotency keys meanwhile: look again.
            context.refresh_keys(requests)
    raise IntegrityError("could not write the jobs after three tries")


@dataclass
class _Context:
    """What validation needs from the database, read once for the whole submit."""

    types: dict[str, JobType]
    parents: dict[str, Job]
    dependencies: dict[str, str]  # id -> state
    existing: dict[str, Job]  # idempotency key -> job
    named_policies: Mapping[str, Mapping[str, Any]] | None = None

    @classmethod
    def load(cls, requests: Sequence[JobRequest]) -> "_Context":
        names = {r.type for r in requests}
        types = {t.name: t for t in JobType.objects.filter(name__in=names)}
        parents = _by_id({r.parent for r in requests if r.parent})
        dep_ids = {d for r in requests for d in r.depends_on}
        deps = {str(j.id): j.state for j in _by_id(dep_ids).values()}
        # Jobs made by this same submit are not final yet: a dependent waits for them.
        deps.update({str(r.id): JobState.PENDING for r in requests if r.id})
        context = cls(types, parents, deps, {})
        context.refresh_keys(requests)
        return context

    def refresh_keys(self, requests: Sequence[JobRequest]) -> None:
        keys = {r.idempotency_key for r in requests if r.idempotency_key}
        found = Job.objects.filter(idempotency_key__in=keys) if keys else []
        self.existing = {job.idempotency_key: job for job in found}

    def job_type(self, name: str) -> JobType:
        if name not in self.types:
            self.types[name] = job_type_ensure(name=name)
        return self.types[name]


def _by_id(ids: set) -> dict[str, Job]:
    valid = [i for i in ids if _is_uuid(i)]
    return {str(j.id): j for j in Job.objects.filter(id__in=valid)} if valid else {}


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _build_all(requests, context, now, actor, trace_id, bulk, errors) -> list[dict]:
    jobs = []
    for index, request in enumerate(requests):
        if request is None:
            continue
        prefix = f"jobs[{index}]." if bulk else ""
        try:
            jobs.append(_build(request, context, now, actor, trace_id))
        except PayloadTooLarge as exc:
            if not bulk:
                raise
            errors += [
                FieldError(prefix + e.field, e.message, e.code) for e in exc.errors
            ]
        except ValidationFailed as exc:
            errors += [
                FieldError(prefix + e.field, e.message, e.code) for e in exc.errors
            ]
    if errors:
        raise ValidationFailed(sorted(errors, key=_error_order))
    return jobs


def _error_order(error: FieldError) -> tuple[int, str]:
    head = error.field.partition("]")[0].removeprefix("jobs[")
    return (int(head) if head.isdigit() else -1, error.field)


def _build(request: JobRequest, context: _Context, now, actor, trace_id) -> dict:
    """The new job's columns (a plain dict: 10,000 model instances cost too much)."""
    errors: list[FieldError] = []
    try:
        spec = registry.get(request.type)
    except registry.UnknownJobType:
        known = ", ".join(s.name for s in registry.all_specs())
        raise ValidationFailed(
            [
                FieldError(
                    "type",
                    f"unknown job type {request.type!r}; known: {known}",
                    "unknown_type",
                )
            ]
        ) from None
    payload, version = _payload(spec, request.payload, errors)
    policy_max_retries = _check_retry_policy(
        request.retry_policy, errors, context.named_policies
    )
    parent = _parent(request, context, errors)
    priority = _priority(request, spec, parent, errors)
    _check_bounds(request, errors)
    _check_dependencies(request, context, errors)
    if errors:
        raise ValidationFailed(errors)
    job_type = context.job_type(spec.name)
    timeout_s = request.timeout_s or job_type.effective_timeout_s
    return dict(
        id=request.id or uuid.uuid4(),
        workflow_run_id=request.workflow_run_id,
        workflow_node=request.workflow_node,
        has_dependents=request.workflow_run_id is not None,
        job_type_id=job_type.name,
        payload=payload,
        payload_version=version,
        state=JobState.PENDING,
        priority=priority,
        base_priority=priority,
        queue=job_type.queue,
        run_at=max(request.run_at, now) if request.run_at else now,
        max_retries=_first(
            request.max_retries, policy_max_retries, job_type.effective_max_retries
        ),
        retry_policy=request.retry_policy or None,
        timeout_s=min(timeout_s, job_type.max_timeout_s),
        breaker=request.breaker or job_type.breaker,
        idempotency_key=request.idempotency_key or None,
        dependency_mode=request.dependency_mode,
        on_dependency_failure=request.on_dependency_failure,
        parent_id=parent.id if parent else None,
        trace_id=trace_id,
        created_by=actor,
        created_at=now,
        updated_at=now,
        error=None,
        finished_at=None,
    )


def _payload(spec, payload: Any, errors: list[FieldError]) -> tuple[Any, int]:
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    limit = settings.CONDUCTOR_JOBS_PAYLOAD_MAX_BYTES
    if size > limit:
        raise PayloadTooLarge(
            f"payload is {size} bytes; the limit is {limit}",
            errors=[FieldError("payload", f"larger than {limit} bytes", "too_large")],
        )
    found = jsonvalue.problems(payload, path="payload")
    if found:
        raise ValidationFailed(found)
    if not isinstance(payload, dict):
        errors.append(FieldError("payload", "must be a JSON object", "type"))
        return payload, spec.version
    upgraded, version = registry.upgrade(spec, payload)
    if version != spec.version:
        errors.append(
            FieldError(
                "payload.version",
                f"version {payload.get('version')!r} is not supported; "
                f"current is {spec.version}",
                "unsupported_version",
            )
        )
        return upgraded, spec.version
    errors.extend(registry.validate(spec, upgraded))
    return upgraded, version


def _first(*values):
    return next(v for v in values if v is not None)


def _check_retry_policy(
    value: Any, errors: list[FieldError], named: Mapping[str, Mapping] | None
) -> int | None:
    """Validate a job's own policy; the max_retries it sets, if any."""
    if value is None:
        return None
    fields = {"name": value} if isinstance(value, str) else value
    if not isinstance(fields, dict):
        errors.append(FieldError("retry_policy", "a policy name or object", "type"))
        return None
    fields = dict(fields)
    name = fields.pop("name", None)
    base = backoff.Policy()
    if name is not None:
        if named is None:
            raise TypeError("a request names a retry policy: pass named_policies")
        found = named.get(name) if isinstance(name, str) else None
        if found is None:
            message = f"no retry policy named {name!r}"
            errors.append(FieldError("retry_policy.name", message, "unknown"))
            return None
        base = backoff.Policy.from_dict(
            found, max_retries_cap=backoff.MAX_RETRIES_HARD_CAP
        )
    try:
        policy = backoff.merged(base, fields, prefix="retry_policy")
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        return None
    return policy.max_retries if "max_retries" in fields or name else None


def _parent(request: JobRequest, context: _Context, errors) -> Job | None:
    if request.parent is None:
        return None
    parent = context.parents.get(str(request.parent))
    if parent is None:
        errors.append(
            FieldError("parent", f"no job with id {request.parent}", "unknown")
        )
    return parent


def _priority(request: JobRequest, spec, parent: Job | None, errors) -> int:
    """Asked for > the parent's (inherited) > the type's default."""
    if request.priority is None and parent is not None:
        return parent.base_priority
    label = request.priority or spec.priority
    try:
        return Priority.from_label(label)
    except KeyError:
        choices = ", ".join(p.label for p in Priority)
        errors.append(
            FieldError("priority", f"must be one of {choices}", "invalid_choice")
        )
        return Priority.NORMAL


def _check_bounds(request: JobRequest, errors: list[FieldError]) -> None:
    retries = request.max_retries
    if retries is not None and not 0 <= retries <= backoff.MAX_RETRIES_DEFAULT_CAP:
        errors.append(
            FieldError(
                "max_retries",
                f"must be between 0 and {backoff.MAX_RETRIES_DEFAULT_CAP}",
                "out_of_range",
            )
        )
    if request.timeout_s is not None and request.timeout_s < 1:
        errors.append(FieldError("timeout_s", "must be at least 1", "out_of_range"))


def _check_dependencies(request: JobRequest, context: _Context, errors) -> None:
    if len(request.depends_on) > MAX_DEPENDENCIES:
        errors.append(
            FieldError(
                "depends_on", f"at most {MAX_DEPENDENCIES} dependencies", "too_many"
            )
        )
        return
    for index, dep in enumerate(request.depends_on):
        if str(dep) not in context.dependencies:
            errors.append(
                FieldError(
                    f"depends_on[{index}]", f"no job with id {dep}", "unknown_job"
                )
            )


def _as(job: Job | dict, materialize: bool) -> Job | str:
    if isinstance(job, Job):
        return job if materialize else str(job.id)
    return _model(job) if materialize else str(job["id"])


def _model(row: dict) -> Job:
    job = Job(**row)
    job._state.adding = False
    job._state.db = "default"
    return job


def _write(requests, rows, context: _Context, now, actor, trace_id) -> list:
    results, new, seen = [], [], {}
    for request, row in zip([r for r in requests if r], rows, strict=True):
        key = request.idempotency_key
        first = context.existing.get(key) or seen.get(key) if key else None
        if first is not None:
            results.append((first, False))
            continue
        _initial_state(row, request, context)
        new.append(row)
        results.append((row, True))
        if key:
            seen[key] = row
    transitions.jobs_create(
        rows=new,
        events=[_submitted(row, actor) for row in new],
        now=now,
        actor=actor,
        trace_id=trace_id,
    )
    _write_dependencies(new, requests, rows)
    due = {
        r["queue"] for r in new if r["state"] == JobState.PENDING and r["run_at"] <= now
    }
    for queue in due:
        doorbell.ring(queue)
    return results


def _initial_state(row: dict, request: JobRequest, context: _Context) -> None:
    if not request.depends_on:
        return
    states = {str(d): context.dependencies[str(d)] for d in request.depends_on}
    decision = readiness.decide(
        mode=request.dependency_mode,
        on_failure=request.on_dependency_failure,
        states=states,
        retries_used=0,
    )
    if isinstance(decision, readiness.Abort):
        row["state"] = JobState.FAILED
        row["finished_at"] = row["created_at"]
        failed = ", ".join(decision.failed)
        row["error"] = {
            "code": "DEPENDENCY_FAILED",
            "message": f"dependencies ended without success: {failed}",
        }
    elif not isinstance(decision, readiness.Ready):
        row["state"] = JobState.WAITING


def _write_dependencies(new: list[dict], requests, rows) -> None:
    made = {row["id"] for row in new}
    wanted = [
        JobDependency(job_id=row["id"], depends_on_id=dep)
        for request, row in zip([r for r in requests if r], rows, strict=True)
        if row["id"] in made
        for dep in dict.fromkeys(str(d) for d in request.depends_on)
    ]
    if not wanted:
        return
    JobDependency.objects.bulk_create(wanted, batch_size=2000)
    targets = {str(dep.depends_on_id) for dep in wanted}
    Job.objects.filter(id__in=targets, has_dependents=False).update(has_dependents=True)
    # A new job whose rule is ``retry`` may wait on dependencies that already failed:
    # their retry is the engine's to carry out (a dead one leaves the DLQ).
    doorbell.ring_waiting(
        [
            row["id"]
            for row in new
            if row["state"] == JobState.WAITING
            and row["on_dependency_failure"] == "retry"
        ]
    )


def _submitted(row: dict, actor: str) -> NewEvent:
    data = {
        "type": row["job_type_id"],
        "priority": Priority(row["priority"]).label,
        "queue": row["queue"],
        "state": row["state"],
        "run_at": row["run_at"].isoformat(),
    }
    return NewEvent(JOB_SUBMITTED, str(row["id"]), data, actor, row["trace_id"])
