"""Workflow node conditions (pure): operators, combinations, missing values."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.workflows import conditions


def leaf(op, value=None, *, on="fetch", path="status"):
    condition = {"node": on, "path": path, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


def nested(depth):
    """A condition with ``depth`` levels of ``all`` around a leaf."""
    condition = leaf("truthy")
    for _ in range(depth):
        condition = {"all": [condition]}
    return condition


RESULTS = {
    "fetch": {
        "status": 200,
        "ok": True,
        "count": 0,
        "name": "beta",
        "tags": [],
        "etag": None,
        "body": {"items": [{"id": "x"}, {"id": "y"}]},
    },
    "score": 7.5,
}


# fmt: off
OPERATORS = [
    (None, True),  # no condition: the node always runs
    (leaf("eq", 200), True),  # equal number
    (leaf("eq", 200.0), True),  # JSON numbers: 200 == 200.0
    (leaf("eq", "200"), False),  # a string never equals a number
    (leaf("eq", 1, path="ok"), False),  # true is not 1 (JSON, not Python)
    (leaf("eq", False, path="count"), False),  # 0 is not false
    (leaf("eq", True, path="ok"), True),  # booleans compare as booleans
    (leaf("ne", 404), True),  # not equal
    (leaf("ne", 200), False),
    (leaf("gt", 199), True),  # 200 > 199
    (leaf("gt", 200), False),
    (leaf("gte", 200), True),
    (leaf("lt", 300), True),
    (leaf("lte", 199), False),
    (leaf("gt", "100"), False),  # a number is never compared with a string
    (leaf("gt", 0, path="ok"), False),  # a boolean is not a number
    (leaf("lt", "gamma", path="name"), True),  # strings compare as strings
    (leaf("in", [200, 201]), True),  # one of a list
    (leaf("in", ["200"]), False),  # ...with JSON equality
    (leaf("in", [{"id": "x"}], path="body.items.0"), True),  # objects compare deeply
    (leaf("not_in", [500, 503]), True),
    (leaf("not_in", [200]), False),
    (leaf("exists"), True),  # the path resolves
    (leaf("exists", path="etag"), True),  # ...even to null
    (leaf("exists", path="missing"), False),
    (leaf("truthy", path="count"), False),  # 0 is falsy
    (leaf("truthy", path="tags"), False),  # [] is falsy
    (leaf("truthy", path="etag"), False),  # null is falsy
    (leaf("truthy", path="name"), True),
    (leaf("eq", "y", path="body.items.1.id"), True),  # list index in a path
    (leaf("exists", path="body.items.2"), False),  # index past the end
    (leaf("exists", path="body.items.-1"), False),  # no negative indexes
    (leaf("exists", path="body.items.first"), False),  # a list has no keys
    (leaf("exists", path="status.code"), False),  # a number has no fields
    (leaf("gt", 7, on="score", path=""), True),  # empty path: the whole result
    (leaf("eq", 7.5, on="score", path=None), True),  # ...as is no path
    (leaf("eq", 200, path="missing"), False),  # missing path: false...
    (leaf("not_in", [1], path="missing"), False),  # ...for every operator...
    (leaf("truthy", path="missing"), False),
    (leaf("ne", 200, path="missing"), True),  # ...except ne
    (leaf("exists", on="skipped"), False),  # a parent without a result
    (leaf("ne", 1, on="skipped"), True),
]
# fmt: on


@pytest.mark.parametrize(("condition", "expected"), OPERATORS)
def test_condition_operators(condition, expected):
    assert conditions.condition_holds(condition, RESULTS) is expected


T, F = leaf("eq", 200), leaf("eq", 500)


# fmt: off
COMBINATIONS = [
    ({"all": [T, T]}, True),  # every condition holds
    ({"all": [T, F]}, False),  # one does not
    ({"any": [F, T]}, True),  # at least one holds
    ({"any": [F, F]}, False),  # none holds
    ({"any": [F, {"all": [T, T]}]}, True),  # nested: any of (F, all(T, T))
    ({"all": [T, {"any": [F, F]}]}, False),  # nested: all of (T, any(F, F))
]
# fmt: on


@pytest.mark.parametrize(("condition", "expected"), COMBINATIONS)
def test_all_and_any_combine_conditions(condition, expected):
    assert conditions.condition_holds(condition, RESULTS) is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200)
@given(result=json_values, value=json_values, path=st.sampled_from(["", "a", "0"]))
def test_ne_is_always_the_negation_of_eq(result, value, path):
    results = {"p": result}
    eq = conditions.condition_holds(
        {"node": "p", "path": path, "op": "eq", "value": value}, results
    )
    ne = conditions.condition_holds(
        {"node": "p", "path": path, "op": "ne", "value": value}, results
    )
    assert eq is not ne
    assert eq is (
        conditions.condition_holds(
            {"node": "p", "path": path, "op": "in", "value": [value]}, results
        )
    )
