"""Recovery API views, one module per entity: dead letters, breakers, policies."""

from drf_spectacular.utils import OpenApiResponse

from conductor.api.openapi import PROBLEM


def conflict(description: str) -> dict:
    """A documented 409 problem response, for ``extend_schema(responses=…)``."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {(409, PROBLEM): OpenApiResponse(response=schema, description=description)}
