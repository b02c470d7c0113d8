"""Domain errors: a leaf module, pure (standard library only).

Services and pure decision modules raise these; the API maps each to problem+json.
Each carries a stable ``code`` (upper snake case), an HTTP ``status`` and, for
validation failures, the list of failing fields (``FieldError``).
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its JSON path (``jobs[3].payload.url``), why, and a code."""

    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "code": self.code}


class DomainError(Exception):
    status = 400
    code = "BAD_REQUEST"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: Iterable[FieldError] = ()):
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)


class ValidationFailed(DomainError):
    status = 400
    code = "VALIDATION_ERROR"
    title = "Validation failed"

    def __init__(self, errors: Iterable[FieldError], detail: str | None = None):
        errors = list(errors)
        if detail is None:
            names = ", ".join(e.field for e in errors[:5])
            detail = f"{len(errors)} invalid field(s): {names}"
        super().__init__(detail, errors=errors)


class PayloadTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Payload too large"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"
    title = "Conflict"


class IllegalTransition(Conflict):
    """A job cannot go from ``old`` to ``new`` (``conductor.states``): a 409, since
    it means another actor or worker moved the job first."""

    def __init__(self, old: str, new: str):
        super().__init__(f"a job cannot go from {old} to {new}")
        self.old = old
        self.new = new
