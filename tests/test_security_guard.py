"""The guard against every row of the IANA special-purpose address registries.

``prober/data/special-purpose.toml`` is the IPv4 and IPv6 registries transcribed row by
row; this file checks the table itself (every registry row is there, with the registry's
"Globally Reachable" value) and then the guard against it: the first and the last
address of every block not globally reachable is refused by default, allowed with
``--allow-private`` unless nothing there can be a mail server, and an address just
outside the block is judged by whatever holds it — a public neighbour passes.
"""

from __future__ import annotations

import io
import ipaddress
import random

import pytest

from prober.diagnose.domain import DiagnoseOptions, diagnose
from prober.engine.bulk import ListOptions, run_list_async
from prober.engine.session import probe
from prober.engine.verdict import Reason
from prober.guard import Block, Guard, registry
from prober.resolve.mx import DNSConfig
from prober.smtp.connection import Connection
from prober.testing.dnsserver import RecordSpec
from prober.testing.world import MailHost
from tests.conftest import options_for, world_of

# The registries' Address Block and Globally Reachable columns, as IANA's CSV files have
# them (iana-ipv4-special-registry-1.csv, iana-ipv6-special-registry-1.csv; copy of
# 2026-07-18, see the table's [source]). Written out here a second time so that a row
# lost or changed in the data file is noticed.
IPV4_ROWS = {
    "0.0.0.0/8": "False", "0.0.0.0/32": "False", "10.0.0.0/8": "False",
    "100.64.0.0/10": "False", "127.0.0.0/8": "False", "169.254.0.0/16": "False",
    "172.16.0.0/12": "False", "192.0.0.0/24": "False", "192.0.0.0/29": "False",
    "192.0.0.8/32": "False", "192.0.0.9/32": "True", "192.0.0.10/32": "True",
    "192.0.0.170/32": "False", "192.0.0.171/32": "False", "192.0.2.0/24": "False",
    "192.31.196.0/24": "True", "192.52.193.0/24": "True", "192.88.99.0/24": "",
    "192.88.99.2/32": "False", "192.168.0.0/16": "False", "192.175.48.0/24": "True",
    "198.18.0.0/15": "False", "198.51.100.0/24": "False", "203.0.113.0/24": "False",
    "240.0.0.0/4": "False", "255.255.255.255/32": "False",
}
IPV6_ROWS = {
    "::1/128": "False", "::/128": "False", "::ffff:0:0/96": "False",
    "64:ff9b::/96": "True", "64:ff9b:1::/48": "False", "100::/64": "False",
    "100:0:0:1::/64": "False", "2001::/23": "False", "2001::/32": "N/A",
    "2001:1::1/128": "True", "2001:1::2/128": "True", "2001:1::3/128": "True",
    "2001:2::/48": "False", "2001:3::/32": "True", "2001:4:112::/48": "True",
    "2001:10::/28": "", "2001:20::/28": "True", "2001:30::/28": "True",
    "2001:db8::/32": "False", "2002::/16": "N/A", "2620:4f:8000::/48": "True",
    "3fff::/20": "False", "5f00::/16": "False", "fc00::/7": "False", "fe80::/10": "False",
}
# Blocks whose addresses stand for an IPv4 address: the IPv4 address is judged instead.
EMBEDDING = {"::ffff:0:0/96", "64:ff9b::/96", "2002::/16"}
NEVER = {"0.0.0.0/8", "0.0.0.0/32", "255.255.255.255/32", "::/128", "224.0.0.0/4", "ff00::/8"}

BLOCKS = registry().blocks


def test_the_table_holds_every_registry_row_as_the_registry_has_it() -> None:
    table = {str(b.network): b for b in BLOCKS}
    for rows in (IPV4_ROWS, IPV6_ROWS):
        for block, reachable in rows.items():
            assert block in table, f"{block} is missing from special-purpose.toml"
            assert table[block].reachable is (reachable == "True"), block
    assert registry().source["copied"] == "2026-07-18"
    assert registry().source["ipv6"].startswith("https://www.iana.org/assignments/")


