"""Error signatures (pure)."""

import pytest

from recovery.analysis import normalise, signature


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("timeout after 30 s", "timeout after <n> s"),  # numbers
        ("order 7d9f2c1e-1111-2222-3333-444455556666 missing", "order <uuid> missing"),
        ("mail to bob@example.com bounced", "mail to <email> bounced"),
        ("GET https://api.x.test/v1?id=9 failed", "GET <url> failed"),  # query varies
        ("connect 10.0.0.12:5432 refused", "connect <ip> refused"),
        ("key 'abc' not found", "key <str> not found"),  # quoted values
        ("digest deadbeefcafe0001 bad", "digest <hex> bad"),
        ("a   b\n\tc", "a b c"),  # white space
        ("", ""),  # nothing
    ],
)
def test_normalise(message, expected):
    assert normalise(message) == expected


def test_same_problem_same_signature_different_problem_different():
    a = signature(job_type="t", code="HTTP_5XX", message="503 from host 10.0.0.1")
    b = signature(job_type="t", code="HTTP_5XX", message="502 from host 10.0.0.7")
    c = signature(job_type="t", code="TIMEOUT", message="503 from host 10.0.0.1")
    d = signature(job_type="u", code="HTTP_5XX", message="503 from host 10.0.0.1")
    assert a == b
    assert len({a[0], c[0], d[0]}) == 3
    assert a[1] == "t|HTTP_5XX|<n> from host <ip>"
