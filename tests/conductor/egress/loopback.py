"""A loopback HTTP server for outbound-call tests; it stops with its fixture."""

import contextlib
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": headers,
                "body": body,
            }
        )
        route = path.strip("/").split("/")[0]
        # The client may stop reading (size cap, timeout): that is expected.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, f"route_{route}", self.route_json)(path, query)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def reply(self, status, body=b"", content_type="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route_json(self, path, query):
        payload = {"ok": True, "method": self.command, "path": path}
        self.reply(200, json.dumps(payload).encode(), "application/json")

    def route_status(self, path, query):
        status = int(path.rsplit("/", 1)[1])
        self.reply(status, f"status {status} body".encode())

    def route_redirect(self, path, query):
        self.reply(302, b"", headers=[("Location", "/json")])

    def route_slow(self, path, query):
        self.server.stopped.wait(float(query.split("=")[1]))
        self.reply(200, b"late")

    def route_drip(self, path, query):
        # Headers at once, then one byte every 0.1 s: each read is quick, the whole is not.
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(100):
            if self.server.stopped.wait(0.1):
                return
            self.wfile.write(b"x")
            self.wfile.flush()

    def route_big(self, path, query):
        size = int(query.split("=")[1])
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        for start in range(0, size, 16384):
            self.wfile.write(b"y" * min(16384, size - start))

    def route_echo(self, path, query):
        seen = self.server.seen[-1]
        echo = {"method": seen["method"], "headers": seen["headers"]}
        echo["body"] = seen["body"].decode("utf-8", "replace")
        self.reply(200, json.dumps(echo).encode(), "application/json")

    def route_text(self, path, query):
        self.reply(
            200, "caf\xe9 \x00ok".encode("latin-1"), "text/plain; charset=latin-1"
        )

    def route_cookie(self, path, query):
        self.reply(200, b"{}", "application/json", [("Set-Cookie", "session=secret")])

    def route_nan(self, path, query):
        self.reply(200, b'{"x": NaN}', "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        pass  # a client that gives up mid-response is part of the tests


class Loopback:
    """A running loopback server: ``url(path)``, and the requests it ``seen``."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.seen = []
        self.server.stopped = threading.Event()
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    @property
    def seen(self) -> list:
        return self.server.seen

    def url(self, path: str = "/json", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.stopped.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
