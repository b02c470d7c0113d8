"""Writing job types: copy the code registry into the ``JobType`` table."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from conductor import registry
from conductor.journal.catalogue import (
    JOB_TYPE_REGISTERED,
    JOB_TYPE_UNREGISTERED,
    JOB_TYPE_UPDATED,
)
from conductor.journal.writer import event_record
from conductor.models import JobType, Priority


@dataclass(frozen=True)
class SyncReport:
    created: list[str]
    updated: list[str]
    unregistered: list[str]


def _registered_fields(spec: registry.JobTypeSpec) -> dict:
    return {
        "description": spec.description,
        "schema": dict(spec.schema),
        "schema_version": spec.version,
        "sample_payload": dict(spec.sample_payload),
        "queue": spec.queue,
        "default_priority": Priority.from_label(spec.priority),
        "timeout_s": spec.timeout_s or settings.CONDUCTOR_JOBS_DEFAULT_TIMEOUT_S,
        "max_timeout_s": spec.max_timeout_s,
        "max_retries": (
            settings.CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES
            if spec.max_retries is None
            else spec.max_retries
        ),
        "retry_policy": dict(spec.retry_policy) if spec.retry_policy else None,
        "breaker": spec.breaker,
        "max_concurrency": spec.max_concurrency,
        "registered": True,
    }


@transaction.atomic
def job_type_sync(*, actor: str = "system") -> SyncReport:
    """Make the table match the registry. Operator overrides (``override_*``) stay."""
    created, updated = [], []
    for spec in registry.all_specs():
        row, was_created = JobType.objects.update_or_create(
            name=spec.name, defaults=_registered_fields(spec)
        )
        (created if was_created else updated).append(spec.name)
        if was_created:
            event_record(
                type=JOB_TYPE_REGISTERED,
                subject=row,
                data={"name": spec.name},
                actor=actor,
            )
    names = [spec.name for spec in registry.all_specs()]
    gone = JobType.objects.exclude(name__in=names).filter(registered=True)
    unregistered = list(gone.values_list("name", flat=True))
    gone.update(registered=False)
    for name in unregistered:
        event_record(
            type=JOB_TYPE_UNREGISTERED,
            subject=("jobtype", name),
            data={"name": name},
            actor=actor,
        )
    return SyncReport(created, updated, unregistered)


def job_type_ensure(*, name: str) -> JobType:
    """The row of a registered type, created from the registry if it is missing."""
    row = JobType.objects.filter(name=name).first()
    if row is not None:
        return row
    spec = registry.get(name)
    with transaction.atomic():
        row, created = JobType.objects.get_or_create(
            name=name, defaults=_registered_fields(spec)
        )
        if created:
            event_record(
                type=JOB_TYPE_REGISTERED,
                subject=row,
                data={"name": name},
                actor="system",
            )
    return row


OPERATOR_FIELDS = (
    "override_max_retries",
    "override_timeout_s",
    "paused",
    "retry_policy_name",
    "override_retry_policy",
)


@transaction.atomic
def job_type_update(*, job_type: JobType, changes: dict, actor: str) -> JobType:
    """Apply an operator's overrides (admin) and journal what changed."""
    changed = {
        k: v
        for k, v in changes.items()
        if k in OPERATOR_FIELDS and getattr(job_type, k) != v
    }
    if not changed:
        return job_type
    for name, value in changed.items():
        setattr(job_type, name, value)
    job_type.save(update_fields=[*changed, "updated_at"])
    event_record(type=JOB_TYPE_UPDATED, subject=job_type, actor=actor, data=changed)
    return job_type
