"""The SSRF guard's decisions: which URLs, hosts and addresses may be called, and the
headers a call sends. See ``conductor.egress`` for the whole guard, in order.
"""

import base64
import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from conductor.egress import ranges

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = frozenset({"http", "https"})
# Framing and routing are ours to set; a caller's value would contradict them.
_DROPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_DEFAULT_HEADERS = {"user-agent": "Conductor", "accept": "*/*"}
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_-]+)*$")


class EgressRefused(Exception):
    """The SSRF guard will not call this URL; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class EgressError(Exception):
    """The call was allowed but failed: ``CONNECTION_ERROR`` or ``TIMEOUT``.

    ``INVALID_REQUEST`` when the request itself cannot be sent (a header value with
    a line break or outside ASCII): retrying it would fail the same way.
    """

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EgressResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    truncated: bool
    elapsed_ms: int
    ip: str


@dataclass(frozen=True)
class Target:
    """A URL the guard accepted: the name to resolve and the URL to send."""

    url: httpx.URL  # what is sent: the normalised host, no fragment
    host: str  # lower-case, IDNA-encoded, no trailing dot, IPv6 without brackets
    port: int


# --- Pure: the URL --------------------------------------------------------------------


def parse_url(url: str) -> Target:
    """Normalise ``url`` or refuse it (scheme, host, port)."""
    try:
        parsed = httpx.URL(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise EgressRefused(f"invalid URL: {exc}") from None
    if parsed.scheme not in SCHEMES:
        raise EgressRefused(f"scheme {parsed.scheme!r} is not allowed; use http(s)")
    host = normalise_host(parsed.raw_host.decode("ascii", "replace"))
    if not _is_host(host):
        raise EgressRefused(f"invalid host {parsed.host!r} in URL")
    if not 0 < port < 65536:
        raise EgressRefused(f"invalid port {port}")
    sent = parsed.copy_with(host=host, fragment=None)
    return Target(url=sent, host=host, port=port)


def normalise_host(host: str) -> str:
    """One spelling per host, so allow-list entries and URLs compare equal.

    ``Example.COM.`` → ``example.com``; ``[::FFFF:7F00:1]`` → ``::ffff:127.0.0.1``.
    """
    host = host.strip().strip("[]").rstrip(".").lower()
    ip = _ip(host)
    return host if ip is None else str(ip)


def _is_host(host: str) -> bool:
    return _ip(host) is not None or bool(_HOST_NAME.match(host))


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# --- The addresses (the table is ``conductor.egress.ranges``) ---------------------

address_refusal = ranges.refusal
embedded_ipv4 = ranges.embedded_ipv4


@dataclass(frozen=True)
class AllowList:
    """Host names, addresses and networks (CIDR) the guard lets through."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: str | Iterable[str]) -> "AllowList":
        """From a comma list or an iterable: ``"hooks.local, 10.0.0.0/8, ::1"``."""
        if isinstance(entries, str):
            entries = entries.split(",")
        names = {normalise_host(entry) for entry in entries} - {""}
        networks = tuple(filter(None, map(_network, names)))
        return cls(frozenset(names), networks)

    def permits(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in network for network in self.networks)


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def approve(host: str, addresses: Sequence[str], allow: AllowList) -> list[str]:
    """The addresses of ``host`` that may be called; refuses if any is forbidden.

    All of them must pass, not just the first: a name that mixes public and private
    answers is treated as the private one it may be used to reach. The refusal of a
    name says why but not what it resolved to (that would map the inside network for
    whoever can submit a URL); an address given as the host is named, since the caller
    wrote it.
    """
    if not addresses:
        raise EgressRefused(f"{host} resolves to no address")
    if host in allow.names:
        return list(addresses)
    for address in addresses:
        reason = address_refusal(address)
        if reason is None or allow.permits(address):
            continue
        if host == normalise_host(address):
            raise EgressRefused(
                f"{host} is a {reason} address; add it to the egress allow-list to "
                "call it"
            )
        log.info("egress to %s refused: it resolves to %s (%s)", host, address, reason)
        raise EgressRefused(
            f"{host} resolves to a {reason} address; add the host to the egress "
            "allow-list to call it"
        )
    return list(addresses)


def check_port(target: Target, allow: AllowList, ports: Iterable[int]) -> None:
    """Only the allowed ports (``CONDUCTOR_EGRESS_ALLOW_PORTS``), unless the host is in
    the allow-list: a port scan through the guard would otherwise be a request away."""
    allowed = {int(port) for port in ports}
    if target.port in allowed or target.host in allow.names:
        return
    if any(ip_net for ip_net in allow.networks if _in(target.host, ip_net)):
        return
    listed = ", ".join(str(port) for port in sorted(allowed))
    raise EgressRefused(f"port {target.port} is not allowed; allowed: {listed}")


def _in(host: str, network: IPNetwork) -> bool:
    ip = _ip(host)
    return ip is not None and ip.version == network.version and ip in network


def read_capped(chunks: Iterable[bytes], limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of ``chunks``, and whether more were there."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            return bytes(buffer[:limit]), True
    return bytes(buffer), False


def request_headers(
    headers: Mapping[str, str] | None, *, url: httpx.URL | None = None
) -> dict[str, str]:
    """The caller's headers over our defaults, minus the ones we must control.

    Credentials in the URL become Basic auth unless an Authorization header is given.
    """
    merged = dict(_DEFAULT_HEADERS)
    for name, value in (headers or {}).items():
        if name.lower() not in _DROPPED_HEADERS:
            merged[name.lower()] = value
    if url is not None and url.userinfo and "authorization" not in merged:
        pair = f"{url.username}:{url.password}".encode()
        merged["authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    # Raw bytes only: the size cap then counts what we keep, and a compressed
    # response cannot expand past it (a decompression bomb).
    merged["accept-encoding"] = "identity"
    return merged
