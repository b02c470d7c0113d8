"""What a handler sees while it runs: its job, its attempt, and a way to report back.

A handler is ``def handler(ctx: JobContext, payload: dict) -> JSON``. It raises
``JobError(code, message)`` to fail with a code the recovery rules understand; any
other exception fails with the exception's class name as the code.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conductor import jsonvalue


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


#: A result reference: a URI with a scheme, at most this long; metadata this large.
REFERENCE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
REFERENCE_URI_MAX = 2048
REFERENCE_METADATA_MAX_BYTES = 8192


def reference_problem(uri: Any, metadata: dict) -> str:
    """What is wrong with a result reference ("" when nothing is)."""
    if not isinstance(uri, str) or not REFERENCE_URI.fullmatch(uri):
        return "uri must be a URI with a scheme, such as s3://bucket/key"
    if len(uri) > REFERENCE_URI_MAX:
        return f"uri is longer than {REFERENCE_URI_MAX} characters"
    found = jsonvalue.problems(metadata, path="metadata")
    if found:
        return f"{found[0].field}: {found[0].message}"
    try:
        size = len(json.dumps(metadata, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        return f"metadata is not JSON: {exc}"
    if size > REFERENCE_METADATA_MAX_BYTES:
        return f"metadata is larger than {REFERENCE_METADATA_MAX_BYTES} bytes"
    return ""


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
    on_reference: Callable[[dict], None] = field(default=_ignore, repr=False)

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

    def refer(self, uri: str, **metadata: Any) -> None:
        """Record that the result lives in another system: ``uri`` (any scheme —
        ``s3://bucket/key``, ``https://…``) and JSON ``metadata`` (size, etag …). The
        API shows it as the job's ``result_reference``; the returned result stays as
        it is. A bad reference fails the attempt (``RESULT_INVALID``, not retried)."""
        problem = reference_problem(uri, metadata)
        if problem:
            raise JobError(
                "RESULT_INVALID", f"result reference: {problem}", retryable=False
            )
        self.on_reference({"uri": uri, "metadata": metadata})

    @property
    def cancelled(self) -> bool:
        return self.cancel_requested()

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested():
            raise JobCancelled(self.job_id)
