"""Outbound HTTP that cannot be turned against the network it runs in (SPEC §5, §11).

Decides whether a URL may be called and calls it at most once, without following
redirects. The guard, in order:

1. ``parse_url``: http or https, a plausible host, a port; nothing else.
2. The host is resolved once (``getaddrinfo``, within the time budget).
3. ``approve``: every resolved address must be public (``address_refusal``), unless
   the host name, the address or its network is in ``CONDUCTOR_EGRESS_ALLOW_HOSTS``
   (or the caller's own allow-list, e.g. webhooks'). IPv4-mapped, 6to4 and NAT64
   addresses are judged by the IPv4 address they carry.
4. The connection goes to an approved address, never to a fresh lookup of the name
   (no DNS rebinding): a network backend hands httpcore the pinned address while the
   URL keeps the name, so Host, SNI and certificate checks use the name as usual.
5. One deadline covers lookup, connect, TLS, request and every read of the response,
   so a server that drips bytes cannot hold a worker past ``timeout_s``. The body is
   read raw (we ask for ``identity`` encoding: no decompression bombs) up to
   ``max_bytes``; past it the response is cut and marked ``truncated``.

Refusals raise ``EgressRefused(reason)``; network failures raise
``EgressError(code, message)`` with ``CONNECTION_ERROR`` or ``TIMEOUT`` (and
``INVALID_REQUEST`` for a request that cannot be put on the wire).
"""

import base64
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import httpcore
import httpx
from django.conf import settings

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


# --- Pure: the addresses --------------------------------------------------------------

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, site-defined
_BROADCAST = ipaddress.ip_address("255.255.255.255")

# First match names the reason. ``is_global`` last: it catches documentation,
# benchmarking and protocol-assignment ranges the named checks leave out.
_REFUSALS = (
    (lambda ip: ip.is_unspecified, "unspecified"),
    (lambda ip: ip.is_loopback, "loopback"),
    (lambda ip: ip.is_link_local, "link-local"),
    (lambda ip: ip.is_multicast, "multicast"),
    (lambda ip: ip == _BROADCAST, "broadcast"),
    (lambda ip: ip in _SHARED, "shared (carrier-grade NAT)"),
    (lambda ip: ip in _NAT64_LOCAL, "local-use NAT64"),
    (lambda ip: ip.is_reserved, "reserved"),
    (lambda ip: ip.is_private, "private"),
    (lambda ip: getattr(ip, "is_site_local", False), "site-local"),
    (lambda ip: not ip.is_global, "non-global"),
)


