"""The SSRF guard and outbound HTTP (conductor.egress).

Pure tables for URLs, addresses and allow-lists; then real calls to a loopback HTTP
server (and a loopback TLS server) that stops with its fixture.
"""

import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conductor import egress
from conductor.egress import AllowList, EgressError, EgressRefused

# --- Pure: addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),  # IPv4 loopback
        ("127.255.0.9", "loopback"),  # all of 127/8 is loopback
        ("10.1.2.3", "private"),  # RFC 1918
        ("172.16.0.1", "private"),  # RFC 1918
        ("172.31.255.254", "private"),  # RFC 1918, top of the /12
        ("192.168.1.1", "private"),  # RFC 1918
        ("169.254.169.254", "link-local"),  # cloud metadata endpoint
        ("0.0.0.0", "unspecified"),  # "this host" on many stacks
        ("224.0.0.1", "multicast"),  # all-hosts multicast
        ("255.255.255.255", "broadcast"),  # limited broadcast
        ("100.64.0.1", "shared (carrier-grade NAT)"),  # RFC 6598
        ("192.0.2.10", "private"),  # TEST-NET-1 documentation range
        ("198.18.0.1", "private"),  # benchmarking range
        ("240.0.0.1", "reserved"),  # class E
        ("::1", "loopback"),  # IPv6 loopback
        ("::", "unspecified"),  # IPv6 unspecified
        ("fe80::1", "link-local"),  # IPv6 link-local
        ("fc00::1", "private"),  # unique local address
        ("fd12:3456::1", "private"),  # unique local address (fd00::/8)
        ("fec0::1", "site-local"),  # deprecated site-local, still routed inside
        ("ff02::1", "multicast"),  # IPv6 all-nodes multicast
        ("::ffff:127.0.0.1", "loopback (carries 127.0.0.1)"),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", "private (carries 10.0.0.1)"),  # IPv4-mapped private
        ("::ffff:a9fe:a9fe", "link-local (carries 169.254.169.254)"),  # mapped metadata
        ("64:ff9b::7f00:1", "loopback (carries 127.0.0.1)"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", "private (carries 10.0.0.1)"),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::a00:1", "local-use NAT64"),  # RFC 8215 local-use prefix
        ("2002:7f00:1::", "loopback (carries 127.0.0.1)"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private (carries 192.168.1.1)"),  # 6to4 of 192.168.1.1
        ("::7f00:1", "reserved"),  # deprecated IPv4-compatible form
        ("2001:db8::1", "private"),  # documentation prefix
        ("2001::1", "private"),  # Teredo
        ("93.184.216.34", None),  # public IPv4
        ("8.8.8.8", None),  # public IPv4
        ("2606:4700::1111", None),  # public IPv6
        ("::ffff:93.184.216.34", None),  # IPv4-mapped public address
        ("64:ff9b::5db8:d822", None),  # NAT64 of a public address
        ("2002:5db8:d822::1", None),  # 6to4 of a public address
    ],
)
def test_address_refusal(address, reason):
    assert egress.address_refusal(address) == reason


def _nat64(v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(v4))


def _sixtofour(v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1)


