"""Demo job types (SPEC §14): ``demo.noop``, ``demo.sleep``, ``demo.flaky``."""

import random
import time

from conductor.engine.context import JobContext, JobError
from conductor.registry import job_type


@job_type(
    "demo.noop",
    schema={"type": "object", "additionalProperties": True},
    description='Does nothing and returns {"ok": true}. Useful to measure overhead.',
    sample_payload={},
    timeout_s=30,
)
def noop(ctx: JobContext, payload: dict) -> dict:
    return {"ok": True}


@job_type(
    "demo.sleep",
    schema={
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 3600}},
        "required": ["seconds"],
        "additionalProperties": False,
    },
    description="Sleeps for `seconds`, reporting progress and honouring cancellation.",
    sample_payload={"seconds": 2},
    timeout_s=3600,
    max_timeout_s=7200,
)
def sleep(ctx: JobContext, payload: dict) -> dict:
    seconds = float(payload["seconds"])
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ctx.raise_if_cancelled()
        time.sleep(min(left, 0.25))
        done = 100.0 if seconds == 0 else 100.0 * (1 - max(left - 0.25, 0) / seconds)
        ctx.progress(done, stage="sleeping")
    return {"slept": seconds}


@job_type(
    "demo.flaky",
    schema={
        "type": "object",
        "properties": {
            "fail_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "error_code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,63}$"},
        },
        "required": ["fail_rate"],
        "additionalProperties": False,
    },
    description=(
        "Fails with probability `fail_rate`, raising `error_code` "
        "(default SERVICE_UNAVAILABLE, retryable)."
    ),
    sample_payload={"fail_rate": 0.5},
    timeout_s=30,
)
def flaky(ctx: JobContext, payload: dict) -> dict:
    if random.random() < payload["fail_rate"]:
        code = payload.get("error_code", "SERVICE_UNAVAILABLE")
        raise JobError(code, f"demo.flaky failed on purpose ({code})")
    return {"ok": True, "attempt": ctx.attempt}
