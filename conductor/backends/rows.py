"""What the backends take and give: named rows, never read by position."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


class EventRow(NamedTuple):
    """One event to append (``conductor.journal.writer`` builds and checks them)."""

    type: str
    subject_type: str
    subject_id: str
    data: dict[str, Any]
    actor: str
    trace_id: str


@dataclass(frozen=True)
class ClaimRequest:
    """One claim: which queue, for whom, how many, and what keeps jobs out."""

    queue: str
    worker: str
    limit: int
    now: datetime
    lease_s: int  # leases end this long after the claim, by the database's clock
    allowance: dict[str, int]  # free slots of each type with a concurrency limit
    blocked: tuple[str, ...]  # breakers whose jobs stay out
    only: str  # a half-open breaker's trial claim: only its jobs
    source: str  # the state claimed from, checked by the one door
    target: str  # the state claimed into


@dataclass(frozen=True)
class CompleteRow:
    """One attempt's outcome, to write while ``worker`` still holds the job."""

    id: str
    attempt: int
    worker: str
    state: str
    result: Any
    has_result: bool  # a result was returned (it may be JSON null)
    error: dict | None
    run_at: datetime | None  # a retry's due time; None keeps the job's
    finished_at: datetime | None
    result_file: str
    result_reference: dict | None  # None keeps the job's
    attempt_status: str
    attempt_finished_at: datetime
    duration_ms: int
    error_code: str
    error_message: str
    traceback: str
    retry_at: datetime | None


def by_name(cursor) -> list[dict[str, Any]]:
    """The cursor's rows as dicts keyed by column name."""
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
