"""OpenAPI 3.1 for API v2: envelope, problem responses and auth of each call.

drf-spectacular describes the serializers; this module adds what the plumbing does to
every operation, so the document matches what clients really receive.
"""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from rest_framework import permissions

from conductor import names
from conductor.api.serializers import JobDependsOnIn
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


class DependsOnFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "conductor.api.serializers.DependsOnField"

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(JobDependsOnIn, direction)
        ids = {"type": "array", "items": {"type": "string", "format": "uuid"}}
        return {"oneOf": [ids, component.ref]}


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
