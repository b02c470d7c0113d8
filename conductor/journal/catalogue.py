"""The event catalogue: every type of event the journal holds, in one place.

Pure: plain data, the standard library only. Nothing else spells an event type: code
names the constants below (``events.JOB_READY``), the journal's writer refuses a type
that is not here or data fields it does not list, and the webhooks' event-types
endpoint, the WebSocket topics and the docs read this module.

Each type says what it is about (``subject``: the ``subject_type`` of its rows, whose
``subject_id`` is the object's id or name), the fields its ``data`` may hold, and the
live-update topic it is streamed on (``None``: journalled, not streamed).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventType:
    name: str
    subject: str
    description: str
    fields: Mapping[str, str] = field(default_factory=dict)
    topic: str | None = None

    def __str__(self) -> str:
        return self.name

    def unknown_fields(self, data: Mapping[str, object]) -> list[str]:
        """Keys of ``data`` this type does not list (a bug in the writer's caller)."""
        if data.keys() <= self.fields.keys():  # the usual case, checked in C
            return []
        return sorted(key for key in data if key not in self.fields)


_ALL: dict[str, EventType] = {}


def _event(
    name: str, subject: str, description: str, topic: str | None, /, **fields: str
) -> EventType:
    event_type = EventType(name, subject, description, fields, topic)
    assert name not in _ALL, f"event type {name} declared twice"
    _ALL[name] = event_type
    return event_type


# Data fields shared by several job events.
_JOB = {
    "type": "the job type",
    "attempt": "the attempt number (1-based)",
    "duration_ms": "how long the attempt ran",
}
_STATE = {"state": "the job's state after the change"}
_ERROR = {"error": "{code, message}", "will_retry": "whether a retry is scheduled"}
_BREAKER = {
    "service": "the breaker's service name",
    "from": "the state before",
    "to": "the state after",
    "reason": "why it changed",
    "open_until": "when an open breaker may half-open (ISO 8601), or null",
}
_DEAD = {
    "type": "the job type",
    "error_code": "the last error's code",
    "signature": "the error signature the entry is grouped by",
    "attempts": "how many attempts the job made",
}
_POLICY = {
    name: "a retry policy field (SPEC §3)"
    for name in (
        "max_retries", "initial_delay_ms", "max_delay_ms", "strategy",
        "backoff_multiplier", "jitter", "delays_ms", "retryable_errors",
        "non_retryable_errors", "description",
    )
}  # fmt: skip
_RULE = {
    name: "an error rule field"
    for name in ("match", "pattern", "retryable", "order", "enabled", "description")
}
_THRESHOLDS = {
    name: "a breaker threshold"
    for name in (
        "failure_threshold", "success_threshold", "timeout_ms", "monitoring_window_ms",
    )
}  # fmt: skip
_OPERATOR = {
    name: "an operator's override of the job type"
    for name in (
        "override_max_retries", "override_timeout_s", "paused", "retry_policy_name",
        "override_retry_policy",
    )
}  # fmt: skip

# --- jobs ------------------------------------------------------------------------

JOB_SUBMITTED = _event(
    "job.submitted", "job", "A job was created.", "jobs",
    type="the job type", queue="its queue", state="pending, waiting or failed",
    run_at="when it is due (ISO 8601)", priority="low, normal, high or critical",
)  # fmt: skip
JOB_STARTED = _event(
    "job.started", "job", "A worker claimed the job and began an attempt.", "jobs",
    type="the job type", attempt="the attempt number", worker="host:pid",
)  # fmt: skip
JOB_SUCCEEDED = _event(
    "job.succeeded", "job", "An attempt returned a result.", "jobs", **_JOB
)
JOB_FAILED = _event(
    "job.failed", "job", "An attempt failed, or a dependency failed for good.",
    "jobs", **_JOB, **_ERROR, **_STATE,
)  # fmt: skip
JOB_RETRY_SCHEDULED = _event(
    "job.retry_scheduled", "job", "A failed job will run again at retry_at.", "jobs",
    **_JOB, retry_at="when the retry is due (ISO 8601)",
)  # fmt: skip
JOB_DEAD_LETTERED = _event(
    "job.dead_lettered", "job", "The job failed for good and went to the DLQ.",
    "dlq", **_DEAD,
)  # fmt: skip
JOB_CANCELLED = _event(
    "job.cancelled", "job", "The job was cancelled (graceful or forced).", "jobs",
    **_JOB, **_STATE, reason="the actor's reason", mode="graceful or forced",
)  # fmt: skip
JOB_CANCEL_REQUESTED = _event(
    "job.cancel_requested", "job", "A graceful cancel of a running job was asked for.",
    "jobs", reason="the actor's reason", mode="graceful",
)  # fmt: skip
JOB_LEASE_EXPIRED = _event(
    "job.lease_expired", "job", "The worker running the job stopped holding it.",
    "jobs", worker="the worker that held it", attempt="the attempt it was running",
    state="the job's state after the sweeper took it back",
    started="false: the worker never reached it, and the attempt was not counted",
)  # fmt: skip
JOB_TIMEOUT_WARNING = _event(
    "job.timeout_warning", "job", "An attempt has used 80 % of its timeout.", "jobs",
    type="the job type", attempt="the attempt number", worker="host:pid",
    elapsed_s="seconds so far", timeout_s="the attempt's timeout",
)  # fmt: skip
JOB_PROGRESS = _event(
    "job.progress", "job", "The handler reported progress.", "jobs",
    pct="0-100", stage="a short stage name", message="free text",
    eta_s="estimated seconds left, or null",
)  # fmt: skip
JOB_PARKED = _event(
    "job.parked", "job", "The job's breaker is open; it waits without using a retry.",
    "jobs", **_STATE, breaker="the breaker's service", until="when it may half-open",
)  # fmt: skip
JOB_UNPARKED = _event(
    "job.unparked", "job", "The job's breaker is no longer open; it is due again.",
    "jobs", **_STATE, breaker="the breaker's service",
)  # fmt: skip
JOB_READY = _event(
    "job.ready", "job", "The job's dependencies are met; it is due.", "jobs", **_STATE
)
JOB_SKIPPED = _event(
    "job.skipped", "job", "A workflow node was skipped (its condition did not hold).",
    "jobs", **_STATE, reason="why",
)  # fmt: skip
JOB_RETRIED = _event(
    "job.retried", "job", "An actor ran a failed or dead job again.", "jobs",
    **_STATE, reason="the actor's reason",
)  # fmt: skip
JOB_RESUMED = _event(
    "job.resumed", "job", "An actor put a cancelled job back in the queue.", "jobs",
    **_STATE,
)  # fmt: skip

# --- dead letters ----------------------------------------------------------------

DLQ_ENTRY_ADDED = _event(
    "dlq.entry_added",
    "deadletter",
    "A dead job's entry joined the DLQ.",
    "dlq",
    **_DEAD,
)
DLQ_ENTRY_RESOLVED = _event(
    "dlq.entry_resolved", "deadletter", "A DLQ entry was resubmitted, resolved or "
    "discarded.", "dlq", id="the entry's id", resolution="how",
    notes="the actor's notes",
)  # fmt: skip
DLQ_CLEANED = _event(
    "dlq.cleaned", "dlq", "Resolved entries older than N days were deleted.", "dlq",
    removed="how many", older_than_days="N",
)  # fmt: skip

# --- breakers ----------------------------------------------------------------------

BREAKER_OPENED = _event(
    "breaker.opened", "breaker", "A breaker opened: its jobs are parked.", "breakers",
    **_BREAKER,
)  # fmt: skip
BREAKER_HALF_OPENED = _event(
    "breaker.half_opened", "breaker", "A breaker lets one trial job through.",
    "breakers", **_BREAKER,
)  # fmt: skip
BREAKER_CLOSED = _event(
    "breaker.closed", "breaker", "A breaker closed: its service is healthy again.",
    "breakers", **_BREAKER,
)  # fmt: skip
BREAKER_UPDATED = _event(
    "breaker.updated", "breaker", "An operator changed a breaker's thresholds.",
    "breakers", **_THRESHOLDS,
)  # fmt: skip

# --- workflows ---------------------------------------------------------------------

WORKFLOW_CREATED = _event(
    "workflow.created", "workflow", "A workflow definition was stored.", None,
    name="the workflow's name", nodes="how many nodes",
)  # fmt: skip
WORKFLOW_STARTED = _event(
    "workflow.started", "workflowrun", "A workflow run began.", "jobs",
    workflow="the workflow's name (null: an inline definition)", nodes="how many",
)  # fmt: skip
WORKFLOW_SUCCEEDED = _event(
    "workflow.succeeded", "workflowrun", "Every node succeeded or was skipped.",
    "jobs", workflow="the workflow's name",
)  # fmt: skip
WORKFLOW_FAILED = _event(
    "workflow.failed", "workflowrun", "A node ended without success.", "jobs",
    workflow="the workflow's name",
)  # fmt: skip
WORKFLOW_COMPENSATING = _event(
    "workflow.compensating", "workflowrun", "The failed run's completed nodes are "
    "being undone: their compensation jobs run one after another, the last node "
    "first.", "jobs",
    workflow="the workflow's name",
    nodes="the nodes compensated, in the order their compensations run",
    jobs="the compensation jobs, in the same order",
)  # fmt: skip

# --- schedules ---------------------------------------------------------------------

_SCHEDULE = {"name": "the schedule's name"}
_RUN = {
    **_SCHEDULE,
    "run": "the run's id",
    "scheduled_for": "the fire time (ISO 8601; an event's time for event triggers)",
    "trigger": "cron, event or manual",
    "status": "the run's status",
}
SCHEDULE_CREATED = _event(
    "schedule.created", "schedule", "A schedule was made.", "schedules",
    **_SCHEDULE, target="the job type, or workflow NAME",
    cron="the cron expression (blank: event-driven)", timezone="its IANA time zone",
    event_type="the event type it fires on (blank: time-driven)",
)  # fmt: skip
SCHEDULE_UPDATED = _event(
    "schedule.updated", "schedule", "A schedule was changed.", "schedules",
    **_SCHEDULE, changed="the names of the fields changed",
)  # fmt: skip
SCHEDULE_DELETED = _event(
    "schedule.deleted", "schedule", "A schedule was deleted, with its history.",
    "schedules", **_SCHEDULE,
)  # fmt: skip
SCHEDULE_PAUSED = _event(
    "schedule.paused", "schedule", "A schedule stopped firing until resumed.",
    "schedules", **_SCHEDULE,
)  # fmt: skip
SCHEDULE_RESUMED = _event(
    "schedule.resumed", "schedule", "A paused schedule fires again, from its next "
    "fire time after now (what fell while it was paused is not caught up).",
    "schedules", **_SCHEDULE, next_execution_at="its next fire time (ISO 8601)",
)  # fmt: skip
SCHEDULE_TRIGGERED = _event(
    "schedule.triggered", "schedule", "A schedule fired: a run started (its job or "
    "workflow run submitted), or was skipped because the previous one still ran.",
    "schedules", **_RUN, job="the run's job id, or null",
    workflow_run="the run's workflow run id, or null",
    event="the triggering event's id",
    error="why the run could not start, if it could not",
)  # fmt: skip
SCHEDULE_RUN_COMPLETED = _event(
    "schedule.run_completed", "schedule", "A run's job (or workflow run) ended.",
    "schedules", **_RUN, execution_time_ms="from the run's start to its end",
    error="the job's error, if it failed",
)  # fmt: skip
SCHEDULE_MISSED = _event(
    "schedule.missed", "schedule", "Fire times passed while beat was down and were "
    "not run (per the catch-up policy); they are recorded as missed runs.",
    "schedules", **_SCHEDULE, count="how many fire times were missed",
    first="the first missed fire time", last="the last missed fire time",
)  # fmt: skip

# --- configuration and the engine --------------------------------------------------

ENGINE_JOBS_AGED = _event(
    "engine.jobs_aged", "engine", "Waiting jobs rose a priority level.", "metrics",
    count="how many", aging_s="seconds per level",
)  # fmt: skip
ENGINE_PRUNED = _event(
    "engine.pruned", "engine", "Retention removed old jobs, schedule runs and events.",
    "metrics",
    jobs="jobs removed (with their attempts)", events="events removed",
    schedule_runs="schedule runs removed (ended, fired as long ago as those jobs)",
    progress_events="progress events coalesced away",
    jobs_before="jobs that ended before this went",
    events_before="events written before this went",
)  # fmt: skip
ENGINE_SECRETS_ROTATED = _event(
    "engine.secrets_rotated", "engine", "Every sealed payload value was sealed again "
    "with the first of CONDUCTOR_SECRETS_KEYS (manage.py secrets_rotate).", None,
    jobs="jobs re-sealed", dead_letters="dead-letter snapshots re-sealed",
    resubmissions="resubmission records re-sealed",
    workflows="workflow definitions and runs re-sealed",
)  # fmt: skip
ENGINE_WAITING_RELEASED = _event(
    "engine.waiting_released", "engine", "The sweeper's safety net moved on waiting "
    "jobs whose dependencies had all ended (a release was missed).", "metrics",
    count="how many", ids="their ids",
)  # fmt: skip
JOB_TYPE_REGISTERED = _event(
    "job_type.registered", "jobtype", "A job type appeared in the code.", None,
    name="the type's name",
)  # fmt: skip
JOB_TYPE_UNREGISTERED = _event(
    "job_type.unregistered", "jobtype", "A job type is no longer in the code.", None,
    name="the type's name",
)  # fmt: skip
JOB_TYPE_UPDATED = _event(
    "job_type.updated", "jobtype", "An operator changed a job type.", None, **_OPERATOR
)
RETRY_POLICY_CREATED = _event(
    "retry_policy.created", "retrypolicy", "A named retry policy was made.", None,
    **_POLICY,
)  # fmt: skip
RETRY_POLICY_UPDATED = _event(
    "retry_policy.updated", "retrypolicy", "A named retry policy changed.", None,
    **_POLICY,
)  # fmt: skip
RETRY_POLICY_DELETED = _event(
    "retry_policy.deleted", "retrypolicy", "A named retry policy was deleted.", None
)
ERROR_RULE_CREATED = _event(
    "error_rule.created", "errorrule", "An error rule was made.", None, **_RULE
)
ERROR_RULE_UPDATED = _event(
    "error_rule.updated", "errorrule", "An error rule changed.", None, **_RULE
)
ERROR_RULE_DELETED = _event(
    "error_rule.deleted", "errorrule", "An error rule was deleted.", None
)
API_KEY_CREATED = _event(
    "api_key.created", "apikey", "An API key was made.", None,
    name="the key's name", prefix="its public prefix", scopes="read, write, admin",
    tier="standard or premium", expires_at="when it stops working, or null",
)  # fmt: skip
API_KEY_REVOKED = _event(
    "api_key.revoked", "apikey", "An API key was revoked.", None,
    name="the key's name", prefix="its public prefix",
)  # fmt: skip

_BREAKER_BY_TRANSITION = {
    "opened": BREAKER_OPENED,
    "half_opened": BREAKER_HALF_OPENED,
    "closed": BREAKER_CLOSED,
}


def breaker_transition(transition: str) -> EventType:
    """The event of a breaker transition (``recovery.breaker.transition_of``)."""
    return _BREAKER_BY_TRANSITION[transition]


def get(name: str) -> EventType:
    """The event type called ``name``; ``KeyError`` for a name not in the catalogue."""
    return _ALL[name]


def all_types() -> Iterator[EventType]:
    """Every event type, in declaration order."""
    return iter(_ALL.values())


def matching(pattern: str) -> list[EventType]:
    """Event types matching ``job.*``-style patterns (a trailing ``*`` only)."""
    if pattern.endswith("*"):
        return [t for t in _ALL.values() if t.name.startswith(pattern[:-1])]
    return [_ALL[pattern]] if pattern in _ALL else []
