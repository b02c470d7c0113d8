"""The job-type registry: job types are declared in code with a decorator.

    @job_type("demo.sleep", schema={...}, description="...", sample_payload={...})
    def sleep(ctx, payload): ...

Each app's ``jobs`` module is imported at start (``ConductorConfig.ready``), which fills
the registry; ``job_type_sync`` copies it to the ``JobType`` table. This module is pure:
it validates and upgrades payloads but never touches the database.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from conductor import names, secret_fields
from conductor.errors import FieldError

Handler = Callable[..., Any]
Normalizer = Callable[[dict], dict]


@dataclass(frozen=True)
class JobTypeSpec:
    name: str
    handler: Handler
    schema: Mapping[str, Any]
    description: str = ""
    sample_payload: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1
    normalizers: Mapping[int, Normalizer] = field(default_factory=dict)
    queue: str = "default"
    priority: str = "normal"
    timeout_s: int | None = None  # None: CONDUCTOR_JOBS_DEFAULT_TIMEOUT_S
    max_timeout_s: int = 3600
    max_retries: int | None = None  # None: CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES
    retry_policy: Mapping[str, Any] | None = None
    breaker: str = ""
    max_concurrency: int | None = None

    @cached_property
    def has_secrets(self) -> bool:
        """Whether the schema marks any value secret (``"x-secret": true``)."""
        return secret_fields.has_secrets(self.schema)

    @cached_property
    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schema)


class UnknownJobType(LookupError):
    def __init__(self, name: str):
        super().__init__(f"unknown job type {name!r}")
        self.name = name


_registry: dict[str, JobTypeSpec] = {}


def job_type(name: str, *, schema: Mapping[str, Any], **options: Any):
    """Register the decorated function as the handler of job type ``name``."""

    def register(handler: Handler) -> Handler:
        spec = JobTypeSpec(name=name, handler=handler, schema=schema, **options)
        for label, value in (("name", spec.name), ("breaker", spec.breaker or "x")):
            if not names.is_name(value):
                raise ValueError(f"job type {name!r}: {label}: {names.RULE}")
        Draft202012Validator.check_schema(spec.schema)
        _check_sample(spec)
        _registry[name] = spec
        return handler

    return register


def _check_sample(spec: JobTypeSpec) -> None:
    errors = validate(spec, dict(spec.sample_payload))
    if errors:
        raise ValueError(f"sample payload of {spec.name} is invalid: {errors[0]}")


def get(name: str) -> JobTypeSpec:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownJobType(name) from None


def all_specs() -> list[JobTypeSpec]:
    return sorted(_registry.values(), key=lambda spec: spec.name)


def upgrade(spec: JobTypeSpec, payload: dict) -> tuple[dict, int]:
    """Bring a payload of an older schema version up to ``spec.version``.

    The payload may carry ``"version"``; normalizer ``n`` turns version n into n + 1.
    Returns the upgraded payload (without the ``version`` key) and its version.
    """
    payload = dict(payload)
    version = payload.pop("version", spec.version)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return payload, -1
    while version < spec.version and version in spec.normalizers:
        payload = spec.normalizers[version](payload)
        version += 1
    return payload, version


def validate(spec: JobTypeSpec, payload: Any, *, prefix: str = "payload") -> list:
    """Every schema violation of ``payload``, each naming its path."""
    errors = sorted(spec.validator.iter_errors(payload), key=lambda e: list(e.path))
    return [FieldError(_path(e, prefix), e.message, e.validator) for e in errors]


def _path(error: SchemaError, prefix: str) -> str:
    parts = list(error.absolute_path)
    if error.validator == "required":
        # "'seconds' is a required property": name the missing property itself.
        missing = _missing_property(error)
        if missing is not None:
            parts.append(missing)
    text = prefix
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _missing_property(error: SchemaError) -> str | None:
    instance = error.instance if isinstance(error.instance, dict) else {}
    for name in error.validator_value:
        if name not in instance:
            return name
    return None
