"""What happens to a job after an attempt. Pure: ``now`` is an argument.

| attempt result              | retries left | outcome                              |
|-----------------------------|--------------|--------------------------------------|
| returned a JSON value       | any          | Succeeded(result)                    |
| raised, retryable           | yes          | RetryAt(now + delay(attempt), error) |
| raised, retryable           | no           | Failed(error)                        |
| raised, not retryable       | any          | Failed(error)                        |
| stopped on a cancel request | any          | Cancelled()                          |

``attempt`` is 1-based; ``max_retries`` counts the attempts after the first, so a job
with ``max_retries=3`` runs at most 4 times.
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
class Failed:
    error: ErrorInfo


@dataclass(frozen=True)
class Cancelled:
    """The handler stopped because a graceful cancel was requested."""


Outcome = Succeeded | RetryAt | Failed | Cancelled


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
) -> Outcome:
    if cancelled:
        return Cancelled()
    if error is None:
        return Succeeded(result)
    if error.retryable is False or attempt > max_retries:
        return Failed(error)
    return RetryAt(now + timedelta(seconds=default_delay_s(attempt)), error)
