"""MX resolution against a real DNS server on loopback (prober.testing.dnsserver)."""

from __future__ import annotations

import random
import socket
import time

import pytest

from prober.errors import InputError
from prober.resolve.mx import DNSConfig, MXStatus, Outcome, Resolver, parse_dns_server
from prober.testing.dnsserver import DNSServer, Fault, FaultKey, RecordSpec, ThreadedDNSServer, Zone


def resolver(srv: DNSServer | ThreadedDNSServer, *, seed: int = 1, **config: float) -> Resolver:
    timeout = float(config.pop("timeout", 2.0))
    max_hosts = int(config.pop("max_hosts", 5))
    assert not config
    return Resolver(
        DNSConfig(servers=(srv.address,), timeout=timeout, max_hosts=max_hosts),
        rng=random.Random(seed),
    )


def a_queries(srv: DNSServer) -> set[str]:
    return {q.name for q in srv.queries if q.rdtype in ("A", "AAAA")}


BASIC: dict[str, list[RecordSpec]] = {
    "example.test.": [
        ("MX", 20, "mx2.example.test."),
        ("MX", 10, "mx1.example.test."),
        ("MX", 30, "mx3.example.test."),
    ],
    "mx1.example.test.": [("A", "127.0.0.1")],
    "mx2.example.test.": [("A", "127.0.0.2")],
    "mx3.example.test.": [("A", "127.0.0.3"), ("AAAA", "::1")],
}


# -- ordering ------------------------------------------------------------------------


async def test_hosts_sorted_by_preference() -> None:
    async with DNSServer(Zone(BASIC)) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.OK
    assert result.domain == "example.test"
    assert [h.name for h in result.hosts] == [
        "mx1.example.test",
        "mx2.example.test",
        "mx3.example.test",
    ]
    assert [h.preference for h in result.hosts] == [10, 20, 30]
    assert result.hosts[0].addresses == ("127.0.0.1",)
    assert all(h.error is None for h in result.hosts)
    assert "mx1.example.test" in result.detail and "3 MX records" in result.detail
    assert 0 <= result.elapsed < 2


async def test_equal_preferences_shuffled_reproducibly() -> None:
    records: dict[str, list[RecordSpec]] = {"example.test.": [("MX", 5, "best.example.test.")]}
    records["best.example.test."] = [("A", "127.0.0.9")]
    for i in range(6):
        records["example.test."].append(("MX", 10, f"h{i}.example.test."))
        records[f"h{i}.example.test."] = [("A", f"127.0.1.{i}")]
    async with DNSServer(Zone(records)) as srv:
        orders = []
        for seed in range(12):
            result = await resolver(srv, seed=seed, max_hosts=10).resolve_mx("example.test")
            orders.append(tuple(h.name for h in result.hosts))
        again = await resolver(srv, seed=3, max_hosts=10).resolve_mx("example.test")
    for order in orders:
        assert order[0] == "best.example.test"  # a lower preference always comes first
        assert sorted(order[1:]) == [f"h{i}.example.test" for i in range(6)]
    assert len(set(orders)) > 1, "equal preferences must not come back in one fixed order"
    assert tuple(h.name for h in again.hosts) == orders[3]  # same seed, same order


