"""Domain exceptions. Services raise them; the API maps each to problem+json.

Each carries a stable ``code`` (upper snake case), an HTTP ``status`` and, for
validation failures, the list of failing fields.
"""

from collections.abc import Iterable

from conductor.registry import FieldError


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
