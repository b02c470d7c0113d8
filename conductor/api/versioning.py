"""API version negotiation. ``negotiate`` is pure; the middleware and DRF call it.

Order (SPEC §6): the URL (``/api/v2/…``), then ``X-API-Version: 2``, then
``Accept: application/vnd.k1n.v2+json``. Paths without a version (the legacy aliases)
default to the newest version.
"""

import re
from dataclasses import dataclass

from rest_framework.versioning import BaseVersioning

_URL = re.compile(r"^/api/v(?P<version>[^/]+)(?:/|$)")
_VENDOR = re.compile(r"application/vnd\.k1n\.v(?P<version>[^+;,\s]+)\+json", re.I)


@dataclass(frozen=True)
class Negotiated:
    version: str | None
    source: str
    asked: str = ""

    @property
    def ok(self) -> bool:
        return self.version is not None


def negotiate(
    *, path: str, header: str, accept: str, supported: tuple[str, ...]
) -> Negotiated:
    match = _URL.match(path)
    if match:
        return _pick(match["version"], "url", supported)
    if header.strip():
        return _pick(header.strip(), "X-API-Version", supported)
    vendor = _VENDOR.search(accept or "")
    if vendor:
        return _pick(vendor["version"], "Accept", supported)
    return Negotiated(supported[-1], "default")


def _pick(asked: str, source: str, supported: tuple[str, ...]) -> Negotiated:
    asked = asked.lower().removeprefix("v")
    version = asked if asked in supported else None
    return Negotiated(version, source, asked)


class NegotiatedVersioning(BaseVersioning):
    """DRF side: the middleware has negotiated already; expose it as request.version."""

    def determine_version(self, request, *args, **kwargs):
        return getattr(request._request, "api_version", self.default_version) or "2"
