"""``probe preflight`` against loopback targets and a loopback DNS server.

The default targets and blocklists name public hosts: every test here replaces them,
and the teardown checks that none of their names was ever looked up.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from prober.diagnose.domain import Severity
from prober.diagnose.preflight import (
    DEFAULT_BLOCKLISTS,
    DEFAULT_TARGETS,
    PreflightOptions,
    PreflightResult,
    preflight,
    render_text,
)
from prober.errors import InputError
from prober.resolve.mx import DNSConfig
from prober.testing.dnsserver import DNSServer, Fault, RecordSpec, Zone
from prober.testing.world import MailHandler, MailHost, World, banner_then

Records = dict[str, list[RecordSpec]]

HELO = "probe.client.test"
BASE: Records = {
    f"{HELO}.": [("A", "127.0.0.1")],
    "1.0.0.127.in-addr.arpa.": [("PTR", f"{HELO}.")],
    "target.test.": [("A", "127.0.0.2")],
}


@dataclass
class Lab:
    world: World
    dns: DNSServer

    def options(self, *targets: tuple[str, int], **changes: object) -> PreflightOptions:
        base: dict[str, object] = {
            "dns": DNSConfig(servers=(self.dns.address,), timeout=2.0),
            "helo": HELO,
            "targets": targets,
            "blocklists": ("bl.test",),
            "timeout": 2.0,
            "deadline": 15.0,
            "allow_private": True,
        }
        base.update(changes)
        return PreflightOptions(**base)  # type: ignore[arg-type]

    def at(self, ip: str) -> tuple[str, int]:
        return (ip, self.world.port)


@asynccontextmanager
async def lab(hosts: list[MailHost], records: Records | None = None) -> AsyncIterator[Lab]:
    zone = Zone({**BASE, **(records or {})})
    async with World({}, hosts) as world, DNSServer(zone) as dns_server:
        yield Lab(world, dns_server)
        assert world.data_received() == 0
        for name, _port in DEFAULT_TARGETS:
            assert dns_server.queried(name) == 0, f"a test looked up the default {name}"
        for zone_name in DEFAULT_BLOCKLISTS:
            assert not any(q.name.rstrip(".").endswith(zone_name) for q in dns_server.queries)


def ids(result: PreflightResult) -> dict[str, Severity]:
    return {f.id: f.severity for f in result.findings}


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # accepts the connection, never greets


def test_defaults_are_names_and_the_tests_never_use_them() -> None:
    options = PreflightOptions()
    assert options.targets == DEFAULT_TARGETS and len({h for h, _ in DEFAULT_TARGETS}) >= 3
    assert all(port == 25 for _host, port in DEFAULT_TARGETS)
    assert options.blocklists == ("zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net")
    assert options.check_ip is None  # no blocklist query unless asked


async def test_everything_in_order() -> None:
    first, second = MailHandler(), MailHandler()
    hosts = [MailHost("a.target.test", "127.0.0.2", first), MailHost("b", "127.0.0.3", second)]
    async with lab(hosts) as env:
        result = await preflight(env.options(("target.test", env.world.port), env.at("127.0.0.3")))
    assert result.findings == () and result.worst is None and result.complete
    assert result.port25_open is True
    assert [t.outcome for t in result.targets] == ["ok", "ok"]
    assert result.targets[0].address == "127.0.0.2" and result.targets[0].host == "target.test"
    assert result.targets[0].banner is not None and result.targets[0].seconds is not None
    assert result.helo is not None and result.helo.fqdn
    (helo_address,) = result.helo.addresses
    assert helo_address.ptr == (HELO,) and helo_address.matches_helo and helo_address.fcrdns
    # Read-only: a greeting and a goodbye, nothing else.
    assert first.commands == [f"EHLO {HELO}", "QUIT"] == second.commands


async def test_all_refused_means_port_25_is_blocked() -> None:
    hosts = [
        MailHost("a", "127.0.0.2", closed=True),
        MailHost("b", "127.0.0.3", closed=True),
        MailHost("c", "127.0.0.4", MailHandler()),  # only to give the world a port
    ]
    async with lab(hosts) as env:
        result = await preflight(env.options(env.at("127.0.0.2"), env.at("127.0.0.3")))
    (blocked,) = [f for f in result.findings if f.id == "port25_blocked"]
    assert blocked.severity is Severity.ERROR
    assert "outbound port 25 appears blocked by your network or provider" in blocked.meaning.lower()
    assert "use --proxy or a host that allows it" in blocked.action.lower()
    assert "connection refused" in blocked.meaning
    assert [t.outcome for t in result.targets] == ["refused", "refused"]
    assert result.port25_open is False


async def test_all_silent_means_port_25_is_blocked() -> None:
    hosts = [
        MailHost("a", "127.0.0.2", script=_silent),
        MailHost("b", "127.0.0.3", script=_silent),
    ]
    async with lab(hosts) as env:
        started = time.monotonic()
        result = await preflight(env.options(env.at("127.0.0.2"), env.at("127.0.0.3"), timeout=0.5))
        assert time.monotonic() - started < 3  # the targets are tried side by side
    found = ids(result)
    assert found["port25_blocked"] is Severity.ERROR
    assert [t.outcome for t in result.targets] == ["timeout", "timeout"]
    it = [f for f in result.findings if f.id == "port25_blocked"][0].in_lang("it")
    assert "porta 25 in uscita sembra bloccata" in it.meaning and "timeout" in it.meaning


async def test_different_failures_are_not_called_a_block() -> None:
    hosts = [MailHost("a", "127.0.0.2", closed=True), MailHost("b", "127.0.0.3", script=_silent)]
    async with lab(hosts) as env:
        result = await preflight(
            env.options(env.at("127.0.0.2"), env.at("127.0.0.3"), ("nowhere.test", 25), timeout=0.5)
        )
    found = ids(result)
    assert found["port25_unreachable"] is Severity.ERROR and "port25_blocked" not in found
    assert [t.outcome for t in result.targets] == ["refused", "timeout", "dns"]


async def test_some_targets_failing_is_only_a_note() -> None:
    hosts = [MailHost("a", "127.0.0.2", MailHandler()), MailHost("b", "127.0.0.3", closed=True)]
    async with lab(hosts) as env:
        result = await preflight(env.options(env.at("127.0.0.2"), env.at("127.0.0.3")))
    assert ids(result) == {"port25_partial": Severity.NOTE}
    assert result.port25_open is True


async def test_targets_that_refuse_this_host() -> None:
    def no_ehlo(line: bytes) -> str | None:
        return "550 5.7.1 Your HELO name is not acceptable"

    hosts = [
        MailHost("a", "127.0.0.2", script=banner_then("554 5.7.1 Your IP is blocklisted")),
        MailHost("b", "127.0.0.3", script=banner_then("220 b ESMTP", no_ehlo)),
    ]
    async with lab(hosts) as env:
        result = await preflight(env.options(env.at("127.0.0.2"), env.at("127.0.0.3")))
    found = ids(result)
    assert found["target_banner_refused"] is Severity.WARNING
    assert found["target_ehlo_refused"] is Severity.WARNING
    assert "port25_blocked" not in found and "port25_partial" not in found
    assert result.port25_open is True
    banner_finding = [f for f in result.findings if f.id == "target_banner_refused"][0]
    assert "blocklisted" in banner_finding.detail


async def test_private_targets_are_refused_by_the_guard() -> None:
    handler = MailHandler()
    async with lab([MailHost("a", "127.0.0.2", handler)]) as env:
        result = await preflight(env.options(env.at("127.0.0.2"), allow_private=False))
    assert [t.outcome for t in result.targets] == ["guard"]
    assert ids(result)["port25_unreachable"] is Severity.ERROR
    assert handler.commands == []


async def test_no_targets_means_no_reachability_verdict() -> None:
    async with lab([]) as env:
        result = await preflight(env.options())
    assert result.targets == () and result.port25_open is None
    assert not any(f.id.startswith("port25") for f in result.findings)


# -- HELO name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("helo", "expected"),
    [
        ("localhost", {"helo_not_fqdn": Severity.WARNING, "helo_unresolvable": Severity.WARNING}),
        ("gone.client.test", {"helo_unresolvable": Severity.WARNING}),
        ("other.client.test", {"helo_ptr_mismatch": Severity.WARNING}),
        ("noptr.client.test", {"helo_ptr_missing": Severity.WARNING}),
        (HELO, {}),
    ],
)
async def test_helo_name(helo: str, expected: dict[str, Severity]) -> None:
    records: Records = {
        "other.client.test.": [("A", "127.0.0.1")],
        "noptr.client.test.": [("A", "127.0.0.9")],
    }
    async with lab([], records) as env:
        result = await preflight(env.options(helo=helo))
    assert {k: v for k, v in ids(result).items() if k.startswith("helo_")} == expected


# -- blocklists ----------------------------------------------------------------------------


async def test_blocklists() -> None:
    records: Records = {
        "2.0.0.127.listing.test.": [("A", "127.0.0.2"), ("TXT", "Listed for sending spam")],
        "2.0.0.127.refusing.test.": [("A", "127.255.255.254")],
        "2.0.0.127.hijacked.test.": [("A", "192.0.2.1")],
        "clean.test.": [("TXT", "a list with nothing on it")],
    }
    zones = ("listing.test", "clean.test", "refusing.test", "hijacked.test", "broken.test")
    async with lab([], records) as env:
        env.dns.faults["2.0.0.127.broken.test"] = Fault.servfail()
        result = await preflight(env.options(check_ip="127.0.0.2", blocklists=zones))
    listings = {b.zone: b for b in result.blocklists}
    assert listings["listing.test"].listed is True
    assert listings["listing.test"].codes == ("127.0.0.2",)
    assert listings["listing.test"].reason == "Listed for sending spam"
    assert listings["clean.test"].listed is False
    assert all(
        listings[z].listed is None for z in ("refusing.test", "hijacked.test", "broken.test")
    )
    by_zone = {(f.id, dict(f.params).get("zone")): f.severity for f in result.findings}
    assert by_zone[("dnsbl_listed", "listing.test")] is Severity.ERROR
    assert by_zone[("dnsbl_query_refused", "refusing.test")] is Severity.NOTE
    assert by_zone[("dnsbl_unavailable", "hijacked.test")] is Severity.NOTE
    assert by_zone[("dnsbl_unavailable", "broken.test")] is Severity.NOTE
    assert not any(k[1] == "clean.test" for k in by_zone)
    listed = [f for f in result.findings if f.id == "dnsbl_listed"][0]
    assert "listing.test" in listed.meaning and listed.address == "127.0.0.2"


async def test_blocklist_query_for_ipv6() -> None:
    async with lab([]) as env:
        result = await preflight(env.options(check_ip="2001:db8::1"))
    (listing,) = result.blocklists
    assert listing.listed is False
    assert (
        listing.query == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test"
    )
    assert env.dns.queried(listing.query, "A") == 1


async def test_bad_ip_is_an_input_error() -> None:
    with pytest.raises(InputError):
        await preflight(PreflightOptions(check_ip="999.1.1.1", targets=()))


# -- deadline and output -------------------------------------------------------------------


async def test_deadline_keeps_what_was_finished() -> None:
    hosts = [MailHost("a", "127.0.0.2", script=_silent)]
    async with lab(hosts) as env:
        result = await preflight(env.options(env.at("127.0.0.2"), timeout=10.0, deadline=0.5))
    assert not result.complete
    assert ids(result)["deadline_reached"] is Severity.WARNING
    assert result.targets == ()  # the silent target never finished
    assert result.helo is not None and result.helo.addresses  # the HELO check did


async def test_output() -> None:
    hosts = [MailHost("a", "127.0.0.2", MailHandler()), MailHost("b", "127.0.0.3", closed=True)]
    async with lab(hosts) as env:
        result = await preflight(
            env.options(env.at("127.0.0.2"), env.at("127.0.0.3"), check_ip="127.0.0.2")
        )
    data = result.to_dict()
    json.dumps(data)
    assert data["port25_open"] is True and data["worst"] == "note"
    assert data["targets"][0]["outcome"] == "ok"
    english = render_text(result, "en")
    assert f"HELO name: {HELO}" in english and "bl.test: not listed" in english
    assert "NOTE port25_partial" in english
    italian = render_text(result, "it")
    assert f"Nome HELO: {HELO}" in italian and "NOTA port25_partial" in italian
