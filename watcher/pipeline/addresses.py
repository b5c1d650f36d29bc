"""Which addresses an untrusted link may reach: the private-address guard of full-text fetches.

An IPv6 address can carry an IPv4 address inside it, and Python's `ipaddress` judges the
outer address only: `64:ff9b::7f00:1` (NAT64) and `2002:7f00:1::1` (6to4) are "global",
yet a NAT64 gateway or a 6to4 relay takes them to 127.0.0.1. So every IPv4 address an IPv6
address embeds is unwrapped and judged too; the address is refused if any of them is.

Forms unwrapped: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
`64:ff9b::/96` and the local-use `64:ff9b:1::/48` (RFC 8215; every RFC 6052 position a
/48 or longer prefix can put the address at), 6to4 `2002::/16` and Teredo `2001::/32`
(its server and its client address).
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
COMPATIBLE = ipaddress.ip_network("::/96")
# RFC 6052 section 2.2: where the 32 bits of IPv4 sit, by prefix length (bits 64-71 skipped).
NAT64_POSITIONS = {48: (48, 72), 56: (56, 72), 64: (72, None), 96: (96, None)}


def embedded_ipv4(ip: IPAddress) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses `ip` carries, each with the name of its form ([] for plain ones)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    value = int(ip)
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip in NAT64:
        found.append(("NAT64", ipaddress.IPv4Address(value & 0xFFFFFFFF)))
    if ip in NAT64_LOCAL:
        for start, after_u in NAT64_POSITIONS.values():
            found.append(("NAT64", ipaddress.IPv4Address(_bits(value, start, after_u))))
    if ip.sixtofour:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo:
        server, client = ip.teredo
        found += [("Teredo", server), ("Teredo", client)]
    if ip in COMPATIBLE and value > 1:  # not :: nor ::1, judged as themselves
        found.append(("IPv4-compatible", ipaddress.IPv4Address(value & 0xFFFFFFFF)))
    return found


def _bits(value: int, start: int, after_u: int | None) -> int:
    """32 bits of IPv4 starting at bit `start` (0 = most significant) of a 128-bit address;
    with `after_u`, the 8 bits of the u octet (64-71) are skipped."""
    if after_u is None:
        return (value >> (128 - start - 32)) & 0xFFFFFFFF
    head = 64 - start  # bits before the u octet
    high = (value >> 64) & ((1 << head) - 1)
    low = (value >> (128 - after_u - (32 - head))) & ((1 << (32 - head)) - 1)
    return (high << (32 - head)) | low


def judge(ip: IPAddress) -> str | None:
    """Why `ip` itself is not a public address (loopback, private, link-local...), or None."""
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved, non-public address"
    return None


def refuse_private(ip: IPAddress) -> str | None:
    """Why a feed link may not reach `ip` or an IPv4 address wrapped in it, or None."""
    for form, inner in embedded_ipv4(ip):
        reason = judge(inner)
        if reason:
            return f"{reason} ({inner}) in {form} form"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return None  # judged above as the IPv4 address it is
    return judge(ip)
