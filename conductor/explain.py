"""Why isn't this job running? Pure: gathered facts in, reasons in words and data out.

Each reason is ``{code, message, data}``; codes are stable for scripts:
``SCHEDULED``, ``RETRY_SCHEDULED``, ``TYPE_PAUSED``, ``CONCURRENCY_LIMIT``, ``QUEUED``,
``NO_WORKERS``, ``WAITING_ON``, ``PARKED``, ``RUNNING``, ``CANCEL_REQUESTED``,
``FINISHED``.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Facts:
    state: str
    now: datetime
    run_at: datetime
    attempts: int
    max_retries: int
    type_paused: bool = False
    max_concurrency: int | None = None
    running_of_type: int = 0
    ahead: int = 0
    workers_seen: int = 0
    dependencies: dict[str, str] = field(default_factory=dict)
    dependency_mode: str = "all"
    locked_by: str = ""
    lease_expires_at: datetime | None = None
    progress_pct: float | None = None
    cancel_requested: bool = False
    finished_at: datetime | None = None
    error: dict | None = None
    breaker: str = ""
    breaker_until: datetime | None = None


def _reason(code: str, message: str, **data: Any) -> dict:
    return {"code": code, "message": message, "data": data}


def explain(facts: Facts) -> list[dict]:
    handler = _BY_STATE.get(facts.state, _finished)
    return handler(facts)


def _pending(f: Facts) -> list[dict]:
    if f.run_at > f.now:
        code = "RETRY_SCHEDULED" if f.attempts else "SCHEDULED"
        what = "a retry is scheduled" if f.attempts else "it is scheduled"
        return [
            _reason(
                code,
                f"{what} for {f.run_at.isoformat()}",
                run_at=f.run_at.isoformat(),
                attempts=f.attempts,
            )
        ]
    reasons = []
    if f.type_paused:
        reasons.append(_reason("TYPE_PAUSED", "its job type is paused by an operator"))
    if f.max_concurrency is not None and f.running_of_type >= f.max_concurrency:
        reasons.append(
            _reason(
                "CONCURRENCY_LIMIT",
                f"its type allows {f.max_concurrency} running at once and "
                f"{f.running_of_type} are running",
                limit=f.max_concurrency,
                running=f.running_of_type,
            )
        )
    if not f.workers_seen:
        reasons.append(_reason("NO_WORKERS", "no worker has been seen in 2 minutes"))
    reasons.append(
        _reason(
            "QUEUED",
            f"it is due; {f.ahead} job(s) are ahead of it in its queue",
            ahead=f.ahead,
        )
    )
    return reasons


def _waiting(f: Facts) -> list[dict]:
    open_ = {d: s for d, s in f.dependencies.items() if s != "succeeded"}
    names = ", ".join(f"{d} ({s})" for d, s in open_.items())
    return [
        _reason(
            "WAITING_ON",
            f"waiting for {f.dependency_mode} of its dependencies: {names}",
            dependencies=open_,
            mode=f.dependency_mode,
        )
    ]


def _parked(f: Facts) -> list[dict]:
    until = f.breaker_until.isoformat() if f.breaker_until else "it half-opens"
    return [
        _reason(
            "PARKED",
            f"breaker {f.breaker!r} is open until {until}",
            breaker=f.breaker,
            until=f.breaker_until.isoformat() if f.breaker_until else None,
        )
    ]


def _running(f: Facts) -> list[dict]:
    lease = f.lease_expires_at.isoformat() if f.lease_expires_at else None
    reasons = [
        _reason(
            "RUNNING",
            f"it is running on {f.locked_by} (attempt {f.attempts})",
            worker=f.locked_by,
            lease_expires_at=lease,
            progress_pct=f.progress_pct,
        )
    ]
    if f.cancel_requested:
        reasons.append(_reason("CANCEL_REQUESTED", "a graceful cancel was requested"))
    return reasons


def _finished(f: Facts) -> list[dict]:
    at = f.finished_at.isoformat() if f.finished_at else None
    return [
        _reason(
            "FINISHED",
            f"it has finished: {f.state}",
            state=f.state,
            finished_at=at,
            error=f.error,
        )
    ]


_BY_STATE = {
    "pending": _pending,
    "waiting": _waiting,
    "parked": _parked,
    "running": _running,
}
