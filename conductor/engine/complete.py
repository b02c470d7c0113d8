"""Write the outcomes of a batch of attempts, in bulk, in one transaction.

Each job row is updated only if its worker still holds it (``state = 'running'``,
``locked_by`` = that worker, same attempt number): a job whose lease expired and was
handed to someone else is left alone, and its outcome is dropped rather than written
twice. Attempt rows and journal events are written for the jobs that were updated
(the statement is the backend's, run through the one door, ``transitions``).

Then, in the same transaction, what follows from the outcomes: dead jobs join the
dead-letter queue, breakers hear of their jobs, waiting dependents move on.
"""

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)

from conductor.backends import CompleteRow
from conductor.engine.dependents import dependents_follow
from conductor.engine.execute import Finished, Ran
from conductor.engine.judge import judge_batch
from conductor.journal.catalogue import (
    JOB_CANCELLED,
    JOB_FAILED,
    JOB_RETRY_SCHEDULED,
    JOB_SUCCEEDED,
    EventType,
)
from conductor.journal.writer import NewEvent
from conductor.models import RetryAttempt
from conductor.outcomes import Cancelled, Dead, ErrorInfo, Outcome, RetryAt, Succeeded
from conductor.services import transitions
from conductor.states import JobState
from recovery.services import BreakerReport, breaker_record, dead_letters_add

log = logging.getLogger(__name__)

#: How long a batch's write is retried after a lost connection (well within a lease).
RETRY_FOR_S = 10.0


def complete_batch(*, finished: Sequence[Finished], worker: str, now: datetime) -> int:
    """Apply every outcome still held (by ``worker``, or by the worker each job names);
    return how many were written.

    A lost connection or a failed commit is retried (the conditional write makes a
    repeat harmless) for up to ``RETRY_FOR_S``; if the batch still cannot be written
    together — the database is down, or one row cannot be stored — each outcome is
    written on its own, so one bad row does not drop the others. An outcome that
    cannot be stored is written as an ``OUTCOME_NOT_STORED`` failure instead, judged
    like any other. What still cannot be written is left to the sweeper: the lease
    runs out and the job is taken back. Inside a caller's transaction (the sweeper)
    the caller's fate decides, and nothing is retried here.
    """
    if not finished:
        return 0
    if transaction.get_connection().in_atomic_block:
        return _complete(finished, worker, now)
    try:
        return _retrying(lambda: _complete(finished, worker, now))
    except DatabaseError as exc:
        log.warning("outcomes of %d jobs not written together (%s); one by one",
                    len(finished), exc)  # fmt: skip
        return sum(_complete_alone(f, worker, now) for f in finished)


def _retrying(write: Callable[[], int]) -> int:
    deadline = time.monotonic() + RETRY_FOR_S
    pause = 0.1
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if time.monotonic() + pause > deadline:
                raise
            close_old_connections()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _complete_alone(f: Finished, worker: str, now: datetime) -> int:
    try:
        return _retrying(lambda: _complete([f], worker, now))
    except (OperationalError, InterfaceError) as exc:
        log.warning("outcome of %s not written (%s): the sweeper will", f.job.id, exc)
        return 0
    except DatabaseError as exc:  # this row cannot be stored: say so instead
        log.warning("outcome of %s cannot be stored: %s", f.job.id, exc)
        problem = exc
    try:
        return _complete([_not_stored(f, problem)], worker, now)
    except DatabaseError as again:
        log.error("outcome of %s not written (%s): the sweeper will", f.job.id, again)
        return 0


def _not_stored(f: Finished, exc: Exception) -> Finished:
    message = f"the outcome could not be stored: {type(exc).__name__}: {exc}"[:4000]
    ran = Ran(
        f.job, None, ErrorInfo("OUTCOME_NOT_STORED", message), False, f.finished_at,
        f.duration_ms,
    )  # fmt: skip
    return judge_batch([ran])[0]


def _complete(finished: Sequence[Finished], worker: str, now: datetime) -> int:
    with transaction.atomic():
        owned = transitions.jobs_complete(
            rows=[_row(f, f.job.worker or worker) for f in finished],
            events=[e for f in finished for e in _events(f)],
            now=now,
        )
        done = [f for f in finished if f.job.id in owned]
        _follow_up(done, has_dependents=owned)
    _log_failures(done)
    return len(done)


