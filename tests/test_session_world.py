"""More end-to-end scenarios, with the zone read from fixtures/zones/world.zone."""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme

from prober.engine.session import probe
from prober.engine.verdict import Reason, Verdict
from prober.explanation.catalogue import Category, Stage
from prober.results import ProbeResult
from prober.testing.dnsserver import DNSServer, Fault, Zone
from prober.testing.world import MailHandler, MailHost, World, banner_then
from tests.conftest import options_for

ZONE_FILE = Path(__file__).parent.parent / "fixtures" / "zones" / "world.zone"


@asynccontextmanager
async def zone_world(hosts: list[MailHost]) -> AsyncIterator[World]:
    world = World({}, hosts)
    world.dns = DNSServer(Zone.from_text(ZONE_FILE.read_text(), origin="test."))
    async with world:
        yield world
        assert world.data_received() == 0


async def run(world: World, address: str, **changes: object) -> ProbeResult:
    changes = {"timeout": 2.0, "deadline": 10.0, **changes}
    return await probe(address, options_for(world, **changes), rng=random.Random(3))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield str(path)


def server_context(ca: trustme.CA, name: str, **kwargs: object) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name, **kwargs).configure_cert(context)  # type: ignore[arg-type]
    return context


async def test_implicit_mx_uses_the_domains_own_address() -> None:
    mail = MailHandler(rcpt={"ann@implicit.test": "250 2.1.5 Ok"})
    async with zone_world([MailHost("implicit.test", "127.0.0.4", mail)]) as world:
        result = await run(world, "ann@implicit.test")
    assert result.mx is not None and result.mx.status == "implicit"
    assert result.verdict is Verdict.DELIVERABLE


