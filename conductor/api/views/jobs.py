"""Jobs: submit (one, bulk, execute) and list (``job_detail``: one job).

Each view: input → one service or selector → output.
"""

import json
import re
import time
import uuid
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor import jsonvalue, selectors, services, states
from conductor.api import openapi_jobs
from conductor.api import serializers as s
from conductor.api.auth import actor_of
from conductor.api.job_input import IDEMPOTENCY_KEY_MAX, job_request_from, utc_or_none
from conductor.errors import FieldError, ValidationFailed
from conductor.models import Job, Priority
from conductor.states import FINAL
from recovery import selectors as recovery_selectors

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": IDEMPOTENCY_KEY_MAX,
        "pattern": r"\S",
    },
    OpenApiParameter.HEADER,
    required=False,
    description="A repeat submit with the same key returns the first job.",
)


DEFAULT_WAIT_S = 30


def _trace(request) -> str:
    return request._request.trace_id


def _one_request(request, extra: frozenset[str] = frozenset()) -> services.JobRequest:
    job_request, errors = job_request_from(request.data, extra=extra)
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None and not header_key.strip():
        errors = [*errors, FieldError("Idempotency-Key", "must not be blank", "blank")]
    elif header_key and len(header_key) > IDEMPOTENCY_KEY_MAX:
        errors = [*errors, FieldError(
            "Idempotency-Key", f"at most {IDEMPOTENCY_KEY_MAX} characters", "too_long",
        )]  # fmt: skip
    if errors:
        raise ValidationFailed(errors)
    if header_key and job_request.idempotency_key not in (None, header_key):
        raise serializers.ValidationError(
            {"idempotency_key": ["differs from the Idempotency-Key header"]}
        )
    if header_key:
        job_request = services.JobRequest(
            **{**job_request.__dict__, "idempotency_key": header_key}
        )
    return job_request


def _named_policies(requests) -> dict:
    """The named retry policies the requests refer to (recovery owns them)."""
    policies = (r.retry_policy for r in requests if r is not None)
    names = recovery_selectors.policy_names(policies)
    return recovery_selectors.retry_policies_named(names=names)


def _created(job: Job, created: bool, status: int = 201) -> Response:
    response = Response(s.JobOut(job).data, status=status)
    response["Location"] = f"/api/v2/jobs/{job.id}"
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


# --- list and submit ---------------------------------------------------------------

# Segments of letters, digits, - and _, without "__" (read as a Django lookup).
_SEGMENT = r"[A-Za-z0-9_-]{1,64}"
_PATH_PATTERN = rf"{_SEGMENT}(\.{_SEGMENT}){{0,7}}"
_PATH = re.compile(_PATH_PATTERN)
#: Payload filters in one query, at most.
PAYLOAD_FILTERS_MAX = 8


def _list_param(name: str, schema: dict, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, schema, description=description)


def _choices(choices) -> dict:
    return {"type": "string", "pattern": openapi_jobs.comma_list(choices)}


_LIST_PARAMS = [
    _list_param("type", openapi_jobs.JOB_TYPE_LIST_REF, "comma list of job types"),
    _list_param("state", _choices(states.VALUES), "comma list of states"),
    _list_param(
        "priority", _choices(s.PRIORITY_LABELS), "comma list: low,normal,high,…"
    ),
    *[OpenApiParameter(name, OpenApiTypes.DATETIME) for name in selectors._RANGES],
    OpenApiParameter("parent", OpenApiTypes.UUID),
    OpenApiParameter("workflow_run", OpenApiTypes.UUID),
]


def _filters(params) -> selectors.JobFilters:
    errors: dict[str, list[str]] = {}

    def listed(name, choices=None):
        values = tuple(v for v in params.get(name, "").split(",") if v)
        bad = [v for v in values if choices is not None and v not in choices]
        if bad:
            errors[name] = [f"unknown value(s) {bad}; choose from {sorted(choices)}"]
        return values

    def moment(name):
        raw = params.get(name)
        try:
            value = parse_datetime(raw) if raw else None
        except ValueError:  # well-formed but impossible, e.g. February 30th
            value = None
        value = utc_or_none(value) if value is not None else None
        if raw is not None and value is None:
            errors[name] = ["must be an ISO 8601 date-time"]
        return value

    payload = []
    for key, raw in params.items():
        if key.startswith(selectors.PAYLOAD_PREFIX):
            path, value = key[len(selectors.PAYLOAD_PREFIX) :], _json_or_text(raw)
            problem = _payload_filter_problem(key, path, value)
            if problem:
                errors[key] = [problem]
            payload.append((path, value))
    if len(payload) > PAYLOAD_FILTERS_MAX:
        errors["payload"] = [f"at most {PAYLOAD_FILTERS_MAX} payload.<path> filters"]
    priorities = listed("priority", {p.label for p in Priority})
    filters = selectors.JobFilters(
        types=listed(
            "type", set(selectors.job_type_names()) if "type" in params else None
        ),
        states=listed("state", set(states.VALUES)),
        priorities=tuple(Priority.from_label(p) for p in priorities if not errors),
        **{name: moment(name) for name in selectors._RANGES},
        parent=_uuid_param(params, "parent", errors),
        workflow_run=_uuid_param(params, "workflow_run", errors),
        payload=tuple(payload),
    )
    if errors:
        raise serializers.ValidationError(errors)
    return filters


