"""Probing one address end to end, against real aiosmtpd servers and DNS on loopback."""

from __future__ import annotations

import pytest

from prober.engine.verdict import Reason, Verdict
from prober.explanation.catalogue import Category, Stage
from prober.testing.world import MailHandler, MailHost, banner_then
from tests.conftest import probe_in, world_of

ZONE = {
    "example.test.": [("MX", 10, "mx1.example.test."), ("MX", 20, "mx2.example.test.")],
    "mx1.example.test.": [("A", "127.0.0.2")],
    "mx2.example.test.": [("A", "127.0.0.3")],
}


async def test_accepted_mailbox_is_deliverable() -> None:
    mail = MailHandler(rcpt={"alice@example.test": "250 2.1.5 Ok"})
    hosts = [MailHost("mx1.example.test", "127.0.0.2", mail)]
    async with world_of(ZONE, hosts) as world:
        result = await probe_in(world, "alice@example.test")
    assert result.verdict is Verdict.DELIVERABLE
    assert result.reason is Reason.ACCEPTED
    assert result.catch_all is False
    assert result.explanation is not None and result.explanation.category is Category.ACCEPTED
    # Never DATA.
    assert mail.commands[0].startswith("EHLO probe.client.test")
    # The target first; the made-up address only once the target is accepted, in the
    # session's next transaction.
    assert mail.commands[1:3] == ["MAIL check@client.test", "RCPT alice@example.test"]
    assert mail.commands[3:5] == ["RSET", "MAIL check@client.test"]
    assert mail.commands[5].startswith("RCPT prober-")
    assert mail.commands[6:] == ["QUIT"]
    stages = [s.stage for s in result.attempts[0].steps]
    assert stages[:3] == [Stage.CONNECT, Stage.BANNER, Stage.EHLO]
    assert all(s.explanation.meaning for s in result.attempts[0].steps)


async def test_unknown_mailbox_is_undeliverable() -> None:
    mail = MailHandler(
        default="550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown"
    )
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "bob@example.test")
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.reason is Reason.MAILBOX_UNKNOWN
    assert result.explanation is not None and result.explanation.permanent is True
    # The first MX answered definitively: the second was never asked.
    assert len(result.attempts) == 1
    # Refused: no made-up catch-all recipient is added to the server's error count.
    assert sum(1 for c in mail.commands if c.startswith("RCPT")) == 1


async def test_catch_all_domain_is_risky() -> None:
    mail = MailHandler(default="250 2.1.5 Ok")
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "anyone@example.test")
    assert result.verdict is Verdict.RISKY
    assert result.reason is Reason.CATCH_ALL
    assert result.catch_all is True


async def test_catch_all_check_can_be_skipped() -> None:
    mail = MailHandler(default="250 2.1.5 Ok")
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "anyone@example.test", catch_all_check=False)
    assert result.verdict is Verdict.DELIVERABLE
    assert result.catch_all is None
    assert sum(1 for c in mail.commands if c.startswith("RCPT")) == 1


async def test_blocklist_550_is_not_a_missing_mailbox() -> None:
    text = "550 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"
    mail = MailHandler(default=text)
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "carol@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.BLOCKED
    assert result.explanation is not None
    assert result.explanation.category is Category.BLOCKED_IP_REPUTATION


async def test_mailbox_full_is_risky() -> None:
    mail = MailHandler(default="552 5.2.2 Mailbox full")
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "dave@example.test")
    assert result.verdict is Verdict.RISKY
    assert result.reason is Reason.MAILBOX_FULL


async def test_greylisting_gives_unknown_with_retry_hint() -> None:
    mail = MailHandler(
        default="450 4.2.0 <erin@example.test>: Recipient address rejected: Greylisted, "
        "see http://postgrey.schweikert.ch/help/example.test.html; try again in 300 seconds"
    )
    hosts = [MailHost("mx1.example.test", "127.0.0.2", mail)]
    async with world_of(ZONE, hosts) as world:
        result = await probe_in(world, "erin@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.GREYLISTED
    assert result.retry_after == 300


async def test_cannot_verify_252_is_risky() -> None:
    mail = MailHandler(rcpt={"frank@example.test": "252 2.1.5 Cannot VRFY user, but will accept"})
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "frank@example.test")
    assert result.verdict is Verdict.RISKY
    assert result.reason is Reason.CANNOT_VERIFY


