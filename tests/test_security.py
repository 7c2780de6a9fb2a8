"""Security properties: the guard on every address, no command injection, never DATA.

- The network guard judges every address the prober would connect to, after DNS
  resolution, whatever form hides it (IPv4-mapped, 6to4, NAT64, IPv4-compatible).
- No input can inject a command: ``check_command`` refuses CR, LF, NUL and other
  controls at the wire boundary even when a caller bypasses ``parse_address``.
- DATA is never sent: every hostile scenario is run again, all at once, and the servers'
  own records are read for DATA, BDAT or anything that looks like message content.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest

from prober.engine.session import probe
from prober.engine.verdict import Reason, Verdict
from prober.errors import CommandError
from prober.guard import Guard
from prober.smtp.connection import MAX_COMMAND, Connection, check_command
from prober.smtp.dialogue import (
    Answered,
    Dialogue,
    Finish,
    Plan,
    Read,
    Ready,
    Send,
    UpgradeTLS,
)
from prober.smtp.reply import printable
from prober.testing.dnsserver import RecordSpec
from prober.testing.world import MailHandler, MailHost, ScriptedServer, World
from tests.conftest import options_for, world_of
from tests.test_hostile import (
    CASES,
    Certs,
    assert_no_message_content,
    make_certs,
    run_case,
)

MX1 = "mx1.example.test"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Should the guard ever let something through, no test here may leave loopback."""
    original = Connection.open.__func__  # type: ignore[attr-defined]

    async def guarded(cls: type[Connection], /, host: str, port: int, **kw: object) -> Connection:
        assert host.startswith(("127.", "::1", "::ffff:127.")), f"connect to {host}"
        return await original(cls, host, port, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(Connection, "open", classmethod(guarded))
    yield


# -- the guard ----------------------------------------------------------------------------

REFUSED_BY_DEFAULT = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "embeds 127.0.0.1"),
    ("::ffff:10.0.0.1", "embeds 10.0.0.1"),
    ("::ffff:169.254.169.254", "embeds 169.254.169.254"),
    ("2002:7f00:1::1", "embeds 127.0.0.1"),  # 6to4
    ("2002:c0a8:101::1", "embeds 192.168.1.1"),
    ("64:ff9b::7f00:1", "embeds 127.0.0.1"),  # NAT64 well-known prefix
    ("::127.0.0.1", "embeds 127.0.0.1"),  # IPv4-compatible (deprecated)
    ("10.0.0.1", "private-network"),
    ("172.16.0.1", "private-network"),
    ("192.168.0.1", "private-network"),
    ("169.254.169.254", "link-local"),  # cloud metadata endpoints live here
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private-network"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("192.0.2.1", "documentation"),
    ("2001:db8::25", "documentation"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("240.0.0.1", "reserved"),
]
NEVER = [
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("0.1.2.3", "this network"),
    ("255.255.255.255", "broadcast"),
    ("224.0.0.25", "multicast"),
    ("ff02::1", "multicast"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("::ffff:224.0.0.1", "multicast"),
]
NOT_AN_ADDRESS = ["localhost", "0177.0.0.1", "2130706433", "127.1", " 127.0.0.1", "0x7f.0.0.1", ""]


@pytest.mark.parametrize(("address", "kind"), REFUSED_BY_DEFAULT)
def test_guard_refuses_internal_addresses_by_default(address: str, kind: str) -> None:
    why = Guard().refusal(address)
    assert why is not None and kind in why, why
    assert Guard(allow_private=True).refusal(address) is None


@pytest.mark.parametrize(("address", "kind"), NEVER)
def test_guard_refuses_non_unicast_even_when_private_is_allowed(address: str, kind: str) -> None:
    for guard in (Guard(), Guard(allow_private=True)):
        why = guard.refusal(address)
        assert why is not None and kind in why and "never a mail server" in why, why


@pytest.mark.parametrize("text", NOT_AN_ADDRESS)
def test_guard_refuses_what_is_not_an_ip_address(text: str) -> None:
    # Octal, integer and short forms that some resolvers accept never reach connect().
    for guard in (Guard(), Guard(allow_private=True)):
        why = guard.refusal(text)
        assert why is not None and "not an IP address" in why


@pytest.mark.parametrize("address", ["192.0.2.1", "2001:db8::1"])
def test_documentation_ranges_are_the_only_nonloopback_examples_here(address: str) -> None:
    # Public addresses pass the guard; the suite only ever names documentation ranges,
    # which the guard refuses by default, so no test can aim at a real host.
    assert Guard().refusal(address) is not None


async def test_guard_applies_to_every_resolved_address_of_every_mx() -> None:
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, f"{MX1}."), ("MX", 20, "mx2.example.test.")],
        f"{MX1}.": [("A", "127.0.0.2"), ("AAAA", "::ffff:127.0.0.2")],
        "mx2.example.test.": [("AAAA", "2002:7f00:3::1"), ("AAAA", "64:ff9b::7f00:3")],
    }
    handler = MailHandler(default="250 2.1.5 Ok")
    hosts = [MailHost(MX1, "127.0.0.2", handler), MailHost("mx2.example.test", "127.0.0.3")]
    async with world_of(zone, hosts) as world:
        result = await probe(
            "alice@example.test", options_for(world, allow_private=False), rng=random.Random(1)
        )
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert sorted(a.address for a in result.attempts) == sorted(
        ["127.0.0.2", "::ffff:127.0.0.2", "2002:7f00:3::1", "64:ff9b::7f00:3"]
    )
    assert all(a.outcome == "guard" for a in result.attempts)
    assert handler.commands == []


