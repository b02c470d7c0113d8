"""The job-type registry and payload validation (pure)."""

import pytest

from conductor import registry
from conductor.registry import JobTypeSpec


def _spec(**kw):
    schema = kw.pop(
        "schema",
        {
            "type": "object",
            "properties": {
                "to": {"type": "string", "format": "email"},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "sku": {"type": "string"},
                            "qty": {"type": "integer", "minimum": 1},
                        },
                        "required": ["sku", "qty"],
                    },
                },
            },
            "required": ["to"],
            "additionalProperties": False,
        },
    )
    return JobTypeSpec(name="t.test", handler=lambda ctx, p: None, schema=schema, **kw)


def test_demo_types_are_registered_with_schemas_and_valid_samples():
    names = {spec.name for spec in registry.all_specs()}
    assert {"demo.noop", "demo.sleep", "demo.flaky"} <= names
    for name in ("demo.noop", "demo.sleep", "demo.flaky"):
        spec = registry.get(name)
        assert spec.schema["type"] == "object"
        assert registry.validate(spec, dict(spec.sample_payload)) == []


def test_unknown_type_raises():
    with pytest.raises(registry.UnknownJobType):
        registry.get("nope.nothing")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"to": "a@b.c"}, []),  # valid
        ({}, ["payload.to"]),  # missing required property is named itself
        ({"to": 5}, ["payload.to"]),  # wrong type
        ({"to": "a@b.c", "extra": 1}, ["payload"]),  # additionalProperties
        ({"to": "a@b.c", "items": [{"sku": "x", "qty": 0}]}, ["payload.items[0].qty"]),
        ({"to": "a@b.c", "items": [{"qty": 2}]}, ["payload.items[0].sku"]),
        (
            {"to": 1, "items": [{"sku": 1, "qty": 1}]},
            ["payload.items[0].sku", "payload.to"],
        ),
    ],
)
def test_validation_names_each_failing_path(payload, fields):
    assert sorted(e.field for e in registry.validate(_spec(), payload)) == sorted(
        fields
    )


def test_demo_sleep_rejects_a_string_naming_the_field():
    errors = registry.validate(registry.get("demo.sleep"), {"seconds": "x"})
    assert [e.field for e in errors] == ["payload.seconds"]
    assert errors[0].code == "type"


def test_old_payload_versions_are_upgraded_by_normalizers():
    spec = _spec(
        version=3,
        normalizers={
            1: lambda p: {
                **{k: v for k, v in p.items() if k != "email"},
                "to": p["email"],
            },
            2: lambda p: {**p, "items": p.get("items", [])},
        },
    )
    payload, version = registry.upgrade(spec, {"version": 1, "email": "a@b.c"})
    assert version == 3
    assert payload == {"to": "a@b.c", "items": []}
    assert registry.validate(spec, payload) == []


def test_a_payload_without_version_is_current_and_a_bad_version_is_flagged():
    spec = _spec(version=2)
    assert registry.upgrade(spec, {"to": "x"}) == ({"to": "x"}, 2)
    assert registry.upgrade(spec, {"version": "two"})[1] == -1
    # No normalizer from 1: stays at 1, which the submit service reports.
    assert registry.upgrade(spec, {"version": 1})[1] == 1


def test_registering_an_invalid_sample_fails_loudly():
    with pytest.raises(ValueError, match="sample payload"):
        registry.job_type(
            "t.bad", schema={"type": "object", "required": ["x"]}, sample_payload={}
        )(lambda ctx, p: None)
    with pytest.raises(registry.UnknownJobType):
        registry.get("t.bad")