def address_refusal(address: str | IPAddress) -> str | None:
    """Why ``address`` may not be called (``"loopback"`` …), or None if it is public."""
    ip = ipaddress.ip_address(address)
    carried = embedded_ipv4(ip)
    if carried is not None:
        reason = address_refusal(carried)
        return f"{reason} (carries {carried})" if reason else None
    return next((reason for test, reason in _REFUSALS if test(ip)), None)


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4 or NAT64 IPv6 address stands for."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


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
    answers is treated as the private one it may be used to reach.
    """
    if not addresses:
        raise EgressRefused(f"{host} resolves to no address")
    if host in allow.names:
        return list(addresses)
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None and not allow.permits(address):
            raise EgressRefused(
                f"{host} resolves to {address}, a {reason} address; "
                "add the host to the egress allow-list to call it"
            )
    return list(addresses)


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


# --- The call -------------------------------------------------------------------------


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float | None = None,
    max_bytes: int | None = None,
    allow_hosts: str | Iterable[str] | None = None,
) -> EgressResponse:
    """Call ``url`` once through the SSRF guard; redirects are returned, not followed.

    ``allow_hosts`` defaults to ``CONDUCTOR_EGRESS_ALLOW_HOSTS``; ``timeout_s`` and
    ``max_bytes`` to ``CONDUCTOR_EGRESS_TIMEOUT_S`` and ``…_MAX_RESPONSE_BYTES``.
    """
    target = parse_url(url)
    if allow_hosts is None:
        allow_hosts = settings.CONDUCTOR_EGRESS_ALLOW_HOSTS
    timeout_s = timeout_s or settings.CONDUCTOR_EGRESS_TIMEOUT_S
    max_bytes = max_bytes or settings.CONDUCTOR_EGRESS_MAX_RESPONSE_BYTES
    started = time.monotonic()
    deadline = started + timeout_s
    addresses = _resolve(target.host, target.port, timeout_s)
    approved = approve(target.host, addresses, AllowList.parse(allow_hosts))
    sent_headers = request_headers(headers, url=target.url)
    call = _Call(method.upper(), target, sent_headers, body, max_bytes)
    status, response_headers, content, truncated, ip = _first_reachable(
        call, approved, deadline
    )
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return EgressResponse(status, response_headers, content, truncated, elapsed_ms, ip)


@dataclass(frozen=True)
class _Call:
    method: str
    target: Target
    headers: dict[str, str]
    body: bytes | None
    max_bytes: int


_LOCAL_ERRORS = (httpcore.LocalProtocolError, httpx.LocalProtocolError, UnicodeError)


def _first_reachable(call: _Call, addresses: list[str], deadline: float) -> tuple:
    """Try the approved addresses in resolver order until one accepts a connection."""
    failure: Exception | None = None
    for ip in addresses:
        try:
            return (*_exchange(call, ip, deadline), ip)
        except httpcore.ConnectError as exc:  # nothing was sent: the next may answer
            failure = exc
        except _LOCAL_ERRORS as exc:  # e.g. a header value with a line break
            raise EgressError("INVALID_REQUEST", _describe(exc)) from exc
        except (httpcore.TimeoutException, httpx.TimeoutException) as exc:
            raise EgressError("TIMEOUT", _timeout_message(call, exc)) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpx.HTTPError) as exc:
            raise EgressError("CONNECTION_ERROR", _describe(exc)) from exc
    raise EgressError("CONNECTION_ERROR", _describe(failure)) from failure


def _exchange(call: _Call, ip: str, deadline: float) -> tuple:
    # Straight to the transport, not through httpx.Client: no redirects, no proxy
    # or .netrc from the environment, and no INFO log line with the full URL
    # (its query string or user info may hold a token).
    request = httpx.Request(
        call.method, call.target.url, headers=call.headers, content=call.body
    )
    with _PinnedTransport(ip, deadline) as transport:
        response = transport.handle_request(request)
        try:
            content, truncated = read_capped(response.iter_raw(), call.max_bytes)
        finally:
            response.close()
    return response.status_code, dict(response.headers.items()), content, truncated


def _timeout_message(call: _Call, exc: Exception) -> str:
    return f"{call.target.host} did not answer in time ({_describe(exc)})"


def _describe(exc: Exception | None) -> str:
    text = str(exc) if exc is not None else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _resolve(host: str, port: int, timeout_s: float) -> list[str]:
    """Resolve once. ``getaddrinfo`` has no timeout: wait for it in a daemon thread."""
    answer: list = []

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:  # socket.gaierror and friends
            answer.append(exc)

    thread = threading.Thread(target=lookup, name="egress-resolve", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not answer:
        raise EgressError("TIMEOUT", f"resolving {host} took over {timeout_s:g} s")
    if isinstance(answer[0], OSError):
        raise EgressError("CONNECTION_ERROR", f"cannot resolve {host}: {answer[0]}")
    return list(dict.fromkeys(info[4][0] for info in answer[0]))


# --- Pinning and the deadline, at the socket ------------------------------------------


def _left(deadline: float, timeout: float | None, expired: type[Exception]) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the egress time budget is spent")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation waits at most until the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        wait = _left(self._deadline, timeout, httpcore.ReadTimeout)
        return self._stream.read(max_bytes, wait)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        wait = _left(self._deadline, timeout, httpcore.WriteTimeout)
        self._stream.write(buffer, wait)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        wait = _left(self._deadline, timeout, httpcore.ConnectTimeout)
        tls = self._stream.start_tls(ssl_context, server_hostname, wait)
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the approved address whatever name the URL carries."""

    def __init__(self, ip: str, deadline: float):
        self._ip = ip
        self._deadline = deadline
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self, host, port, timeout=None, local_address=None, socket_options=None
    ):
        wait = _left(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._sockets.connect_tcp(
            self._ip, port, wait, local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not reachable through egress")


class _PinnedTransport(httpx.BaseTransport):
    """httpx on an httpcore pool with the pinned backend; one request, no reuse."""

    def __init__(self, ip: str, deadline: float):
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls_context(),
            network_backend=_PinnedBackend(ip, deadline),
            max_connections=1,
            max_keepalive_connections=0,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        answer = self._pool.handle_request(sent)
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_ResponseStream(answer),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, answer: httpcore.Response):
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        yield from self._answer.iter_stream()

    def close(self) -> None:
        self._answer.close()


@cache
def _tls_context():
    """One verifying context per process (loading the CA bundle takes milliseconds)."""
    return httpx.create_ssl_context()
