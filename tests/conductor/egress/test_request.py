"""Real outbound calls through the guard (conductor.egress.request) to a loopback HTTP
server, and a loopback TLS server: timeouts, caps, redirects, pinning, SNI."""

import datetime
import json
import socket
import ssl
import time

import pytest

from conductor import egress
from conductor.egress import EgressError, EgressRefused
from tests.conductor.egress.loopback import Loopback, closed_port

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
    settings.CONDUCTOR_EGRESS_ALLOW_PORTS = [loopback.port]
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
    settings.CONDUCTOR_EGRESS_ALLOW_PORTS = [loopback.port]
    with pytest.raises(EgressRefused, match=r"localhost resolves to a loopback addr"):
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


def test_a_port_outside_the_list_is_refused_before_any_lookup(settings, monkeypatch):
    def lookup(*args, **kwargs):
        raise AssertionError("no lookup for a refused port")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    with pytest.raises(EgressRefused, match="port 25 is not allowed"):
        egress.request("GET", "http://mail.example:25/")


def test_dns_answer_that_is_private_is_refused(settings, monkeypatch):
    # The rebinding attack: a public-looking name whose answer is internal.
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET, 1, 6, "", ("10.0.0.7", port))],
    )
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = []
    with pytest.raises(EgressRefused) as caught:
        egress.request("GET", "https://innocent.example/")
    assert caught.value.reason.startswith("innocent.example resolves to a private")
    assert "10.0.0.7" not in caught.value.reason


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