def _payload_filter_problem(key: str, path: str, value: Any) -> str:
    """What is wrong with ``payload.<path>=<value>`` ("" if nothing): the filter is
    plain equality with a JSON scalar, at a bounded path of plain keys."""
    if not _PATH.fullmatch(path) or "__" in path:
        return (
            "path segments are letters, digits, - and _ (not __), at most 64 each, "
            "at most 8"
        )
    if isinstance(value, dict | list):
        return "must be a JSON scalar (text, number, true, false or null)"
    found = jsonvalue.problems(value, path=key)
    return found[0].message if found else ""


def _uuid_param(params, name, errors) -> str | None:
    raw = params.get(name)
    if raw is not None and not _is_uuid(raw):
        errors[name] = ["must be a job or run id (UUID)"]
    return raw or None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _json_or_text(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value
    except RecursionError:  # nested too deep to read: no scalar, at any rate
        return []


class JobsApi(generics.GenericAPIView):
    serializer_class = s.JobOut
    queryset = Job.objects.none()  # for the schema generator; reads use selectors

    @extend_schema(
        operation_id="jobs_list",
        responses=s.JobOut(many=True),
        parameters=_LIST_PARAMS,
        description="Filters combine. Besides those listed, `payload.<path>=<value>` "
        "filters on a JSON path into the payload, e.g. `payload.customer.id=42` (the "
        "value is read as JSON when it parses, else as text); path segments are "
        "letters, digits, - and _, at most 64 each, never `__`, at most 8.",
    )
    def get(self, request):
        jobs = selectors.jobs_filtered(filters=_filters(request.query_params))
        page = self.paginate_queryset(jobs)
        return self.get_paginated_response(s.JobOut(page, many=True).data)

    @extend_schema(
        operation_id="jobs_submit",
        request=s.JobSubmitIn,
        responses={201: s.JobOut},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request):
        job_request = _one_request(request)
        job, created = services.job_submit(
            request=job_request,
            actor=actor_of(request),
            trace_id=_trace(request),
            named_policies=_named_policies([job_request]),
        )
        return _created(job, created)


class JobsBulkApi(APIView):
    @extend_schema(
        operation_id="jobs_bulk_submit",
        request=s.JobBulkIn,
        responses={201: s.JobBulkOut},
        description="Up to CONDUCTOR_JOBS_BULK_MAX (10,000) jobs in one transaction; "
        "`data.ids` in the order given. Every bad field is named as `jobs[i].field`.",
    )
    def post(self, request):
        items = _bulk_items(request.data)
        requests, errors = [], []
        for index, item in enumerate(items):
            job_request, found = job_request_from(item, prefix=f"jobs[{index}].")
            requests.append(job_request)
            errors += found
        results = services.jobs_submit(
            requests=requests,
            actor=actor_of(request),
            trace_id=_trace(request),
            errors=errors,
            materialize=False,
            named_policies=_named_policies(requests),
        )
        created = sum(1 for _id, new in results if new)
        body = {
            "ids": [job_id for job_id, _new in results],
            "created": created,
            "replayed": len(results) - created,
        }
        return Response(body, status=201)


def _bulk_items(data) -> list:
    """The ``jobs`` of a bulk body (its only field), each still to be read."""
    data = data if isinstance(data, dict) else {}
    unknown = sorted(set(data) - {"jobs"})
    if unknown:
        raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
    items, limit = data.get("jobs"), settings.CONDUCTOR_JOBS_BULK_MAX
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        raise serializers.ValidationError(
            {"jobs": [f"must be a list of 1 to {limit} jobs"]}
        )
    return items


class JobExecuteApi(APIView):
    """Submit and wait (legacy callers): 200 with the finished job, else 202."""

    @extend_schema(
        operation_id="jobs_execute",
        request=s.JobExecuteIn,
        responses={200: s.JobOut, 202: s.JobOut},
        description="Waits up to `wait_s` (default 30, at most "
        "CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S, which is also the default when shorter) "
        "for the job to end.",
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        wait_s = _wait_s(data.get("wait_s", _default_wait_s()))
        job_request = _one_request(request, extra=frozenset({"wait_s"}))
        job, _new = services.job_submit(
            request=job_request,
            actor=actor_of(request),
            trace_id=_trace(request),
            named_policies=_named_policies([job_request]),
        )
        job = _wait_for_end(job, wait_s)
        status = 200 if job.state in FINAL else 202
        return _created(job, True, status=status)


def _default_wait_s() -> float:
    """30 seconds, or the longest wait allowed when that is shorter."""
    return min(DEFAULT_WAIT_S, settings.CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S)


def _wait_s(value) -> float:
    limit = settings.CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise serializers.ValidationError({"wait_s": ["must be a number >= 0"]})
    if value > limit:
        raise serializers.ValidationError({"wait_s": [f"must be at most {limit}"]})
    return float(value)


def _wait_for_end(job: Job, wait_s: float) -> Job:
    deadline, pause = time.monotonic() + wait_s, 0.01
    while job.state not in FINAL and time.monotonic() < deadline:
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 1.5, 0.25)
        job = selectors.job_get(id=job.id)
    return job
