"""Which payload values a schema marks secret (pure)."""

from conductor.secret_fields import has_secrets, replaced, secret_paths

SCHEMA = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "x-secret": True},
        "db": {"type": "object", "properties": {"password": {"x-secret": True}}},
        "headers": {
            "type": "object",
            "patternProperties": {"^[Aa][Uu][Tt][Hh]$": {"x-secret": True}},
        },
        "items": {"type": "array", "items": {"x-secret": True}},
    },
}


def test_has_secrets_looks_everywhere():
    assert has_secrets(SCHEMA)
    assert has_secrets({"anyOf": [{"type": "string"}, {"x-secret": True}]})
    assert not has_secrets({"type": "object", "properties": {"x-secret": {}}})
    assert not has_secrets({"properties": {"a": {"x-secret": "yes"}}})


def test_secret_paths_follow_properties_and_patterns_not_arrays():
    payload = {
        "token": "t", "db": {"password": "p", "host": "h"},
        "headers": {"AUTH": "a", "auth": "b", "Accept": "c"},
        "items": ["i"], "other": {"token": "not this one"},
    }  # fmt: skip
    assert sorted(secret_paths(payload, SCHEMA)) == [
        ("db", "password"), ("headers", "AUTH"), ("headers", "auth"), ("token",),
    ]  # fmt: skip


def test_secret_paths_of_an_odd_payload_are_none():
    assert secret_paths("text", SCHEMA) == []
    assert secret_paths({"db": "not an object"}, SCHEMA) == []


def test_replaced_changes_a_copy():
    payload = {"token": "t", "db": {"password": "p"}}
    changed = replaced(payload, secret_paths(payload, SCHEMA), str.upper)
    assert changed == {"token": "T", "db": {"password": "P"}}
    assert payload == {"token": "t", "db": {"password": "p"}}
    assert replaced(payload, [], str.upper) is payload
