"""What a handler sees while it runs: its job, its attempt, and a way to report back.

A handler is ``def handler(ctx: JobContext, payload: dict) -> JSON``. It raises
``JobError(code, message)`` to fail with a code the recovery rules understand; any
other exception fails with the exception's class name as the code.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class JobError(Exception):
    """A failure with a code (``HTTP_5XX``, ``TIMEOUT``, ``VALIDATION_ERROR`` …)."""

    def __init__(self, code: str, message: str = "", *, retryable: bool | None = None):
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.retryable = retryable


class JobCancelled(Exception):
    """Raised in a handler by ``ctx.raise_if_cancelled()`` after a cancel request."""


def _never() -> bool:
    return False


def _ignore(*_args: Any, **_kwargs: Any) -> None:
    return None


@dataclass
class JobContext:
    """Handed to every handler. ``last_checkpoint`` is what an earlier attempt saved."""

    job_id: str
    job_type: str
    attempt: int
    trace_id: str = ""
    last_checkpoint: Any = None
    cancel_requested: Callable[[], bool] = field(default=_never, repr=False)
    on_progress: Callable[..., None] = field(default=_ignore, repr=False)
    on_checkpoint: Callable[[Any], None] = field(default=_ignore, repr=False)
    on_file: Callable[..., str] = field(default=_ignore, repr=False)

    def progress(self, pct: float, stage: str = "", message: str = "") -> None:
        """Report progress (0 to 100). Writes are throttled to 4 per second."""
        self.on_progress(max(0.0, min(100.0, float(pct))), stage[:255], message[:2000])

    def checkpoint(self, data: Any) -> None:
        """Save JSON ``data``; a retry (or a run after a crash) gets it back as
        ``ctx.last_checkpoint`` and can resume instead of starting over."""
        self.on_checkpoint(data)
        self.last_checkpoint = data

    def save_file(self, name: str, content: bytes | str, content_type: str = "") -> str:
        """Store a result file (Django storage); it is downloadable from the API."""
        return self.on_file(name, content, content_type)

    @property
    def cancelled(self) -> bool:
        return self.cancel_requested()

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested():
            raise JobCancelled(self.job_id)
