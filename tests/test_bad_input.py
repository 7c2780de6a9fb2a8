"""Bad input is refused with a precise reason before any packet leaves.

Each address is probed end to end in a loopback world; the world's DNS server must have
seen no query and its mail hosts no connection.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from prober.address import parse_address
from prober.engine.session import probe
from prober.engine.verdict import Reason, Verdict
from prober.errors import AddressError, InputError
from prober.results import ProbeOptions, ProbeResult
from prober.testing.dnsserver import RecordSpec
from prober.testing.world import MailHandler, MailHost
from tests.conftest import options_for, world_of

ZONE: dict[str, list[RecordSpec]] = {
    "example.test.": [("MX", 10, "mx1.example.test.")],
    "mx1.example.test.": [("A", "127.0.0.2")],
}


class Watch:
    """A mail host that counts connections and never answers anything useful."""

    def __init__(self) -> None:
        self.connections = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"554 5.7.1 this host should never have been contacted\r\n")
        await writer.drain()


async def probe_untouched(address: str, **changes: object) -> ProbeResult:
    """Probe ``address`` and prove nothing left the machine: no DNS query, no connection."""
    mx, literal = Watch(), Watch()
    hosts = [
        MailHost("mx1.example.test", "127.0.0.2", script=mx),
        MailHost("literal.test", "127.0.0.1", script=literal),
    ]
    async with world_of(ZONE, hosts) as world:
        result = await probe(address, options_for(world, **changes), rng=random.Random(1))
        assert world.dns.queries == []
    assert mx.connections == 0 and literal.connections == 0
    # At most a refusal by the guard is recorded; no step says a connection opened.
    assert all(a.outcome == "guard" for a in result.attempts)
    assert not any(s.event == "connected" for a in result.attempts for s in a.steps)
    return result


REFUSED = [
    # Command smuggling and control characters.
    ("alice@example.test\r\nDATA", "carriage return"),
    ("alice@example.test\nRCPT TO:<victim@example.test>", "line feed"),
    ("alice\x00@example.test", "NUL byte"),
    ("alice\x1b[31m@example.test", "U+001B"),
    ("alice\x7f@example.test", "U+007F"),
    ("alice\x85@example.test", "U+0085"),
    ("alice@example.test\u2028MAIL FROM:<x@y.test>", "U+2028"),
    ("alice@example.test\u2029", "U+2029"),
    ("alice\t@example.test", "U+0009"),
    # Characters that would close the path or split the command.
    ("ali>ce@example.test", "'>'"),
    ("<alice@example.test>", "'<'"),
    ("alice@example.test> NOTIFY=NEVER", "'>'"),
    ("ali ce@example.test", "a space"),
    ('"ali ce"@example.test', "a space"),
    # Lengths.
    ("a" * 65 + "@example.test", "65 octets long, 1 more than the 64"),
    ("alice@" + ("b" * 62 + ".") * 4 + "test", "the limit is 254"),
    ("alice@" + "b" * 64 + ".test", "so many characters"),
    ("x" * 1_000_000 + "@example.test", "1000013 characters long"),
    # Empty and doubled parts.
    ("", "No address was given"),
    ("   ", "No address was given"),
    ("alice", "has no '@'"),
    ("@example.test", "local part (before the '@') is empty"),
    ("alice@", "domain (after the '@') is empty"),
    ("alice@@example.test", "invalid characters: '@'"),
    ("a@b@example.test", "invalid characters: '@'"),
    ("alice@.example.test", "period"),
    ("alice..b@example.test", "two periods in a row"),
    (".alice@example.test", "cannot start with a period"),
    ("alice@example..test", "two periods in a row"),
    # Invalid domain names and IDN labels.
    ("alice@-bad-.test", "hyphen"),
    ("alice@exa_mple.test", "invalid characters: '_'"),
    ("alice@xn--abc.test", "not valid IDNA"),
    ("alice@xn--.test", "hyphen"),
    ("alice@localhost", "should have a period"),
    ("alice@[300.1.1.1]", "not valid"),
    ("alice@[IPv6:::g]", "not valid"),
    # Invisible and direction-changing characters, and input that was not text.
    ("ali\u202ece@example.test", "RIGHT-TO-LEFT OVERRIDE"),
    ("ali\u200bce@example.test", "ZERO WIDTH SPACE"),
    ("\ufeffalice@example.test", "ZERO WIDTH NO-BREAK SPACE"),
    ("ali\udcffce@example.test", "surrogate"),
]


@pytest.mark.parametrize(("address", "fragment"), REFUSED, ids=range(len(REFUSED)))
async def test_refused_before_any_packet(address: str, fragment: str) -> None:
    result = await probe_untouched(address)
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.reason is Reason.SYNTAX
    assert result.attempts == ()
    assert result.error is not None and fragment in result.error, result.error
    # The reason is shown to people: no raw control characters in it.
    assert result.error.isprintable()
    assert result.explanation is not None


def test_reasons_are_sentences() -> None:
    for address, _fragment in REFUSED:
        with pytest.raises(AddressError) as caught:
            parse_address(address)
        reason = caught.value.reason
        assert reason[0].isupper() and reason.endswith("."), reason


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("user@[127.0.0.1]", "127.0.0.1 is a loopback address"),
        ("user@[IPv6:::ffff:127.0.0.1]", "embeds 127.0.0.1"),
        ("user@[IPv6:::1]", "loopback"),
        ("user@[10.1.2.3]", "private-network"),
        ("user@[169.254.169.254]", "link-local"),
        ("user@[IPv6:2002:7f00:1::1]", "embeds 127.0.0.1"),
    ],
)
async def test_ip_literal_refused_by_the_guard(address: str, fragment: str) -> None:
    result = await probe_untouched(address, allow_private=False)
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert result.verdict is Verdict.UNKNOWN
    assert result.explanation is not None and fragment in result.explanation.text
    assert "--allow-private" in result.explanation.text


@pytest.mark.parametrize(
    ("address", "fragment"),
    [("user@[0.0.0.0]", "unspecified"), ("user@[224.0.0.1]", "multicast")],
)
async def test_never_a_mail_server_even_with_allow_private(address: str, fragment: str) -> None:
    result = await probe_untouched(address, allow_private=True)
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert result.explanation is not None and fragment in result.explanation.text


async def test_ip_literal_allowed_with_allow_private_connects_there() -> None:
    # The positive path, so the refusals above are known to be the guard's doing.
    handler = MailHandler(default="250 2.1.5 Ok")
    hosts = [MailHost("literal.test", "127.0.0.1", handler)]
    async with world_of(ZONE, hosts) as world:
        result = await probe("user@[127.0.0.1]", options_for(world), rng=random.Random(1))
        assert world.dns.queries == []
    assert result.verdict is Verdict.DELIVERABLE
    assert "RCPT user@[127.0.0.1]" in handler.commands


# -- lookalike characters: probed, but flagged --------------------------------------------


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("p\u0430ypal@example.test", "mixes Latin and Cyrillic"),  # Cyrillic а
        ("\u03bfscar@example.test", "mixes Greek and Latin"),  # Greek ο
        ("alice@\u0430pple.test", "domain mixes Cyrillic and Latin"),
        ("alice@xn--pple-43d.test", "domain mixes Cyrillic and Latin"),  # the same, as A-label
        ("\U0001d41alice@example.test", "MATHEMATICAL BOLD SMALL A"),
        ("alice@\uff45xample.test", "FULLWIDTH LATIN SMALL LETTER E"),
    ],
)
def test_lookalikes_are_accepted_with_a_warning(address: str, fragment: str) -> None:
    parsed = parse_address(address)
    assert any(fragment in w for w in parsed.warnings), parsed.warnings


@pytest.mark.parametrize(
    "address", ["josé@example.test", "田中@example.test", "ωμέγα@example.test", "tanaka田中@a.test"]
)
def test_single_script_and_non_confusable_mixes_are_not_flagged(address: str) -> None:
    assert parse_address(address).warnings == ()


async def test_lookalike_warning_reaches_the_result() -> None:
    handler = MailHandler(default="550 5.1.1 No such user")
    hosts = [MailHost("mx1.example.test", "127.0.0.2", handler)]
    async with world_of(ZONE, hosts) as world:
        result = await probe("p\u0430ypal@example.test", options_for(world), rng=random.Random(1))
    assert result.reason is Reason.MAILBOX_UNKNOWN  # probed as given
    assert result.warnings and "Cyrillic" in result.warnings[0]
    assert result.to_dict()["warnings"] == list(result.warnings)


# -- options that go into command lines -------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"helo": "client.test\r\nDATA"},
        {"helo": "client test"},
        {"helo": "x" * 256},
        {"mail_from": "a@b.test>\r\nRCPT TO:<c@d.test>"},
        {"mail_from": "a@b.test> SIZE=999"},
        {"mail_from": "a\x00@b.test"},
        {"mail_from": "a" * 250 + "@b.test"},
    ],
)
def test_options_refused_when_made(changes: dict[str, str]) -> None:
    with pytest.raises(InputError, match="HELO|sender"):
        ProbeOptions(**changes)  # type: ignore[arg-type]


def test_ordinary_options_pass() -> None:
    ProbeOptions(helo="[192.0.2.1]", mail_from="")
    ProbeOptions(helo="mx-probe_1.client.test", mail_from="bob@client.test")
