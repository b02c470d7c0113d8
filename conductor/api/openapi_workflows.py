"""The workflow definition in the document, as ``conductor.workflows.dag`` checks it.

Built with the document from the registry: a node, and a node's ``compensate`` job,
is ``oneOf`` one variant per registered job type, with that type's payload schema
(``payload.version`` is dropped before the check, so any value goes there). What
JSON Schema cannot say is said in the descriptions: ``depends_on`` names other nodes
of the same definition, without a cycle; a condition reads the result of one of its
node's own ``depends_on``; a condition nests at most ``MAX_CONDITION_DEPTH`` deep.
"""

from typing import Any

from conductor import registry
from conductor.api.openapi_jobs import add_payload, camel
from conductor.workflows import conditions, dag

DEFINITION = "WorkflowDefinitionRequest"
DEFINITION_REF = {"$ref": f"#/components/schemas/{DEFINITION}"}
_REF = "#/components/schemas/"
_CONDITION = "WorkflowConditionRequest"
_COMPENSATE = "WorkflowCompensateRequest"
_ID = {"type": "string", "pattern": rf"^{dag.ID_PATTERN.pattern}$"}
_ORDERED_OPS = sorted({"gt", "gte", "lt", "lte"})
_LIST_OPS = ["in", "not_in"]
_NUMBER_OR_TEXT = {"type": ["number", "string"]}
_VALUE_OPS = sorted(set(conditions.OPERATORS) - {"exists", "truthy"})


def add_workflow_definition(schemas: dict[str, Any]) -> list[str]:
    """Add the definition's components; the names of the node payload components."""
    specs = registry.all_specs()
    payloads = {
        spec.name: add_payload(schemas, spec, "WorkflowPayload", version={})
        for spec in specs
    }
    nodes = {spec.name: _node(schemas, spec, payloads[spec.name]) for spec in specs}
    schemas[DEFINITION] = {
        "type": "object",
        "description": "A DAG of job nodes, checked when it is stored or run.",
        "properties": {
            "nodes": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10_000,
                "items": _one_per_type(nodes, "A job node."),
            },
            "on_failure": {"type": "string", "enum": list(dag.ON_FAILURE)},
        },
        "required": ["nodes"],
        "additionalProperties": False,
    }
    schemas[_COMPENSATE] = _one_per_type(
        {spec.name: _compensate(schemas, spec, payloads[spec.name]) for spec in specs},
        "The job that undoes this node's work if the workflow fails for good.",
    )
    schemas[_CONDITION] = _condition()
    return list(payloads.values())


def _one_per_type(variants: dict[str, str], description: str) -> dict:
    """One of the variants (a reference by job type), discriminated by ``type``."""
    if not variants:
        return {"not": {}, "description": "no job type is registered"}
    return {
        "description": description,
        "oneOf": [{"$ref": ref} for ref in variants.values()],
        "discriminator": {"propertyName": "type", "mapping": variants},
    }


def _required(spec: registry.JobTypeSpec, *names: str) -> list[str]:
    """``names``, and ``payload`` when ``{}`` (an absent payload) is not valid."""
    return [*names, *([] if spec.validator.is_valid({}) else ["payload"])]


def _node(schemas: dict, spec: registry.JobTypeSpec, payload: str) -> str:
    name = f"WorkflowNode{camel(spec.name)}Request"
    schemas[name] = {
        "type": "object",
        "title": spec.name,
        "properties": {
            "id": {**_ID, "description": "unique in the definition"},
            "type": {"type": "string", "enum": [spec.name]},
            "payload": {"$ref": _REF + payload},
            "depends_on": {
                "type": "array",
                "items": _ID,
                "uniqueItems": True,
                "description": "ids of other nodes of this definition (no cycle)",
            },
            "priority": {"enum": [*dag.PRIORITIES, None]},
            "condition": {"oneOf": [{"$ref": _REF + _CONDITION}, {"type": "null"}]},
            "compensate": {"oneOf": [{"$ref": _REF + _COMPENSATE}, {"type": "null"}]},
        },
        "required": _required(spec, "id", "type"),
        "additionalProperties": False,
    }
    return _REF + name


def _compensate(schemas: dict, spec: registry.JobTypeSpec, payload: str) -> str:
    name = f"WorkflowCompensate{camel(spec.name)}Request"
    schemas[name] = {
        "type": "object",
        "title": spec.name,
        "properties": {
            "type": {"type": "string", "enum": [spec.name]},
            "payload": {"$ref": _REF + payload},
        },
        "required": _required(spec, "type"),
        "additionalProperties": False,
    }
    return _REF + name


def _condition() -> dict:
    ref = {"$ref": _REF + _CONDITION}
    parts = {"type": "array", "minItems": 1, "items": ref}
    combination = {
        "type": "object",
        "properties": {"all": parts, "any": parts},
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
    }
    return {
        "description": "Reads the result of one of the node's `depends_on` "
        f"(`node`); `all`/`any` nest at most {conditions.MAX_CONDITION_DEPTH} deep.",
        "anyOf": [_leaf(), combination],
    }


def _leaf() -> dict:
    def when(ops: list[str], then: dict) -> dict:
        return {"if": {"properties": {"op": {"enum": ops}}}, "then": then}

    return {
        "type": "object",
        "properties": {
            "node": {"type": "string"},
            "path": {"type": "string", "description": "a dot path; empty: all"},
            "op": {"type": "string", "enum": list(conditions.OPERATORS)},
            "value": {},
        },
        "required": ["node", "op"],
        "additionalProperties": False,
        "allOf": [
            when(_VALUE_OPS, {"required": ["value"]}),
            when(_LIST_OPS, {"properties": {"value": {"type": "array"}}}),
            when(_ORDERED_OPS, {"properties": {"value": _NUMBER_OR_TEXT}}),
        ],
    }
