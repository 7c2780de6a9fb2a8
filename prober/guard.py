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


# Never a mail server, whatever the caller allows: nothing can listen there, and a
# connection attempt would reach this host itself ("this network") or every host at once.
_NEVER = (
    (ipaddress.IPv4Network("0.0.0.0/8"), 'a "this network" address (RFC 1122)'),
    (ipaddress.IPv4Network("255.255.255.255/32"), "the broadcast address"),
)
_NAMED = (
    (ipaddress.IPv4Network("100.64.0.0/10"), "a carrier-grade NAT address (RFC 6598)"),
    (ipaddress.IPv4Network("192.0.2.0/24"), "a documentation address (RFC 5737)"),
    (ipaddress.IPv4Network("198.51.100.0/24"), "a documentation address (RFC 5737)"),
    (ipaddress.IPv4Network("203.0.113.0/24"), "a documentation address (RFC 5737)"),
    (ipaddress.IPv4Network("198.18.0.0/15"), "a benchmarking address (RFC 2544)"),
    (ipaddress.IPv6Network("2001:db8::/32"), "a documentation address (RFC 3849)"),
    (ipaddress.IPv6Network("2001::/32"), "a Teredo tunnel address (RFC 4380)"),
)


def _kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None if it is."""
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    for network, name in (*_NEVER, *_NAMED):
        if ip.version == network.version and ip in network:
            return name
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private-network address"
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
            if int(ip) >> 32 == 0 and int(ip) > 1:
                # The deprecated IPv4-compatible form (::127.0.0.1): name the address it
                # hides when that one is refused; otherwise it is judged as IPv6 below.
                compatible = ipaddress.IPv4Address(int(ip))
                why = self.refusal(str(compatible))
                if why is not None:
                    return f"{address} embeds {compatible}: {why}"
        never = any(ip.version == n.version and ip in n for n, _name in _NEVER)
        if ip.is_multicast or ip.is_unspecified or never:
            # Never a mail server, whatever the caller allows.
            return f"{address} is {_kind(ip)}, never a mail server."
        kind = _kind(ip)
        if kind is None or self.allow_private:
            return None
        return (
            f"{address} is {kind}; prober does not connect to internal networks unless "
            "--allow-private is given."
        )