def _mapped(v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(f"::ffff:{v4}")


@given(st.ip_addresses(v=4))
def test_ipv6_forms_of_an_ipv4_address_get_its_verdict(v4):
    allowed = egress.address_refusal(v4) is None
    for form in (_mapped(v4), _sixtofour(v4), _nat64(v4)):
        assert (egress.address_refusal(form) is None) == allowed, form


# --- Pure: URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://Example.COM./a", "example.com", 443),  # case and root dot
        ("http://example.com", "example.com", 80),  # default http port
        ("http://example.com:8080/x", "example.com", 8080),  # explicit port
        ("http://[2606:4700::1111]/", "2606:4700::1111", 80),  # IPv6 literal
        ("http://[2606:4700:0:0::AB]/", "2606:4700::ab", 80),  # canonical IPv6 spelling
        ("https://bücher.de/", "xn--bcher-kva.de", 443),  # IDNA
        ("HTTP://EXAMPLE.com/", "example.com", 80),  # scheme case
    ],
)
def test_parse_url_normalises_host_and_port(url, host, port):
    target = egress.parse_url(url)
    assert (target.host, target.port) == (host, port)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://Example.COM./a?b=1#f", "https://example.com/a?b=1"),  # no fragment
        ("http://[2606:4700:0::AB]:81/", "http://[2606:4700::ab]:81/"),  # one spelling
        ("https://bücher.de/ä", "https://xn--bcher-kva.de/%C3%A4"),  # ASCII on the wire
        ("https://u:p@x.test/", "https://u:p@x.test/"),  # credentials kept (Basic auth)
    ],
)
def test_parse_url_sends_the_normalised_url(url, sent):
    assert str(egress.parse_url(url).url) == sent


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "scheme"),  # not http(s)
        ("file:///etc/passwd", "scheme"),  # local files
        ("gopher://127.0.0.1:25/", "scheme"),  # classic SSRF smuggling scheme
        ("javascript:alert(1)", "scheme"),  # not a network URL at all
        ("http://", "invalid host"),  # no host
        ("http:///path", "invalid host"),  # empty authority
        ("http://exa mple.com/", "invalid host"),  # space in the host
        ("http://[::1/", "invalid URL"),  # broken IPv6 literal
        ("http://example.com:99999/", "invalid"),  # port out of range
    ],
)
def test_parse_url_refuses(url, reason):
    with pytest.raises(EgressRefused, match=reason):
        egress.parse_url(url)


# --- Pure: allow-list and approval -------------------------------------------------------


def test_allow_list_parses_names_addresses_and_networks():
    allow = AllowList.parse(" Hooks.Internal. , 10.0.0.0/8,[::1], ,127.0.0.1")
    assert allow.names == {"hooks.internal", "10.0.0.0/8", "::1", "127.0.0.1"}
    assert allow.permits("10.9.8.7")
    assert allow.permits("::1")
    assert not allow.permits("192.168.0.1")
    assert AllowList.parse(["a.test", "B.test"]).names == {"a.test", "b.test"}


PUBLIC, LOCAL = ["93.184.216.34"], ["127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("host", "addresses", "allow", "approved"),
    [
        ("example.com", PUBLIC, "", PUBLIC),  # public: fine
        ("localhost", LOCAL, "localhost", LOCAL),  # allowed by name
        ("db.test", ["10.1.1.1"], "10.1.1.1", ["10.1.1.1"]),  # allowed by address
        ("db.test", ["10.1.1.1"], "10.0.0.0/8", ["10.1.1.1"]),  # allowed by network
        ("mixed.test", [*PUBLIC, "10.0.0.1"], "", None),  # one private answer: refused
        ("localhost", ["127.0.0.1"], "", None),  # loopback, no allow-list
        ("other.test", ["127.0.0.1"], "localhost", None),  # another name's entry
        ("empty.test", [], "", None),  # no answer at all
    ],
)
def test_approve(host, addresses, allow, approved):
    if approved is None:
        with pytest.raises(EgressRefused):
            egress.approve(host, addresses, AllowList.parse(allow))
    else:
        assert egress.approve(host, addresses, AllowList.parse(allow)) == approved


def test_refusal_names_the_host_address_and_reason():
    with pytest.raises(EgressRefused) as caught:
        egress.approve("metadata.test", ["169.254.169.254"], AllowList())
    assert "metadata.test" in caught.value.reason
    assert "169.254.169.254" in caught.value.reason
    assert "link-local" in caught.value.reason


@pytest.mark.parametrize(
    ("chunks", "limit", "expected"),
    [
        ([b"abc", b"def"], 10, (b"abcdef", False)),  # under the cap
        ([b"abc", b"def"], 6, (b"abcdef", False)),  # exactly the cap is whole
        ([b"abc", b"def", b"g"], 6, (b"abcdef", True)),  # one byte more is cut
        ([b"abcdefgh"], 3, (b"abc", True)),  # cut inside a chunk
        ([], 3, (b"", False)),  # empty body
    ],
)
def test_read_capped(chunks, limit, expected):
    assert egress.read_capped(iter(chunks), limit) == expected


def test_request_headers_keep_the_callers_but_not_framing_or_encoding():
    headers = egress.request_headers(
        {
            "Host": "evil.test",
            "Content-Length": "1",
            "User-Agent": "mine",
            "Accept-Encoding": "gzip",
            "X-Token": "t",
        }
    )
    assert headers == {
        "user-agent": "mine",
        "accept": "*/*",
        "x-token": "t",
        "accept-encoding": "identity",
    }


