"""What happens to a job after an attempt. Pure: ``now`` is an argument.

| attempt result              | retries left | outcome                              |
|-----------------------------|--------------|--------------------------------------|
| returned a JSON value       | any          | Succeeded(result)                    |
| raised, retryable           | yes          | RetryAt(now + delay, error)          |
| raised, retryable           | no           | Dead(error): the dead-letter queue   |
| raised, not retryable       | any          | Dead(error)                          |
| stopped on a cancel request | any          | Cancelled()                          |

``attempt`` is 1-based; ``max_retries`` counts the attempts after the first, so a job
with ``max_retries=3`` runs at most 4 times. Whether an error is retryable and how long
to wait are decided by the caller (``recovery.classify``, ``recovery.backoff``) and
passed in; without them the handler's own flag and a plain doubling delay apply.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: Used until a retry policy applies: 1 s, 2 s, 4 s … capped at 5 minutes.
DEFAULT_INITIAL_DELAY_S = 1.0
DEFAULT_MAX_DELAY_S = 300.0


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str
    traceback: str = ""
    retryable: bool | None = None
    exception_class: str = ""

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Succeeded:
    result: Any


@dataclass(frozen=True)
class RetryAt:
    when: datetime
    error: ErrorInfo


@dataclass(frozen=True)
class Dead:
    """Failed for good: the job goes to the dead-letter queue."""

    error: ErrorInfo


@dataclass(frozen=True)
class Cancelled:
    """The handler stopped because a graceful cancel was requested."""


Outcome = Succeeded | RetryAt | Dead | Cancelled


def default_delay_s(attempt: int) -> float:
    return min(DEFAULT_INITIAL_DELAY_S * 2 ** (attempt - 1), DEFAULT_MAX_DELAY_S)


def decide(
    *,
    error: ErrorInfo | None,
    result: Any,
    attempt: int,
    max_retries: int,
    now: datetime,
    cancelled: bool = False,
    retryable: bool | None = None,
    delay_ms: int | None = None,
) -> Outcome:
    if cancelled:
        return Cancelled()
    if error is None:
        return Succeeded(result)
    if retryable is None:
        retryable = error.retryable is not False
    if not retryable or attempt > max_retries:
        return Dead(error)
    if delay_ms is None:
        delay_ms = int(default_delay_s(attempt) * 1000)
    return RetryAt(now + timedelta(milliseconds=delay_ms), error)
