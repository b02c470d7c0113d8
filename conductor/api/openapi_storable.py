"""Request schemas that say what the server stores, the way the server checks it.

The body parser refuses text PostgreSQL cannot store (a NUL character) anywhere in a
body, in values and keys alike; date-times are taken in the years and offsets
``job_input.utc_or_none`` allows; job payloads are checked by Python's ``jsonschema``,
whose ``\\s`` is ``str.isspace`` and which does not check ``format``. A JSON Schema
validator reads none of that from the serializers, so this rewrites the request side
of the document (bodies, parameters and the components they use) to say it:

    schema says                      becomes
    a string (no enum or const)      + ``pattern`` without NUL (or ``not`` one with it)
    a date-time                      + ``pattern``: ``DATE_TIME``
    any value / an open object       + values and keys as ``StorableJson``
    (payloads) ``\\s`` in a pattern  the characters Python reads as whitespace
    (payloads) ``format``            moved to the description: not checked at submit
                                     (``python_reading``, by ``openapi_jobs``)

Response schemas are left alone: they describe what was stored.
"""

from typing import Any

from conductor.api.fields import NO_NUL, WHITESPACE

STORABLE = "StorableJson"
STORABLE_REF = {"$ref": f"#/components/schemas/{STORABLE}"}
STORABLE_SCHEMA = {
    "description": "Any JSON value PostgreSQL can store: no NUL character in text, "
    "values or keys.",
    "pattern": NO_NUL,
    "items": STORABLE_REF,
    "propertyNames": {"pattern": NO_NUL},
    "additionalProperties": STORABLE_REF,
}
_DIGIT = "[0-9]"
#: RFC 3339 date-times the server takes: written in the years 1970 to 9998, with an
#: offset under 16 hours, at most microseconds.
DATE_TIME = (
    rf"^(19[7-9]{_DIGIT}|[2-8]{_DIGIT}{{3}}|9[0-8]{_DIGIT}{{2}}|99[0-8]{_DIGIT})"
    rf"-(0[1-9]|1[0-2])-(0[1-9]|[12]{_DIGIT}|3[01])"
    rf"T([01]{_DIGIT}|2[0-3]):[0-5]{_DIGIT}:[0-5]{_DIGIT}(\.{_DIGIT}{{1,6}})?"
    rf"(Z|[+-](0{_DIGIT}|1[0-5]):[0-5]{_DIGIT})$"
)
#: Text with a NUL character, for ``not``: patterns that might match one.
_WITH_NUL = {"type": "string", "pattern": r"\u0000"}
_ANY_TYPE = ("string", "array", "object")
#: Escapes that may match a NUL character.
_WIDE_ESCAPES = (r"\S", r"\W", r"\D", r"\x00", r"\u0000", r"\0", r"\c", r"\p", r"\P")
_REF_PREFIX = "#/components/schemas/"


class StorableRewriter:
    """Rewrites request schemas in place; each component once."""

    def __init__(self, components: dict[str, Any]):
        self.components = components
        self.done: set[str] = set()
        components.setdefault(STORABLE, STORABLE_SCHEMA)
        self.done.add(STORABLE)

    def request(self, schema: Any) -> None:
        """A request body or parameter schema: a value of any shape it allows."""
        self._node(schema, fill=True, payload=False)

    def payload_component(self, name: str) -> None:
        """A job type's payload schema (checked by Python's ``jsonschema``)."""
        self._component(_REF_PREFIX + name, payload=True)

    def _component(self, ref: str, payload: bool) -> None:
        name = ref.removeprefix(_REF_PREFIX).split("/", 1)[0]
        if not ref.startswith(_REF_PREFIX) or name in self.done:
            return
        self.done.add(name)
        self._node(self.components.get(name), fill=True, payload=payload)

    def _node(self, node: Any, *, fill: bool, payload: bool) -> None:
        """``fill``: the node describes a value, so no ``type`` means any value
        (rather than a fragment of a condition, such as a ``then``)."""
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            self._component(node["$ref"], payload)
        if "enum" in node or "const" in node:
            return
        kinds = _kinds(node, fill)
        if "string" in kinds:
            _text(node, payload)
        if "array" in kinds and node.get("items", True) is True:
            node["items"] = STORABLE_REF
        if "object" in kinds:
            _open_object(node)
        self._children(node, fill, payload)

    def _children(self, node: dict, fill: bool, payload: bool) -> None:
        for key in ("properties", "patternProperties", "$defs"):
            for child in (node.get(key) or {}).values():
                self._node(child, fill=True, payload=payload)
        for key in ("items", "additionalProperties"):
            self._node(node.get(key), fill=True, payload=payload)
        for child in node.get("prefixItems") or []:
            self._node(child, fill=True, payload=payload)
        for key in ("oneOf", "anyOf"):
            for child in node.get(key) or []:
                self._node(child, fill=fill, payload=payload)
        for child in node.get("allOf") or []:
            self._node(child, fill=False, payload=payload)
        for key in ("then", "else"):
            self._node(node.get(key), fill=False, payload=payload)
        for child in (node.get("dependentSchemas") or {}).values():
            self._node(child, fill=False, payload=payload)


