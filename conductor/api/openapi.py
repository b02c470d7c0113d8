"""OpenAPI 3.1 for API v2: envelope, problem responses and auth of each call.

drf-spectacular describes the serializers; this module adds what the plumbing does to
every operation, so the document matches what clients really receive, and what the
server really accepts: strict inputs refuse unknown fields, submit bodies follow each
job type's schema (``openapi_jobs``), and text, keys and date-times are what the
database stores (``openapi_storable``).
"""

import copy

from django.conf import settings
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

from conductor import names
from conductor.api import openapi_jobs, openapi_workflows
from conductor.api.fields import NOT_BLANK, StrictInput, stripped_length
from conductor.api.openapi_storable import (
    StorableRewriter,
    body_schemas,
    parameter_schemas,
)
from conductor.api.serializers import JobDependsOnIn
from conductor.services.job_requests import MAX_DEPENDENCIES
from recovery.api.serializers.dlq import NOTES as NOTES_LENGTH
from recovery.api.serializers.policies import JobRetryPolicyIn

PROBLEM = "application/problem+json"

META_SCHEMA = {
    "type": "object",
    "required": ["timestamp", "version", "requestId"],
    "properties": {
        "timestamp": {"type": "string", "format": "date-time"},
        "version": {"type": "string"},
        "requestId": {"type": "string"},
        "pagination": {
            "type": "object",
            "properties": {
                "next_cursor": {"type": ["string", "null"]},
                "previous_cursor": {"type": ["string", "null"]},
                "next": {"type": ["string", "null"]},
                "previous": {"type": ["string", "null"]},
                "page_size": {"type": "integer"},
                "has_more": {"type": "boolean"},
            },
        },
    },
}

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "success", "meta"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
        "success": {"type": "boolean", "const": False},
        "meta": {"$ref": "#/components/schemas/Meta"},
    },
}

_COMMON_ERRORS = {
    "400": "Unsupported API version, malformed body or invalid fields",
    "401": "No or invalid credentials",
    "403": "The caller lacks the scope this operation needs",
}
_WRITE_ERRORS = {"413": "Body or payload too large", "415": "Body is not JSON"}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "conductor.api.auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>` (manage.py create_api_key)",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "conductor.api.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class SingleVersionGenerator(SchemaGenerator):
    """The document describes API v2, whose version is in every path (``/api/v2/…``).
    Our negotiating versioning class (URL, header or media type; see
    ``conductor.api.versioning``) is not one drf-spectacular knows how to split a
    document by, and there is only one version to describe, so views are described
    unversioned — without a warning at every ``check``."""

    def create_view(self, callback, method, request=None):
        view = super().create_view(callback, method, request)
        view.versioning_class = None
        return view


def conflict(description: str) -> dict:
    """A documented 409 problem response, for ``extend_schema(responses=…)``."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {(409, PROBLEM): OpenApiResponse(response=schema, description=description)}


class DependsOnFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "conductor.api.serializers.DependsOnField"

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(JobDependsOnIn, direction)
        ids = {
            "type": "array",
            "items": {"type": "string", "format": "uuid"},
            "maxItems": MAX_DEPENDENCIES,
        }
        return {"oneOf": [ids, component.ref]}


class TextFieldScheme(OpenApiSerializerFieldExtension):
    """Text taken as sent; unless blank is allowed, not only whitespace."""

    target_class = "conductor.api.fields.TextField"

    def map_serializer_field(self, auto_schema, direction):
        pattern = getattr(self.target, "pattern", None)
        if pattern is not None:
            # In allOf: drf-spectacular would make a patterned blank-allowed string
            # a oneOf with "", which this pattern matches too.
            return {"type": "string", "allOf": [{"pattern": pattern}]}
        if self.target.allow_blank:
            return {"type": "string"}  # storable text: openapi_storable
        return {"type": "string", "pattern": NOT_BLANK}


class PayloadFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "conductor.api.fields.PayloadField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "object"}


class WorkflowDefinitionFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "conductor.api.views.workflows.WorkflowDefinitionField"

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return dict(openapi_workflows.DEFINITION_REF)
        return {"type": "object"}


class AnyJsonFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "conductor.api.fields.AnyJsonField"

    def map_serializer_field(self, auto_schema, direction):
        return {"description": "any JSON value, or null"}


class RetryPolicyFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "conductor.api.serializers.RetryPolicyField"

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(JobRetryPolicyIn, direction)
        name = {
            "type": "string",
            "pattern": names.ANCHORED,
            "description": "a named policy",
        }
        return {"oneOf": [name, component.ref]}


class ConductorAutoSchema(AutoSchema):
    """Adds each operation's scope to its description and as ``x-required-scope``."""

    def required_scope(self) -> str:
        return getattr(self.view, "required_scope", None) or (
            "read" if self.method in permissions.SAFE_METHODS else "write"
        )

    def get_description(self):
        text = super().get_description() or ""
        scope = self.required_scope()
        note = (
            "No authentication."
            if scope == "public"
            else f"Requires the `{scope}` scope."
        )
        return f"{text}\n\n{note}".strip()

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            operation["x-required-scope"] = self.required_scope()
        return operation

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if schema.get("description") == StrictInput.__doc__:
            del schema["description"]  # inherited, says nothing of this input
        if direction == "request" and isinstance(serializer, StrictInput):
            schema["additionalProperties"] = False
        return schema


