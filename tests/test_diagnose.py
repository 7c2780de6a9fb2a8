"""``probe diagnose``: DNS policies and every MX host checked against real loopback servers.

Mail hosts are aiosmtpd servers (prober.testing.world) with trustme certificates; DNS is the
loopback DNS server. Every test ends by checking that no server ever received DATA.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from aiosmtpd.smtp import SMTP, Envelope, Session

from prober.diagnose.certificate import CertInfo, name_matches, parse_certificate, tlsa_matches
from prober.diagnose.domain import (
    DiagnoseOptions,
    DiagnoseResult,
    Finding,
    RelayResult,
    Severity,
    analyse_spf,
    diagnose,
    finding,
    findings_catalogue,
    render_text,
)
from prober.errors import InputError
from prober.resolve.mx import DNSConfig, MXStatus
from prober.testing.dnsserver import DNSServer, RecordSpec, Zone
from prober.testing.world import MailHandler, MailHost, World, banner_then
from tests.certs import ca_file, cert_sha256, issue, leaf_der, server_context, spki_sha256

MX = "mx1.example.test"
RELAY_DENIED = "550 5.7.1 Relaying denied"

Records = dict[str, list[RecordSpec]]


def healthy_zone(replace: Records | None = None) -> Records:
    """A domain that does everything right; ``replace`` swaps or adds owners' records."""
    records: Records = {
        "example.test.": [("MX", 10, f"{MX}."), ("TXT", "v=spf1 mx -all")],
        "_dmarc.example.test.": [("TXT", "v=DMARC1; p=reject; rua=mailto:d@example.test")],
        "_mta-sts.example.test.": [("TXT", "v=STSv1; id=20240101T000000")],
        "_smtp._tls.example.test.": [("TXT", "v=TLSRPTv1; rua=mailto:tls@example.test")],
        f"{MX}.": [("A", "127.0.0.1")],
        "1.0.0.127.in-addr.arpa.": [("PTR", f"{MX}.")],
    }
    for owner, specs in (replace or {}).items():
        records[owner] = specs
    return records


@dataclass
class Lab:
    world: World
    dns: DNSServer
    ca_path: str

    def options(self, **changes: object) -> DiagnoseOptions:
        base: dict[str, object] = {
            "dns": DNSConfig(servers=(self.dns.address,), timeout=2.0),
            "port": self.world.port,
            "helo": "probe.client.test",
            "timeout": 3.0,
            "deadline": 20.0,
            "allow_private": True,
            "tls_ca_file": self.ca_path,
        }
        base.update(changes)
        return DiagnoseOptions(**base)  # type: ignore[arg-type]


@asynccontextmanager
async def lab(
    records: Records,
    hosts: list[MailHost],
    tmp_path: Path,
    ca: trustme.CA,
    *,
    authenticated: bool | Iterable[str] = False,
) -> AsyncIterator[Lab]:
    # The world's own DNS server stays empty: this one can set the AD bit.
    async with (
        World({}, hosts) as world,
        DNSServer(Zone(records), authenticated=authenticated) as dns_server,
    ):
        yield Lab(world, dns_server, ca_file(ca, tmp_path))
        # Whatever happened, no server may ever have seen DATA or BDAT.
        assert world.data_received() == 0
        for host in hosts:
            if host.handler is not None:
                assert "DATA" not in host.handler.commands


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def ids(result: DiagnoseResult) -> dict[str, Severity]:
    return {f.id: f.severity for f in result.findings}


def host_with(
    ca: trustme.CA | None,
    handler: MailHandler | None = None,
    *,
    name: str = MX,
    ip: str = "127.0.0.1",
    cert_names: tuple[str, ...] = (MX,),
    expired: bool = False,
    days: int | None = None,
) -> MailHost:
    context = server_context(issue(ca, *cert_names, expired=expired, days=days)) if ca else None
    return MailHost(name, ip, handler or MailHandler(default=RELAY_DENIED), tls_context=context)


# -- a healthy domain ----------------------------------------------------------------------