def _kinds(node: dict, fill: bool) -> tuple[str, ...]:
    kinds = node.get("type")
    if kinds is None:
        return _ANY_TYPE if fill and not _composed(node) else ()
    return (kinds,) if isinstance(kinds, str) else tuple(kinds)


def _composed(node: dict) -> bool:
    """A node whose value is described by its branches or a reference."""
    return any(key in node for key in ("$ref", "oneOf", "anyOf", "allOf"))


def _text(node: dict, payload: bool) -> None:
    kind = node.get("format")
    if kind == "uuid":
        return
    if kind == "date-time" and not payload:
        node.setdefault("pattern", DATE_TIME)
        return
    pattern = node.get("pattern")
    if pattern is None:
        node["pattern"] = NO_NUL
    elif _may_match_nul(pattern):
        node.setdefault("allOf", []).append({"not": _WITH_NUL})


def _may_match_nul(pattern: str) -> bool:
    """False only when sure: anchored, no negated class, no ``.`` outside a class,
    no escape that could stand for NUL."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return True
    in_class, index = False, 0
    while index < len(pattern):
        pair = pattern[index : index + 2]
        if pair == "[^" and not in_class:
            end = pattern.find("]", index)
            if end < 0 or r"\u0000" not in pattern[index:end]:
                return True
            index = end + 1  # a negated class without NUL
            continue
        if any(pattern.startswith(wide, index) for wide in _WIDE_ESCAPES):
            return True
        if pattern[index] == "\\":
            index += 2
            continue
        if pattern[index] == "." and not in_class:
            return True
        in_class = {"[": True, "]": False}.get(pattern[index], in_class)
        index += 1
    return False


def _open_object(node: dict) -> None:
    extra = node.get("additionalProperties", True)
    if extra is False:
        return
    if extra is True:
        node["additionalProperties"] = STORABLE_REF
    names = node.setdefault("propertyNames", {})
    if isinstance(names, dict) and "enum" not in names and "const" not in names:
        _text(names, payload=False)


_ONE_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else",
               "contains", "propertyNames")  # fmt: skip
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")


def python_reading(node: Any) -> None:
    """A payload schema as Python's ``jsonschema`` checks it: its ``\\s``, and no
    ``format`` (moved to the description), in every subschema."""
    if not isinstance(node, dict):
        return
    if isinstance(node.get("pattern"), str):
        node["pattern"] = python_whitespace(node["pattern"])
    kind = node.pop("format", None)
    if isinstance(kind, str):
        note = f"A {kind} (not checked when the job is submitted)."
        node["description"] = f"{node.get('description', '')} {note}".strip()
    for key in _ONE_SCHEMA:
        python_reading(node.get(key))
    for key in _SCHEMA_LISTS:
        for child in node.get(key) or []:
            python_reading(child)
    for key in _SCHEMA_MAPS:
        for child in (node.get(key) or {}).values():
            python_reading(child)


def python_whitespace(pattern: str) -> str:
    """``pattern`` with ``\\s`` spelled as the characters Python's ``re`` matches."""
    out, in_class, index = [], False, 0
    while index < len(pattern):
        char = pattern[index]
        pair = pattern[index : index + 2]
        if pair == r"\s":
            out.append(WHITESPACE if in_class else f"[{WHITESPACE}]")
            index += 2
            continue
        if char == "\\":
            out.append(pair)
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def parameter_schemas(result: dict) -> list[dict]:
    """The schema of every parameter of every operation."""
    found = []
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if isinstance(parameter.get("schema"), dict):
                    found.append(parameter["schema"])
    return found


def body_schemas(result: dict) -> list[dict]:
    """The schema of every request body of every operation."""
    found = []
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            found += [body["schema"] for body in content.values() if "schema" in body]
    return found
