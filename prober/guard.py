"""Which network addresses prober may connect to (pure).

A prober takes host names from DNS that anyone controls: an MX pointing at 10.0.0.5 or
127.0.0.1 would otherwise turn it into a scanner of the network it runs in. Every address
is checked after resolution, just before connecting.

The policy is data: ``prober/data/special-purpose.toml`` holds the IANA IPv4 and IPv6
Special-Purpose Address Registries row by row (plus multicast and the IPv6 space outside
global unicast, from the IANA address-space registries). An address inside a block whose
"Globally Reachable" is not True is refused unless the caller allows private networks
(as the loopback demo and the tests do); the most specific block decides. The tables of
Python's :mod:`ipaddress` are not used: they differ between Python versions and leave
out blocks such as the deprecated site-local ``fec0::/10`` and most of ``192.0.0.0/24``.
"""

from __future__ import annotations

import functools
import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Block:
    """One row of the registries, for one of its address blocks."""

    network: IPNetwork
    name: str  # the registry's name for the block
    rfc: str
    reachable: bool  # the registry's "Globally Reachable" is True
    kind: str  # how a refusal names it ("a private-network address")
    never: bool  # refused even with allow_private: nothing there is a mail server


@dataclass(frozen=True, slots=True)
class Registry:
    """The blocks, most specific first, and the registries they were copied from."""

    blocks: tuple[Block, ...]
    source: Mapping[str, str]
    embedded: Mapping[str, IPNetwork]
    # Per IP version: (network as an int, netmask as an int, block), most specific first.
    _index: Mapping[int, tuple[tuple[int, int, Block], ...]] = field(default_factory=dict)

    def block(self, ip: IPAddress) -> Block | None:
        """The most specific block holding ``ip``, or None (an ordinary address)."""
        number = int(ip)
        for network, mask, block in self._index[ip.version]:
            if number & mask == network:
                return block
        return None


def _rows(table: Mapping[str, Any]) -> list[Block]:
    rows: list[Block] = []
    for section in ("ipv4", "ipv6", "other"):
        for row in table[section]:
            for text in row["blocks"]:
                rows.append(
                    Block(
                        network=ipaddress.ip_network(text),
                        name=row["name"],
                        rfc=row["rfc"],
                        reachable=row["reachable"] == "True",
                        kind=row["kind"],
                        never=bool(row.get("never", False)),
                    )
                )
    return rows


@functools.cache
def registry() -> Registry:
    """The special-purpose table, loaded once from the package data."""
    data = resources.files("prober").joinpath("data").joinpath("special-purpose.toml")
    table: Mapping[str, Any] = tomllib.loads(data.read_text(encoding="utf-8"))
    rows = sorted(_rows(table), key=lambda b: b.network.prefixlen, reverse=True)
    embedded = {name: ipaddress.ip_network(text) for name, text in table["embedded"].items()}
    index = {
        version: tuple(
            (int(b.network.network_address), int(b.network.netmask), b)
            for b in rows
            if b.network.version == version
        )
        for version in (4, 6)
    }
    return Registry(tuple(rows), dict(table["source"]), embedded, index)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64 well-known prefix, 6to4)."""
    forms = registry().embedded
    if ip in forms["ipv4_mapped"] or ip in forms["nat64"]:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in forms["sixtofour"]:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def _parse(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Guard:
    """The connection policy. ``allow_private`` opens every block but the ``never`` ones."""

    allow_private: bool = False

    def refusal(self, address: str) -> str | None:
        """None when ``address`` may be contacted; otherwise a full sentence why not."""
        ip = _parse(address)
        if ip is None:
            return f"{address!r} is not an IP address."
        if isinstance(ip, ipaddress.IPv6Address):
            inner = _embedded_ipv4(ip)
            if inner is not None:
                why = self.refusal(str(inner))
                return f"{address} embeds {inner}: {why}" if why is not None else None
            if ip in registry().embedded["ipv4_compatible"] and int(ip) > 1:
                # The deprecated IPv4-compatible form (::127.0.0.1): name the address it
                # hides when that one is refused; otherwise it is judged as IPv6 below.
                compatible = ipaddress.IPv4Address(int(ip))
                why = self.refusal(str(compatible))
                if why is not None:
                    return f"{address} embeds {compatible}: {why}"
        block = registry().block(ip)
        if block is None or block.reachable:
            return None
        if block.never:
            return f"{address} is {block.kind} ({block.rfc}), never a mail server."
        if self.allow_private:
            return None
        return (
            f"{address} is {block.kind} ({block.rfc}); prober does not connect to addresses "
            "that are not globally reachable unless --allow-private is given."
        )