async def test_healthy_domain_has_only_notes(tmp_path: Path, ca: trustme.CA) -> None:
    leaf = issue(ca, MX)
    handler = MailHandler(default=RELAY_DENIED)
    hosts = [MailHost(MX, "127.0.0.1", handler, tls_context=server_context(leaf))]
    records = healthy_zone({f"_25._tcp.{MX}.": [("TLSA", 3, 1, 1, spki_sha256(leaf))]})
    async with lab(records, hosts, tmp_path, ca, authenticated=True) as env:
        result = await diagnose("Example.Test.", env.options())

    assert result.domain == "example.test"
    assert result.mx_status is MXStatus.OK
    assert result.complete
    assert ids(result) == {"mta_sts_not_fetched": Severity.NOTE}
    assert result.worst is Severity.NOTE

    assert result.spf is not None and result.spf.records == ("v=spf1 mx -all",)
    assert result.dmarc is not None and result.dmarc.tags["p"] == "reject"
    assert result.mta_sts is not None and result.mta_sts.tags["id"] == "20240101T000000"
    assert result.tls_rpt is not None and result.tls_rpt.tags["rua"].startswith("mailto:")

    (host,) = result.hosts
    assert host.dane is not None and host.dane.authenticated and len(host.dane.records) == 1
    (report,) = host.addresses
    assert report.ptr == (MX,) and report.fcrdns is True
    assert report.banner is not None and report.banner.startswith(f"220 {MX}")
    assert report.banner_matches is True
    assert report.connect_seconds is not None and report.time_to_banner is not None
    assert report.ehlo is not None and report.ehlo.starttls and report.ehlo.pipelining
    assert report.ehlo.size_mb == pytest.approx(33.6)
    assert report.ehlo_tls is not None and not report.ehlo_tls.starttls
    tls = report.tls
    assert tls is not None and tls.verified and tls.verify_message is None
    assert tls.version.startswith("TLSv1.")
    assert tls.name_matches is True and tls.dane_match is True
    assert tls.certificate is not None and MX in tls.certificate.names
    assert tls.certificate.days_left > 300
    assert report.relay is RelayResult.REFUSED and report.relay_reply == RELAY_DENIED
    assert report.null_sender is True
    assert [s.name for s in report.steps] == [
        "connect", "banner", "ehlo", "starttls", "tls", "ehlo",
        "mail", "rset", "mail", "rcpt", "rset", "quit",
    ]  # fmt: skip
    # The server saw exactly the mail tests: never DATA, always RSET then QUIT.
    assert handler.commands[-7:] == [
        "EHLO probe.client.test",
        "MAIL <>",
        "RSET",
        "MAIL probe@relay-test.invalid",
        "RCPT probe@relay-test.example",
        "RSET",
        "QUIT",
    ]