async def test_refused_connection_moves_to_next_mx_and_reports_111() -> None:
    mail = MailHandler(rcpt={"gina@example.test": "250 2.1.5 Ok"})
    hosts = [
        MailHost("mx1.example.test", "127.0.0.2", closed=True),
        MailHost("mx2.example.test", "127.0.0.3", mail),
    ]
    async with world_of(ZONE, hosts) as world:
        result = await probe_in(world, "gina@example.test")
    assert result.verdict is Verdict.DELIVERABLE
    first = result.attempts[0]
    assert first.host == "mx1.example.test" and first.outcome == "refused"
    assert first.steps[0].explanation.code == 111
    assert result.attempts[1].host == "mx2.example.test"


async def test_all_mx_refused_is_unknown_no_connection() -> None:
    hosts = [
        MailHost("mx1.example.test", "127.0.0.2", closed=True),
        MailHost("mx2.example.test", "127.0.0.3", closed=True),
    ]
    async with world_of(ZONE, hosts) as world:
        result = await probe_in(world, "hank@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.NO_CONNECTION
    assert "probe preflight" in result.summary
    assert [a.outcome for a in result.attempts] == ["refused", "refused"]


async def test_greeting_refusal_then_backup_mx() -> None:
    mail = MailHandler(rcpt={"ivy@example.test": "550 5.1.1 unknown"})
    hosts = [
        MailHost(
            "mx1.example.test", "127.0.0.2", script=banner_then("421 4.3.2 Too busy, try later")
        ),
        MailHost("mx2.example.test", "127.0.0.3", mail),
    ]
    async with world_of(ZONE, hosts) as world:
        result = await probe_in(world, "ivy@example.test")
    assert result.reason is Reason.MAILBOX_UNKNOWN
    assert result.attempts[0].outcome == "banner_refused"


async def test_blocked_at_greeting_everywhere_is_unknown_blocked() -> None:
    script = banner_then("554 5.7.1 Your IP is listed at zen.spamhaus.org; go away")
    hosts = [
        MailHost("mx1.example.test", "127.0.0.2", script=script),
        MailHost("mx2.example.test", "127.0.0.3", script=script),
    ]
    async with world_of(ZONE, hosts) as world:
        result = await probe_in(world, "jo@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.BLOCKED


async def test_sender_refused_is_unknown() -> None:
    mail = MailHandler(mail="553 5.1.8 Sender address rejected: Domain not found")
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "kim@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.SENDER_REFUSED
    # RCPTs pipelined behind the refused MAIL are not mistaken for answers.
    assert result.explanation is not None and result.explanation.code == 553


async def test_lockstep_without_pipelining() -> None:
    mail = MailHandler(rcpt={"lee@example.test": "550 5.1.1 no"}, pipelining=False)
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "lee@example.test")
    assert result.reason is Reason.MAILBOX_UNKNOWN
    # Refused: no catch-all RCPT was needed in lock-step.
    assert sum(1 for c in mail.commands if c.startswith("RCPT")) == 1


@pytest.mark.parametrize(
    ("zone", "reason"),
    [
        ({"nullmx.test.": [("MX", 0, ".")]}, Reason.NULL_MX),
        ({"other.test.": [("A", "127.0.0.2")]}, Reason.NO_DOMAIN),
        ({"nullmx.test.": [("TXT", "no mail here")]}, Reason.NO_MAIL_HOSTS),
    ],
)
async def test_dns_outcomes_need_no_connection(zone: dict, reason: Reason) -> None:
    async with world_of(zone, []) as world:
        result = await probe_in(world, "x@nullmx.test")
    assert result.reason is reason
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.attempts == ()
    assert result.explanation is not None and result.explanation.meaning


async def test_syntax_error_never_touches_network() -> None:
    async with world_of(ZONE, []) as world:
        result = await probe_in(world, "a@b.c\r\nDATA")
        assert world.dns.queries == []
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.reason is Reason.SYNTAX
    assert result.error is not None and "carriage return" in result.error


async def test_private_mx_refused_without_allow_private() -> None:
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", MailHandler())]) as world:
        result = await probe_in(world, "x@example.test", allow_private=False)
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert all(a.outcome == "guard" for a in result.attempts)


async def test_relay_denied_by_the_domains_own_mx() -> None:
    mail = MailHandler(default="554 5.7.1 <x@example.test>: Relay access denied")
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        result = await probe_in(world, "x@example.test")
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.reason is Reason.RELAY_DENIED
    assert result.explanation is not None
    assert result.explanation.who == "recipient_admin"
