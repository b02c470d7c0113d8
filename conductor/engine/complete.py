"""Write the outcomes of a batch of attempts, in bulk, in one transaction.

Each job row is updated only if the worker still holds it (``state = 'running'``,
``locked_by`` = this worker, same attempt number): a job whose lease expired and was
handed to someone else is left alone, and its outcome is dropped rather than written
twice. Attempt rows and journal events are written for the jobs that were updated.
"""

import json
from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction

from conductor.engine.execute import Finished
from conductor.engine.outcome import Cancelled, Failed, Outcome, RetryAt, Succeeded
from conductor.models import Job, RetryAttempt
from conductor.services.events import NewEvent, events_record
from conductor.states import JobState


def complete_batch(*, finished: Sequence[Finished], worker: str, now: datetime) -> int:
    """Apply every outcome still ours; return how many were written."""
    if not finished:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            owned = _update_jobs_postgresql(finished, worker, now)
            done = [f for f in finished if f.job.id in owned]
            _update_attempts_postgresql(done)
        else:
            done = [f for f in finished if _update_job_single(f, worker, now)]
            for f in done:
                _update_attempt_single(f)
        events_record((e for f in done for e in _events(f, worker)), at=now)
        _follow_up(done)
    return len(done)


def _follow_up(done: Sequence[Finished]) -> None:
    """Jobs that ended and have dependents (or a workflow run) move those on."""
    ended = [
        f.job.id
        for f in done
        if f.job.has_dependents and not isinstance(f.outcome, RetryAt)
    ]
    if ended:
        from conductor.services.dependencies import dependents_resolve

        dependents_resolve(finished=ended)


_STATES = {
    Succeeded: JobState.SUCCEEDED,
    RetryAt: JobState.PENDING,
    Failed: JobState.FAILED,
    Cancelled: JobState.CANCELLED,
}


def _state(outcome: Outcome) -> str:
    return _STATES[type(outcome)]


def _error(outcome: Outcome) -> dict | None:
    if isinstance(outcome, RetryAt | Failed):
        return outcome.error.as_dict()
    if isinstance(outcome, Cancelled):
        return {"code": "CANCELLED", "message": "stopped on a cancel request"}
    return None


def _job_values(f: Finished) -> tuple:
    o = f.outcome
    result = json.dumps(o.result) if isinstance(o, Succeeded) else None
    error = _error(o)
    run_at = o.when if isinstance(o, RetryAt) else None
    finished_at = None if isinstance(o, RetryAt) else f.finished_at
    return (
        f.job.id,
        f.job.attempt,
        _state(o),
        result,
        json.dumps(error) if error else None,
        run_at,
        finished_at,
        f.result_file,
    )


_JOBS_SQL = """
UPDATE conductor_job AS j
SET state = v.state, result = v.result::jsonb, error = v.error::jsonb,
    run_at = COALESCE(v.run_at::timestamptz, j.run_at),
    finished_at = v.finished_at::timestamptz,
    result_file = COALESCE(NULLIF(v.result_file, ''), j.result_file),
    progress_pct = CASE WHEN v.state = 'succeeded' THEN 100 ELSE j.progress_pct END,
    lease_expires_at = NULL, locked_by = '', updated_at = %s
FROM (VALUES {rows})
    AS v(id, attempt, state, result, error, run_at, finished_at, result_file)
WHERE j.id = v.id::uuid AND j.attempts = v.attempt::int
  AND j.state = 'running' AND j.locked_by = %s
RETURNING j.id
"""


def _update_jobs_postgresql(finished, worker, now) -> set[str]:
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(finished))
    params = [now, *(v for f in finished for v in _job_values(f)), worker]
    with connection.cursor() as cursor:
        cursor.execute(_JOBS_SQL.format(rows=rows), params)
        return {str(row[0]) for row in cursor.fetchall()}


def _attempt_values(f: Finished) -> tuple:
    o = f.outcome
    error = o.error if isinstance(o, RetryAt | Failed) else None
    code = "CANCELLED" if isinstance(o, Cancelled) else (error.code if error else "")
    return (
        f.job.id,
        f.job.attempt,
        RetryAttempt.Status.SUCCESS
        if isinstance(o, Succeeded)
        else RetryAttempt.Status.FAILED,
        f.finished_at,
        f.duration_ms,
        code,
        error.message if error else "",
        error.traceback if error else "",
        o.when if isinstance(o, RetryAt) else None,
    )


_ATTEMPTS_SQL = """
UPDATE conductor_retryattempt AS a
SET status = v.status, finished_at = v.finished_at::timestamptz,
    duration_ms = v.duration::int, error_code = v.code, error_message = v.message,
    traceback = v.tb, retry_at = v.retry_at::timestamptz
FROM (VALUES {rows})
    AS v(job_id, attempt, status, finished_at, duration, code, message, tb, retry_at)
WHERE a.job_id = v.job_id::uuid AND a.attempt_number = v.attempt::int
"""


def _update_attempts_postgresql(done: Sequence[Finished]) -> None:
    if not done:
        return
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(done))
    params = [v for f in done for v in _attempt_values(f)]
    with connection.cursor() as cursor:
        cursor.execute(_ATTEMPTS_SQL.format(rows=rows), params)


def _update_job_single(f: Finished, worker: str, now: datetime) -> bool:
    _id, attempt, state, _result, _error, run_at, finished_at, _file = _job_values(f)
    o = f.outcome
    changes = {
        "state": state,
        "result": o.result if isinstance(o, Succeeded) else None,
        "error": _error(o),
        "finished_at": finished_at,
        "lease_expires_at": None,
        "locked_by": "",
        "updated_at": now,
    }
    if run_at is not None:
        changes["run_at"] = run_at
    if f.result_file:
        changes["result_file"] = f.result_file
    if isinstance(o, Succeeded):
        changes["progress_pct"] = 100
    mine = Job.objects.filter(
        id=f.job.id, attempts=attempt, state=JobState.RUNNING, locked_by=worker
    )
    return mine.update(**changes) == 1


def _update_attempt_single(f: Finished) -> None:
    _id, attempt, status, finished_at, duration, code, message, tb, retry_at = (
        _attempt_values(f)
    )
    RetryAttempt.objects.filter(job_id=f.job.id, attempt_number=attempt).update(
        status=status,
        finished_at=finished_at,
        duration_ms=duration,
        error_code=code,
        error_message=message,
        traceback=tb,
        retry_at=retry_at,
    )


def _events(f: Finished, worker: str) -> list[NewEvent]:
    job, o = f.job, f.outcome
    base = {"type": job.type, "attempt": job.attempt, "duration_ms": f.duration_ms}

    def event(type_: str, **data) -> NewEvent:
        return NewEvent(type_, "job", job.id, {**base, **data}, "", job.trace_id)

    if isinstance(o, Succeeded):
        return [event("job.succeeded")]
    if isinstance(o, Cancelled):
        return [event("job.cancelled", mode="graceful", state="cancelled")]
    failed = event(
        "job.failed", error=o.error.as_dict(), will_retry=isinstance(o, RetryAt)
    )
    if isinstance(o, RetryAt):
        return [failed, event("job.retry_scheduled", retry_at=o.when.isoformat())]
    assert isinstance(o, Failed)
    return [failed]
