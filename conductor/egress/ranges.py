"""Which addresses outbound calls may never reach: an explicit table.

Pure: the standard library only. The table is written out here rather than taken from
the running Python's ``ipaddress`` flags (``is_private``, ``is_global`` …), whose
answers have changed between Python releases; what Conductor refuses should not.

Sources: the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and
successors) and the metadata endpoints of the big cloud platforms. The first matching
row names the reason, so the specific rows (metadata endpoints) come before the
ranges that contain them. IPv4-mapped, 6to4 and NAT64 IPv6 addresses are judged by
the IPv4 address they carry (``embedded_ipv4``).
"""

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_ROWS = (
    # Cloud metadata endpoints: the reason SSRF guards exist.
    ("169.254.169.254/32", "cloud metadata"),  # AWS, GCP, Azure, OpenStack …
    ("169.254.170.2/32", "cloud metadata"),  # AWS ECS task credentials
    ("169.254.169.123/32", "cloud metadata"),  # AWS time sync
    ("169.254.169.253/32", "cloud metadata"),  # AWS DNS
    ("168.63.129.16/32", "cloud metadata"),  # Azure wire server
    ("100.100.100.200/32", "cloud metadata"),  # Alibaba Cloud
    ("fd00:ec2::254/128", "cloud metadata"),  # AWS IMDS over IPv6
    # IPv4 special-purpose ranges.
    ("0.0.0.0/8", "unspecified"),  # "this network"
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "protocol assignment"),  # IETF, incl. DS-Lite 192.0.0.0/29
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "protocol assignment"),  # AS112
    ("192.52.193.0/24", "protocol assignment"),  # AMT
    ("192.88.99.0/24", "reserved"),  # the former 6to4 relay anycast
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "protocol assignment"),  # AS112 direct delegation
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    # IPv6 special-purpose ranges.
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved"),  # the deprecated IPv4-compatible addresses
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "protocol assignment"),  # IETF: Teredo, ORCHID, benchmarking …
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "protocol assignment"),  # segment routing SIDs
    ("fc00::/7", "private"),  # unique local
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)

#: ``(network, reason)``, the first match wins.
REFUSED = tuple((ipaddress.ip_network(net), reason) for net, reason in _ROWS)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix


def refusal(address: str | IPAddress) -> str | None:
    """Why ``address`` may not be called (``"loopback"`` …), or None if it may."""
    ip = ipaddress.ip_address(address)
    carried = embedded_ipv4(ip)
    if carried is not None:
        reason = refusal(carried)
        return f"{reason} (carried in IPv6)" if reason else None
    for network, reason in REFUSED:
        if ip.version == network.version and ip in network:
            return reason
    return None


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
