"""PostgreSQL: the submit's insert, the engine's claim and completion, the journal's
append and read — each one statement, one round trip.

Statements are named module constants; table names come from the models; state
names are parameters (the one door, ``conductor.services.transitions``, checks them
against the state table before a statement runs). Rows come back as dicts keyed by
column name (``rows.by_name``).
"""

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from conductor.backends.rows import ClaimRequest, CompleteRow, EventRow, by_name
from conductor.models import Event, Job, JobType, RetryAttempt
from conductor.states import JobState

JOB = Job._meta.db_table
JOB_TYPE = JobType._meta.db_table
ATTEMPT = RetryAttempt._meta.db_table
EVENT = Event._meta.db_table

# --- submit -------------------------------------------------------------------------

# Columns a bulk insert sends; one that is the same in every row is sent once.
INSERT_COLUMNS = {
    "id": "uuid", "job_type_id": "text", "payload": "jsonb", "payload_version": "int",
    "state": "text", "priority": "int", "queue": "text", "run_at": "timestamptz",
    "max_retries": "int", "timeout_s": "int", "breaker": "text",
    "idempotency_key": "text", "parent_id": "uuid", "workflow_run_id": "uuid",
    "workflow_node": "text", "dependency_mode": "text", "on_dependency_failure": "text",
    "has_dependents": "bool", "error": "jsonb", "finished_at": "timestamptz",
    "retry_policy": "jsonb",
}  # fmt: skip

JOBS_INSERT = f"""
WITH r AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(n int, {{varying}})
)
INSERT INTO {JOB} (
    id, type, payload, payload_version, state, priority, base_priority, queue,
    run_at, attempts, max_retries, timeout_s, breaker, idempotency_key, locked_by,
    retry_policy, parent_id, workflow_run_id, workflow_node, dependency_mode,
    on_dependency_failure, dependency_retries, has_dependents, result_file, error,
    progress_stage, progress_message, cancel_mode, cancel_reason, cancelled_by,
    trace_id, created_by, created_at, finished_at, updated_at
)
SELECT {{id}}, {{job_type_id}}, {{payload}}, {{payload_version}}, {{state}},
    {{priority}}, {{priority}}, {{queue}}, {{run_at}}, 0, {{max_retries}},
    {{timeout_s}}, {{breaker}}, {{idempotency_key}}, '', {{retry_policy}},
    {{parent_id}}, {{workflow_run_id}}, {{workflow_node}}, {{dependency_mode}},
    {{on_dependency_failure}}, 0, {{has_dependents}}, '', {{error}},
    '', '', '', '', '', %(trace)s, %(actor)s, %(now)s, {{finished_at}}, %(now)s
FROM r ORDER BY n
"""


