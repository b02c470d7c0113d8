"""Pinning and the deadline, at the socket: httpcore is handed the approved address
while the URL keeps the name (Host, SNI and certificate checks use the name), and
every connect, write and read is bounded by one deadline.
"""

import time
from collections.abc import Iterator
from functools import cache

import httpcore
import httpx

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
