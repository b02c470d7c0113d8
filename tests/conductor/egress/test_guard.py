"""The SSRF guard's decisions (conductor.egress.guard): tables for URLs, addresses and
allow-lists, request headers, the size cap."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conductor import egress
from conductor.egress import AllowList, EgressRefused

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
        ("169.254.169.254", "cloud metadata"),  # AWS, GCP, Azure, OpenStack metadata
        ("169.254.1.1", "link-local"),  # the rest of 169.254/16
        ("168.63.129.16", "cloud metadata"),  # Azure wire server
        ("100.100.100.200", "cloud metadata"),  # Alibaba Cloud, inside 100.64/10
        ("fd00:ec2::254", "cloud metadata"),  # AWS IMDS over IPv6
        ("192.0.0.1", "protocol assignment"),  # IETF protocol assignments /24
        ("0.0.0.0", "unspecified"),  # "this host" on many stacks
        ("224.0.0.1", "multicast"),  # all-hosts multicast
        ("255.255.255.255", "broadcast"),  # limited broadcast
        ("100.64.0.1", "shared (carrier-grade NAT)"),  # RFC 6598
        ("192.0.2.10", "documentation"),  # TEST-NET-1
        ("198.18.0.1", "benchmarking"),  # RFC 2544
        ("240.0.0.1", "reserved"),  # class E
        ("::1", "loopback"),  # IPv6 loopback
        ("::", "unspecified"),  # IPv6 unspecified
        ("fe80::1", "link-local"),  # IPv6 link-local
        ("fc00::1", "private"),  # unique local address
        ("fd12:3456::1", "private"),  # unique local address (fd00::/8)
        ("fec0::1", "site-local"),  # deprecated site-local, still routed inside
        ("ff02::1", "multicast"),  # IPv6 all-nodes multicast
        ("::ffff:127.0.0.1", "loopback (carried in IPv6)"),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", "private (carried in IPv6)"),  # IPv4-mapped private
        ("::ffff:a9fe:a9fe", "cloud metadata (carried in IPv6)"),  # mapped metadata
        ("64:ff9b::7f00:1", "loopback (carried in IPv6)"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", "private (carried in IPv6)"),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::a00:1", "local-use NAT64"),  # RFC 8215 local-use prefix
        ("2002:7f00:1::", "loopback (carried in IPv6)"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private (carried in IPv6)"),  # 6to4 of 192.168.1.1
        ("::7f00:1", "reserved"),  # deprecated IPv4-compatible form
        ("2001:db8::1", "documentation"),  # documentation prefix
        ("2001::1", "protocol assignment"),  # Teredo, in 2001::/23
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


def test_a_refused_name_is_not_told_what_it_resolved_to():
    with pytest.raises(EgressRefused) as caught:
        egress.approve("metadata.test", ["169.254.169.254"], AllowList())
    reason = caught.value.reason
    assert "metadata.test" in reason and "cloud metadata" in reason
    assert "169.254" not in reason  # the inside network stays unmapped


def test_a_refused_address_given_as_the_host_is_named():
    with pytest.raises(EgressRefused) as caught:
        egress.approve("10.1.2.3", ["10.1.2.3"], AllowList())
    assert caught.value.reason.startswith("10.1.2.3 is a private address")


def test_the_table_is_written_out_not_taken_from_ipaddress():
    from conductor.egress import ranges

    assert {str(net) for net, _reason in ranges.REFUSED} >= {
        "192.0.0.0/24", "168.63.129.16/32", "100.64.0.0/10", "169.254.169.254/32",
        "10.0.0.0/8", "fc00::/7", "fe80::/10",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("url", "allow", "refused"),
    [
        ("https://example.com/", "", False),  # 443
        ("http://example.com:8080/", "", False),  # allowed by default
        ("http://example.com:22/", "", True),  # ssh: not a web port
        ("http://example.com:6379/", "", True),  # redis
        ("http://internal.test:6379/", "internal.test", False),  # allow-listed host
        ("http://10.0.0.5:9200/", "10.0.0.0/8", False),  # allow-listed network
    ],
)
def test_ports(url, allow, refused):
    target = egress.parse_url(url)
    allow_list = AllowList.parse(allow)
    if refused:
        with pytest.raises(EgressRefused, match=r"port \d+ is not allowed"):
            egress.check_port(target, allow_list, [80, 443, 8080, 8443])
    else:
        egress.check_port(target, allow_list, [80, 443, 8080, 8443])


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
