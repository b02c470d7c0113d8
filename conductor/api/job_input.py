"""Reading a submit body into a ``JobRequest``: one fast parser for single and bulk.

A bulk submit holds up to 10,000 jobs; a DRF serializer per item costs more than the
whole insert, so the fields are checked here by hand, with the same rules and error
shape (``{field, message, code}``; bulk fields prefixed ``jobs[i].``). The serializers
in ``conductor.api.serializers`` describe the same body for OpenAPI.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from conductor import names
from conductor.api.serializers import JobSubmitIn
from conductor.errors import FieldError
from conductor.models import DependencyFailure, DependencyMode, Job, Priority
from conductor.services import JobRequest
from recovery import backoff

# The body's fields are the documented ones: one list, the serializer's.
FIELDS = frozenset(JobSubmitIn().fields)
PRIORITIES = [p.label for p in Priority]
MODES = DependencyMode.values  # built once: ``.values`` makes a new list per call
ON_FAILURE = DependencyFailure.values
#: An idempotency key (body or header) is at most what its column holds.
IDEMPOTENCY_KEY_MAX = Job._meta.get_field("idempotency_key").max_length
#: Years a date-time may be written in; with an offset under 16 hours its UTC moment
#: is always one Python and PostgreSQL hold (``openapi.DATE_TIME`` says the same).
MIN_YEAR, MAX_YEAR = 1970, 9998
MAX_OFFSET = timedelta(hours=16)
#: Integer fields of a job's own retry policy (JSON Schema reads 5.0 as 5).
POLICY_INTEGERS = ("max_retries", "initial_delay_ms", "max_delay_ms")


def utc_or_none(moment: datetime) -> datetime | None:
    """The moment in UTC, or None when written outside the years or with an offset
    the database does not take (-15:59 to +15:59)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    if offset is None or abs(offset) >= MAX_OFFSET:
        return None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None
    return moment.astimezone(UTC)


def whole(value: Any) -> Any:
    """``value``, an integral float as the integer it is (``5.0`` -> ``5``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Reader:
    def __init__(self, data: dict, prefix: str):
        self.data, self.prefix, self.errors = data, prefix, []

    def error(self, field: str, message: str, code: str = "invalid") -> None:
        self.errors.append(FieldError(self.prefix + field, message, code))

    def text(self, name: str, limit: int, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.error(name, "this field is required", "required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(name, "must be a non-empty string", "type")
            return None
        if len(value) > limit:
            self.error(name, f"at most {limit} characters", "too_long")
        return value

    def integer(self, name: str, low: int, high: int | None) -> int | None:
        value = whole(self.data.get(name))
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(name, "must be an integer", "type")
            return None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            self.error(name, f"must be {bound}", "out_of_range")
        return value

    def choice(self, name: str, choices: list[str], default: str | None) -> str | None:
        value = self.data.get(name)
        if value is None:  # absent or null
            return default
        if not isinstance(value, str) or value not in choices:
            self.error(name, f"must be one of {', '.join(choices)}", "invalid_choice")
        return value

    def moment(self, name: str) -> datetime | None:
        value = self.data.get(name)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None:
            self.error(name, "must be an ISO 8601 date-time", "invalid")
            return None
        return utc_or_none(moment) or self.error(
            name,
            f"must be a date-time in the years {MIN_YEAR} to {MAX_YEAR} "
            "with an offset PostgreSQL accepts (-15:59 to +15:59)",
            "out_of_range",
        )

    def ids(self, name: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(name, "must be a list of job ids", "type")
            return ()
        return tuple(value)


def job_request_from(
    data: Any, *, prefix: str = "", extra: frozenset[str] = frozenset()
) -> tuple[JobRequest | None, list]:
    """The request, or ``None`` and every problem found (``extra``: fields the caller
    reads itself, such as ``wait_s`` of execute)."""
    if not isinstance(data, dict):
        return None, [
            FieldError(prefix.rstrip(".") or "body", "must be an object", "type")
        ]
    reader = _Reader(data, prefix)
    for name in sorted(set(data) - FIELDS - extra):
        reader.error(name, "unknown field", "unknown_field")
    retry_policy = _retry_policy(data.get("retry_policy"))
    if retry_policy is not None and not isinstance(retry_policy, str | dict):
        reader.error("retry_policy", "a policy name or an object", "type")
    breaker = reader.text("breaker", 100)
    if breaker is not None and not names.is_name(breaker):
        reader.error("breaker", names.RULE, "invalid")
    depends_on, mode, on_failure = _dependencies(reader)
    request = JobRequest(
        type=reader.text("type", 100, required=True),
        payload=data.get("payload", {}),
        priority=reader.choice("priority", PRIORITIES, None),
        idempotency_key=reader.text("idempotency_key", IDEMPOTENCY_KEY_MAX),
        run_at=reader.moment("run_at"),
        max_retries=reader.integer("max_retries", 0, backoff.MAX_RETRIES_DEFAULT_CAP),
        depends_on=depends_on,
        dependency_mode=mode,
        on_dependency_failure=on_failure,
        parent=reader.text("parent", 64),
        timeout_s=reader.integer("timeout_s", 1, None),
        retry_policy=retry_policy,
        breaker=breaker,
    )
    return (None, reader.errors) if reader.errors else (request, [])


def _retry_policy(value: Any) -> Any:
    """A job's own policy with its integer fields as integers (``5.0`` -> ``5``)."""
    if not isinstance(value, dict):
        return value
    policy = {**value, **{k: whole(value[k]) for k in POLICY_INTEGERS if k in value}}
    if isinstance(value.get("delays_ms"), list):
        policy["delays_ms"] = [whole(delay) for delay in value["delays_ms"]]
    return policy


def _dependencies(reader: _Reader) -> tuple[tuple[str, ...], str, str]:
    """``depends_on`` is a list of ids, or ``{"jobs", "mode", "on_failure"}``."""
    value = reader.data.get("depends_on")
    mode = reader.choice("dependency_mode", MODES, "all")
    on_failure = reader.choice("on_dependency_failure", ON_FAILURE, "abort")
    if isinstance(value, dict):
        nested = _Reader(value, reader.prefix + "depends_on.")
        ids = nested.ids("jobs", value.get("jobs"))
        mode = nested.choice("mode", MODES, mode)
        on_failure = nested.choice("on_failure", ON_FAILURE, on_failure)
        for name in sorted(set(value) - {"jobs", "mode", "on_failure"}):
            nested.error(name, "unknown field", "unknown_field")
        reader.errors += nested.errors
        return ids, mode, on_failure
    return reader.ids("depends_on", value), mode, on_failure
