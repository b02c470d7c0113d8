"""The dead-letter queue: jobs that could not succeed, and what people do with them.

A job becomes ``dead`` (out of retries, or an error that is not retryable) in the
engine's completion transaction, which also adds its ``DeadLetter`` row here. People
then resubmit it (optionally with an edited payload, validated against the type's
schema, with a reason kept in a ``Resubmission`` audit row), resolve it with notes, or
discard it; one at a time or in bulk. Resolved entries older than N days are cleaned
up by beat and on demand.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from conductor import registry, secrets
from conductor.errors import (
    Conflict,
    DomainError,
    FieldError,
    NotFound,
    ValidationFailed,
)
from conductor.journal.catalogue import (
    DLQ_CLEANED,
    DLQ_ENTRY_ADDED,
    DLQ_ENTRY_RESOLVED,
    JOB_DEAD_LETTERED,
)
from conductor.journal.writer import NewEvent, event_record, events_record
from conductor.models import Job, Priority, RetryAttempt
from conductor.services import JobRequest, job_submit
from recovery import analysis
from recovery.models import DeadLetter, Resubmission
from recovery.selectors import policy_names, retry_policies_named

REASON_MIN, REASON_MAX = 10, 500
NOTES_MAX = 5000
UNSET = object()


def _snapshot(job: Job) -> dict[str, Any]:
    return {
        "type": job.job_type_id,
        "payload": job.payload,
        "payload_version": job.payload_version,
        "priority": Priority(job.base_priority).label,
        "queue": job.queue,
        "max_retries": job.max_retries,
        "retry_policy": job.retry_policy,
        "timeout_s": job.timeout_s,
        "breaker": job.breaker,
        "idempotency_key": job.idempotency_key,
        "parent": str(job.parent_id) if job.parent_id else None,
        "workflow_run": str(job.workflow_run_id) if job.workflow_run_id else None,
        "workflow_node": job.workflow_node,
        "trace_id": job.trace_id,
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat(),
    }


def _attempts(job_ids: list) -> dict[str, list[dict]]:
    rows = RetryAttempt.objects.filter(job_id__in=job_ids).order_by("attempt_number")
    found: dict[str, list[dict]] = defaultdict(list)
    for a in rows:
        found[str(a.job_id)].append({
            "attempt_number": a.attempt_number, "status": a.status,
            "started_at": a.started_at.isoformat(),
            "finished_at": a.finished_at.isoformat() if a.finished_at else None,
            "duration_ms": a.duration_ms, "error_code": a.error_code,
            "error_message": a.error_message[:1000],
            "traceback": a.traceback,  # the last one is kept on the entry, then dropped
        })  # fmt: skip
    return found


def dead_letters_add(*, job_ids: Sequence[str], now: datetime) -> int:
    """Inside the transaction that made these jobs dead: their DLQ entries + events."""
    if not job_ids:
        return 0
    jobs = list(Job.objects.filter(id__in=list(job_ids)))
    attempts = _attempts([job.id for job in jobs])
    entries = [_entry(job, attempts[str(job.id)], now) for job in jobs]
    DeadLetter.objects.bulk_create(entries)
    events_record(
        (event for entry in entries for event in _added_events(entry)), at=now
    )
    return len(entries)


def _entry(job: Job, attempts: list[dict], now: datetime) -> DeadLetter:
    error = job.error or {}
    last = attempts[-1] if attempts else {}
    code = error.get("code") or last.get("error_code") or "ERROR"
    message = error.get("message") or last.get("error_message") or ""
    digest, text = analysis.signature(job_type=job.job_type_id, code=code,
                                      message=message)  # fmt: skip
    traceback = (last.get("traceback") or "")[:20000]
    attempts = [{k: v for k, v in a.items() if k != "traceback"} for a in attempts]
    return DeadLetter(
        job=job, job_type=job.job_type_id, snapshot=_snapshot(job), error_code=code,
        error_message=message, traceback=traceback,
        attempts=attempts, retry_count=max(job.attempts - 1, 0), signature=digest,
        signature_text=text, added_at=now,
    )  # fmt: skip


def _added_events(entry: DeadLetter) -> list[NewEvent]:
    job_id = str(entry.job_id)
    data = {"type": entry.job_type, "error_code": entry.error_code,
            "signature": entry.signature, "attempts": len(entry.attempts)}  # fmt: skip
    trace = entry.snapshot.get("trace_id", "")
    return [
        NewEvent(JOB_DEAD_LETTERED, job_id, data, "", trace),
        NewEvent(DLQ_ENTRY_ADDED, job_id, data, "", trace),
    ]


def _locked(dead_letter_id) -> DeadLetter:
    try:
        return DeadLetter.objects.select_for_update().get(id=dead_letter_id)
    except (DeadLetter.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no dead letter with id {dead_letter_id}") from None


def _open(entry: DeadLetter) -> None:
    if entry.resolved_at is not None:
        raise Conflict(f"this dead letter was already {entry.resolution}")


def _close(entry: DeadLetter, *, resolution: str, notes: str, actor: str) -> None:
    now = timezone.now()
    entry.resolution, entry.notes, entry.actor = resolution, notes, actor
    entry.resolved_at = now
    entry.save(update_fields=["resolution", "notes", "actor", "resolved_at"])
    event_record(
        type=DLQ_ENTRY_RESOLVED, subject=("deadletter", str(entry.job_id)), at=now,
        actor=actor, trace_id=entry.snapshot.get("trace_id", ""),
        data={"id": entry.id, "resolution": resolution, "notes": notes[:500]},
    )  # fmt: skip


def _check_reason(reason: Any) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise ValidationFailed([FieldError(
            "reason", f"must be {REASON_MIN} to {REASON_MAX} characters", "length",
        )])  # fmt: skip
    return text


@transaction.atomic
def dead_letter_resubmit(
    *, dead_letter_id, reason: Any, actor: str, payload: Any = UNSET,
    trace_id: str = "",
) -> tuple[DeadLetter, Job]:  # fmt: skip
    """Run the job again as a new job (optionally with an edited payload)."""
    reason = _check_reason(reason)
    entry = _locked(dead_letter_id)
    _open(entry)
    snap = entry.snapshot
    if payload is not UNSET:  # secrets left masked keep their sealed originals
        payload = secrets.unmasked(payload, snap["payload"], _schema(snap["type"]))
    new_job, _ = job_submit(
        request=JobRequest(
            type=snap["type"],
            payload=snap["payload"] if payload is UNSET else payload,
            priority=snap.get("priority"), max_retries=snap.get("max_retries"),
            retry_policy=snap.get("retry_policy"), breaker=snap.get("breaker") or None,
        ),
        actor=actor, trace_id=trace_id or snap.get("trace_id", ""),
        named_policies=retry_policies_named(
            names=policy_names([snap.get("retry_policy")])
        ),
    )  # fmt: skip
    Resubmission.objects.create(
        dead_letter=entry, original_payload=snap["payload"],
        modified_payload=None if payload is UNSET else new_job.payload, reason=reason,
        actor=actor, new_job=new_job,
    )  # fmt: skip
    _close(entry, resolution=DeadLetter.Resolution.RESUBMITTED, notes=reason,
           actor=actor)  # fmt: skip
    return entry, new_job


def _schema(type_name: str) -> dict:
    try:
        return registry.get(type_name).schema
    except registry.UnknownJobType:
        return {}  # job_submit names the unknown type


def _check_notes(notes: Any, *, required: bool) -> str:
    text = notes.strip() if isinstance(notes, str) else ""
    if (required and not text) or len(text) > NOTES_MAX:
        raise ValidationFailed([FieldError(
            "notes",
            f"{'required, ' if required else ''}at most {NOTES_MAX} characters",
            "length",
        )])  # fmt: skip
    return text


@transaction.atomic
def dead_letter_resolve(*, dead_letter_id, notes: Any, actor: str) -> DeadLetter:
    notes = _check_notes(notes, required=True)
    entry = _locked(dead_letter_id)
    _open(entry)
    _close(entry, resolution=DeadLetter.Resolution.RESOLVED, notes=notes, actor=actor)
    return entry


@transaction.atomic
def dead_letter_discard(*, dead_letter_id, actor: str, notes: Any = "") -> DeadLetter:
    notes = _check_notes(notes, required=False)
    entry = _locked(dead_letter_id)
    _open(entry)
    _close(entry, resolution=DeadLetter.Resolution.DISCARDED, notes=notes, actor=actor)
    return entry


def dead_letters_close_for_job(*, job_id, actor: str, notes: str) -> int:
    """The job itself is being run again (an actor's retry): close its open entries."""
    entries = DeadLetter.objects.select_for_update().filter(
        job_id=job_id, resolved_at__isnull=True
    )
    closed = 0
    for entry in entries:
        _close(entry, resolution=DeadLetter.Resolution.RESOLVED, notes=notes,
               actor=actor)  # fmt: skip
        closed += 1
    return closed


BULK_ACTIONS = ("resubmit", "resolve", "discard")
BULK_MAX = 1000


def dead_letters_bulk(
    *, action: str, ids: Sequence, actor: str, reason: Any = None, notes: Any = ""
) -> list[dict]:
    """Apply one action to many entries; each succeeds or fails on its own."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed(
            [FieldError("action", f"one of {BULK_ACTIONS}", "choice")]
        )
    if not isinstance(ids, list | tuple) or not 1 <= len(ids) <= BULK_MAX:
        raise ValidationFailed([FieldError("ids", f"1 to {BULK_MAX} ids", "length")])
    return [_one(action, entry_id, actor, reason, notes) for entry_id in ids]


def _one(action: str, entry_id, actor: str, reason, notes) -> dict:
    try:
        if action == "resubmit":
            _entry, job = dead_letter_resubmit(
                dead_letter_id=entry_id, reason=reason, actor=actor
            )
            return {"id": entry_id, "status": 200, "job_id": str(job.id)}
        if action == "resolve":
            dead_letter_resolve(dead_letter_id=entry_id, notes=notes, actor=actor)
        else:
            dead_letter_discard(dead_letter_id=entry_id, notes=notes, actor=actor)
        return {"id": entry_id, "status": 200}
    except DomainError as exc:
        return {
            "id": entry_id,
            "status": exc.status,
            "code": exc.code,
            "detail": exc.detail,
            "errors": [e.as_dict() for e in exc.errors],
        }


@transaction.atomic
def dead_letters_cleanup(*, older_than_days: int, actor: str) -> int:
    """Delete resolved entries resolved more than ``older_than_days`` days ago."""
    if not isinstance(older_than_days, int) or not 1 <= older_than_days <= 3650:
        raise ValidationFailed(
            [FieldError("older_than_days", "must be 1 to 3650", "out_of_range")]
        )
    cutoff = timezone.now() - timedelta(days=older_than_days)
    old = DeadLetter.objects.filter(resolved_at__lt=cutoff)
    removed = old.count()
    if removed:
        Resubmission.objects.filter(dead_letter__in=old).delete()
        old.delete()
    event_record(
        type=DLQ_CLEANED, subject=("dlq", "cleanup"), actor=actor,
        data={"removed": removed, "older_than_days": older_than_days},
    )  # fmt: skip
    return removed