async def test_guard_applies_to_an_implicit_mx() -> None:
    zone: dict[str, list[RecordSpec]] = {"example.test.": [("A", "127.0.0.2")]}
    handler = MailHandler()
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", handler)]) as world:
        result = await probe(
            "alice@example.test", options_for(world, allow_private=False), rng=random.Random(1)
        )
    assert result.reason is Reason.PRIVATE_ADDRESS
    assert handler.commands == []


# -- command injection at the wire boundary ---------------------------------------------------

HOSTILE_LINES = [
    "RCPT TO:<a@b.test>\r\nDATA",
    "RCPT TO:<a@b.test>\nDATA",
    "RCPT TO:<a@b.test>\rDATA",
    "RCPT TO:<a@b.test\x00>",
    "RCPT TO:<a@b.test>\u2028DATA",
    "RCPT TO:<a@b.test>\u0085DATA",
    "RCPT TO:<a@b.test>\x7f",
    "RCPT TO:<a@b.test>\x1b[2J",
]


@pytest.mark.parametrize("line", HOSTILE_LINES)
def test_check_command_refuses_line_breaks_and_controls(line: str) -> None:
    with pytest.raises(CommandError, match="control character"):
        check_command(line, utf8=True)


def test_check_command_other_limits() -> None:
    with pytest.raises(CommandError, match="non-ASCII"):
        check_command("RCPT TO:<jos\u00e9@b.test>")
    assert check_command("RCPT TO:<jos\u00e9@b.test>", utf8=True).endswith(b"\r\n")
    with pytest.raises(CommandError, match="over the 512"):
        check_command("RCPT TO:<" + "a" * MAX_COMMAND + ">")


