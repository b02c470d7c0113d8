"""The submit body of each registered job type, in the document, from the registry.

``POST /jobs`` (and ``/jobs/bulk``, ``/jobs/execute``) take ``{"type", "payload", …}``
and check the payload against the type's own JSON Schema (``conductor.registry``).
The document says so when it is built: the submit body is ``oneOf`` one variant per
registered type (discriminated by ``type``), whose ``payload`` is that type's schema,
kept as a component ``JobPayload<Type>``. A payload may also name the schema
``version`` it was written for (``registry.upgrade``). Types registered later (tests,
plugins) show up the next time the document is built.
"""

import copy
import re
from typing import Any

from conductor import registry
from conductor.api.openapi_storable import python_reading

#: Components drf-spectacular makes from ``JobSubmitIn`` and ``JobExecuteIn``.
SUBMIT_BODIES = ("JobSubmitInRequest", "JobExecuteInRequest")
_REF_PREFIX = "#/components/schemas/"
#: A comma list of registered job types (the ``type`` filter of the job list).
JOB_TYPE_LIST = "JobTypeList"
JOB_TYPE_LIST_REF = {"$ref": _REF_PREFIX + JOB_TYPE_LIST}


def comma_list(choices) -> str:
    """A pattern for a comma list of ``choices`` (empty items are ignored)."""
    one = "(?:" + "|".join(_escaped(choice) for choice in sorted(choices)) + ")"
    return rf"^,*(?:{one}(?:,+{one})*)?,*$"


def _escaped(text: str) -> str:
    """``text`` as a pattern both Python and ECMA read alike (``re.escape`` writes
    escapes, such as ``\\-``, that ECMA's Unicode mode refuses)."""
    return re.sub(r"[.^$*+?()\[\]{}|\\/]", lambda m: "\\" + m[0], text)


def add_job_type_list(schemas: dict[str, Any]) -> None:
    names = [spec.name for spec in registry.all_specs()]
    schemas[JOB_TYPE_LIST] = {
        "type": "string",
        "pattern": comma_list(names),
        "description": f"comma list of job types: {', '.join(names)}",
    }


def add_job_type_variants(schemas: dict[str, Any]) -> list[str]:
    """Turn each submit body into one variant per job type; the names of the
    payload components added (to be read as payloads, not API fields)."""
    specs = registry.all_specs()
    if not specs:
        return []
    payloads = {spec.name: add_payload(schemas, spec) for spec in specs}
    for body in SUBMIT_BODIES:
        if body in schemas:
            _split(schemas, body, specs, payloads)
    return list(payloads.values())


def _split(schemas: dict, body: str, specs: list, payloads: dict[str, str]) -> None:
    base = schemas[body]
    mapping = {}
    for spec in specs:
        name = f"{body.removesuffix('InRequest')}{camel(spec.name)}Request"
        schemas[name] = _variant(base, spec, payloads[spec.name])
        mapping[spec.name] = _REF_PREFIX + name
    schemas[body] = {
        "description": f"{base.get('description', '')}\n\nOne variant per registered "
        "job type: `payload` follows the type's schema (`GET /job-types`).".strip(),
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }


def _variant(base: dict, spec: registry.JobTypeSpec, payload: str) -> dict:
    variant = copy.deepcopy(base)
    variant.pop("description", None)
    variant["title"] = spec.name
    properties = variant.setdefault("properties", {})
    properties["type"] = {
        "type": "string",
        "enum": [spec.name],
        "description": spec.description or "a registered job type",
    }
    properties["payload"] = {"$ref": _REF_PREFIX + payload}
    required = set(variant.get("required", [])) | {"type"}
    if not spec.validator.is_valid({}):  # an absent payload is {}
        required.add("payload")
    variant["required"] = sorted(required)
    return variant


def add_payload(
    schemas: dict, spec: registry.JobTypeSpec, prefix: str = "JobPayload", version=None
) -> str:
    """The type's payload schema as a component; its name. ``version``: the schema
    of the payload's ``version`` key (default: the versions ``registry.upgrade``
    brings up to date)."""
    name = f"{prefix}{camel(spec.name)}"
    while name in schemas:
        name += "_"
    schema = _rebased(copy.deepcopy(spec.schema), _REF_PREFIX + name)
    if not isinstance(schema, dict):
        schema = {} if schema else {"not": {}}
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    if schema.get("type") != "object":
        schema = {"type": "object", "allOf": [schema]} if schema else {"type": "object"}
    python_reading(schema)
    properties = schema.setdefault("properties", {})
    properties.setdefault("version", _version(spec) if version is None else version)
    schema.setdefault("description", f"The payload of `{spec.name}`.")
    schemas[name] = schema
    return name


def _version(spec: registry.JobTypeSpec) -> dict:
    """The schema versions a payload may be written for: the current one, and older
    ones the type's normalizers upgrade (``registry.upgrade``)."""
    versions = [
        version
        for version in range(1, spec.version + 1)
        if all(step in spec.normalizers for step in range(version, spec.version))
    ]
    return {
        "type": "integer",
        "enum": versions,
        "description": f"the schema version it was written for (now {spec.version})",
    }


def _rebased(node: Any, base: str) -> Any:
    """Local references (``#/$defs/…``) made to point inside the component."""
    if isinstance(node, dict):
        rebased = {key: _rebased(value, base) for key, value in node.items()}
        ref = rebased.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            rebased["$ref"] = base + ref[1:]
        return rebased
    if isinstance(node, list):
        return [_rebased(item, base) for item in node]
    return node


def camel(name: str) -> str:
    """``demo.sleep`` -> ``DemoSleep`` (component names are letters and digits)."""
    parts = re.split(r"[^A-Za-z0-9]+", name)
    return "".join(part[:1].upper() + part[1:] for part in parts if part)