async def test_mx_through_cname() -> None:
    mail = MailHandler(rcpt={"al@alias.test": "250 2.1.5 Ok"})
    async with zone_world([MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await run(world, "al@alias.test")
    assert result.verdict is Verdict.DELIVERABLE
    assert result.attempts[0].address == "127.0.0.2"
    # Followed, as most MTAs do, but said: RFC 2181 §10.3 forbids an MX naming an alias.
    assert result.mx is not None and "RFC 2181" in result.mx.detail


async def test_authentication_required_is_unknown() -> None:
    mail = MailHandler(mail="530 5.7.0 Authentication required")
    async with zone_world([MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await run(world, "ann@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.AUTH_REQUIRED
    assert result.explanation is not None
    assert result.explanation.category is Category.AUTH_REQUIRED


def _helo_only(line: bytes) -> str | None:
    command = line.split()[0].upper() if line.split() else b""
    replies = {
        b"EHLO": "502 5.5.2 Error: command not recognized",
        b"HELO": "250 old.example.test",
        b"MAIL": "250 2.1.0 Ok",
        b"RCPT": "550 5.1.1 User unknown",
        b"RSET": "250 2.0.0 Ok",
    }
    return replies.get(command, "500 5.5.1 What?")


async def test_ehlo_refused_falls_back_to_helo() -> None:
    script = banner_then("220 old.example.test SMTP", _helo_only)
    host = MailHost("mx1.example.test", "127.0.0.2", script=script)
    async with zone_world([host]) as world:
        result = await run(world, "old@example.test")
    assert result.reason is Reason.MAILBOX_UNKNOWN
    stages = [s.stage for s in result.attempts[0].steps]
    assert Stage.EHLO in stages and Stage.HELO in stages
    sent = b"".join(host.received)
    assert b"HELO probe.client.test" in sent
    assert b"DATA" not in sent


async def test_starttls_with_a_trusted_certificate(ca: trustme.CA, ca_file: str) -> None:
    mail = MailHandler(rcpt={"tia@tls.test": "250 2.1.5 Ok"})
    host = MailHost("mx.tls.test", "127.0.0.5", mail, tls_context=server_context(ca, "mx.tls.test"))
    async with zone_world([host]) as world:
        result = await run(world, "tia@tls.test", tls_ca_file=ca_file)
    assert result.verdict is Verdict.DELIVERABLE
    attempt = result.attempts[0]
    assert attempt.tls is not None and attempt.tls.verified
    assert attempt.tls.version.startswith("TLS")
    assert attempt.tls_problem is None
    # EHLO twice: before and after the upgrade (RFC 3207 §4.2).
    assert [s.stage for s in attempt.steps].count(Stage.EHLO) == 2
    assert sum(1 for c in mail.commands if c.startswith("EHLO")) == 2


@pytest.mark.parametrize(
    ("cert_name", "cert_kwargs", "problem"),
    [
        ("other.example.test", {}, "Hostname mismatch"),
        ("mx.tls.test", {"not_after": None}, "expired"),
    ],
)
async def test_certificate_problem_is_reported_and_tls_continues(
    ca: trustme.CA, ca_file: str, cert_name: str, cert_kwargs: dict, problem: str
) -> None:
    if "not_after" in cert_kwargs:
        import datetime

        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        cert_kwargs = {"not_before": past - datetime.timedelta(days=30), "not_after": past}
    mail = MailHandler(rcpt={"tia@tls.test": "250 2.1.5 Ok"})
    context = server_context(ca, cert_name, **cert_kwargs)
    async with zone_world(
        [MailHost("mx.tls.test", "127.0.0.5", mail, tls_context=context)]
    ) as world:
        result = await run(world, "tia@tls.test", tls_ca_file=ca_file)
    assert result.verdict is Verdict.DELIVERABLE
    # One connection: the problem is recorded and the session goes on encrypted.
    (attempt,) = result.attempts
    assert attempt.outcome == "rcpt_answered"
    assert attempt.tls is not None and not attempt.tls.verified
    assert problem.lower() in (attempt.tls_problem or "").lower()
    assert sum(1 for c in mail.commands if c.startswith("EHLO")) == 2


async def test_untrusted_self_signed_without_ca_file(ca: trustme.CA) -> None:
    mail = MailHandler(rcpt={"tia@tls.test": "250 2.1.5 Ok"})
    context = server_context(ca, "mx.tls.test")
    async with zone_world(
        [MailHost("mx.tls.test", "127.0.0.5", mail, tls_context=context)]
    ) as world:
        result = await run(world, "tia@tls.test")
    assert result.verdict is Verdict.DELIVERABLE
    assert "certificate" in (result.attempts[0].tls_problem or "")


async def test_no_starttls_option_skips_the_upgrade(ca: trustme.CA) -> None:
    mail = MailHandler(rcpt={"tia@tls.test": "250 2.1.5 Ok"})
    context = server_context(ca, "mx.tls.test")
    async with zone_world(
        [MailHost("mx.tls.test", "127.0.0.5", mail, tls_context=context)]
    ) as world:
        result = await run(world, "tia@tls.test", starttls=False)
    assert result.verdict is Verdict.DELIVERABLE
    assert result.attempts[0].tls is None
    assert all(s.stage is not Stage.STARTTLS for s in result.attempts[0].steps)


async def test_servfail_is_a_temporary_dns_failure() -> None:
    async with zone_world([]) as world:
        world.dns.faults["example.test"] = Fault.servfail()
        result = await run(world, "ann@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.DNS_TEMPORARY
    assert result.attempts == ()


async def test_null_mx_from_zone_file() -> None:
    async with zone_world([]) as world:
        result = await run(world, "x@nullmx.test")
    assert result.reason is Reason.NULL_MX


async def test_silent_server_ends_within_the_deadline() -> None:
    async def silent(reader, writer) -> None:  # type: ignore[no-untyped-def]
        await reader.read(1)  # accept, say nothing, wait for the client to go

    host = MailHost("mx.broken.test", "127.0.0.6", script=silent)
    async with zone_world([host]) as world:
        began = time.monotonic()
        result = await run(world, "x@broken.test", timeout=1.0, deadline=3.0)
        took = time.monotonic() - began
    assert took < 3.0 + 1.0
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason in (Reason.SERVER_UNAVAILABLE, Reason.DEADLINE)
    step = result.attempts[0].steps[-1]
    assert step.stage is Stage.BANNER and step.event in ("timeout", "deadline")
    assert "no complete reply" in step.explanation.text or step.event == "deadline"


async def test_smtputf8_address_needs_the_extension() -> None:
    mail = MailHandler(rcpt={"用户@example.test": "250 2.1.5 Ok"})
    hosts = [MailHost("mx1.example.test", "127.0.0.2", mail, smtputf8=False)]
    async with zone_world(hosts) as world:
        result = await run(world, "用户@example.test", max_hosts=1)
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.reason is Reason.SMTPUTF8_UNSUPPORTED
    assert not any(c.startswith("MAIL") for c in mail.commands)


async def test_smtputf8_address_with_the_extension() -> None:
    mail = MailHandler(rcpt={"用户@example.test": "250 2.1.5 Ok"})
    async with zone_world([MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await run(world, "用户@example.test")
    assert result.verdict is Verdict.DELIVERABLE
    mail_step = next(s for s in result.attempts[0].steps if s.stage is Stage.MAIL)
    assert mail_step.sent is not None and mail_step.sent.endswith(" SMTPUTF8")