class Recorder:
    """A loopback server that greets, then records every byte it receives."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx1.example.test ESMTP\r\n")
        await writer.drain()
        while chunk := await reader.read(4096):
            self.data += chunk
            for line in bytes(chunk).splitlines():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"MAIL", b"RCPT", b"RSET"):
                    writer.write(
                        b"250-mx1\r\n250 PIPELINING\r\n" if verb == b"EHLO" else b"250 ok\r\n"
                    )
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
            await writer.drain()


async def test_connection_send_writes_nothing_of_a_batch_with_a_hostile_line() -> None:
    recorder = Recorder()
    server = ScriptedServer(recorder)
    port = await server.start("127.0.0.2", 0)
    try:
        conn = await Connection.open("127.0.0.2", port, timeout=2.0)
        try:
            assert (await conn.read_reply(2.0)).code == 220
            with pytest.raises(CommandError):
                await conn.send(["MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>\r\nDATA"], 2.0)
            await conn.send(["QUIT"], 2.0)
            assert (await conn.read_reply(2.0)).code == 221
        finally:
            await conn.close()
        await asyncio.sleep(0.05)
    finally:
        await server.close()
    assert bytes(recorder.data) == b"QUIT\r\n"  # not even the valid MAIL of the refused batch


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipients", ("victim@example.test>\r\nDATA\r\nSubject: hi",)),
        ("recipients", ("victim@example.test\x00",)),
        ("mail_from", "a@b.test>\r\nDATA"),
        ("helo", "client.test\r\nDATA"),
    ],
)
async def test_dialogue_with_a_hostile_plan_cannot_inject(field: str, value: object) -> None:
    """Drive the dialogue over a real connection as the session does, bypassing every
    earlier check: the boundary still refuses, and the server sees no DATA."""
    plan_fields: dict[str, object] = {"helo": "client.test", "mail_from": "check@client.test"}
    recipients: tuple[str, ...] = ("alice@example.test",)
    if field == "recipients":
        recipients = value  # type: ignore[assignment]
    else:
        plan_fields[field] = value
    plan = Plan(**plan_fields)  # type: ignore[arg-type]
    recorder = Recorder()
    server = ScriptedServer(recorder)
    port = await server.start("127.0.0.2", 0)
    refused = False
    try:
        conn = await Connection.open("127.0.0.2", port, timeout=2.0)
        dialogue = Dialogue(plan)
        action = dialogue.start()
        try:
            while not isinstance(action, Finish):
                assert not isinstance(action, UpgradeTLS)
                if isinstance(action, Ready):
                    action = dialogue.transaction(recipients)
                    continue
                if isinstance(action, Answered):
                    action = dialogue.quit()
                    continue
                if isinstance(action, Read):
                    next_action = dialogue.receive(await conn.read_reply(2.0, "", 1))
                else:
                    assert isinstance(action, Send)
                    await conn.send([c.line for c in action.commands], 2.0)
                    next_action = None
                    for command in action.commands:
                        reply = await conn.read_reply(2.0, command.line, dialogue.owed)
                        next_action = dialogue.receive(reply)
                assert next_action is not None
                action = next_action
        except CommandError:
            refused = True
        finally:
            await conn.close()
        await asyncio.sleep(0.05)
    finally:
        await server.close()
    assert refused
    for line in bytes(recorder.data).split(b"\r\n"):
        assert not line.upper().startswith((b"DATA", b"BDAT", b"SUBJECT")), line


async def test_starttls_reply_with_injected_plaintext_abandons_the_upgrade() -> None:
    """The classic STARTTLS injection: text after "220" that would be read as if it came
    over TLS. The prober refuses to go on with that connection."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx1 ESMTP\r\n")
        while line := await reader.readline():
            if line.startswith(b"EHLO"):
                writer.write(b"250-mx1\r\n250 STARTTLS\r\n")
            elif line.startswith(b"STARTTLS"):
                writer.write(b"220 go ahead\r\n250-mx1\r\n250 AUTH PLAIN\r\n")
            elif line.startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()

    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, f"{MX1}.")],
        f"{MX1}.": [("A", "127.0.0.2")],
    }
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", script=script)]) as world:
        result = await probe("alice@example.test", options_for(world), rng=random.Random(1))
    first = result.attempts[0]
    assert first.tls is None  # no handshake over a stream holding injected text
    assert first.outcome == "protocol"
    assert any("nobody asked for" in s.explanation.text for s in first.steps)
    assert result.reason is Reason.PROTOCOL_ERROR


async def test_terminal_escapes_from_a_server_never_reach_the_user() -> None:
    hostile = "550 5.1.1 \x1b[2J\x1b]0;pwned\x07 \u202euser unknown"
    handler = MailHandler(default=hostile)
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, f"{MX1}.")],
        f"{MX1}.": [("A", "127.0.0.2")],
    }
    async with world_of(zone, [MailHost(MX1, "127.0.0.2", handler)]) as world:
        result = await probe("alice@example.test", options_for(world), rng=random.Random(1))
    assert result.verdict is Verdict.UNDELIVERABLE
    shown = [result.summary, *(s.explanation.text for a in result.attempts for s in a.steps)]
    for text in shown:
        assert printable(text) == text
        assert "\x1b" not in text and "\u202e" not in text


# -- never DATA: every hostile scenario at once ---------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_no_scenario_of_the_hostile_suite_receives_message_content(certs: Certs) -> None:
    outcomes = await asyncio.gather(*(run_case(c, certs, measure=False) for c in CASES))
    assert len(outcomes) == len(CASES)
    for outcome in outcomes:
        # run_case checked world.data_received() == 0; read the servers' own records too.
        assert_no_message_content(outcome.built)
        received = [line for log in outcome.built.logs for line in log.lines]
        assert not any(b"\r\n.\r\n" in line or line == b".\r\n" for line in received)
    # At least some servers got as far as RCPT: the check above was not vacuous.
    rcpts = sum(
        1
        for o in outcomes
        for log in o.built.logs
        for line in log.lines
        if line.startswith(b"RCPT TO:")
    )
    assert rcpts >= 3


async def test_ordinary_scenarios_send_only_envelope_commands() -> None:
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, f"{MX1}.")],
        f"{MX1}.": [("A", "127.0.0.2")],
    }
    for default in ("250 2.1.5 Ok", "550 5.1.1 unknown", "451 4.7.1 greylisted", "552 5.2.2 full"):
        for pipelining in (True, False):
            handler = MailHandler(default=default, pipelining=pipelining)
            async with World(zone, [MailHost(MX1, "127.0.0.2", handler)]) as world:
                await probe("alice@example.test", options_for(world), rng=random.Random(1))
                assert world.data_received() == 0
            verbs = {c.split(" ", 1)[0] for c in handler.commands}
            assert verbs <= {"EHLO", "HELO", "MAIL", "RCPT", "RSET", "QUIT"}, verbs