def _edges(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    return [str(network.network_address), str(network.broadcast_address)]


def _judged(address: str) -> Block | None:
    """The block that decides for ``address``: the IPv4 one for embedding forms."""
    ip = ipaddress.ip_address(address)
    block = registry().block(ip)
    if block is not None and str(block.network) in EMBEDDING:
        return None  # decided by the embedded IPv4 address, checked separately
    return block


ALL_ROWS = sorted({**IPV4_ROWS, **IPV6_ROWS, "224.0.0.0/4": "False", "ff00::/8": "False",
                   "fec0::/10": "False"}.items())


@pytest.mark.parametrize(("block", "reachable"), ALL_ROWS)
def test_first_and_last_address_of_every_block(block: str, reachable: str) -> None:
    network = ipaddress.ip_network(block)
    for address in _edges(network):
        decider = _judged(address)
        why = Guard().refusal(address)
        if str(network) in EMBEDDING:
            continue  # see test_embedded_forms_are_judged_by_their_ipv4_address
        assert decider is not None or reachable == "True", address
        if decider is not None and not decider.reachable:
            assert why is not None and decider.kind in why, (address, why)
            private = Guard(allow_private=True).refusal(address)
            if str(decider.network) in NEVER:
                assert private is not None and "never a mail server" in private
            else:
                assert private is None, (address, private)
        else:
            assert why is None, (address, why)


PUBLIC_NEIGHBOURS = [
    # (block, an address just outside it that is an ordinary public address)
    ("10.0.0.0/8", "11.0.0.0"), ("10.0.0.0/8", "9.255.255.255"),
    ("100.64.0.0/10", "100.63.255.255"), ("100.64.0.0/10", "100.128.0.0"),
    ("127.0.0.0/8", "126.255.255.255"), ("127.0.0.0/8", "128.0.0.0"),
    ("169.254.0.0/16", "169.253.255.255"), ("169.254.0.0/16", "169.255.0.0"),
    ("172.16.0.0/12", "172.15.255.255"), ("172.16.0.0/12", "172.32.0.0"),
    ("192.0.0.0/24", "191.255.255.255"), ("192.0.0.0/24", "192.0.1.0"),
    ("192.0.2.0/24", "192.0.3.0"), ("192.88.99.0/24", "192.88.100.0"),
    ("192.168.0.0/16", "192.167.255.255"), ("192.168.0.0/16", "192.169.0.0"),
    ("198.18.0.0/15", "198.17.255.255"), ("198.18.0.0/15", "198.20.0.0"),
    ("198.51.100.0/24", "198.51.101.0"), ("203.0.113.0/24", "203.0.114.0"),
    ("240.0.0.0/4", "223.255.255.255"),
    ("2001::/23", "2001:200::"), ("2001:db8::/32", "2001:db9::"),
    ("2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2001:10::/28", "2001:20::"),  # ORCHIDv2 is globally reachable
    ("3fff::/20", "3fff:1000::"), ("3fff::/20", "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2002::/16", "2003::"), ("2002::/16", "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2000::/3 (start)", "2000::"), ("2000::/3 (end)", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
]


@pytest.mark.parametrize(("block", "neighbour"), PUBLIC_NEIGHBOURS)
def test_a_public_neighbour_is_allowed(block: str, neighbour: str) -> None:
    assert Guard().refusal(neighbour) is None, (block, neighbour)


@pytest.mark.parametrize(
    "address",
    ["fec0::1", "fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fed0::25"],
)
def test_deprecated_site_local_is_refused(address: str) -> None:
    # RFC 3879 deprecated fec0::/10; the interpreter's own table calls it global.
    why = Guard().refusal(address)
    assert why is not None and "site-local" in why and "RFC 3879" in why


@pytest.mark.parametrize(
    "address", ["192.0.0.1", "192.0.0.8", "192.0.0.11", "192.0.0.200", "192.0.0.255"]
)
def test_ietf_protocol_assignments_are_refused(address: str) -> None:
    assert Guard().refusal(address) is not None


@pytest.mark.parametrize("address", ["192.0.0.9", "192.0.0.10", "2001:1::1", "2001:3::1"])
def test_more_specific_reachable_rows_win(address: str) -> None:
    # The registry marks these globally reachable inside blocks that are not.
    assert Guard().refusal(address) is None


@pytest.mark.parametrize(
    "address",
    ["4000::1", "::8.8.8.8", "200::1", "e000::1", "fe00::1", "100::1", "100:0:0:1::1", "5f00::1"],
)
def test_ipv6_outside_global_unicast_is_refused(address: str) -> None:
    assert Guard().refusal(address) is not None


def _ipv4_samples() -> list[str]:
    out: list[str] = []
    for block, reachable in IPV4_ROWS.items():
        if reachable != "True":
            out.extend(_edges(ipaddress.IPv4Network(block)))
    return out


@pytest.mark.parametrize("inner", _ipv4_samples())
def test_embedded_forms_are_judged_by_their_ipv4_address(inner: str) -> None:
    # IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 carry an IPv4 address; it is judged.
    number = int(ipaddress.IPv4Address(inner))
    forms = [
        ipaddress.IPv6Address((0xFFFF << 32) | number),
        ipaddress.IPv6Address((0x0064FF9B << 96) | number),
        ipaddress.IPv6Address((0x2002 << 112) | (number << 80) | 1),
    ]
    for ip in forms:
        why = Guard().refusal(str(ip))
        assert why is not None and f"embeds {inner}" in why, (str(ip), why)
    public = int(ipaddress.IPv4Address("8.8.4.4"))
    assert Guard().refusal(str(ipaddress.IPv6Address((0xFFFF << 32) | public))) is None
    assert Guard().refusal(str(ipaddress.IPv6Address((0x2002 << 112) | (public << 80)))) is None


def test_teredo_is_refused_whatever_it_embeds() -> None:
    for address in ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::", "2001:0:ffff::1"):
        why = Guard().refusal(address)
        assert why is not None and "Teredo" in why


def test_the_guard_does_not_consult_the_interpreter_tables() -> None:
    # Addresses that some Python versions' ipaddress tables call global (3.11 calls
    # each of these so): the registry table decides, whatever the interpreter.
    for address in ("fec0::1", "192.0.0.200", "3fff::1", "2001:30::1"):
        block = registry().block(ipaddress.ip_address(address))
        assert block is not None
        assert (Guard().refusal(address) is None) is block.reachable


# -- end to end: the former holes, through every front door --------------------------------

HOLES = ["fec0::25", "fec0:0:0:ffff::1", "192.0.0.200", "192.0.0.1", "3fff::25", "64:ff9b:1::2"]


def _zone(address: str) -> dict[str, list[RecordSpec]]:
    kind = "AAAA" if ":" in address else "A"
    return {
        "example.test.": [("MX", 10, "mx1.example.test.")],
        "mx1.example.test.": [(kind, address)],
    }


@pytest.fixture
def no_connection(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connection attempt is recorded and refused: none may happen."""
    tried: list[str] = []

    async def refuse(cls: object, /, host: str, port: int, **kw: object) -> object:
        tried.append(host)
        raise AssertionError(f"connect to {host}")

    monkeypatch.setattr(Connection, "open", classmethod(refuse))
    return tried


@pytest.mark.parametrize("address", HOLES)
async def test_probe_and_list_refuse_the_former_holes(
    address: str, no_connection: list[str]
) -> None:
    async with world_of(_zone(address), [MailHost("mx1.example.test", "127.0.0.2")]) as world:
        options = options_for(world, allow_private=False)
        result = await probe("bob@example.test", options, rng=random.Random(1))
        out, err = io.StringIO(), io.StringIO()
        code = await run_list_async(
            ["a@example.test", "b@example.test"], None,
            ListOptions(probe=options, quiet=True), stdout=out, stderr=err,
        )  # fmt: skip
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert result.explanation is not None and "--allow-private" in result.explanation.text
    assert code == 4 and out.getvalue().count('"reason":"private_address"') == 2, err.getvalue()
    assert no_connection == []


@pytest.mark.parametrize("address", ["fec0::25", "192.0.0.200"])
async def test_diagnose_refuses_the_former_holes(
    address: str, no_connection: list[str]
) -> None:
    async with world_of(_zone(address), [MailHost("mx1.example.test", "127.0.0.2")]) as world:
        options = DiagnoseOptions(
            dns=DNSConfig(servers=(world.dns_address,), timeout=2.0), port=world.port,
            helo="probe.client.test", timeout=3.0, deadline=10.0,
        )  # fmt: skip
        result = await diagnose("example.test", options)
    (report,) = [a for h in result.hosts for a in h.addresses]
    assert report.refused is not None and "globally reachable" in report.refused
    assert no_connection == []
