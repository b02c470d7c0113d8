"""Payloads stored to be submitted later (workflow definitions, schedules): checked
against their job type's schema now, kept with their secret values sealed."""

from typing import Any

from conductor import registry, secrets
from conductor.errors import FieldError


def payload_errors(type_name: str, payload: Any, prefix: str) -> list[FieldError]:
    """Every problem of ``payload`` for the job type (which must be registered),
    each naming its path under ``prefix``; sealed secret values are read first."""
    if not isinstance(payload, dict):
        return [FieldError(prefix, "must be a JSON object", "type")]
    spec = registry.get(type_name)
    payload = registry.upgrade(spec, payload)[0]
    if spec.has_secrets:  # a stored payload keeps its secrets sealed
        try:
            payload = secrets.reveal(payload, spec.schema)
        except secrets.SecretUnreadable as exc:
            return [FieldError(prefix, str(exc), "secret_unreadable")]
    return registry.validate(spec, payload, prefix=prefix)


def payload_sealed(type_name: str, payload: dict) -> dict:
    """A valid payload with its secret values sealed, to be stored."""
    spec = registry.get(type_name)
    return secrets.seal(payload, spec.schema) if spec.has_secrets else payload
