"""Outbound HTTP that cannot be turned against the network it runs in (SPEC §5, §11).

Decides whether a URL may be called and calls it at most once, without following
redirects. The guard, in order:

1. ``parse_url``: http or https, a plausible host, a port; nothing else.
   ``check_port``: one of ``CONDUCTOR_EGRESS_ALLOW_PORTS`` (80, 443, 8080, 8443),
   unless the host is allow-listed.
2. The host is resolved once (``getaddrinfo``, within the time budget).
3. ``approve``: no resolved address may be in the refused table
   (``conductor.egress.ranges``: loopback, private, link-local, cloud metadata …),
   unless the host name, the address or its network is in
   ``CONDUCTOR_EGRESS_ALLOW_HOSTS`` (or the caller's own allow-list, e.g. webhooks').
   IPv4-mapped, 6to4 and NAT64 addresses are judged by the IPv4 address they carry.
   A refused name is not told what it resolved to.
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

import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpcore
import httpx
from django.conf import settings

from conductor.egress.guard import (
    AllowList,
    EgressError,
    EgressRefused,
    EgressResponse,
    Target,
    address_refusal,
    approve,
    check_port,
    embedded_ipv4,
    normalise_host,
    parse_url,
    read_capped,
    request_headers,
)
from conductor.egress.transport import _PinnedTransport

__all__ = [
    "AllowList",
    "EgressError",
    "EgressRefused",
    "EgressResponse",
    "Target",
    "address_refusal",
    "approve",
    "check_port",
    "embedded_ipv4",
    "normalise_host",
    "parse_url",
    "read_capped",
    "request",
    "request_headers",
]


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
    allow = AllowList.parse(allow_hosts)
    check_port(target, allow, settings.CONDUCTOR_EGRESS_ALLOW_PORTS)
    timeout_s = timeout_s or settings.CONDUCTOR_EGRESS_TIMEOUT_S
    max_bytes = max_bytes or settings.CONDUCTOR_EGRESS_MAX_RESPONSE_BYTES
    started = time.monotonic()
    deadline = started + timeout_s
    addresses = _resolve(target.host, target.port, timeout_s)
    approved = approve(target.host, addresses, allow)
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
