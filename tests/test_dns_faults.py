"""DNS faults through probe(), end to end: each explained, each bounded in time.

The loopback DNS server of the world misbehaves on purpose (silence, SERVFAIL, forced
truncation, delays) or serves zones that are legal but unhelpful (MX to a CNAME, to an
IP literal, to nothing, in loops, by the hundred, to private addresses).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from prober.engine.verdict import Reason, Verdict
from prober.guard import Guard
from prober.resolve.mx import DNSConfig, MXStatus
from prober.results import ProbeResult
from prober.smtp.connection import Connection
from prober.testing.dnsserver import Fault, RecordSpec
from prober.testing.world import MailHandler, MailHost, World
from tests.conftest import DOORS, options_for, probe_through, world_of

MX1 = "mx1.example.test"
ZONE: dict[str, list[RecordSpec]] = {
    "example.test.": [("MX", 10, f"{MX1}.")],
    f"{MX1}.": [("A", "127.0.0.2")],
}
DNS_TIMEOUT = 1.0


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A safety net: should the guard ever fail, no test here may leave loopback."""
    original = Connection.open.__func__  # type: ignore[attr-defined]

    async def guarded(cls: type[Connection], /, host: str, port: int, **kw: object) -> Connection:
        assert Guard(allow_private=True).refusal(host) is None and host.startswith(
            ("127.", "::1", "::ffff:127.")
        ), f"a test tried to connect to {host}"
        return await original(cls, host, port, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(Connection, "open", classmethod(guarded))
    yield


_DOOR = {"door": "single"}


@pytest.fixture(autouse=True, params=DOORS)
def through_each_door(request: pytest.FixtureRequest) -> None:
    """Every DNS fault through both front doors (``probe()`` and list mode)."""
    _DOOR["door"] = str(request.param)


def answering(reply: str = "550 5.1.1 <alice@example.test>: user unknown") -> MailHandler:
    return MailHandler(default=reply)


async def run(world: World, **changes: object) -> ProbeResult:
    changes.setdefault("dns", DNSConfig(servers=(world.dns_address,), timeout=DNS_TIMEOUT))
    options = options_for(world, **changes)
    return await probe_through(_DOOR["door"], "alice@example.test", options, random.Random(3))


async def timed(world: World, **changes: object) -> tuple[ProbeResult, float]:
    started = time.monotonic()
    result = await run(world, **changes)
    return result, time.monotonic() - started


# -- the MX question itself fails --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault.silent(), "no answer came"),
        (Fault.servfail(), "SERVFAIL"),
        (Fault.refused(), "REFUSED"),
    ],
    ids=["timeout", "servfail", "refused"],
)
async def test_mx_lookup_failure_is_temporary_and_bounded(fault: Fault, says: str) -> None:
    handler = answering()
    async with world_of(ZONE, [MailHost(MX1, "127.0.0.2", handler)]) as world:
        world.dns.faults["example.test"] = fault
        result, elapsed = await timed(world)
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.DNS_TEMPORARY
    assert result.explanation is not None and says in result.explanation.text
    assert result.attempts == () and handler.commands == []
    assert elapsed <= DNS_TIMEOUT + 1.0


async def test_dns_slower_than_the_deadline_ends_at_the_deadline() -> None:
    async with world_of(ZONE, [MailHost(MX1, "127.0.0.2", answering())]) as world:
        world.dns.faults["example.test"] = Fault.delayed(10)
        dns = DNSConfig(servers=(world.dns_address,), timeout=20.0)
        result, elapsed = await timed(world, dns=dns, deadline=1.5)
    assert result.reason is Reason.DEADLINE
    assert result.verdict is Verdict.UNKNOWN
    assert elapsed <= 1.5 + 1.0


async def test_truncated_answer_is_retried_over_tcp() -> None:
    async with world_of(ZONE, [MailHost(MX1, "127.0.0.2", answering())]) as world:
        world.dns.faults[("example.test", "MX")] = Fault.truncated()
        result, elapsed = await timed(world)
        assert world.dns.queried("example.test", "MX", "udp") >= 1
        assert world.dns.queried("example.test", "MX", "tcp") >= 1
    assert result.reason is Reason.MAILBOX_UNKNOWN
    assert elapsed <= 3.0


# -- the MX hosts' addresses ------------------------------------------------------------


async def test_address_lookup_of_the_mx_host_times_out() -> None:
    async with world_of(ZONE, [MailHost(MX1, "127.0.0.2", answering())]) as world:
        world.dns.faults[MX1] = Fault.silent()
        result, elapsed = await timed(world)
    assert result.reason is Reason.DNS_TEMPORARY
    assert result.mx is not None and result.mx.status is MXStatus.TEMP_FAILURE
    assert result.explanation is not None and "failed temporarily" in result.explanation.text
    assert elapsed <= DNS_TIMEOUT + 1.0


async def test_aaaa_servfail_does_not_hide_a_working_a_record() -> None:
    async with world_of(ZONE, [MailHost(MX1, "127.0.0.2", answering())]) as world:
        world.dns.faults[(MX1, "AAAA")] = Fault.servfail()
        result, _elapsed = await timed(world)
    assert result.reason is Reason.MAILBOX_UNKNOWN


async def test_mx_pointing_to_a_cname_is_followed() -> None:
    # RFC 2181 §10.3 forbids it, but mail flows anyway: MTAs follow the alias.
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, f"{MX1}.")],
        f"{MX1}.": [("CNAME", "real-mx.example.test.")],
        "real-mx.example.test.": [("A", "127.0.0.2")],
    }
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", answering())]) as world:
        result, _elapsed = await timed(world)
    assert result.reason is Reason.MAILBOX_UNKNOWN
    assert result.mx is not None and result.mx.hosts[0].addresses == ("127.0.0.2",)


