"""Claim a batch of due jobs for one worker, in one transaction.

PostgreSQL: one ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`` statement, so
concurrent workers never claim the same job and never wait for each other. SQLite (the
embedded default) has a single writer: the IMMEDIATE transaction already serialises
claimers, so a plain select-then-conditional-update is correct there.

The claim also writes, in the same transaction, one ``RetryAttempt`` row (status
``pending``) per job and a ``job.started`` event, so a worker that dies right after
claiming leaves a visible trace for the sweeper.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from conductor.models import Job, RetryAttempt
from conductor.services.events import NewEvent, events_record
from conductor.states import JobState


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    type: str
    payload: Any
    attempt: int
    max_retries: int
    timeout_s: int
    trace_id: str


_CLAIM_SQL = """
WITH due AS (
    SELECT id FROM conductor_job
    WHERE state = 'pending' AND queue = %(queue)s AND run_at <= %(now)s
    ORDER BY priority DESC, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE conductor_job AS j
SET state = 'running', attempts = j.attempts + 1, lease_expires_at = %(lease)s,
    locked_by = %(worker)s, started_at = COALESCE(j.started_at, %(now)s),
    updated_at = %(now)s
FROM due WHERE j.id = due.id
RETURNING j.id, j.type, j.payload, j.attempts, j.max_retries, j.timeout_s, j.trace_id
"""


def claim_batch(
    *, queue: str, worker: str, limit: int, now: datetime, lease_s: int
) -> list[ClaimedJob]:
    lease = now + timedelta(seconds=lease_s)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            claimed = _claim_postgresql(queue, worker, limit, now, lease)
        else:
            claimed = _claim_single_writer(queue, worker, limit, now, lease)
        if claimed:
            _record_start(claimed, worker=worker, now=now)
    return claimed


def _claim_postgresql(queue, worker, limit, now, lease) -> list[ClaimedJob]:
    params = {
        "queue": queue,
        "worker": worker,
        "limit": limit,
        "now": now,
        "lease": lease,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        rows = cursor.fetchall()
    return [_claimed(*row) for row in rows]


def _claim_single_writer(queue, worker, limit, now, lease) -> list[ClaimedJob]:
    due = Job.objects.filter(state=JobState.PENDING, queue=queue, run_at__lte=now)
    ids = list(
        due.order_by("-priority", "run_at", "id").values_list("id", flat=True)[:limit]
    )
    if not ids:
        return []
    jobs = list(Job.objects.filter(id__in=ids, state=JobState.PENDING))
    for job in jobs:
        job.state = JobState.RUNNING
        job.attempts += 1
        job.lease_expires_at = lease
        job.locked_by = worker
        job.started_at = job.started_at or now
        job.updated_at = now
    Job.objects.bulk_update(
        jobs,
        [
            "state",
            "attempts",
            "lease_expires_at",
            "locked_by",
            "started_at",
            "updated_at",
        ],
    )
    return [
        _claimed(
            j.id,
            j.job_type_id,
            j.payload,
            j.attempts,
            j.max_retries,
            j.timeout_s,
            j.trace_id,
        )
        for j in jobs
    ]


def _claimed(
    id, type, payload, attempt, max_retries, timeout_s, trace_id
) -> ClaimedJob:
    if isinstance(payload, str | bytes):
        payload = json.loads(payload)
    return ClaimedJob(str(id), type, payload, attempt, max_retries, timeout_s, trace_id)


def _record_start(claimed: list[ClaimedJob], *, worker: str, now: datetime) -> None:
    RetryAttempt.objects.bulk_create(
        [
            RetryAttempt(
                job_id=job.id,
                attempt_number=job.attempt,
                status=RetryAttempt.Status.PENDING,
                started_at=now,
                worker=worker,
            )
            for job in claimed
        ]
    )
    events_record(
        (
            NewEvent(
                type="job.started",
                subject_type="job",
                subject_id=job.id,
                data={"type": job.type, "attempt": job.attempt, "worker": worker},
                trace_id=job.trace_id,
            )
            for job in claimed
        ),
        at=now,
    )