# --- A loopback HTTP server ----------------------------------------------------------


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


@pytest.fixture
def loopback():
    server = Loopback()
    yield server
    server.stop()


@pytest.fixture
def allow_loopback(settings):
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = ["127.0.0.1"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Calls ----------------------------------------------------------------------------


def test_200_json(loopback, allow_loopback):
    response = egress.request("GET", loopback.url("/json"))
    assert response.status == 200
    assert json.loads(response.body) == {"ok": True, "method": "GET", "path": "/json"}
    assert response.headers["content-type"] == "application/json"
    assert response.truncated is False
    assert response.ip == "127.0.0.1"
    assert response.elapsed_ms >= 0


@pytest.mark.parametrize("status", [500, 404, 429, 503])
def test_error_statuses_are_returned_as_they_are(loopback, allow_loopback, status):
    response = egress.request("GET", loopback.url(f"/status/{status}"))
    assert response.status == status
    assert response.body == f"status {status} body".encode()


def test_redirect_is_returned_not_followed(loopback, allow_loopback):
    response = egress.request("GET", loopback.url("/redirect"))
    assert response.status == 302
    assert response.headers["location"] == "/json"
    assert [seen["path"] for seen in loopback.seen] == ["/redirect"]


def test_slow_answer_times_out(loopback, allow_loopback):
    started = time.monotonic()
    with pytest.raises(EgressError) as caught:
        egress.request("GET", loopback.url("/slow?s=5"), timeout_s=0.5)
    assert caught.value.code == "TIMEOUT"
    assert time.monotonic() - started < 2


def test_the_time_cap_is_total_not_per_read(loopback, allow_loopback):
    # /drip sends a byte every 0.1 s for 10 s: per-read timeouts alone never fire.
    started = time.monotonic()
    with pytest.raises(EgressError) as caught:
        egress.request("GET", loopback.url("/drip"), timeout_s=0.8)
    assert caught.value.code == "TIMEOUT"
    assert time.monotonic() - started < 2


def test_timeout_defaults_to_the_setting(loopback, allow_loopback, settings):
    settings.CONDUCTOR_EGRESS_TIMEOUT_S = 0.3
    with pytest.raises(EgressError, match="TIMEOUT"):
        egress.request("GET", loopback.url("/slow?s=5"))


def test_big_answer_is_cut_at_max_bytes(loopback, allow_loopback):
    response = egress.request("GET", loopback.url("/big?n=500000"), max_bytes=100_000)
    assert response.truncated is True
    assert response.body == b"y" * 100_000


def test_answer_of_exactly_max_bytes_is_whole(loopback, allow_loopback):
    response = egress.request("GET", loopback.url("/big?n=5000"), max_bytes=5000)
    assert (response.truncated, len(response.body)) == (False, 5000)


def test_max_bytes_defaults_to_the_setting(loopback, allow_loopback, settings):
    settings.CONDUCTOR_EGRESS_MAX_RESPONSE_BYTES = 1000
    response = egress.request("GET", loopback.url("/big?n=5000"))
    assert (response.truncated, len(response.body)) == (True, 1000)


def test_closed_port_is_a_connection_error(allow_loopback):
    with pytest.raises(EgressError) as caught:
        egress.request("GET", f"http://127.0.0.1:{closed_port()}/")
    assert caught.value.code == "CONNECTION_ERROR"


def test_loopback_is_refused_without_the_allow_list(loopback, settings):
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = []
    with pytest.raises(EgressRefused, match="loopback"):
        egress.request("GET", loopback.url("/json"))
    assert loopback.seen == []  # nothing was sent


def test_allow_list_is_read_at_call_time_and_may_be_a_comma_string(loopback, settings):
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = "example.com, 127.0.0.0/8"
    assert egress.request("GET", loopback.url()).status == 200


def test_callers_allow_list_replaces_the_setting(loopback, allow_loopback):
    with pytest.raises(EgressRefused):
        egress.request("GET", loopback.url(), allow_hosts=["hooks.test"])
    assert egress.request("GET", loopback.url(), allow_hosts="127.0.0.1").status == 200


def test_localhost_name_is_refused_unless_allow_listed(loopback, settings):
    url = loopback.url("/echo", host="localhost")
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = []
    with pytest.raises(EgressRefused, match=r"localhost resolves to .*loopback"):
        egress.request("GET", url)
    assert loopback.seen == []
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = ["LOCALHOST"]
    response = egress.request("GET", url)  # if ::1 comes first, 127.0.0.1 is tried next
    assert response.status == 200
    assert json.loads(response.body)["headers"]["host"] == f"localhost:{loopback.port}"


def test_name_is_resolved_once_and_the_answer_is_what_we_connect_to(
    loopback, settings, monkeypatch
):
    # "pinned.test" exists only in this fake resolver: if anything re-resolved the
    # name instead of connecting to the approved address, the call would fail.
    lookups = []

    def resolver(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = ["pinned.test"]
    response = egress.request("GET", loopback.url("/echo", host="pinned.test"))
    assert response.status == 200
    assert response.ip == "127.0.0.1"
    assert (
        json.loads(response.body)["headers"]["host"] == f"pinned.test:{loopback.port}"
    )
    # One lookup of the name; the socket then gets the approved literal address.
    assert lookups == ["pinned.test", "127.0.0.1"]


def test_dns_answer_that_is_private_is_refused(settings, monkeypatch):
    # The rebinding attack: a public-looking name whose answer is internal.
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET, 1, 6, "", ("10.0.0.7", port))],
    )
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = []
    with pytest.raises(EgressRefused, match=r"10\.0\.0\.7, a private address"):
        egress.request("GET", "https://innocent.example/")