async def test_mx_naming_an_ip_literal_is_used_and_noted() -> None:
    zone: dict[str, list[RecordSpec]] = {"example.test.": [("MX", 10, "127.0.0.2.")]}
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", answering())]) as world:
        result, _elapsed = await timed(world)
    assert result.reason is Reason.MAILBOX_UNKNOWN
    assert result.mx is not None and "names an IP address" in result.mx.detail


async def test_mx_naming_a_private_ip_literal_is_refused_by_default() -> None:
    zone: dict[str, list[RecordSpec]] = {"example.test.": [("MX", 10, "127.0.0.2.")]}
    handler = answering()
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", handler)]) as world:
        result, _elapsed = await timed(world, allow_private=False)
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert handler.commands == []


async def test_mx_to_a_name_that_does_not_resolve() -> None:
    zone: dict[str, list[RecordSpec]] = {"example.test.": [("MX", 10, "ghost.example.test.")]}
    async with world_of(zone, []) as world:
        result, elapsed = await timed(world)
    assert result.reason is Reason.NO_MAIL_HOSTS
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.mx is not None
    assert "ghost.example.test does not exist" in (result.mx.hosts[0].error or "")
    assert result.explanation is not None
    assert "none of the hosts they name has an address" in result.explanation.text
    assert elapsed <= DNS_TIMEOUT + 1.0


async def test_one_dead_mx_and_one_good_one() -> None:
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, "ghost.example.test."), ("MX", 20, "mx2.example.test.")],
        "mx2.example.test.": [("A", "127.0.0.3")],
    }
    async with world_of(zone, [MailHost("mx2.example.test", "127.0.0.3", answering())]) as world:
        result, _elapsed = await timed(world)
    assert result.reason is Reason.MAILBOX_UNKNOWN
    assert result.attempts[0].outcome == "no_address"


@pytest.mark.parametrize(
    "zone",
    [
        {
            "example.test.": [("MX", 10, "loop-a.example.test.")],
            "loop-a.example.test.": [("CNAME", "loop-b.example.test.")],
            "loop-b.example.test.": [("CNAME", "loop-a.example.test.")],
        },
        {
            "example.test.": [("MX", 10, "self.example.test.")],
            "self.example.test.": [("CNAME", "self.example.test.")],
        },
    ],
    ids=["two-step-loop", "self-loop"],
)
async def test_mx_through_a_cname_loop(zone: dict[str, list[RecordSpec]]) -> None:
    async with world_of(zone, []) as world:
        result, elapsed = await timed(world)
    assert result.reason is Reason.NO_MAIL_HOSTS
    assert result.mx is not None and "loops" in (result.mx.hosts[0].error or "")
    assert elapsed <= DNS_TIMEOUT + 1.0


async def test_the_domain_itself_is_a_cname_loop() -> None:
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("CNAME", "other.example.test.")],
        "other.example.test.": [("CNAME", "example.test.")],
    }
    async with world_of(zone, []) as world:
        result, elapsed = await timed(world)
    assert result.reason is Reason.NO_MAIL_HOSTS
    assert result.explanation is not None and "loops" in result.explanation.text
    assert elapsed <= DNS_TIMEOUT + 1.0


async def test_hundreds_of_mx_records_only_the_best_few_are_used() -> None:
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", i, f"mx{i}.example.test.") for i in range(300)]
    }
    for i in range(300):
        zone[f"mx{i}.example.test."] = [("A", "127.0.0.2")]
    # A temporary answer everywhere, so the prober moves on to every host it allows itself.
    handler = answering("451 4.3.0 Try again later")
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", handler)]) as world:
        result, elapsed = await timed(world)
        address_queries = [q for q in world.dns.queries if q.rdtype in ("A", "AAAA")]
        mx_over_tcp = world.dns.queried("example.test", "MX", "tcp")
    assert mx_over_tcp >= 1  # 300 records do not fit a UDP answer
    assert result.mx is not None and len(result.mx.hosts) == 5
    assert "Only the best 5 of 300 MX hosts were looked up" in result.mx.detail
    assert len({q.name for q in address_queries}) == 5  # not 300
    connections = sum(1 for c in handler.commands if c.startswith("EHLO"))
    assert connections == 3  # ProbeOptions.max_hosts
    assert result.verdict is Verdict.UNKNOWN
    assert elapsed <= 5.0


@pytest.mark.parametrize(
    ("records", "says"),
    [
        ([("A", "127.0.0.2")], "127.0.0.2 is a loopback address"),
        ([("AAAA", "::1")], "::1 is a loopback address"),
        ([("AAAA", "::ffff:127.0.0.2")], "embeds 127.0.0.2"),
        ([("AAAA", "2002:7f00:2::1")], "embeds 127.0.0.2"),
    ],
    ids=["A-loopback", "AAAA-loopback", "v4-mapped", "6to4"],
)
async def test_mx_at_private_addresses_refused_by_default(
    records: list[RecordSpec], says: str
) -> None:
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, f"{MX1}.")],
        f"{MX1}.": records,
    }
    handler = answering()
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", handler)]) as world:
        result, elapsed = await timed(world, allow_private=False)
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert result.explanation is not None and says in result.explanation.text
    assert handler.commands == []
    assert elapsed <= DNS_TIMEOUT + 1.0
