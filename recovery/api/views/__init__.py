"""Recovery API views, one module per entity: dead letters, breakers, policies."""

from conductor.api.openapi import conflict

__all__ = ["conflict"]
