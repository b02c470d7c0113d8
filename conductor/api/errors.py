"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error body has ``type``, ``title``, ``status``, ``detail``, ``instance``, a stable
``code``, the failing fields in ``errors`` (each ``{field, message, code}``),
``success: false`` and the same ``meta`` as success responses.
"""

import json
import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response

from conductor.api.envelope import meta
from conductor.errors import DomainError, FieldError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"

_DRF_CODES: list[tuple[type, str, str]] = [
    (exceptions.ValidationError, "VALIDATION_ERROR", "Validation failed"),
    (exceptions.ParseError, "MALFORMED_REQUEST", "Malformed request"),
    (exceptions.NotAuthenticated, "UNAUTHENTICATED", "Authentication required"),
    (exceptions.AuthenticationFailed, "UNAUTHENTICATED", "Authentication failed"),
    (exceptions.PermissionDenied, "FORBIDDEN", "Forbidden"),
    (exceptions.NotFound, "NOT_FOUND", "Not found"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE", "Not acceptable"),
    (
        exceptions.UnsupportedMediaType,
        "UNSUPPORTED_MEDIA_TYPE",
        "Unsupported media type",
    ),
    (exceptions.Throttled, "RATE_LIMITED", "Too many requests"),
]


class PayloadTooLargeError(exceptions.APIException):
    status_code = 413
    default_detail = "request body too large"
    default_code = "PAYLOAD_TOO_LARGE"


class InvalidJson(exceptions.ParseError):
    """Parsable JSON holding values that cannot be stored (NUL, lone surrogates …)."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(f"the body holds {len(errors)} value(s) that cannot be stored")
        self.field_errors = errors


def problem_body(
    request,
    *,
    status: int,
    code: str,
    detail: str,
    title: str = "",
    errors: list[dict] | None = None,
    extra: dict | None = None,
) -> dict[str, Any]:
    return {
        "type": f"urn:conductor:problem:{code.lower().replace('_', '-')}",
        "title": title or code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "instance": request.path if request is not None else "",
        "code": code,
        "errors": errors or [],
        **(extra or {}),
        "success": False,
        "meta": meta(request),
    }


def problem_response(
    request, *, status: int, code: str, detail: str, **kw
) -> HttpResponse:
    """A problem response outside DRF (middleware, Django's 404/500 handlers)."""
    body = problem_body(request, status=status, code=code, detail=detail, **kw)
    return HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_TYPE)


def flatten(detail: Any, prefix: str = "") -> list[dict]:
    """DRF's nested error detail as a flat list of ``{field, message, code}``."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = (
                "body" if key in ("non_field_errors", "__all__") and not prefix else key
            )
            path = (
                f"{prefix}[{key}]"
                if isinstance(key, int)
                else (f"{prefix}.{name}" if prefix else str(name))
            )
            out.extend(flatten(value, path))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [_field(prefix, item) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if isinstance(item, str):
                out.append(_field(prefix, item))
            elif item:
                out.extend(flatten(item, f"{prefix}[{index}]"))
        return out
    return [_field(prefix, detail)]


def _field(path: str, message: Any) -> dict:
    code = getattr(message, "code", "invalid")
    return {"field": path or "body", "message": str(message), "code": code}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    request = context.get("request")
    status, code, title, detail, errors, headers = _classify(exc)
    if status is None:
        return None  # a bug: let Django's 500 handler answer (also problem+json)
    body = problem_body(
        request, status=status, code=code, title=title, detail=detail, errors=errors
    )
    response = Response(body, status=status, headers=headers, content_type=PROBLEM_TYPE)
    response.is_problem = True
    return response


def _classify(exc: Exception):
    if isinstance(exc, DomainError):
        errors = [e.as_dict() for e in exc.errors]
        return exc.status, exc.code, exc.title, exc.detail, errors, {}
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLargeError(str(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc))
    if not isinstance(exc, exceptions.APIException):
        return None, None, None, None, None, None
    return _from_drf(exc)


def _from_drf(exc: exceptions.APIException):
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    code, title = "ERROR", "Error"
    for cls, drf_code, drf_title in _DRF_CODES:
        if isinstance(exc, cls):
            code, title = drf_code, drf_title
            break
    if isinstance(exc, PayloadTooLargeError):
        code, title = "PAYLOAD_TOO_LARGE", "Payload too large"
    if isinstance(exc, InvalidJson):
        errors = [e.as_dict() for e in exc.field_errors]
        return (
            exc.status_code,
            "INVALID_JSON_VALUE",
            "Invalid JSON value",
            str(exc.detail),
            errors,
            headers,
        )
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        names = ", ".join(e["field"] for e in errors[:5])
        detail = f"{len(errors)} invalid field(s): {names}"
        return exc.status_code, code, title, detail, errors, headers
    return exc.status_code, code, title, str(exc.detail), [], headers


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return problem_response(
            request,
            status=404,
            code="NOT_FOUND",
            detail=f"no resource at {request.path}",
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return problem_response(
            request,
            status=500,
            code="INTERNAL_ERROR",
            detail="an unexpected error occurred; it has been logged",
        )
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return problem_response(
            request,
            status=400,
            code="BAD_REQUEST",
            detail=str(exception or "bad request"),
        )
    from django.views.defaults import bad_request

    return bad_request(request, exception)
