"""Writing jobs: submit, and ring the doorbell after commit."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conductor import jsonvalue, registry
from conductor.errors import PayloadTooLarge, ValidationFailed
from conductor.models import Job, JobType, Priority
from conductor.registry import FieldError
from conductor.services.events import event_record
from conductor.services.job_types import job_type_ensure
from conductor.states import JobState

log = logging.getLogger(__name__)

MAX_RETRIES_BOUND = 10


@dataclass(frozen=True)
class JobRequest:
    """What a caller asks for; the API's submit body, already typed."""

    type: str
    payload: Any
    priority: str | None = None
    idempotency_key: str | None = None
    run_at: datetime | None = None
    max_retries: int | None = None


def doorbell_ring(queue: str) -> None:
    """After the current transaction commits, tell a worker that ``queue`` has work.

    A lost doorbell loses nothing: the sweeper finds due jobs from the table.
    """
    transaction.on_commit(lambda: _ring_now(queue))


def _ring_now(queue: str) -> None:
    from conductor.tasks import jobs_wake

    try:
        jobs_wake.apply_async(args=[queue], retry=False)
    except Exception:
        log.warning("doorbell for queue %s not sent; the sweeper will find it", queue)


def job_submit(
    *, request: JobRequest, actor: str = "", trace_id: str = ""
) -> tuple[Job, bool]:
    """Create a job (or return the one already made with this idempotency key).

    Returns ``(job, created)``. Raises ``ValidationFailed`` naming every bad field.
    """
    now = timezone.now()
    _job_type, job = _build(request, now=now, actor=actor, trace_id=trace_id)
    with transaction.atomic():
        if request.idempotency_key:
            existing = Job.objects.filter(
                idempotency_key=request.idempotency_key
            ).first()
            if existing is not None:
                return existing, False
        try:
            with transaction.atomic():
                job.save(force_insert=True)
        except IntegrityError:
            existing = Job.objects.filter(
                idempotency_key=request.idempotency_key
            ).first()
            if existing is None:
                raise
            return existing, False
        event_record(
            type="job.submitted",
            subject=job,
            data={
                "type": job.job_type_id,
                "priority": Priority(job.priority).label,
                "queue": job.queue,
                "run_at": job.run_at.isoformat(),
            },
            actor=actor,
            trace_id=trace_id,
            at=now,
        )
        doorbell_ring(job.queue)
    return job, True


def _build(
    request: JobRequest, *, now: datetime, actor: str, trace_id: str
) -> tuple[JobType, Job]:
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
    priority = _priority(request.priority or spec.priority, errors)
    max_retries = request.max_retries
    if max_retries is not None and not 0 <= max_retries <= MAX_RETRIES_BOUND:
        errors.append(
            FieldError(
                "max_retries",
                f"must be between 0 and {MAX_RETRIES_BOUND}",
                "out_of_range",
            )
        )
    if errors:
        raise ValidationFailed(errors)
    job_type = job_type_ensure(name=spec.name)
    timeout_s = min(job_type.effective_timeout_s, job_type.max_timeout_s)
    return job_type, Job(
        job_type=job_type,
        payload=payload,
        payload_version=version,
        state=JobState.PENDING,
        priority=priority,
        queue=job_type.queue,
        run_at=max(request.run_at, now) if request.run_at else now,
        max_retries=job_type.effective_max_retries
        if max_retries is None
        else max_retries,
        timeout_s=timeout_s,
        breaker=job_type.breaker,
        idempotency_key=request.idempotency_key or None,
        trace_id=trace_id,
        created_by=actor,
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


def _priority(label: str, errors: list[FieldError]) -> int:
    try:
        return Priority.from_label(label)
    except KeyError:
        choices = ", ".join(p.label for p in Priority)
        errors.append(
            FieldError("priority", f"must be one of {choices}", "invalid_choice")
        )
        return Priority.NORMAL