def describe_requests(result, generator, request, public):
    """What the server accepts: one submit variant per job type, its bounds from the
    settings, and only what the database can store."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    payloads = openapi_jobs.add_job_type_variants(schemas)
    payloads += openapi_workflows.add_workflow_definition(schemas)
    openapi_jobs.add_job_type_list(schemas)
    _settings_bounds(schemas)
    _conditions(schemas)
    rewriter = StorableRewriter(schemas)
    for name in payloads:
        rewriter.payload_component(name)
    for schema in body_schemas(result) + parameter_schemas(result):
        rewriter.request(schema)
    return result


def _settings_bounds(schemas: dict) -> None:
    """Limits that are settings, read when the document is built."""
    jobs = schemas.get("JobBulkInRequest", {}).get("properties", {}).get("jobs")
    if jobs is not None:
        jobs.update(minItems=1, maxItems=settings.CONDUCTOR_JOBS_BULK_MAX)
    for name, schema in schemas.items():
        if name.startswith("JobExecute") and "wait_s" in schema.get("properties", {}):
            wait = schema["properties"]["wait_s"]
            wait["maximum"] = settings.CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S


def _when(condition: dict, then: dict) -> dict:
    return {"if": condition, "then": then}


NOTES = stripped_length(*NOTES_LENGTH)
_CUSTOM = {"required": ["strategy"], "properties": {"strategy": {"const": "custom"}}}
_CUSTOM_WITHOUT_BASE = {  # the name of a base policy absent, or null
    "required": ["strategy"],
    "properties": {"strategy": {"const": "custom"}, "name": {"type": "null"}},
}
_DELAYS = {"properties": {"delays_ms": {"minItems": 1}}}
_NEEDS_DELAYS = {"required": ["delays_ms"], **_DELAYS}
_NOT_QUEUED = {"properties": {"overlap_policy": {"enum": ["skip", "allow"]}}}
#: Rules between fields that JSON Schema can state, by component. Those it cannot
#: (``max_delay_ms`` ≥ ``initial_delay_ms``, custom delays ≤ ``max_delay_ms``, a
#: change checked with the stored policy) are in the descriptions.
CONDITIONS = {
    # A new policy starts from the defaults, which have no delays.
    "RetryPolicyInRequest": [_when(_CUSTOM, _NEEDS_DELAYS)],
    "PatchedRetryPolicyPatchInRequest": [_when(_CUSTOM, _DELAYS)],
    # Without a named base policy, a job's own starts from the defaults.
    "JobRetryPolicyInRequest": [
        _when(_CUSTOM, _DELAYS),
        _when(_CUSTOM_WITHOUT_BASE, _NEEDS_DELAYS),
    ],
    # A schedule fires on a cron or an event, and runs a job or a workflow: exactly
    # one of each when made; a change may name one of each (it replaces the other
    # kind). A workflow cannot be queued behind its previous run.
    "ScheduleInRequest": [
        {"oneOf": [{"required": ["cron"]}, {"required": ["event_type"]}]},
        {"oneOf": [{"required": ["job"]}, {"required": ["workflow"]}]},
        _when({"required": ["workflow"]}, _NOT_QUEUED),
    ],
    "PatchedSchedulePatchInRequest": [
        {"not": {"required": ["cron", "event_type"]}},
        {"not": {"required": ["job", "workflow"]}},
        _when({"required": ["workflow"]}, _NOT_QUEUED),
    ],
    "DeadLetterBulkInRequest": [
        _when(
            {"properties": {"action": {"const": "resubmit"}}},
            {"required": ["reason"]},
        ),
        _when(
            {"properties": {"action": {"const": "resolve"}}},
            {"required": ["notes"], "properties": {"notes": {"pattern": NOTES}}},
        ),
    ],
}


def _conditions(schemas: dict) -> None:
    for name, rules in CONDITIONS.items():
        if name in schemas:
            schemas[name].setdefault("allOf", []).extend(copy.deepcopy(rules))


def wrap_in_envelope(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Meta"] = META_SCHEMA
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            _wrap_operation(path, method, operation)
    return result


def _wrap_operation(path: str, method: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status.startswith("2"):
            for body in response.get("content", {}).values():
                body["schema"] = _envelope(body.get("schema", {}))
    errors = dict(_COMMON_ERRORS)
    if "{" in path:
        errors["404"] = "No such object"
    if method in ("post", "put", "patch"):
        errors.update(_WRITE_ERRORS)
    for status, description in errors.items():
        responses.setdefault(status, _problem(description))


def _envelope(schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["success", "data", "meta"],
        "properties": {
            "success": {"type": "boolean", "const": True},
            "data": schema,
            "meta": {"$ref": "#/components/schemas/Meta"},
        },
    }


def _problem(description: str) -> dict:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
