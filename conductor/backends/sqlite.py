"""SQLite (the embedded default): the same work as ``postgresql``, with the ORM.

SQLite has one writer at a time (``transaction_mode=IMMEDIATE``): a claim's IMMEDIATE
transaction already keeps other claimers out, so the choice is made in Python (with
the rules of ``conductor.priorities``) and applied with conditional updates.
Transactions never overlap, so event ids are handed out in commit order and the
journal's reader simply follows ``id``.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from conductor import priorities
from conductor.backends.postgresql import CLAIMED_COLUMNS
from conductor.backends.rows import ClaimRequest, CompleteRow, EventRow
from conductor.models import Event, Job, JobType, RetryAttempt
from conductor.states import JobState

# --- submit -------------------------------------------------------------------------


def jobs_insert(rows: list[dict], *, now: datetime, actor: str, trace_id: str) -> None:
    # The rows carry every column already (trace id and actor included).
    Job.objects.bulk_create([Job(**row) for row in rows], batch_size=2000)


# --- claim --------------------------------------------------------------------------

_CLAIM_FIELDS = [
    "state",
    "attempts",
    "lease_expires_at",
    "locked_by",
    "started_at",
    "attempt_started_at",
    "updated_at",
]


def jobs_claim(claim: ClaimRequest) -> list[dict[str, Any]]:
    ids = [c.id for c in priorities.fair_order(_candidates(claim), claim.limit)]
    jobs = list(Job.objects.filter(id__in=ids, state=claim.source))
    for job in jobs:
        job.state = claim.target
        job.attempts += 1
        # One host: its clock is the database's.
        job.lease_expires_at = claim.now + timedelta(seconds=claim.lease_s)
        job.locked_by = claim.worker
        job.started_at = job.started_at or claim.now
        job.attempt_started_at = None  # set when the runner reaches it
        job.updated_at = claim.now
    Job.objects.bulk_update(jobs, _CLAIM_FIELDS)
    RetryAttempt.objects.bulk_create(
        [
            RetryAttempt(
                job_id=job.id,
                attempt_number=job.attempts,
                status=RetryAttempt.Status.PENDING,
                started_at=claim.now,
                worker=claim.worker,
            )
            for job in jobs
        ]
    )
    order = {job_id: index for index, job_id in enumerate(ids)}
    jobs.sort(key=lambda job: order[job.id])
    return [_claimed(job) for job in jobs]


def _candidates(claim: ClaimRequest) -> list[priorities.Candidate]:
    candidates = []
    for name in JobType.objects.filter(paused=False).values_list("name", flat=True):
        cap = min(claim.limit, claim.allowance.get(name, claim.limit))
        due = Job.objects.filter(
            job_type=name, state=claim.source, queue=claim.queue, run_at__lte=claim.now
        ).exclude(breaker__in=claim.blocked)
        if claim.only:
            due = due.filter(breaker=claim.only)
        due = due.order_by("-priority", "run_at")
        rows = due.values_list("id", "job_type_id", "priority", "run_at")[:cap]
        candidates += [priorities.Candidate(*row) for row in rows]
    return candidates


def _claimed(job: Job) -> dict[str, Any]:
    row = {name: getattr(job, name) for name in CLAIMED_COLUMNS if name != "type"}
    return {**row, "type": job.job_type_id}


# --- completion ---------------------------------------------------------------------


def jobs_complete(
    rows: Sequence[CompleteRow], *, source: str, now: datetime
) -> dict[str, bool]:
    written = [row.id for row in rows if _complete_one(row, source, now)]
    flags = Job.objects.filter(id__in=written).values_list("id", "has_dependents")
    return {str(job_id): has for job_id, has in flags}


def _complete_one(row: CompleteRow, source: str, now: datetime) -> bool:
    changes = {
        "state": row.state,
        "result": row.result if row.has_result else None,
        "error": row.error,
        "finished_at": row.finished_at,
        "lease_expires_at": None,
        "locked_by": "",
        "updated_at": now,
    }
    if row.run_at is not None:
        changes["run_at"] = row.run_at
    if row.result_file:
        changes["result_file"] = row.result_file
    if row.result_reference is not None:
        changes["result_reference"] = row.result_reference
    if row.state == JobState.SUCCEEDED:
        changes["progress_pct"] = 100
    held = Job.objects.filter(
        id=row.id, attempts=row.attempt, state=source, locked_by=row.worker
    )
    if held.update(**changes) != 1:
        return False
    RetryAttempt.objects.filter(job_id=row.id, attempt_number=row.attempt).update(
        status=row.attempt_status,
        finished_at=row.attempt_finished_at,
        duration_ms=row.duration_ms,
        error_code=row.error_code,
        error_message=row.error_message,
        traceback=row.traceback,
        retry_at=row.retry_at,
    )
    return True


# --- the journal --------------------------------------------------------------------


def events_append(rows: Sequence[EventRow], *, at: datetime) -> int:
    Event.objects.bulk_create(
        [Event(**row._asdict(), created_at=at) for row in rows], batch_size=2000
    )
    return len(rows)


def events_after(*, after: int, types: Sequence[str], limit: int) -> list[Event]:
    events = Event.objects.filter(id__gt=after)
    if types:
        events = events.filter(type__in=list(types))
    return list(events.order_by("id")[:limit])


def commit_lazily() -> None:
    """SQLite's commits are what its journal mode makes them; nothing to change."""
