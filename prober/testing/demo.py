"""``probe demo``: the embedded loopback world, for trying prober with no internet.

A handful of domains under the reserved ``.test`` top-level domain, served by a DNS
server and mail servers on 127.0.0.0/8, each showing one situation support desks meet.
"""

from __future__ import annotations

from dataclasses import replace

from prober.resolve.mx import DNSConfig
from prober.results import ProbeOptions
from prober.testing.dnsserver import RecordSpec
from prober.testing.world import MailHandler, MailHost, World, banner_then

# The addresses shown by a plain ``probe demo``, with what each demonstrates.
ADDRESSES: tuple[tuple[str, str], ...] = (
    ("alice@example.test", "a mailbox that exists"),
    ("nobody@example.test", "a mailbox that does not exist (550 5.1.1)"),
    ("full@example.test", "a mailbox over quota (552 5.2.2)"),
    ("gone@example.test", "a disabled mailbox (550 5.2.1)"),
    ("anyone@catchall.test", "a domain that accepts every address"),
    ("sam@greylist.test", "greylisting (450 4.7.1, try again later)"),
    ("bob@blocked.test", "a server that refuses us at the greeting (554, blocklist)"),
    ("eve@backup.test", "the first MX refuses connections; the backup answers"),
    ("joe@down.test", "no MX host accepts connections (111)"),
    ("info@nullmx.test", "a domain that accepts no mail (null MX)"),
    ("x@no-such-domain.test", "a domain that does not exist"),
    ("not an address", "bad syntax: nothing is sent"),
)

_RECORDS: dict[str, list[RecordSpec]] = {
    "example.test.": [("MX", 10, "mx1.example.test."), ("MX", 20, "mx2.example.test.")],
    "mx1.example.test.": [("A", "127.0.0.2")],
    "mx2.example.test.": [("A", "127.0.0.3")],
    "catchall.test.": [("MX", 10, "mx.catchall.test.")],
    "mx.catchall.test.": [("A", "127.0.0.4")],
    "greylist.test.": [("MX", 10, "mx.greylist.test.")],
    "mx.greylist.test.": [("A", "127.0.0.5")],
    "blocked.test.": [("MX", 10, "mx.blocked.test.")],
    "mx.blocked.test.": [("A", "127.0.0.6")],
    "backup.test.": [("MX", 10, "primary.backup.test."), ("MX", 50, "secondary.backup.test.")],
    "primary.backup.test.": [("A", "127.0.0.7")],
    "secondary.backup.test.": [("A", "127.0.0.8")],
    "down.test.": [("MX", 10, "mx.down.test.")],
    "mx.down.test.": [("A", "127.0.0.9")],
    "nullmx.test.": [("MX", 0, ".")],
}


def _hosts() -> list[MailHost]:
    example = MailHandler(
        rcpt={
            "alice@example.test": "250 2.1.5 Recipient OK",
            "full@example.test": "552 5.2.2 <full@example.test>: Mailbox full, quota exceeded",
            "gone@example.test": "550 5.2.1 <gone@example.test>: Mailbox disabled",
        },
        default="550 5.1.1 <{}>: Recipient address rejected: User unknown in local recipient table",
    )
    example.rule = lambda address: (
        None if address.lower() in example.rcpt else example.default.format(address)
    )
    greylist = MailHandler(
        default="450 4.7.1 <{}>: Recipient address rejected: Greylisted, try again in 300 seconds"
    )
    greylist.rule = lambda address: greylist.default.format(address)
    backup = MailHandler(rcpt={"eve@backup.test": "250 2.1.5 OK"})
    return [
        MailHost("mx1.example.test", "127.0.0.2", example),
        MailHost("mx2.example.test", "127.0.0.3", example),
        MailHost("mx.catchall.test", "127.0.0.4", MailHandler(default="250 2.1.5 OK")),
        MailHost("mx.greylist.test", "127.0.0.5", greylist),
        MailHost(
            "mx.blocked.test",
            "127.0.0.6",
            script=banner_then(
                "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using "
                "zen.spamhaus.org; https://www.spamhaus.org/query/ip/127.0.0.1"
            ),
        ),
        MailHost("primary.backup.test", "127.0.0.7", closed=True),
        MailHost("secondary.backup.test", "127.0.0.8", backup),
        MailHost("mx.down.test", "127.0.0.9", closed=True),
    ]


def demo_world() -> World:
    """A fresh demo world; start it with ``async with``."""
    return World(_RECORDS, _hosts())


def demo_options(world: World, base: ProbeOptions) -> ProbeOptions:
    """``base`` pointed at the running demo world (its DNS, its port, loopback allowed)."""
    return replace(
        base,
        port=world.port,
        allow_private=True,
        dns=DNSConfig(servers=(world.dns_address,), timeout=2.0),
        helo=base.helo or "probe.demo.test",
        mail_from=base.mail_from if base.mail_from is not None else "check@demo.test",
        connect_timeout=min(base.connect_timeout, 2.0),
        deadline=min(base.deadline, 20.0),
    )
