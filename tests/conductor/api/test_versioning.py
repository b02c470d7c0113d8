"""Version negotiation order: URL, then X-API-Version, then Accept (pure)."""

import pytest

from conductor.api.versioning import negotiate

SUPPORTED = ("2",)


@pytest.mark.parametrize(
    ("path", "header", "accept", "version", "source"),
    [
        ("/api/v2/jobs", "", "", "2", "url"),
        ("/api/v2/jobs", "3", "", "2", "url"),  # the URL wins over the header
        ("/api/jobs/1/retry-history", "2", "", "2", "X-API-Version"),
        ("/api/job-types", "", "application/vnd.k1n.v2+json", "2", "Accept"),
        ("/api/job-types", "", "application/json", "2", "default"),
        ("/api/v3/jobs", "", "", None, "url"),
        ("/api/job-types", "7", "", None, "X-API-Version"),
        (
            "/api/job-types",
            "",
            "text/html, application/vnd.k1n.v9+json",
            None,
            "Accept",
        ),
        ("/api/job-types", "v2", "", "2", "X-API-Version"),
    ],
)
def test_negotiate(path, header, accept, version, source):
    result = negotiate(path=path, header=header, accept=accept, supported=SUPPORTED)
    assert (result.version, result.source) == (version, source)
