"""Turning submit requests into job rows: every field validated, every problem named.

A submit is validated as a whole (every bad field of every job is named, prefixed
with ``jobs[i].`` in bulk); what validation needs from the database is read once for
the whole submit (``SubmitContext``). The rows are plain dicts: 10,000 model
instances cost more than their insert.
"""

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from conductor import jsonvalue, registry, secrets
from conductor.errors import FieldError, PayloadTooLarge, ValidationFailed
from conductor.models import Job, JobType, Priority
from conductor.services.job_types import job_type_ensure
from conductor.states import JobState
from recovery import backoff

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
    # Internal: who asks, when one submit carries the requests of several (the
    # schedules fired together); empty: the submit's actor.
    actor: str = ""


@dataclass
class SubmitContext:
    """What validation needs from the database, read once for the whole submit."""

    types: dict[str, JobType]
    parents: dict[str, Job]
    dependencies: dict[str, str]  # id -> state
    existing: dict[str, Job]  # idempotency key -> job
    named_policies: Mapping[str, Mapping[str, Any]] | None = None
    own: frozenset[str] = frozenset()  # ids chosen by this submit (workflow nodes)

    @classmethod
    def load(cls, requests: Sequence[JobRequest]) -> "SubmitContext":
        names = {r.type for r in requests}
        types = {t.name: t for t in JobType.objects.filter(name__in=names)}
        parents = _by_id({r.parent for r in requests if r.parent})
        dep_ids = {d for r in requests for d in r.depends_on}
        deps = {str(j.id): j.state for j in _by_id(dep_ids).values()}
        # Jobs made by this same submit are not final yet: a dependent waits for them.
        own = frozenset(str(r.id) for r in requests if r.id)
        deps.update(dict.fromkeys(own, JobState.PENDING))
        context = cls(types, parents, deps, {}, own=own)
        context.refresh_keys(requests)
        return context

    def lock_dependencies(self) -> None:
        """Inside the write transaction: lock the existing jobs depended on and read
        their states again.

        Read before the transaction, a state may be stale: a dependency that a worker
        is finishing right now would look ``running``, and the new job would wait
        forever for a completion that did not know of it. Locked in id order (as the
        engine's completion locks its rows), a finishing dependency is either done
        before this read, or its completion waits for this submit to commit and then
        sees the new dependent.
        """
        ids = sorted(set(self.dependencies) - self.own)
        if not ids:
            return
        rows = Job.objects.select_for_update().filter(id__in=ids).order_by("id")
        self.dependencies.update(
            {str(job_id): state for job_id, state in rows.values_list("id", "state")}
        )

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


def rows_build(requests, context, now, actor, trace_id, bulk, errors) -> list[dict]:
    """A row per request (``None``: one the caller could not read), or
    ``ValidationFailed`` naming every problem, the caller's ``errors`` included."""
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


def _build(request: JobRequest, context: SubmitContext, now, actor, trace_id) -> dict:
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
    if not spec.has_secrets:
        errors.extend(registry.validate(spec, upgraded))
        return upgraded, version
    # Secrets: a resubmitted payload arrives sealed; judge the plain values, keep them
    # sealed (conductor.secrets).
    try:
        plain = secrets.reveal(upgraded, spec.schema)
    except secrets.SecretUnreadable as exc:
        errors.append(FieldError("payload", str(exc), "secret_unreadable"))
        return upgraded, version
    errors.extend(registry.validate(spec, plain))
    return secrets.seal(plain, spec.schema), version


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


def _parent(request: JobRequest, context: SubmitContext, errors) -> Job | None:
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


def _check_dependencies(request: JobRequest, context: SubmitContext, errors) -> None:
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
