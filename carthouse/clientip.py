"""The client's address behind trusted proxies, and the X-Forwarded-For to send upstream."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
IPV4_MAPPED = "::ffff:"


def unmapped(address: str) -> str:
    """The IPv4 address inside an IPv4-mapped IPv6 one (``::ffff:10.0.0.1`` -> ``10.0.0.1``), else the address
    as given. A string test, not a parse: ingest calls it for every event (ipaddress costs ~6 µs)."""
    if address[:len(IPV4_MAPPED)].lower() == IPV4_MAPPED and "." in address:
        return address[len(IPV4_MAPPED):]
    return address


def parse_networks(spec: str) -> list[Network]:
    """Comma-separated addresses or CIDRs (CARTHOUSE_TRUSTED_PROXIES)."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(unmapped(address))
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def resolve(peer: str, forwarded_for: str, trusted: Sequence[Network]) -> tuple[str, str]:
    """(client address, X-Forwarded-For for the upstream).

    Walk the chain from the nearest hop: while the hop is a trusted proxy, believe what it says came before
    it. The first untrusted hop is the client. Entries before it could be forged by the client, so the
    upstream gets the chain from the client on, with the peer appended.
    """
    chain = [part.strip() for part in forwarded_for.split(",") if part.strip()] if forwarded_for else []
    hops = [*chain, peer]
    index = len(hops) - 1
    while index > 0 and is_trusted(hops[index], trusted):
        index -= 1
    return hops[index], ", ".join(hops[index:])
