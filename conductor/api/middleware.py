"""Request plumbing for every response: request id, trace id, API version."""

import re
import uuid

from django.conf import settings

from conductor.api.errors import problem_response
from conductor.api.versioning import negotiate
from conductor.models import Job

#: The longest id kept: what the ``trace_id`` columns hold (request ids become trace
#: ids). A longer or odd one is replaced by one of ours, echoed in the response.
ID_MAX = Job._meta.get_field("trace_id").max_length
_SAFE_ID = re.compile(rf"[A-Za-z0-9._:\-]{{1,{ID_MAX}}}")


def _incoming_id(value: str | None) -> str | None:
    return value if value and _SAFE_ID.fullmatch(value) else None


class RequestIdMiddleware:
    """Accept ``X-Request-ID`` (or make one) and echo it; same for ``X-Trace-Id``.
    An id that is too long or holds other characters is replaced, never stored cut."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = _incoming_id(request.headers.get("X-Request-ID")) or (
            uuid.uuid4().hex
        )
        request.trace_id = (
            _incoming_id(request.headers.get("X-Trace-Id")) or request.request_id
        )
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        response["X-Trace-Id"] = request.trace_id
        return response


class ApiVersionMiddleware:
    """Negotiate the API version of ``/api/`` requests; refuse unsupported ones."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supported = settings.CONDUCTOR_API_VERSIONS
        request.api_version = supported[-1]
        if request.path.startswith("/api/"):
            result = negotiate(
                path=request.path,
                header=request.headers.get("X-API-Version", ""),
                accept=request.headers.get("Accept", ""),
                supported=supported,
            )
            if not result.ok:
                response = problem_response(
                    request,
                    status=400,
                    code="UNSUPPORTED_API_VERSION",
                    detail=(
                        f"API version {result.asked!r} (from {result.source}) is not "
                        f"supported; supported versions: {', '.join(supported)}"
                    ),
                    extra={"supported_versions": list(supported)},
                )
                response["X-API-Version"] = supported[-1]
                return response
            request.api_version = result.version
        response = self.get_response(request)
        response["X-API-Version"] = request.api_version
        return response
