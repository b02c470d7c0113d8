"""Job types that exist only for tests (names start with ``test.``).

Importing this module registers them in the code registry; the ``JobType`` rows are
created on first submit (``job_type_ensure``), like any registered type.
"""

import hashlib
import time

from conductor.engine.context import JobContext, JobError
from conductor.registry import job_type

OPEN = {"type": "object", "additionalProperties": True}


@job_type("test.echo", schema=OPEN, description="Returns its payload.", timeout_s=30)
def echo(ctx: JobContext, payload: dict) -> dict:
    return payload


@job_type(
    "test.fail",
    schema={
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "retryable": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    description="Fails with `code` (default BOOM); not retryable unless asked.",
    timeout_s=30,
)
def fail(ctx: JobContext, payload: dict) -> dict:
    code = payload.get("code", "BOOM")
    raise JobError(
        code, f"failed on purpose ({code})", retryable=payload.get("retryable", False)
    )


@job_type(
    "test.fail_first",
    schema=OPEN,
    description="Fails (retryable) on its first attempt, returns the attempt after.",
    timeout_s=30,
)
def fail_first(ctx: JobContext, payload: dict) -> dict:
    if ctx.attempt == 1:
        raise JobError("FIRST_TRY", "the first attempt always fails", retryable=True)
    return {"attempt": ctx.attempt}


@job_type(
    "test.progress",
    schema=OPEN,
    description="Reports progress 50 times as fast as it can, the last one at 100 %.",
    timeout_s=30,
)
def progress(ctx: JobContext, payload: dict) -> dict:
    for step in range(1, 51):
        ctx.progress(step * 2, stage="counting", message=f"step {step} of 50")
    return {"steps": 50}


@job_type(
    "test.progress_stop",
    schema=OPEN,
    description="Reports 40 % and then fails for good.",
    timeout_s=30,
)
def progress_stop(ctx: JobContext, payload: dict) -> dict:
    ctx.progress(40, stage="halfway", message="forty percent")
    raise JobError("HALTED", "stopped after 40 %", retryable=False)


@job_type(
    "test.file",
    schema={
        "type": "object",
        "properties": {"name": {"type": "string"}, "content": {"type": "string"}},
        "required": ["name", "content"],
        "additionalProperties": False,
    },
    description="Saves `content` as the result file `name`.",
    sample_payload={"name": "out.txt", "content": "hello"},
    timeout_s=30,
)
def file(ctx: JobContext, payload: dict) -> dict:
    path = ctx.save_file(payload["name"], payload["content"], "text/plain")
    return {"saved": bool(path)}


@job_type(
    "test.checkpoint",
    schema=OPEN,
    description="Checkpoints and fails (retryable) on attempt 1; then reports what "
    "it resumed from.",
    timeout_s=30,
)
def checkpoint(ctx: JobContext, payload: dict) -> dict:
    if ctx.attempt == 1:
        ctx.checkpoint({"cursor": 3, "seen": ["a", "b", "c"]})
        raise JobError("INTERRUPTED", "stopped after item 3", retryable=True)
    return {"attempt": ctx.attempt, "resumed_from": ctx.last_checkpoint}


@job_type(
    "test.until_cancelled",
    schema=OPEN,
    description="Loops until a cancel is requested (at most 10 s), then stops.",
    timeout_s=60,
)
def until_cancelled(ctx: JobContext, payload: dict) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ctx.raise_if_cancelled()
        time.sleep(0.02)
    return {"cancel_seen": False}


@job_type(
    "test.secret",
    schema={
        "type": "object",
        "properties": {
            "token": {"type": "string", "minLength": 8, "x-secret": True},
            "account": {
                "type": "object",
                "properties": {"password": {"type": "string", "x-secret": True}},
            },
            "note": {"type": "string"},
            "fail": {"type": "boolean"},
        },
        "required": ["token"],
        "additionalProperties": False,
    },
    description="Returns a digest of the secret it was given; fails quoting it if asked.",
    sample_payload={"token": "<a token of 8 characters or more>"},
    timeout_s=30,
)
def secret(ctx: JobContext, payload: dict) -> dict:
    token = payload["token"]
    if payload.get("fail"):
        raise JobError("LEAKY", f"the service refused token {token}", retryable=False)
    password = payload.get("account", {}).get("password", "")
    return {"token": _digest(token), "password": _digest(password)}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@job_type(
    "test.refer",
    schema=OPEN,
    description="Keeps its result elsewhere: refers to `uri` with `metadata`.",
    timeout_s=30,
)
def refer(ctx: JobContext, payload: dict) -> dict:
    metadata = payload.get("metadata", {})
    if payload.get("not_json"):
        metadata = {**metadata, "tags": {"a", "b"}}  # a set: not JSON
    ctx.refer(payload.get("uri"), **metadata)
    return {"stored": True}
