"""Which parts of a payload are secret, as its job type's JSON Schema says. Pure.

A schema marks a value secret with ``"x-secret": true`` on the subschema of that
value, reached through ``properties`` (a key) or ``patternProperties`` (a pattern, so
``"^(?i:authorization)$"`` marks a header whatever its case). Nested objects are
followed; arrays are not (a secret is a value with a name).

``secret_paths(payload, schema)`` lists the key paths of the secret values a payload
holds; ``replaced(payload, paths, change)`` returns a copy with each such value passed
through ``change`` (to seal, to reveal or to mask it).
"""

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Path = tuple[str, ...]
MARK = "x-secret"


def has_secrets(schema: Any) -> bool:
    """Whether anything in ``schema`` is marked secret (ask once per schema: the
    registry keeps the answer on the job type)."""
    if isinstance(schema, Mapping):
        return schema.get(MARK) is True or any(map(has_secrets, schema.values()))
    if isinstance(schema, list):
        return any(map(has_secrets, schema))
    return False


def secret_paths(payload: Any, schema: Mapping[str, Any]) -> list[Path]:
    """The paths of the values of ``payload`` that ``schema`` marks secret."""
    return list(_walk(payload, schema, ()))


def replaced(payload: Any, paths: list[Path], change: Callable[[Any], Any]) -> Any:
    """A copy of ``payload`` with the value at each path passed through ``change``."""
    if not paths:
        return payload
    copy = _copy(payload)
    for path in paths:
        parent = copy
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = change(parent[path[-1]])
    return copy


def _walk(value: Any, schema: Any, at: Path) -> Iterator[Path]:
    if not isinstance(value, dict) or not isinstance(schema, Mapping):
        return
    for key, item in value.items():
        for subschema in _subschemas(schema, key):
            if subschema.get(MARK) is True:
                yield (*at, key)
                break
            yield from _walk(item, subschema, (*at, key))


def _subschemas(schema: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and isinstance(properties.get(key), Mapping):
        yield properties[key]
    patterns = schema.get("patternProperties")
    if isinstance(patterns, Mapping):
        for pattern, subschema in patterns.items():
            if isinstance(subschema, Mapping) and re.search(pattern, key):
                yield subschema


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