async def test_result_serialises_and_renders(tmp_path: Path, ca: trustme.CA) -> None:
    async with lab(healthy_zone(), [host_with(ca)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    data = result.to_dict()
    json.dumps(data)
    assert data["worst"] == "note"
    assert data["hosts"][0]["addresses"][0]["relay"] == "refused"
    assert data["findings"][0]["id"] == "mta_sts_not_fetched"
    english = render_text(result, "en")
    assert "Domain example.test" in english and "relay test: refused" in english
    assert "policy not fetched" in english
    assert "https://mta-sts.example.test/.well-known/mta-sts.txt" in english
    italian = render_text(result, "it")
    assert "Dominio example.test" in italian and "prova di relay" in italian
    it_note = findings_catalogue()["mta_sts_not_fetched"].texts["it"].meaning
    assert it_note.format(domain="example.test") in italian


# -- mail tests ----------------------------------------------------------------------------


async def test_open_relay_is_an_error(tmp_path: Path, ca: trustme.CA) -> None:
    handler = MailHandler(default="250 2.1.5 Ok")
    async with lab(healthy_zone(), [host_with(ca, handler)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    assert ids(result)["open_relay"] is Severity.ERROR
    assert result.worst is Severity.ERROR
    report = result.hosts[0].addresses[0]
    assert report.relay is RelayResult.OPEN
    (relay,) = [f for f in result.findings if f.id == "open_relay"]
    assert relay.host == MX and relay.address == "127.0.0.1" and "250" in relay.detail
    assert "RCPT probe@relay-test.example" in handler.commands
    assert handler.commands[-2:] == ["RSET", "QUIT"]
    assert handler.data_commands == 0


async def test_relay_test_can_use_other_addresses(tmp_path: Path, ca: trustme.CA) -> None:
    handler = MailHandler(default=RELAY_DENIED)
    async with lab(healthy_zone(), [host_with(ca, handler)], tmp_path, ca) as env:
        result = await diagnose(
            "example.test",
            env.options(relay_test_from="a@one.test", relay_test_to="b@two.test"),
        )
    assert "MAIL a@one.test" in handler.commands and "RCPT b@two.test" in handler.commands
    assert result.hosts[0].addresses[0].relay is RelayResult.REFUSED
    with pytest.raises(InputError):
        await diagnose("example.test", env.options(relay_test_to="b@two.test>\r\nDATA"))


@dataclass
class NullRefusing(MailHandler):
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in ("", "<>"):
            self.commands.append("MAIL <>")
            return "550 5.7.1 Null sender not accepted here"
        return await MailHandler.handle_MAIL(self, server, session, envelope, address, options)


async def test_null_sender_refused_is_an_error(tmp_path: Path, ca: trustme.CA) -> None:
    handler = NullRefusing(default=RELAY_DENIED)
    async with lab(healthy_zone(), [host_with(ca, handler)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    assert ids(result)["null_sender_refused"] is Severity.ERROR
    report = result.hosts[0].addresses[0]
    assert report.null_sender is False
    assert report.null_sender_reply is not None and report.null_sender_reply.startswith("550")
    # The relay test still ran after the refusal.
    assert report.relay is RelayResult.REFUSED


async def test_sender_refused_makes_relay_test_inconclusive(tmp_path: Path, ca: trustme.CA) -> None:
    handler = MailHandler(mail="553 5.1.8 Sender domain does not exist")
    async with lab(healthy_zone(), [host_with(ca, handler)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options(null_sender_test=False))
    report = result.hosts[0].addresses[0]
    assert report.relay is RelayResult.INCONCLUSIVE and report.null_sender is None
    assert ids(result)["relay_test_inconclusive"] is Severity.NOTE
    assert not any(c.startswith("RCPT") for c in handler.commands)


# -- TLS and certificates ------------------------------------------------------------------


async def test_no_starttls_is_a_warning_and_breaks_dane(tmp_path: Path, ca: trustme.CA) -> None:
    records = healthy_zone({f"_25._tcp.{MX}.": [("TLSA", 3, 1, 1, "ab" * 32)]})
    async with lab(records, [host_with(None)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert found["no_starttls"] is Severity.WARNING
    assert found["dane_no_starttls"] is Severity.ERROR
    assert found["dane_unvalidated"] is Severity.NOTE  # the test server sets no AD bit
    report = result.hosts[0].addresses[0]
    assert report.tls is None and report.ehlo is not None and not report.ehlo.starttls
    assert report.relay is RelayResult.REFUSED  # the mail tests ran in plain text


async def test_expired_certificate(tmp_path: Path, ca: trustme.CA) -> None:
    handler = MailHandler(default=RELAY_DENIED)
    async with lab(healthy_zone(), [host_with(ca, handler, expired=True)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert found["tls_cert_expired"] is Severity.ERROR
    assert "tls_cert_untrusted" not in found and "tls_cert_name_mismatch" not in found
    tls = result.hosts[0].addresses[0].tls
    assert tls is not None and not tls.verified
    assert tls.verify_message is not None and "expired" in tls.verify_message
    assert tls.certificate is not None and tls.certificate.days_left < 0
    # One handshake, verified afterwards: the same session read the certificate and ran
    # the mail tests (EHLO before and after STARTTLS, no second connection).
    assert handler.commands.count("EHLO probe.client.test") == 2
    assert result.hosts[0].addresses[0].relay is RelayResult.REFUSED


async def test_certificate_for_another_host(tmp_path: Path, ca: trustme.CA) -> None:
    hosts = [host_with(ca, cert_names=("other.example.test",))]
    async with lab(healthy_zone(), hosts, tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert found["tls_cert_name_mismatch"] is Severity.WARNING
    assert "tls_cert_untrusted" not in found and "tls_cert_expired" not in found
    tls = result.hosts[0].addresses[0].tls
    assert tls is not None and tls.name_matches is False and not tls.verified
    assert tls.certificate is not None and tls.certificate.names == ("other.example.test",)


async def test_certificate_from_unknown_authority(tmp_path: Path, ca: trustme.CA) -> None:
    stranger = trustme.CA()
    async with lab(healthy_zone(), [host_with(stranger)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert found["tls_cert_untrusted"] is Severity.WARNING
    assert "tls_cert_name_mismatch" not in found
    tls = result.hosts[0].addresses[0].tls
    assert tls is not None and tls.certificate is not None
    assert tls.certificate.issuer != tls.certificate.subject


async def test_certificate_close_to_expiry(tmp_path: Path, ca: trustme.CA) -> None:
    async with lab(healthy_zone(), [host_with(ca, days=5)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options(lang="it"))
    (expiring,) = [f for f in result.findings if f.id == "tls_cert_expiring"]
    assert expiring.severity is Severity.WARNING
    assert "5 giorni" in expiring.meaning and expiring.lang == "it"
    assert "5 days" in expiring.in_lang("en").meaning


async def _handshake_breaker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Offers STARTTLS, says 220, then hangs up; in plain text it refuses relaying."""
    writer.write(f"220 {MX} ESMTP\r\n".encode())
    replies = {
        b"EHLO": f"250-{MX}\r\n250-PIPELINING\r\n250 STARTTLS",
        b"MAIL": "250 2.1.0 Ok",
        b"RCPT": RELAY_DENIED,
        b"RSET": "250 2.0.0 Ok",
    }
    while True:
        await writer.drain()
        line = await reader.readline()
        if not line:
            return
        verb = line[:4].upper()
        if verb == b"STAR":
            writer.write(b"220 2.0.0 Ready to start TLS\r\n")
            await writer.drain()
            return
        if verb == b"QUIT":
            writer.write(b"221 Bye\r\n")
            await writer.drain()
            return
        writer.write(replies.get(verb, "502 5.5.2 What?").encode() + b"\r\n")


async def test_failed_handshake_then_plain_text(tmp_path: Path, ca: trustme.CA) -> None:
    hosts = [MailHost(MX, "127.0.0.1", script=_handshake_breaker)]
    async with lab(healthy_zone(), hosts, tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    assert ids(result)["tls_failed"] is Severity.ERROR
    report = result.hosts[0].addresses[0]
    assert report.tls is None and report.tls_error
    assert report.relay is RelayResult.REFUSED  # finished in plain text, as senders do
    assert [s.name for s in report.steps].count("connect") == 2


# -- DANE ----------------------------------------------------------------------------------


async def test_tlsa_full_certificate_match(tmp_path: Path, ca: trustme.CA) -> None:
    leaf = issue(ca, MX)
    handler = MailHandler(default=RELAY_DENIED)
    hosts = [MailHost(MX, "127.0.0.1", handler, tls_context=server_context(leaf))]
    records = healthy_zone({f"_25._tcp.{MX}.": [("TLSA", 3, 0, 1, cert_sha256(leaf))]})
    async with lab(records, hosts, tmp_path, ca, authenticated=[f"_25._tcp.{MX}"]) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert not {"dane_mismatch", "dane_unvalidated", "dane_unchecked"} & found.keys()
    tls = result.hosts[0].addresses[0].tls
    assert tls is not None and tls.dane_match is True


async def test_tlsa_mismatch_is_an_error(tmp_path: Path, ca: trustme.CA) -> None:
    records = healthy_zone(
        {
            f"_25._tcp.{MX}.": [
                ("TLSA", 3, 1, 1, "00" * 32),
                ("TLSA", 2, 0, 1, "11" * 32),  # pins an authority: not checkable here
            ]
        }
    )
    async with lab(records, [host_with(ca)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert found["dane_mismatch"] is Severity.ERROR
    assert found["dane_unvalidated"] is Severity.NOTE
    tls = result.hosts[0].addresses[0].tls
    assert tls is not None and tls.dane_match is False
    assert {(c.record.usage, c.matched) for c in tls.tlsa} == {(3, False), (2, None)}


# -- DNS: MX and policies ------------------------------------------------------------------


async def _dns_only(records: Records, tmp_path: Path, ca: trustme.CA) -> DiagnoseResult:
    async with lab(records, [], tmp_path, ca) as env:
        return await diagnose("example.test", env.options())


NULL_MX: list[RecordSpec] = [("MX", 0, ".")]


async def test_null_mx(tmp_path: Path, ca: trustme.CA) -> None:
    result = await _dns_only(healthy_zone({"example.test.": NULL_MX}), tmp_path, ca)
    assert result.mx_status is MXStatus.NULL_MX and result.hosts == ()
    found = ids(result)
    assert found["mx_null"] is Severity.NOTE
    assert found["spf_missing"] is Severity.WARNING


async def test_domain_that_does_not_exist(tmp_path: Path, ca: trustme.CA) -> None:
    async with lab(healthy_zone(), [], tmp_path, ca) as env:
        result = await diagnose("nowhere.test", env.options())
    assert ids(result)["mx_no_domain"] is Severity.ERROR
    assert result.worst is Severity.ERROR


async def test_implicit_mx_is_a_warning(tmp_path: Path, ca: trustme.CA) -> None:
    records = healthy_zone({"example.test.": [("A", "127.0.0.1"), ("TXT", "v=spf1 a -all")]})
    handler = MailHandler(default=RELAY_DENIED)
    async with lab(records, [host_with(None, handler, name="example.test")], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    assert result.mx_status is MXStatus.IMPLICIT
    assert ids(result)["mx_implicit"] is Severity.WARNING
    assert result.hosts[0].name == "example.test"


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([("TXT", "v=spf1 -all"), ("TXT", "v=spf1 mx -all")], {"spf_multiple": "error"}),
        ([("TXT", "v=spf1 mx +all")], {"spf_plus_all": "warning"}),
        ([("TXT", "v=spf1 a mx all")], {"spf_plus_all": "warning"}),
        ([("TXT", "v=spf1 ip4:192.0.2.300 -all")], {"spf_syntax": "error"}),
        ([("TXT", "v=spf1 mx")], {"spf_no_all": "note"}),
        ([("TXT", "v=spf1 ptr -all")], {"spf_ptr": "note"}),
        (
            [("TXT", "v=spf1 ", *(f"include:s{i}.example.test " for i in range(11)))],
            {"spf_too_many_lookups": "error", "spf_no_all": "note"},
        ),
        ([("TXT", "google-site-verification=abc"), ("TXT", "v=spf1x")], {"spf_missing": "warning"}),
        # A long record split into several character-strings is read as one.
        ([("TXT", "v=spf1 ip4:192.0.2.0/24 ", "ip6:2001:db8::/32 -all")], {}),
    ],
)
async def test_spf_checks(
    records: list[RecordSpec], expected: dict[str, str], tmp_path: Path, ca: trustme.CA
) -> None:
    zone = healthy_zone({"example.test.": [*NULL_MX, *records]})
    result = await _dns_only(zone, tmp_path, ca)
    spf = {f.id: f.severity.value for f in result.findings if f.id.startswith("spf_")}
    assert spf == expected


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], {"dmarc_missing": "warning"}),
        ([("TXT", "v=DMARC1; p=none; rua=mailto:d@example.test")], {"dmarc_policy_none": "note"}),
        ([("TXT", "v=DMARC1; p=quarantine")], {}),
        ([("TXT", "v=DMARC1; p=reject"), ("TXT", "v=DMARC1; p=none")], {"dmarc_multiple": "error"}),
        ([("TXT", "v=DMARC1; p=maybe")], {"dmarc_invalid": "error"}),
        ([("TXT", "v=DMARC1; rua=mailto:d@example.test")], {"dmarc_invalid": "error"}),
    ],
)
async def test_dmarc_checks(
    records: list[RecordSpec], expected: dict[str, str], tmp_path: Path, ca: trustme.CA
) -> None:
    zone = healthy_zone({"example.test.": NULL_MX, "_dmarc.example.test.": records})
    if not records:
        del zone["_dmarc.example.test."]
    result = await _dns_only(zone, tmp_path, ca)
    dmarc = {f.id: f.severity.value for f in result.findings if f.id.startswith("dmarc_")}
    assert dmarc == expected


async def test_mta_sts_and_tls_rpt(tmp_path: Path, ca: trustme.CA) -> None:
    zone = healthy_zone({"example.test.": NULL_MX})
    del zone["_mta-sts.example.test."], zone["_smtp._tls.example.test."]
    found = ids(await _dns_only(zone, tmp_path, ca))
    assert found["mta_sts_missing"] is Severity.NOTE
    assert found["tls_rpt_missing"] is Severity.NOTE

    zone["_mta-sts.example.test."] = [("TXT", "v=STSv1; id=not valid!")]
    zone["_smtp._tls.example.test."] = [("TXT", "v=TLSRPTv1;")]
    found = ids(await _dns_only(zone, tmp_path, ca))
    assert found["mta_sts_invalid"] is Severity.WARNING
    assert found["tls_rpt_invalid"] is Severity.WARNING
    assert "mta_sts_not_fetched" not in found


# -- each address --------------------------------------------------------------------------


async def test_private_address_needs_allow_private(tmp_path: Path, ca: trustme.CA) -> None:
    handler = MailHandler()
    async with lab(healthy_zone(), [host_with(ca, handler)], tmp_path, ca) as env:
        result = await diagnose("example.test", env.options(allow_private=False))
    assert ids(result)["mx_private_address"] is Severity.WARNING
    report = result.hosts[0].addresses[0]
    assert report.refused is not None and report.steps == ()
    assert handler.commands == []  # never contacted


async def test_refused_connection(tmp_path: Path, ca: trustme.CA) -> None:
    hosts = [MailHost(MX, "127.0.0.1", closed=True)]
    async with lab(healthy_zone(), hosts, tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    assert ids(result)["connect_failed"] is Severity.ERROR
    report = result.hosts[0].addresses[0]
    assert report.connect_error is not None and "refused" in report.connect_error


async def test_greeting_refusal(tmp_path: Path, ca: trustme.CA) -> None:
    hosts = [MailHost(MX, "127.0.0.1", script=banner_then("554 5.7.1 No SMTP service here"))]
    async with lab(healthy_zone(), hosts, tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert found["banner_refused"] is Severity.ERROR
    assert "no_starttls" not in found  # nothing after the greeting is judged


async def test_reverse_dns_and_greeting_name(tmp_path: Path, ca: trustme.CA) -> None:
    records = healthy_zone(
        {
            "example.test.": [("MX", 10, f"{MX}."), ("MX", 20, "mx2.example.test.")],
            "mx2.example.test.": [("A", "127.0.0.2")],
            # 127.0.0.1 points at a name without an address: not forward-confirmed.
            "1.0.0.127.in-addr.arpa.": [("PTR", "ghost.example.test.")],
            "ghost.example.test.": [("TXT", "exists")],
        }
    )
    hosts = [
        host_with(ca, name="smtp.elsewhere.test"),
        host_with(ca, name="mx2.example.test", ip="127.0.0.2", cert_names=("mx2.example.test",)),
    ]
    async with lab(records, hosts, tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    by_address = {(f.id, f.address): f.severity for f in result.findings if f.address is not None}
    assert by_address[("fcrdns_failed", "127.0.0.1")] is Severity.NOTE
    assert by_address[("banner_name_mismatch", "127.0.0.1")] is Severity.NOTE
    assert by_address[("ptr_missing", "127.0.0.2")] is Severity.NOTE
    assert ("banner_name_mismatch", "127.0.0.2") not in by_address
    first, second = result.hosts
    assert first.addresses[0].ptr == ("ghost.example.test",)
    assert first.addresses[0].fcrdns is False and first.addresses[0].banner_matches is False
    assert second.addresses[0].ptr == () and second.addresses[0].banner_matches is True


async def test_old_server_without_ehlo(tmp_path: Path, ca: trustme.CA) -> None:
    def replies(line: bytes) -> str | None:
        verb = line[:4].upper()
        return {
            b"EHLO": "502 5.5.1 Command not implemented",
            b"HELO": f"250 {MX}",
            b"MAIL": "250 Ok",
            b"RCPT": RELAY_DENIED,
            b"RSET": "250 Ok",
        }.get(verb, "500 What?")

    hosts = [MailHost(MX, "127.0.0.1", script=banner_then(f"220 {MX} SMTP", replies))]
    async with lab(healthy_zone(), hosts, tmp_path, ca) as env:
        result = await diagnose("example.test", env.options())
    found = ids(result)
    assert found["ehlo_refused"] is Severity.WARNING
    assert "no_starttls" not in found
    report = result.hosts[0].addresses[0]
    assert report.relay is RelayResult.REFUSED and report.null_sender is True


async def test_overall_deadline_keeps_partial_results(tmp_path: Path, ca: trustme.CA) -> None:
    async def silent_after_greeting(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(f"220 {MX} ESMTP\r\n".encode())
        await writer.drain()
        await reader.read()  # never answers EHLO

    hosts = [MailHost(MX, "127.0.0.1", script=silent_after_greeting)]
    async with lab(healthy_zone(), hosts, tmp_path, ca) as env:
        started = time.monotonic()
        result = await diagnose("example.test", env.options(timeout=10.0, deadline=1.0))
        elapsed = time.monotonic() - started
    assert elapsed < 5
    assert not result.complete
    assert ids(result)["deadline_reached"] is Severity.WARNING
    report = result.hosts[0].addresses[0]
    assert report.banner is not None and not report.finished
    assert [s.name for s in report.steps] == ["connect", "banner"]
    assert result.spf is not None and result.spf.records  # the DNS part is kept


async def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        await diagnose("not a domain", DiagnoseOptions(helo="x.test"))
    with pytest.raises(InputError):
        await diagnose("[127.0.0.1]", DiagnoseOptions(helo="x.test"))
    with pytest.raises(InputError):
        await diagnose(
            "example.test",
            DiagnoseOptions(helo="x.test", tls_ca_file=str(tmp_path / "missing.pem")),
        )


# -- pure parts ----------------------------------------------------------------------------


def test_every_finding_used_in_code_is_in_the_data() -> None:
    catalogue = findings_catalogue()
    used: set[str] = set()
    for module in ("diagnose/domain.py", "diagnose/preflight.py"):
        source = (Path(__file__).parent.parent / "prober" / module).read_text()
        used |= set(re.findall(r'(?:finding|add)\(\s*"([a-z0-9_]+)"', source))
        used |= set(re.findall(r'MXStatus\.\w+: "([a-z0-9_]+)"', source))
    assert used, "no finding ids found in the sources"
    assert used <= catalogue.keys(), used - catalogue.keys()
    assert catalogue.keys() <= used, f"never raised: {catalogue.keys() - used}"


def test_finding_placeholders_must_be_filled() -> None:
    with pytest.raises(KeyError):
        finding("tls_cert_expiring", "en")
    made = finding("spf_multiple", "it", count=3)
    assert "3 record SPF" in made.meaning
    assert isinstance(made, Finding) and made.to_dict()["params"] == {"count": "3"}
    assert finding("spf_missing", "xx").lang == "en"


def test_spf_analysis() -> None:
    good = analyse_spf(
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24 a:mail.example.test/24//64 "
        "include:_spf.example.test exists:%{i}.x.example.test ~all"
    )
    assert good.problems == () and good.lookups == 5 and good.all_qualifier == "~"
    redirect = analyse_spf("v=spf1 redirect=_spf.example.test")
    assert redirect.redirect == "_spf.example.test" and redirect.lookups == 1
    bad = analyse_spf("v=spf1 ip4:2001:db8::1 include all:x -a:/24 +redirect=x mx/40 ip6")
    assert len(bad.problems) == 7


def test_certificate_reading_and_names(ca: trustme.CA) -> None:
    leaf = issue(ca, MX, "*.wild.example.test", "192.0.2.7")
    info = parse_certificate(leaf_der(leaf))
    assert isinstance(info, CertInfo)
    assert info.names == (MX, "*.wild.example.test", "192.0.2.7")
    assert not info.self_signed and info.days_left > 300
    assert name_matches("MX1.Example.Test.", info)
    assert name_matches("a.wild.example.test", info)
    assert not name_matches("a.b.wild.example.test", info)
    assert not name_matches("wild.example.test", info)
    assert name_matches("192.0.2.7", info) and not name_matches("192.0.2.8", info)


def test_tlsa_matching(ca: trustme.CA) -> None:
    leaf = issue(ca, MX)
    der = leaf_der(leaf)
    assert tlsa_matches(der, 3, 1, 1, bytes.fromhex(spki_sha256(leaf))).matched is True
    assert tlsa_matches(der, 3, 0, 1, bytes.fromhex(cert_sha256(leaf))).matched is True
    assert tlsa_matches(der, 1, 0, 0, der).matched is True
    assert tlsa_matches(der, 3, 1, 2, b"\x00" * 64).matched is False
    assert tlsa_matches(der, 2, 0, 1, b"\x00" * 32).matched is None
    assert tlsa_matches(der, 3, 7, 1, b"").matched is False
