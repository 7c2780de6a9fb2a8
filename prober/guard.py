"""Which network addresses prober may connect to (pure).

A prober takes host names from DNS that anyone controls: an MX pointing at 10.0.0.5 or
127.0.0.1 would otherwise turn it into a scanner of the network it runs in. Every address
is checked after resolution, just before connecting; only globally routable unicast
addresses pass unless the caller allows private networks (as the loopback demo and the
tests do).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped, 6to4, NAT64 well-known prefix)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None if it is."""
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private-network address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "an address that is not publicly routable"
    return None


@dataclass(frozen=True, slots=True)
class Guard:
    """The connection policy. ``allow_private`` opens loopback and private ranges."""

    allow_private: bool = False

    def refusal(self, address: str) -> str | None:
        """None when ``address`` may be contacted; otherwise a full sentence why not."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address!r} is not an IP address."
        if isinstance(ip, ipaddress.IPv6Address):
            inner = _embedded_ipv4(ip)
            if inner is not None:
                why = self.refusal(str(inner))
                return f"{address} embeds {inner}: {why}" if why is not None else None
        if ip.is_multicast or ip.is_unspecified:
            # Never a mail server, whatever the caller allows.
            return f"{address} is {_kind(ip)}, never a mail server."
        kind = _kind(ip)
        if kind is None or self.allow_private:
            return None
        return (
            f"{address} is {kind}; prober does not connect to internal networks unless "
            "--allow-private is given."
        )
