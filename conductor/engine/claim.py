"""Claim a batch of due jobs for one worker, in one transaction.

Order: best ``priority`` first (the sweeper ages waiting jobs upward, so low work is
never starved), and within a priority round-robin across job types (fair share: one
type with 10,000 queued jobs does not hold back another type's one), then oldest
``run_at``. Paused types are skipped; a type with ``max_concurrency`` gets only its free
slots.

PostgreSQL: one statement walks each job type's slice of the partial index
``conductor_job_due`` with ``FOR UPDATE SKIP LOCKED`` (so concurrent workers never
claim the same job and never wait for each other), ranks the rows per type and updates
the chosen ones. Types with a concurrency limit have their rows locked first, so two
workers cannot both fill the last slot. SQLite (the embedded default) has a single
writer: the IMMEDIATE transaction already serialises claimers, so the same choice is
made in Python with a select-then-conditional-update.

The claim also writes one ``RetryAttempt`` row (status ``pending``) per job and a
``job.started`` event, so a worker that dies right after claiming leaves a trace for
the sweeper.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count

from conductor import priorities
from conductor.models import Job, JobType, RetryAttempt
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
    has_dependents: bool = False
    checkpoint: Any = None
    retry_policy: Any = None
    breaker: str = ""


_COLUMNS = (
    "id, type, payload, attempts, max_retries, timeout_s, trace_id, has_dependents, "
    "checkpoint, retry_policy, breaker"
)

_RETURNING = ", ".join("j." + c.strip() for c in _COLUMNS.split(","))

_CLAIM_SQL = f"""
WITH locked AS (
    SELECT c.id, c.type, c.priority, c.run_at
    FROM conductor_jobtype AS t
    CROSS JOIN LATERAL (
        SELECT j.id, j.type, j.priority, j.run_at FROM conductor_job AS j
        WHERE j.type = t.name AND j.queue = %(queue)s AND j.state = 'pending'
          AND j.run_at <= %(now)s AND j.breaker <> ALL(%(blocked)s::text[])
          AND (%(only)s = '' OR j.breaker = %(only)s)
        ORDER BY j.priority DESC, j.run_at
        LIMIT LEAST(%(limit)s, COALESCE((%(allow)s::jsonb ->> t.name)::int, %(limit)s))
        FOR UPDATE SKIP LOCKED
    ) AS c
    WHERE NOT t.paused
), ranked AS (
    SELECT id, priority, run_at,
           row_number() OVER (PARTITION BY type ORDER BY priority DESC, run_at) AS rn
    FROM locked
), chosen AS (
    SELECT id, row_number() OVER (ORDER BY priority DESC, rn, run_at) AS position
    FROM ranked ORDER BY priority DESC, rn, run_at LIMIT %(limit)s
), claimed AS (
    UPDATE conductor_job AS j
    SET state = 'running', attempts = j.attempts + 1, lease_expires_at = %(lease)s,
        locked_by = %(worker)s, started_at = COALESCE(j.started_at, %(now)s),
        attempt_started_at = %(now)s, updated_at = %(now)s
    FROM chosen WHERE j.id = chosen.id
    RETURNING {_RETURNING}, chosen.position
), attempts AS (
    INSERT INTO conductor_retryattempt
        (job_id, attempt_number, status, started_at, worker, error_code,
         error_message, traceback)
    SELECT id, attempts, 'pending', %(now)s, %(worker)s, '', '', '' FROM claimed
), events AS (
    INSERT INTO conductor_event
        (type, subject_type, subject_id, data, actor, trace_id, created_at)
    SELECT 'job.started', 'job', id::text,
           jsonb_build_object('type', type, 'attempt', attempts, 'worker', %(worker)s),
           '', trace_id, %(now)s
    FROM claimed ORDER BY position
)
SELECT * FROM claimed
"""


def claim_batch(
    *, queue: str, worker: str, limit: int, now: datetime, lease_s: int
) -> list[ClaimedJob]:
    lease = now + timedelta(seconds=lease_s)
    with transaction.atomic():
        allowance = _free_slots()
        gate = _BreakerGate.load(now)
        claim = _Claim(queue, worker, now, lease, allowance, gate.blocked)
        claimed = claim.run(limit)
        for row in gate.trials:  # a half-open breaker lets one trial job through
            trial = claim.run(1, only=row.service_name)
            if trial and not gate.admit(row, trial[0].id, now, lease_s):
                # Cannot happen while the gate holds the row locked; if it ever does,
                # undo the whole claim rather than leave a job running unadmitted.
                transaction.set_rollback(True)
                return []
            claimed += trial
    return claimed


class _BreakerGate:
    """Which breakers keep their jobs out of this claim, and which take a trial.

    Every breaker that is not closed blocks its jobs. A half-open one without a live
    trial is locked here (``SKIP LOCKED``: a breaker another claimer holds stays
    blocked) and lets exactly one job through as its trial.
    """

    def __init__(self, blocked: list[str], trials: list):
        self.blocked, self.trials = blocked, trials

    @classmethod
    def load(cls, now: datetime) -> "_BreakerGate":
        from recovery.models import CircuitBreaker

        closed = CircuitBreaker.State.CLOSED
        blocked = list(
            CircuitBreaker.objects.exclude(state=closed).values_list(
                "service_name", flat=True
            )
        )
        if not blocked:
            return cls([], [])
        free = CircuitBreaker.objects.select_for_update(skip_locked=True).filter(
            state=CircuitBreaker.State.HALF_OPEN
        )
        trials = [row for row in free if not row.trial_until or row.trial_until <= now]
        return cls(blocked, trials)

    @staticmethod
    def admit(row, job_id: str, now: datetime, lease_s: int) -> bool:
        from recovery.services import breaker_admit_trial

        return breaker_admit_trial(row=row, job_id=job_id, now=now,
                                   lease_ms=lease_s * 1000)  # fmt: skip


class _Claim:
    def __init__(self, queue, worker, now, lease, allowance, blocked):
        self.queue, self.worker, self.now, self.lease = queue, worker, now, lease
        self.allowance, self.blocked = allowance, blocked

    def run(self, limit: int, *, only: str = "") -> list[ClaimedJob]:
        # A trial claim lets its own breaker through; the others stay blocked.
        blocked = [name for name in self.blocked if name != only]
        args = (self.queue, self.worker, limit, self.now, self.lease, self.allowance,
                blocked, only)  # fmt: skip
        if connection.vendor == "postgresql":
            # One round trip: claim, attempt rows and job.started events.
            return _claim_postgresql(*args)
        claimed = _claim_single_writer(*args)
        if claimed:
            _record_start(claimed, worker=self.worker, now=self.now)
        return claimed


def _free_slots() -> dict[str, int]:
    """Free slots of every type with a concurrency limit; their rows stay locked."""
    limited = dict(
        JobType.objects.select_for_update()
        .filter(max_concurrency__isnull=False)
        .order_by("name")
        .values_list("name", "max_concurrency")
    )
    if not limited:
        return {}
    running = dict(
        Job.objects.filter(state=JobState.RUNNING, job_type__in=list(limited))
        .order_by()
        .values_list("job_type")
        .annotate(n=Count("id"))
    )
    return {name: max(0, cap - running.get(name, 0)) for name, cap in limited.items()}


def _claim_postgresql(
    queue, worker, limit, now, lease, allowance, blocked, only
) -> list[ClaimedJob]:
    params = {
        "queue": queue,
        "worker": worker,
        "limit": limit,
        "now": now,
        "lease": lease,
        "allow": json.dumps(allowance),
        "blocked": list(blocked),
        "only": only,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        rows = cursor.fetchall()
    # UPDATE … RETURNING comes back in any order: run in the order chosen.
    rows.sort(key=lambda row: row[-1])
    return [_claimed(*row[:-1]) for row in rows]


def _claim_single_writer(
    queue, worker, limit, now, lease, allowance, blocked, only
) -> list[ClaimedJob]:
    candidates = []
    for name in JobType.objects.filter(paused=False).values_list("name", flat=True):
        cap = min(limit, allowance.get(name, limit))
        due = Job.objects.filter(
            job_type=name, state=JobState.PENDING, queue=queue, run_at__lte=now
        ).exclude(breaker__in=blocked)
        if only:
            due = due.filter(breaker=only)
        due = due.order_by("-priority", "run_at")
        rows = due.values_list("id", "job_type_id", "priority", "run_at")[:cap]
        candidates += [priorities.Candidate(*row) for row in rows]
    ids = [c.id for c in priorities.fair_order(candidates, limit)]
    jobs = list(Job.objects.filter(id__in=ids, state=JobState.PENDING))
    for job in jobs:
        job.state = JobState.RUNNING
        job.attempts += 1
        job.lease_expires_at = lease
        job.locked_by = worker
        job.started_at = job.started_at or now
        job.attempt_started_at = now
        job.updated_at = now
    Job.objects.bulk_update(jobs, _CLAIM_FIELDS)
    order = {job_id: index for index, job_id in enumerate(ids)}
    jobs.sort(key=lambda job: order[job.id])
    return [_claimed(*(_field(job, c) for c in _COLUMNS.split(","))) for job in jobs]


_CLAIM_FIELDS = [
    "state",
    "attempts",
    "lease_expires_at",
    "locked_by",
    "started_at",
    "attempt_started_at",
    "updated_at",
]


def _field(job: Job, column: str):
    column = column.strip()
    return job.job_type_id if column == "type" else getattr(job, column)


def _claimed(*row) -> ClaimedJob:
    values = list(row)
    for index in (2, 8, 9):  # payload, checkpoint, retry_policy: JSON columns
        if isinstance(values[index], str | bytes):
            values[index] = json.loads(values[index])
    values[0] = str(values[0])
    return ClaimedJob(*values)


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