def _log_failures(done: Sequence[Finished]) -> None:
    """A line per failed attempt (its error text is masked: conductor.secrets)."""
    for f in done:
        outcome = f.outcome
        if isinstance(outcome, Dead | RetryAt):
            then = (
                f"retry at {outcome.when.isoformat()}"
                if isinstance(outcome, RetryAt)
                else "dead"
            )
            log.warning("job %s (%s) attempt %d failed: %s: %s; %s", f.job.id,
                        f.job.type, f.job.attempt, outcome.error.code,
                        outcome.error.message[:500], then)  # fmt: skip


def _follow_up(done: Sequence[Finished], *, has_dependents: dict[str, bool]) -> None:
    """In the same transaction: dead letters, breakers, then waiting dependents."""
    dead = [f.job.id for f in done if isinstance(f.outcome, Dead)]
    if dead:
        dead_letters_add(job_ids=dead, now=max(f.finished_at for f in done))
    _tell_breakers(done)
    # Whether a job has dependents is read when its row is written, not when it was
    # claimed: a dependent may have been submitted while it ran.
    ended = [
        f.job.id
        for f in done
        if has_dependents[f.job.id] and not isinstance(f.outcome, RetryAt)
    ]
    if ended:
        dependents_follow(finished=ended)


def _tell_breakers(done: Sequence[Finished]) -> None:
    by_service: dict[str, list] = {}
    for f in done:
        if f.job.breaker:
            by_service.setdefault(f.job.breaker, []).append(f)
    for service, items in sorted(by_service.items()):
        breaker_record(
            service=service,
            outcomes=[
                BreakerReport(
                    job_id=f.job.id,
                    succeeded=isinstance(f.outcome, Succeeded),
                    counts=f.for_breaker,
                    at=f.finished_at,
                )
                for f in items
            ],
        )


OUTCOME_STATES = {
    Succeeded: JobState.SUCCEEDED,
    RetryAt: JobState.PENDING,
    Dead: JobState.DEAD,
    Cancelled: JobState.CANCELLED,
}


def _error(outcome: Outcome) -> dict | None:
    if isinstance(outcome, RetryAt | Dead):
        return outcome.error.as_dict()
    if isinstance(outcome, Cancelled):
        return {"code": "CANCELLED", "message": "stopped on a cancel request"}
    return None


def _row(f: Finished, worker: str) -> CompleteRow:
    o = f.outcome
    error = o.error if isinstance(o, RetryAt | Dead) else None
    retry_at = o.when if isinstance(o, RetryAt) else None
    return CompleteRow(
        id=f.job.id,
        attempt=f.job.attempt,
        worker=worker,
        state=OUTCOME_STATES[type(o)],
        result=o.result if isinstance(o, Succeeded) else None,
        has_result=isinstance(o, Succeeded),
        error=_error(o),
        run_at=retry_at,
        finished_at=None if isinstance(o, RetryAt) else f.finished_at,
        result_file=f.result_file,
        result_reference=f.result_reference,
        attempt_status=(
            RetryAttempt.Status.SUCCESS
            if isinstance(o, Succeeded)
            else RetryAttempt.Status.FAILED
        ),
        attempt_finished_at=f.finished_at,
        duration_ms=f.duration_ms,
        error_code="CANCELLED"
        if isinstance(o, Cancelled)
        else (error.code if error else ""),
        error_message=error.message if error else "",
        traceback=error.traceback if error else "",
        retry_at=retry_at,
    )


def _events(f: Finished) -> list[NewEvent]:
    job, o = f.job, f.outcome
    base = {"type": job.type, "attempt": job.attempt, "duration_ms": f.duration_ms}

    def event(type_: EventType, **data) -> NewEvent:
        return NewEvent(type_, job.id, {**base, **data}, "", job.trace_id)

    if isinstance(o, Succeeded):
        return [event(JOB_SUCCEEDED)]
    if isinstance(o, Cancelled):
        return [event(JOB_CANCELLED, mode="graceful", state="cancelled")]
    failed = event(
        JOB_FAILED, error=o.error.as_dict(), will_retry=isinstance(o, RetryAt)
    )
    if isinstance(o, RetryAt):
        return [failed, event(JOB_RETRY_SCHEDULED, retry_at=o.when.isoformat())]
    return [failed]