def test_unresolvable_name_is_a_connection_error(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(EgressError) as caught:
        egress.request("GET", "https://nowhere.example/")
    assert caught.value.code == "CONNECTION_ERROR"


def test_method_headers_body_and_credentials_arrive(loopback, allow_loopback):
    url = loopback.url("/echo").replace("://", "://user:pw@")
    response = egress.request(
        "put",
        url,
        headers={"X-Custom": "yes", "Host": "evil.test", "Content-Type": "text/x"},
        body=b"hello",
    )
    echo = json.loads(response.body)
    assert echo["method"] == "PUT"
    assert echo["body"] == "hello"
    assert echo["headers"]["x-custom"] == "yes"
    assert echo["headers"]["content-type"] == "text/x"
    assert echo["headers"]["host"] == f"127.0.0.1:{loopback.port}"  # not evil.test
    assert echo["headers"]["accept-encoding"] == "identity"
    assert echo["headers"]["authorization"] == "Basic dXNlcjpwdw=="


def test_head_has_no_body(loopback, allow_loopback):
    response = egress.request("HEAD", loopback.url("/json"))
    assert (response.status, response.body) == (200, b"")


def test_header_with_a_line_break_is_an_invalid_request(loopback, allow_loopback):
    with pytest.raises(EgressError) as caught:
        egress.request("GET", loopback.url(), headers={"X-Bad": "a\r\nInjected: 1"})
    assert caught.value.code == "INVALID_REQUEST"
    assert loopback.seen == []


# --- TLS: SNI and certificate checks use the name, the socket uses the address ----------


def _certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``name`` and its key, PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls_server(tmp_path, monkeypatch, settings):
    """A loopback HTTPS server for ``pinned.test``, trusted by egress, resolving to
    127.0.0.1 in a fake resolver; yields (server, the SNI names it saw)."""
    cert, key = _certificate("pinned.test")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names = []
    server_tls.sni_callback = lambda sock, name, context: names.append(name)
    monkeypatch.setattr(
        egress.transport,
        "_tls_context",
        lambda: ssl.create_default_context(cadata=cert.decode()),
    )
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET, 1, 6, "", ("127.0.0.1", port))],
    )
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = ["pinned.test", "other.test"]
    server = Loopback(tls=server_tls)
    yield server, names
    server.stop()


def test_tls_uses_the_name_for_sni_and_the_certificate(tls_server):
    server, names = tls_server
    response = egress.request("GET", server.url("/json", host="pinned.test"))
    assert response.status == 200
    assert response.ip == "127.0.0.1"
    assert names == ["pinned.test"]


def test_tls_certificate_for_another_name_is_a_connection_error(tls_server):
    server, _names = tls_server
    with pytest.raises(EgressError) as caught:
        egress.request("GET", server.url("/json", host="other.test"))
    assert caught.value.code == "CONNECTION_ERROR"
    assert "certificate" in caught.value.message.lower()
