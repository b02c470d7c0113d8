"""Values PostgreSQL cannot store are found before any write (pure)."""

import pytest

from conductor import jsonvalue


@pytest.mark.parametrize(
    ("value", "fields"),
    [
        ({"a": [1, "x", {"b": None}]}, []),  # ordinary JSON
        ({"a": "x\x00y"}, ["body.a"]),  # NUL
        ({"a": ["ok", "\ud800"]}, ["body.a[1]"]),  # lone surrogate
        ({"\udfff": 1}, ["body.\\udfff"]),  # lone surrogate in a key, escaped
        ({"n": float("inf")}, ["body.n"]),  # infinity
        ({"n": float("nan")}, ["body.n"]),  # NaN
    ],
)
def test_problems(value, fields):
    assert [p.field for p in jsonvalue.problems(value)] == fields


def test_depth_limit():
    deep = current = {}
    for _ in range(70):
        current["x"] = {}
        current = current["x"]
    assert jsonvalue.problems(deep, max_depth=64)[0].code == "depth"
    assert jsonvalue.problems(deep, max_depth=100) == []
