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
from conductor.engine.outcome import Cancelled, Dead, Outcome, RetryAt, Succeeded
from conductor.models import Job, RetryAttempt
from conductor.services.events import NewEvent, events_record
from conductor.states import JobState


def complete_batch(*, finished: Sequence[Finished], worker: str, now: datetime) -> int:
    """Apply every outcome still ours; return how many were written."""
    if not finished:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            owned = _complete_postgresql(finished, worker, now)
            done = [f for f in finished if f.job.id in owned]
        else:
            done = [f for f in finished if _update_job_single(f, worker, now)]
            for f in done:
                _update_attempt_single(f)
            events_record((e for f in done for e in _events(f, worker)), at=now)
        _follow_up(done)
    return len(done)


_COMPLETE_SQL = """
WITH v AS (
    SELECT * FROM unnest(
        %(ids)s::uuid[], %(attempts)s::int[], %(states)s::text[], %(results)s::jsonb[],
        %(errors)s::jsonb[], %(run_ats)s::timestamptz[], %(finished)s::timestamptz[],
        %(files)s::text[]
    ) AS v(id, attempt, state, result, error, run_at, finished_at, result_file)
), jobs AS (
    UPDATE conductor_job AS j
    SET state = v.state, result = v.result, error = v.error,
        run_at = COALESCE(v.run_at, j.run_at), finished_at = v.finished_at,
        result_file = COALESCE(NULLIF(v.result_file, ''), j.result_file),
        progress_pct = CASE WHEN v.state = 'succeeded' THEN 100 ELSE j.progress_pct END,
        lease_expires_at = NULL, locked_by = '', updated_at = %(now)s
    FROM v
    WHERE j.id = v.id AND j.attempts = v.attempt
      AND j.state = 'running' AND j.locked_by = %(worker)s
    RETURNING j.id
), attempts AS (
    UPDATE conductor_retryattempt AS a
    SET status = x.status, finished_at = x.finished_at, duration_ms = x.duration,
        error_code = x.code, error_message = x.message, traceback = x.tb,
        retry_at = x.retry_at
    FROM unnest(
        %(ids)s::uuid[], %(attempts)s::int[], %(a_status)s::text[],
        %(a_finished)s::timestamptz[], %(durations)s::int[], %(codes)s::text[],
        %(messages)s::text[], %(tbs)s::text[], %(retry_ats)s::timestamptz[]
    ) AS x(job_id, attempt, status, finished_at, duration, code, message, tb, retry_at)
    JOIN jobs ON jobs.id = x.job_id
    WHERE a.job_id = x.job_id AND a.attempt_number = x.attempt
), events AS (
    INSERT INTO conductor_event
        (type, subject_type, subject_id, data, actor, trace_id, created_at)
    SELECT e.type, 'job', e.job_id::text, e.data, '', e.trace_id, %(now)s
    FROM unnest(
        %(e_jobs)s::uuid[], %(e_types)s::text[], %(e_data)s::jsonb[],
        %(e_traces)s::text[]
    ) WITH ORDINALITY AS e(job_id, type, data, trace_id, n)
    JOIN jobs ON jobs.id = e.job_id
    ORDER BY e.n
)
SELECT id FROM jobs
"""


def _complete_postgresql(finished, worker, now) -> set[str]:
    """One round trip: job rows, attempt rows and events of every job still ours."""
    jobs = list(zip(*(_job_values(f) for f in finished), strict=True))
    attempts = list(zip(*(_attempt_values(f) for f in finished), strict=True))
    events = [e for f in finished for e in _events(f, "")]
    params = {
        "now": now,
        "worker": worker,
        "ids": list(jobs[0]),
        "attempts": list(jobs[1]),
        "states": list(jobs[2]),
        "results": list(jobs[3]),
        "errors": list(jobs[4]),
        "run_ats": list(jobs[5]),
        "finished": list(jobs[6]),
        "files": list(jobs[7]),
        "a_status": list(attempts[2]),
        "a_finished": list(attempts[3]),
        "durations": list(attempts[4]),
        "codes": list(attempts[5]),
        "messages": list(attempts[6]),
        "tbs": list(attempts[7]),
        "retry_ats": list(attempts[8]),
        "e_jobs": [e.subject_id for e in events],
        "e_types": [e.type for e in events],
        "e_data": [json.dumps(e.data) for e in events],
        "e_traces": [e.trace_id for e in events],
    }
    with connection.cursor() as cursor:
        cursor.execute(_COMPLETE_SQL, params)
        return {str(row[0]) for row in cursor.fetchall()}


def _follow_up(done: Sequence[Finished]) -> None:
    """In the same transaction: dead letters, breakers, then waiting dependents."""
    dead = [f.job.id for f in done if isinstance(f.outcome, Dead)]
    if dead:
        from recovery.services import dead_letters_add

        dead_letters_add(job_ids=dead, now=max(f.finished_at for f in done))
    _tell_breakers(done)
    ended = [
        f.job.id
        for f in done
        if f.job.has_dependents and not isinstance(f.outcome, RetryAt)
    ]
    if ended:
        from conductor.services.dependencies import dependents_resolve

        dependents_resolve(finished=ended)


def _tell_breakers(done: Sequence[Finished]) -> None:
    by_service: dict[str, list] = {}
    for f in done:
        if f.job.breaker:
            by_service.setdefault(f.job.breaker, []).append(f)
    if not by_service:
        return
    from recovery.services import BreakerOutcome, breaker_record

    for service, items in sorted(by_service.items()):
        breaker_record(
            service=service,
            outcomes=[
                BreakerOutcome(
                    job_id=f.job.id,
                    succeeded=isinstance(f.outcome, Succeeded),
                    counts=f.for_breaker,
                    at=f.finished_at,
                )
                for f in items
            ],
        )


_STATES = {
    Succeeded: JobState.SUCCEEDED,
    RetryAt: JobState.PENDING,
    Dead: JobState.DEAD,
    Cancelled: JobState.CANCELLED,
}


def _state(outcome: Outcome) -> str:
    return _STATES[type(outcome)]


def _error(outcome: Outcome) -> dict | None:
    if isinstance(outcome, RetryAt | Dead):
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


def _attempt_values(f: Finished) -> tuple:
    o = f.outcome
    error = o.error if isinstance(o, RetryAt | Dead) else None
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


def _update_job_single(f: Finished, worker: str, now: datetime) -> bool:
    values = _job_values(f)
    attempt, state, run_at, finished_at = values[1], values[2], values[5], values[6]
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
    assert isinstance(o, Dead)
    return [failed]
