"""Workflow node conditions: which are valid, and whether one holds.

Pure: no database, clock or settings; the standard library only.

Condition operators
-------------------
A condition reads one parent's JSON result: ``{"node", "path", "op", "value"}``.
``path`` is a dot path (``"items.0.id"``: object keys, and list indexes written
as digits); empty or absent means the whole result. ``op`` is one of:

=====================  =====================================================
``eq`` / ``ne``        equal / not equal to ``value`` (JSON equality: true ≠ 1)
``gt`` / ``gte``       greater than / at least ``value``  } both numbers or both
``lt`` / ``lte``       less than / at most ``value``      } strings, else false
``in`` / ``not_in``    the value is / is not one of ``value`` (a list)
``exists``             the path resolves (even to null)
``truthy``             the value is not null, false, 0, "", [] or {}
=====================  =====================================================

A path that does not resolve (or a parent without a result) makes every
operator false, except ``ne``, which is then true. ``{"all": [...]}`` holds when
every listed condition holds, ``{"any": [...]}`` when at least one does (each a
non-empty list; they nest up to ``MAX_CONDITION_DEPTH``). A node without a
condition always runs.
"""

import operator
from collections.abc import Callable, Mapping
from typing import Any

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "truthy")
MAX_CONDITION_DEPTH = 8
CONDITION_FIELDS = frozenset({"node", "path", "op", "value"})
_NEEDS_VALUE = frozenset(OPERATORS) - {"exists", "truthy"}
_ORDERED = frozenset({"gt", "gte", "lt", "lte"})

Fail = Callable[[str, str, str], None]


class ConditionCheck:
    """Validates one node's condition against the ids in its ``depends_on``;
    ``fail(field, message, code)`` collects each problem."""

    def __init__(self, fail: Fail, parents: frozenset[str]):
        self.fail = fail
        self.parents = parents

    def not_one_of(self, field: str, choices: tuple[str, ...]) -> None:
        self.fail(field, f"must be one of {', '.join(choices)}", "invalid_choice")

    def unknown_fields(self, where: str, value: dict, allowed: frozenset) -> None:
        message = f"unknown field; allowed: {', '.join(sorted(allowed))}"
        for key in sorted(map(str, value.keys() - allowed)):
            self.fail(f"{where}.{key}", message, "unknown_field")

    def check(self, field: str, condition: Any, depth: int = 1) -> None:
        if not isinstance(condition, dict):
            self.fail(field, "must be a JSON object", "type")
        elif depth > MAX_CONDITION_DEPTH:
            message = f"nested deeper than {MAX_CONDITION_DEPTH} levels"
            self.fail(field, message, "depth")
        elif "all" in condition or "any" in condition:
            self.combination(field, condition, depth)
        else:
            self.leaf(field, condition)

    def combination(self, field: str, condition: dict, depth: int) -> None:
        if len(condition) != 1:
            message = "must hold exactly one key: 'all' or 'any'"
            self.fail(field, message, "invalid")
            return
        key, parts = next(iter(condition.items()))
        if not isinstance(parts, list) or not parts:
            code = "empty" if parts == [] else "type"
            message = "must be a non-empty list of conditions"
            self.fail(f"{field}.{key}", message, code)
            return
        for k, part in enumerate(parts):
            self.check(f"{field}.{key}[{k}]", part, depth + 1)

    def leaf(self, field: str, condition: dict) -> None:
        self.node(f"{field}.node", condition.get("node"))
        if not isinstance(condition.get("path", ""), str):
            self.fail(f"{field}.path", "must be a dot path (a string)", "type")
        op = condition.get("op")
        if op is None:
            self.fail(f"{field}.op", "is required", "required")
        elif op not in OPERATORS:
            self.not_one_of(f"{field}.op", OPERATORS)
        else:
            self.value(f"{field}.value", op, condition)
        self.unknown_fields(field, condition, CONDITION_FIELDS)

    def node(self, field: str, name: Any) -> None:
        if name is None:
            self.fail(field, "is required", "required")
        elif not isinstance(name, str):
            self.fail(field, "must be a node id (a string)", "type")
        elif name not in self.parents:
            message = f"{name!r} is not in depends_on; a condition reads a parent"
            self.fail(field, message, "not_a_dependency")

    def value(self, field: str, op: str, condition: dict) -> None:
        if op not in _NEEDS_VALUE:
            return
        if "value" not in condition:
            self.fail(field, f"is required for op {op!r}", "required")
        elif op in ("in", "not_in") and not isinstance(condition["value"], list):
            self.fail(field, f"must be a list for op {op!r}", "type")
        elif op in _ORDERED and not _comparable(condition["value"]):
            self.fail(field, f"must be a number or a string for op {op!r}", "type")


_MISSING = object()


def condition_holds(condition: dict | None, results: Mapping[str, Any]) -> bool:
    """Whether a (validated) condition holds, given the parents' JSON results."""
    if condition is None:
        return True
    if "all" in condition:
        return all(condition_holds(part, results) for part in condition["all"])
    if "any" in condition:
        return any(condition_holds(part, results) for part in condition["any"])
    actual = _resolve(results.get(condition["node"], _MISSING), condition.get("path"))
    if actual is _MISSING:
        return condition["op"] == "ne"
    return _OPERATIONS[condition["op"]](actual, condition.get("value"))


def _resolve(value: Any, path: str | None) -> Any:
    """The value at a dot path, or ``_MISSING``."""
    for part in path.split(".") if path else ():
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isascii() and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else _MISSING
        else:
            return _MISSING
    return value


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: Python's, except that booleans never equal numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _comparable(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def apply(actual: Any, expected: Any) -> bool:
        if not (_comparable(actual) and _comparable(expected)):
            return False
        if isinstance(actual, str) != isinstance(expected, str):
            return False
        return compare(actual, expected)

    return apply


def _one_of(actual: Any, expected: Any) -> bool:
    return isinstance(expected, list) and any(_equal(actual, v) for v in expected)


_OPERATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "ne": lambda actual, expected: not _equal(actual, expected),
    "gt": _ordered(operator.gt),
    "gte": _ordered(operator.ge),
    "lt": _ordered(operator.lt),
    "lte": _ordered(operator.le),
    "in": _one_of,
    "not_in": lambda actual, expected: (
        isinstance(expected, list) and not _one_of(actual, expected)
    ),
    "exists": lambda actual, expected: True,
    "truthy": lambda actual, expected: bool(actual),
}
