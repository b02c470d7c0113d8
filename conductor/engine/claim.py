"""Claim a batch of due jobs for one worker, in one transaction.

Order: best ``priority`` first (the sweeper ages waiting jobs upward, so low work is
never starved), and within a priority round-robin across job types (fair share: one
type with 10,000 queued jobs does not hold back another type's one), then oldest
``run_at``. Paused types are skipped; a type with ``max_concurrency`` gets only its free
slots.

The statement itself is the database backend's (``conductor.backends``), run through
the one door for job state (``transitions.jobs_claim``). On PostgreSQL it walks each
job type's slice of the partial index ``conductor_job_due`` with ``FOR UPDATE SKIP
LOCKED`` (so concurrent workers never claim the same job and never wait for each
other); SQLite's single writer makes the same choice in Python. Types with a
concurrency limit have their rows locked first, so two workers cannot both fill the
last slot; breakers that are not closed keep their jobs out, and a half-open one lets
exactly one trial through.

The claim also writes one ``RetryAttempt`` row (status ``pending``) per job and a
``job.started`` event, so a worker that dies right after claiming leaves a trace for
the sweeper.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count

from conductor.backends import ClaimRequest
from conductor.models import Job, JobType
from conductor.services import transitions
from conductor.states import JobState
from recovery.models import CircuitBreaker
from recovery.services import breaker_admit_trial


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    type: str
    payload: Any
    attempt: int
    max_retries: int
    timeout_s: int
    trace_id: str
    checkpoint: Any = None
    retry_policy: Any = None
    breaker: str = ""
    worker: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any], *, worker: str) -> "ClaimedJob":
        """A claimed job from a backend's row (columns by name)."""
        return cls(
            id=str(row["id"]),
            type=row["type"],
            payload=row["payload"],
            attempt=row["attempts"],
            max_retries=row["max_retries"],
            timeout_s=row["timeout_s"],
            trace_id=row["trace_id"],
            checkpoint=row["checkpoint"],
            retry_policy=row["retry_policy"],
            breaker=row["breaker"],
            worker=worker,
        )


def claim_batch(
    *, queue: str, worker: str, limit: int, now: datetime, lease_s: int
) -> list[ClaimedJob]:
    with transaction.atomic():
        allowance = _free_slots()
        gate = _BreakerGate.load(now)
        claim = _Claim(queue, worker, now, lease_s, allowance, gate.blocked)
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
        return breaker_admit_trial(row=row, job_id=job_id, now=now,
                                   lease_ms=lease_s * 1000)  # fmt: skip


class _Claim:
    def __init__(self, queue, worker, now, lease_s, allowance, blocked):
        self.queue, self.worker, self.now, self.lease_s = queue, worker, now, lease_s
        self.allowance, self.blocked = allowance, blocked

    def run(self, limit: int, *, only: str = "") -> list[ClaimedJob]:
        # A trial claim lets its own breaker through; the others stay blocked.
        blocked = tuple(name for name in self.blocked if name != only)
        request = ClaimRequest(
            queue=self.queue, worker=self.worker, limit=limit, now=self.now,
            lease_s=self.lease_s, allowance=self.allowance, blocked=blocked, only=only,
            source=JobState.PENDING, target=JobState.RUNNING,
        )  # fmt: skip
        rows = transitions.jobs_claim(request)
        return [ClaimedJob.from_row(row, worker=self.worker) for row in rows]


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