async def test_duplicate_exchange_counted_once_at_best_preference() -> None:
    zone = Zone(
        {
            "example.test.": [("MX", 50, "mx1.example.test."), ("MX", 10, "mx1.example.test.")],
            "mx1.example.test.": [("A", "127.0.0.1")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert [(h.name, h.preference) for h in result.hosts] == [("mx1.example.test", 10)]


# -- no MX, null MX, no domain ---------------------------------------------------------


async def test_implicit_mx_uses_domain_addresses() -> None:
    zone = Zone({"example.test.": [("A", "127.0.0.5"), ("AAAA", "::1"), ("TXT", "hello")]})
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        assert srv.queried("example.test", "MX") == 1
    assert result.status is MXStatus.IMPLICIT
    assert len(result.hosts) == 1
    host = result.hosts[0]
    assert (host.name, host.preference, host.error) == ("example.test", 0, None)
    assert host.addresses == ("127.0.0.5", "::1")  # IPv4 first
    assert "no MX record" in result.detail and "5321" in result.detail


async def test_no_mx_and_no_address_means_no_mail_hosts() -> None:
    zone = Zone({"example.test.": [("TXT", "v=spf1 -all")]})
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.NO_MAIL_HOSTS
    assert result.hosts == ()
    assert "neither an MX record nor an address record" in result.detail


async def test_null_mx() -> None:
    zone = Zone({"example.test.": [("MX", 0, "."), ("A", "127.0.0.1")]})
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        assert a_queries(srv) == set()  # no address lookup for "." nor for the domain
    assert result.status is MXStatus.NULL_MX
    assert result.hosts == ()
    assert "7505" in result.detail and "example.test" in result.detail


async def test_null_mx_beside_real_mx_is_ignored_and_noted() -> None:
    zone = Zone(
        {
            "example.test.": [("MX", 0, "."), ("MX", 10, "mx1.example.test.")],
            "mx1.example.test.": [("A", "127.0.0.1")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.OK
    assert [h.name for h in result.hosts] == ["mx1.example.test"]
    assert "null MX" in result.detail and "ignored" in result.detail


async def test_nxdomain() -> None:
    async with DNSServer(Zone(BASIC)) as srv:
        result = await resolver(srv).resolve_mx("nowhere.test")
        assert srv.queried("nowhere.test", "MX") == 1
        assert a_queries(srv) == set()
    assert result.status is MXStatus.NO_DOMAIN
    assert result.hosts == ()
    assert "nowhere.test does not exist" in result.detail and "NXDOMAIN" in result.detail


async def test_invalid_domain_name_does_not_raise() -> None:
    async with DNSServer(Zone(BASIC)) as srv:
        result = await resolver(srv).resolve_mx("a" * 64 + ".test")
        assert srv.queries == []
    assert result.status is MXStatus.NO_DOMAIN
    assert "cannot be looked up" in result.detail


@pytest.mark.parametrize("domain", ["", "."])
async def test_empty_domain_is_not_queried(domain: str) -> None:
    async with DNSServer(Zone(BASIC)) as srv:
        result = await resolver(srv).resolve_mx(domain)
        assert srv.queries == []
    assert result.status is MXStatus.NO_DOMAIN


# -- server failures -------------------------------------------------------------------


async def test_servfail_is_temporary_and_names_the_server() -> None:
    async with DNSServer(Zone(BASIC), faults={"example.test": Fault.servfail()}) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.TEMP_FAILURE
    assert result.hosts == ()
    assert "SERVFAIL" in result.detail
    assert f"127.0.0.1 port {srv.port}" in result.detail
    assert result.detail.startswith("The MX records of example.test could not be looked up")


async def test_refused_is_temporary() -> None:
    async with DNSServer(Zone(BASIC), faults={("example.test", "MX"): Fault.refused()}) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.TEMP_FAILURE
    assert "REFUSED" in result.detail


async def test_timeout_ends_in_bounded_time() -> None:
    async with DNSServer(Zone(BASIC), faults={"example.test": Fault.silent()}) as srv:
        began = time.monotonic()
        result = await resolver(srv, timeout=0.4).resolve_mx("example.test")
        spent = time.monotonic() - began
        assert srv.queried("example.test", "MX") >= 1
    assert result.status is MXStatus.TEMP_FAILURE
    assert spent < 2.0
    assert 0.3 < result.elapsed < 2.0
    assert "no answer came from 127.0.0.1" in result.detail and "0.4 seconds" in result.detail


async def test_no_nameserver_reachable() -> None:
    # A loopback port that nobody listens on: bind it, note it, let it go.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = DNSConfig(servers=(("127.0.0.1", port),), timeout=0.4)
    began = time.monotonic()
    result = await Resolver(config).resolve_mx("example.test")
    assert time.monotonic() - began < 2.0
    assert result.status is MXStatus.TEMP_FAILURE
    assert f"127.0.0.1 port {port}" in result.detail


async def test_delay_within_timeout_still_answers() -> None:
    async with DNSServer(Zone(BASIC), faults={"example.test": Fault.delayed(0.2)}) as srv:
        result = await resolver(srv, timeout=2.0).resolve_mx("example.test")
    assert result.status is MXStatus.OK
    assert result.elapsed >= 0.2


async def test_delay_beyond_timeout_is_temporary() -> None:
    async with DNSServer(Zone(BASIC), faults={"example.test": Fault.delayed(1.0)}) as srv:
        result = await resolver(srv, timeout=0.3).resolve_mx("example.test")
    assert result.status is MXStatus.TEMP_FAILURE


# -- transport ------------------------------------------------------------------------


async def test_truncated_answer_is_retried_over_tcp() -> None:
    async with DNSServer(Zone(BASIC), faults={("example.test", "MX"): Fault.truncated()}) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        assert srv.queried("example.test", "MX", "udp") == 1
        assert srv.queried("example.test", "MX", "tcp") == 1
    assert result.status is MXStatus.OK
    assert [h.name for h in result.hosts][0] == "mx1.example.test"


async def test_hundreds_of_mx_records_only_best_few_resolved() -> None:
    zone = Zone({})
    for i in range(300):
        zone.add("big.test", ("MX", 10 + i, f"h{i}.big.test"))
        zone.add(f"h{i}.big.test", ("A", f"127.0.{i // 250}.{i % 250 + 1}"))
    async with DNSServer(zone) as srv:
        result = await resolver(srv, max_hosts=3).resolve_mx("big.test")
        asked = a_queries(srv)
        # 300 MX records do not fit a UDP answer: the TC bit sends the client to TCP.
        assert srv.queried("big.test", "MX", "tcp") == 1
    assert result.status is MXStatus.OK
    assert [h.name for h in result.hosts] == ["h0.big.test", "h1.big.test", "h2.big.test"]
    assert asked == {"h0.big.test.", "h1.big.test.", "h2.big.test."}
    assert "Only the best 3 of 300 MX hosts" in result.detail


# -- host resolution --------------------------------------------------------------------


async def test_mx_through_cname_to_address() -> None:
    zone = Zone(
        {
            "example.test.": [("MX", 10, "mail.example.test.")],
            "mail.example.test.": [("CNAME", "alias.example.test.")],
            "alias.example.test.": [("CNAME", "real.example.test.")],
            "real.example.test.": [("A", "127.0.0.7")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        # The server hands back the whole chain: no separate queries for the aliases.
        assert a_queries(srv) == {"mail.example.test."}
    assert result.status is MXStatus.OK
    assert result.hosts[0].name == "mail.example.test"
    assert result.hosts[0].addresses == ("127.0.0.7",)


async def test_unresolvable_mx_host_keeps_an_error_sentence() -> None:
    zone = Zone(
        {
            "example.test.": [
                ("MX", 10, "mx1.example.test."),
                ("MX", 20, "mx2.example.test."),
                ("MX", 30, "mx3.example.test."),
            ],
            "mx1.example.test.": [("TXT", "no address here")],
            "mx3.example.test.": [("A", "127.0.0.3")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.OK
    mx1, mx2, mx3 = result.hosts
    assert mx1.addresses == ()
    assert mx1.error == "mx1.example.test exists in DNS but has no address record (A or AAAA)."
    assert mx2.addresses == ()
    assert mx2.error == "mx2.example.test does not exist in DNS (NXDOMAIN)."
    assert (mx3.addresses, mx3.error) == (("127.0.0.3",), None)
    assert "mx3.example.test" in result.detail  # the first host that can be used


async def test_mx_alias_to_missing_name() -> None:
    zone = Zone(
        {
            "example.test.": [("MX", 10, "mail.example.test.")],
            "mail.example.test.": [("CNAME", "gone.example.test.")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.NO_MAIL_HOSTS
    assert result.hosts[0].error == (
        "mail.example.test is an alias of gone.example.test, "
        "which does not exist in DNS (NXDOMAIN)."
    )


async def test_all_mx_hosts_missing_means_no_mail_hosts() -> None:
    zone = Zone({"example.test.": [("MX", 10, "gone.example.test.")]})
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.NO_MAIL_HOSTS
    assert result.hosts[0].error == "gone.example.test does not exist in DNS (NXDOMAIN)."


async def test_mx_host_servfail_makes_result_temporary() -> None:
    zone = Zone(
        {
            "example.test.": [("MX", 10, "mx1.example.test."), ("MX", 20, "gone.example.test.")],
            "mx1.example.test.": [("A", "127.0.0.1")],
        }
    )
    faults: dict[FaultKey, Fault] = {"mx1.example.test": Fault.servfail()}
    async with DNSServer(zone, faults=faults) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.TEMP_FAILURE
    error = result.hosts[0].error
    assert error is not None and "SERVFAIL" in error and "mx1.example.test" in error


async def test_cname_loop_is_explained() -> None:
    zone = Zone(
        {
            "example.test.": [("MX", 10, "loop1.example.test.")],
            "loop1.example.test.": [("CNAME", "loop2.example.test.")],
            "loop2.example.test.": [("CNAME", "loop1.example.test.")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        lookup = await resolver(srv).query("loop2.example.test", "TXT")
    assert result.status is MXStatus.NO_MAIL_HOSTS
    error = result.hosts[0].error
    assert error is not None and "loops" in error and "loop1.example.test" in error
    assert lookup.outcome is Outcome.CNAME_LOOP


async def test_cname_loop_at_the_domain() -> None:
    zone = Zone(
        {
            "example.test.": [("CNAME", "other.test.")],
            "other.test.": [("CNAME", "example.test.")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.NO_MAIL_HOSTS
    assert "loops" in result.detail


async def test_mx_naming_an_ip_address_is_used_and_noted() -> None:
    zone = Zone({"example.test.": [("MX", 10, "127.0.0.8.")]})
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        assert a_queries(srv) == set()
    assert result.status is MXStatus.OK
    assert result.hosts[0].addresses == ("127.0.0.8",)
    assert "IP address instead of a host name" in result.detail


async def test_ipv6_only_host() -> None:
    zone = Zone(
        {
            "example.test.": [("MX", 10, "v6.example.test.")],
            "v6.example.test.": [("AAAA", "::1"), ("AAAA", "fd00::25")],
        }
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        addresses, error = await resolver(srv).addresses("v6.example.test")
    assert result.status is MXStatus.OK
    assert set(result.hosts[0].addresses) == {"::1", "fd00::25"}
    assert error is None and set(addresses) == {"::1", "fd00::25"}


async def test_addresses_puts_ipv4_first() -> None:
    zone = Zone({"dual.test.": [("AAAA", "::1"), ("A", "127.0.0.1")]})
    async with DNSServer(zone) as srv:
        addresses, error = await resolver(srv).addresses("dual.test")
    assert (addresses, error) == (("127.0.0.1", "::1"), None)


# -- the generic helper ---------------------------------------------------------------


async def test_query_outcomes_and_records() -> None:
    zone = Zone(
        {
            "example.test.": [("TXT", "v=spf1 -all"), ("A", "127.0.0.1")],
            "_25._tcp.mx.example.test.": [("TLSA", 3, 1, 1, "ab" * 32)],
            "1.0.0.127.in-addr.arpa.": [("PTR", "mx.example.test.")],
        }
    )
    async with DNSServer(zone, authenticated=["_25._tcp.mx.example.test"]) as srv:
        r = resolver(srv)
        txt = await r.query("example.test", "TXT")
        tlsa = await r.query("_25._tcp.mx.example.test", "TLSA")
        ptr = await r.query("1.0.0.127.in-addr.arpa", "PTR")
        none = await r.query("example.test", "AAAA")
        missing = await r.query("missing.example.test", "TXT")
    assert txt.outcome is Outcome.ANSWER and txt.texts == ('"v=spf1 -all"',)
    assert txt.ttl == 300 and txt.error is None and not txt.authenticated
    assert tlsa.outcome is Outcome.ANSWER and tlsa.authenticated
    assert tlsa.texts == ("3 1 1 " + "ab" * 32,)
    assert ptr.texts == ("mx.example.test.",)
    assert none.outcome is Outcome.NO_DATA
    assert none.error == "example.test exists in DNS but has no AAAA record."
    assert missing.outcome is Outcome.NXDOMAIN and not missing.outcome.temporary


async def test_empty_non_terminal_is_no_data_not_nxdomain() -> None:
    zone = Zone({"mx.sub.example.test.": [("A", "127.0.0.1")]})
    async with DNSServer(zone) as srv:
        lookup = await resolver(srv).query("sub.example.test", "A")
    assert lookup.outcome is Outcome.NO_DATA


async def test_zone_from_text() -> None:
    zone = Zone.from_text(
        """
        $TTL 60
        @      IN SOA ns.example.test. admin.example.test. 1 7200 3600 1209600 60
        @      IN MX  10 mx
        mx     IN A   127.0.0.4
        """,
        origin="example.test.",
    )
    async with DNSServer(zone) as srv:
        result = await resolver(srv).resolve_mx("example.test")
        nodata = await resolver(srv).query("mx.example.test", "AAAA")
    assert result.hosts[0].name == "mx.example.test"
    assert result.hosts[0].addresses == ("127.0.0.4",)
    assert nodata.outcome is Outcome.NO_DATA


async def test_threaded_server_for_synchronous_callers() -> None:
    with ThreadedDNSServer(Zone(BASIC)) as srv:
        assert srv.port > 0
        result = await resolver(srv).resolve_mx("example.test")
        assert srv.queried("example.test", "MX", "udp") == 1
    assert result.status is MXStatus.OK


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_server_on_ipv6_loopback() -> None:
    async with DNSServer(Zone(BASIC), host="::1") as srv:
        result = await resolver(srv).resolve_mx("example.test")
    assert result.status is MXStatus.OK


def test_server_refuses_non_loopback_address() -> None:
    with pytest.raises(ValueError, match="loopback"):
        DNSServer(Zone(BASIC), host="0.0.0.0")


# -- parse_dns_server -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        (" 127.0.0.1:5353 ", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:53", ("::1", 53)),
        ("[::1]", ("::1", 53)),
        ("[2001:DB8:0::1]:8053", ("2001:db8::1", 8053)),
        ("fd00::53", ("fd00::53", 53)),
    ],
)
def test_parse_dns_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_dns_server(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("dns.example.test", "not an IP address"),
        ("127.0.0.1:0", "port"),
        ("127.0.0.1:65536", "port"),
        ("127.0.0.1:x", "port"),
        ("[::1", "never closes"),
        ("[::1]53", "unexpected text"),
        ("[127.0.0.1]:53", "IPv6 only"),
        ("300.0.0.1", "not an IP address"),
    ],
)
def test_parse_dns_server_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        parse_dns_server(text)