def jobs_insert(rows: list[dict], *, now: datetime, actor: str, trace_id: str) -> None:
    """New job rows in one statement.

    The rows travel as one JSON document read by ``jsonb_to_recordset``; columns
    that are the same in every row (usually most of them) are sent once as plain
    parameters, so 10,000 jobs cost little more than their payloads.
    """
    columns = {name: [_plain(row[name]) for row in rows] for name in INSERT_COLUMNS}
    constant = {name for name, values in columns.items() if _same(values)}
    varying = [name for name in INSERT_COLUMNS if name not in constant]
    params = {"now": now, "actor": actor, "trace": trace_id}
    params |= {f"c_{name}": _param(columns[name][0], name) for name in constant}
    sql = JOBS_INSERT.format(
        varying=", ".join(f"{name} {INSERT_COLUMNS[name]}" for name in varying)
        or "unused int",
        **{
            name: (f"r.{name}" if name in varying
                   else f"%(c_{name})s::{INSERT_COLUMNS[name]}")
            for name in INSERT_COLUMNS
        },
    )  # fmt: skip
    params["rows"] = json.dumps(
        [
            {"n": n, **{name: columns[name][n] for name in varying}}
            for n in range(len(rows))
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _plain(value):
    """A value as JSON carries it (ids and moments as text)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _same(values: list) -> bool:
    first = values[0]
    return all(value == first for value in values)


def _param(value, name: str):
    """A constant column's value as a query parameter."""
    if INSERT_COLUMNS[name] == "jsonb" and value is not None:
        return json.dumps(value)
    return value


# --- claim --------------------------------------------------------------------------

CLAIMED_COLUMNS = (
    "id", "type", "payload", "attempts", "max_retries", "timeout_s", "trace_id",
    "checkpoint", "retry_policy", "breaker",
)  # fmt: skip

# For each job type, walk its slice of the partial index conductor_job_due with
# FOR UPDATE SKIP LOCKED; rank per type; take the batch best priority first and
# round-robin across types; mark the rows running and insert their attempt rows.
JOBS_CLAIM = f"""
WITH locked AS (
    SELECT c.id, c.type, c.priority, c.run_at
    FROM {JOB_TYPE} AS t
    CROSS JOIN LATERAL (
        SELECT j.id, j.type, j.priority, j.run_at FROM {JOB} AS j
        WHERE j.type = t.name AND j.queue = %(queue)s AND j.state = %(source)s
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
    UPDATE {JOB} AS j
    SET state = %(target)s, attempts = j.attempts + 1,
        lease_expires_at = statement_timestamp() + make_interval(secs => %(lease_s)s),
        locked_by = %(worker)s, started_at = COALESCE(j.started_at, %(now)s),
        attempt_started_at = NULL, updated_at = %(now)s
    FROM chosen WHERE j.id = chosen.id
    RETURNING {", ".join("j." + c for c in CLAIMED_COLUMNS)}, chosen.position
), attempts AS (
    INSERT INTO {ATTEMPT}
        (job_id, attempt_number, status, started_at, worker, error_code,
         error_message, traceback)
    SELECT id, attempts, %(attempt_status)s, %(now)s, %(worker)s, '', '', ''
    FROM claimed
)
SELECT * FROM claimed ORDER BY position
"""


def jobs_claim(claim: ClaimRequest) -> list[dict[str, Any]]:
    """Claim up to ``claim.limit`` due jobs; their rows (``CLAIMED_COLUMNS``) in the
    order they should run."""
    params = {
        "queue": claim.queue,
        "worker": claim.worker,
        "limit": claim.limit,
        "now": claim.now,
        "lease_s": claim.lease_s,
        "allow": json.dumps(claim.allowance),
        "blocked": list(claim.blocked),
        "only": claim.only,
        "source": claim.source,
        "target": claim.target,
        "attempt_status": RetryAttempt.Status.PENDING,
    }
    with connection.cursor() as cursor:
        cursor.execute(JOBS_CLAIM, params)
        rows = by_name(cursor)
    for row in rows:
        del row["position"]
        _json_columns(row, ("payload", "checkpoint", "retry_policy"))
    return rows


def _json_columns(row: dict, names: Sequence[str]) -> None:
    for name in names:
        if isinstance(row[name], str | bytes):
            row[name] = json.loads(row[name])


# --- completion ---------------------------------------------------------------------

# Each job row is written only while the worker still holds it (same worker, same
# attempt, still running); its attempt row only if the job row was. The rows are
# locked in id order first, as a submit locks the jobs it depends on, so the two never
# deadlock; ``has_dependents`` comes back as it is once the lock is held (a submit
# that committed a dependent meanwhile has set it).
JOBS_COMPLETE = f"""
WITH v AS (
    SELECT * FROM unnest(
        %(ids)s::uuid[], %(attempts)s::int[], %(workers)s::text[], %(states)s::text[],
        %(results)s::jsonb[], %(errors)s::jsonb[], %(run_ats)s::timestamptz[],
        %(finished)s::timestamptz[], %(files)s::text[], %(refs)s::jsonb[]
    ) AS v(id, attempt, worker, state, result, error, run_at, finished_at, result_file,
           result_reference)
), locked AS (
    SELECT j.id FROM {JOB} AS j WHERE j.id = ANY(%(ids)s::uuid[])
    ORDER BY j.id FOR UPDATE
), jobs AS (
    UPDATE {JOB} AS j
    SET state = v.state, result = v.result, error = v.error,
        run_at = COALESCE(v.run_at, j.run_at), finished_at = v.finished_at,
        result_file = COALESCE(NULLIF(v.result_file, ''), j.result_file),
        result_reference = COALESCE(v.result_reference, j.result_reference),
        progress_pct = CASE WHEN v.state = %(succeeded)s THEN 100
                            ELSE j.progress_pct END,
        lease_expires_at = NULL, locked_by = '', updated_at = %(now)s
    FROM v
    WHERE j.id = v.id AND j.id IN (SELECT id FROM locked) AND j.attempts = v.attempt
      AND j.state = %(source)s AND j.locked_by = v.worker
    RETURNING j.id, j.has_dependents
), attempts AS (
    UPDATE {ATTEMPT} AS a
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
)
SELECT id, has_dependents FROM jobs
"""


def jobs_complete(
    rows: Sequence[CompleteRow], *, source: str, now: datetime
) -> dict[str, bool]:
    """Write every outcome whose job is still held; the ids written, each with
    whether it has dependents now."""
    params: dict[str, Any] = {
        "now": now,
        "source": source,
        "succeeded": JobState.SUCCEEDED,
        "ids": [r.id for r in rows],
        "attempts": [r.attempt for r in rows],
        "workers": [r.worker for r in rows],
        "states": [r.state for r in rows],
        "results": [_json_or_none(r.result, r.has_result) for r in rows],
        "errors": [_json_or_none(r.error, r.error is not None) for r in rows],
        "run_ats": [r.run_at for r in rows],
        "finished": [r.finished_at for r in rows],
        "files": [r.result_file for r in rows],
        "refs": [
            _json_or_none(r.result_reference, r.result_reference is not None)
            for r in rows
        ],
        "a_status": [r.attempt_status for r in rows],
        "a_finished": [r.attempt_finished_at for r in rows],
        "durations": [r.duration_ms for r in rows],
        "codes": [r.error_code for r in rows],
        "messages": [r.error_message for r in rows],
        "tbs": [r.traceback for r in rows],
        "retry_ats": [r.retry_at for r in rows],
    }
    with connection.cursor() as cursor:
        cursor.execute(JOBS_COMPLETE, params)
        return {str(row["id"]): row["has_dependents"] for row in by_name(cursor)}


def _json_or_none(value: Any, present: bool) -> str | None:
    return json.dumps(value) if present else None


# --- the journal --------------------------------------------------------------------

# Columns of an appended event: a column with the same value in every row is sent
# once (a bulk submit's 10,000 job.submitted events differ only in their subject).
EVENT_COLUMNS = {
    "type": "text", "subject_type": "text", "subject_id": "text", "data": "jsonb",
    "actor": "text", "trace_id": "text",
}  # fmt: skip

EVENTS_APPEND = f"""
INSERT INTO {EVENT} (type, subject_type, subject_id, data, actor, trace_id, created_at)
SELECT {{type}}, {{subject_type}}, {{subject_id}}, {{data}}, {{actor}}, {{trace_id}},
       %(at)s
FROM unnest(%(n)s::int[]{{arrays}}) WITH ORDINALITY AS e(n{{names}}, position)
ORDER BY e.position
"""

# The reader's position: (tx, id), where tx is the writing transaction's id. Only
# events of transactions older than every transaction still running (the snapshot's
# xmin) are returned, so an event that commits later never lands behind the cursor.
EVENTS_POSITION = f"""
SELECT tx, id FROM {EVENT} WHERE id <= %(after)s ORDER BY id DESC LIMIT 1
"""

EVENTS_AFTER = f"""
SELECT id, type, subject_type, subject_id, data, actor, trace_id, created_at, tx
FROM {EVENT}
WHERE (tx, id) > (%(tx)s, %(id)s)
  AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
  AND (cardinality(%(types)s::text[]) = 0 OR type = ANY(%(types)s::text[]))
ORDER BY tx, id
LIMIT %(limit)s
"""


def events_append(rows: Sequence[EventRow], *, at: datetime) -> int:
    params: dict[str, Any] = {"at": at, "n": list(range(len(rows)))}
    arrays, names, select = "", "", {}
    for name, kind in EVENT_COLUMNS.items():
        values = [_event_value(getattr(row, name), kind) for row in rows]
        if _same(values):
            params[name] = values[0]
            select[name] = f"%({name})s::{kind}"
        else:
            params[name] = values
            arrays += f", %({name})s::{kind}[]"
            names += f", {name}"
            select[name] = f"e.{name}"
    sql = EVENTS_APPEND.format(arrays=arrays, names=names, **select)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    return len(rows)


def _event_value(value: Any, kind: str) -> Any:
    return json.dumps(value, sort_keys=True) if kind == "jsonb" else value


def events_after(*, after: int, types: Sequence[str], limit: int) -> list[Event]:
    with connection.cursor() as cursor:
        cursor.execute(EVENTS_POSITION, {"after": after})
        found = by_name(cursor)
        tx, last = (found[0]["tx"], found[0]["id"]) if found else (-1, 0)
        cursor.execute(
            EVENTS_AFTER, {"tx": tx, "id": last, "types": list(types), "limit": limit}
        )
        return [_event(row) for row in by_name(cursor)]


def _event(row: dict) -> Event:
    _json_columns(row, ("data",))
    return Event(**row)


def commit_lazily() -> None:
    """This transaction's commit returns before its WAL reaches the disk."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
