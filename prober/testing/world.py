"""A loopback mail world: DNS and SMTP servers on 127.0.0.0/8 that behave like the real thing.

``probe demo`` runs it so that the prober can be seen at work with no internet; the test
suite and the benchmarks build their own worlds from the same parts:

- :class:`MailHandler` — an aiosmtpd handler whose replies come from a table (or a
  function) per recipient, recording every command it sees; DATA and BDAT are recorded
  and refused, so a test can prove the prober never sent them;
- :class:`ScriptedServer` — a raw asyncio server for behaviour aiosmtpd will not produce
  (a refusal in the greeting, garbage, silence);
- :class:`World` — starts a DNS server and any number of mail hosts on distinct loopback
  addresses sharing one port, and stops them all.

Everything binds loopback addresses only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from prober.testing.dnsserver import DNSServer, RecordSpec, Zone

RcptRule = Callable[[str], str | None]


@dataclass
class MailHandler:
    """Replies per recipient; everything not listed gets ``default``.

    ``rcpt`` maps a lower-cased address (or ``"*@domain"`` for a whole domain) to the
    full reply line(s) to send, e.g. ``"550 5.1.1 <x@y>: user unknown"``.
    """

    rcpt: Mapping[str, str] = field(default_factory=dict)
    default: str = "550 5.1.1 No such user here"
    mail: str | None = None  # a reply to MAIL FROM instead of 250
    pipelining: bool = True
    extra_extensions: tuple[str, ...] = ()
    rule: RcptRule | None = None  # consulted first; None means "use the table"
    commands: list[str] = field(default_factory=list)
    data_commands: int = 0  # DATA or BDAT received: must stay 0 for the prober

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.commands.append(f"EHLO {hostname}")
        session.host_name = hostname
        extra = [*self.extra_extensions]
        if self.pipelining:
            extra.append("PIPELINING")
        # Keep the last line's "250 " and insert ours before it.
        return [*responses[:-1], *(f"250-{e}" for e in extra), responses[-1]]

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        self.commands.append(f"HELO {hostname}")
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"MAIL {address}")
        if self.mail is not None:
            return self.mail
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    def reply_for(self, address: str) -> str:
        if self.rule is not None:
            ruled = self.rule(address)
            if ruled is not None:
                return ruled
        key = address.lower()
        domain = key.rpartition("@")[2]
        return self.rcpt.get(key) or self.rcpt.get(f"*@{domain}") or self.default

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"RCPT {address}")
        reply = self.reply_for(address)
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("RSET")
        return "250 2.0.0 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("QUIT")
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        return "554 5.7.0 This test server accepts no message content"


class RecordingSMTP(SMTP):
    """aiosmtpd's server, recording DATA and BDAT before anything else happens."""

    async def smtp_DATA(self, arg: str) -> None:
        handler = self.event_handler
        if isinstance(handler, MailHandler):
            handler.data_commands += 1
            handler.commands.append("DATA")
        await self.push("554 5.7.0 This test server accepts no message content")

    async def smtp_BDAT(self, arg: str) -> None:
        handler = self.event_handler
        if isinstance(handler, MailHandler):
            handler.data_commands += 1
            handler.commands.append("BDAT")
        await self.push("554 5.7.0 This test server accepts no message content")


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ScriptedServer:
    """A raw TCP server running ``script(reader, writer)`` per connection.

    For greetings and misbehaviour that aiosmtpd does not produce. Lines received are
    kept in ``received`` so tests can check what the client sent.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self.script(_Recording(reader, self.received), writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


class _Recording(asyncio.StreamReader):
    """A reader that remembers each line the script reads."""

    def __init__(self, inner: asyncio.StreamReader, log: list[bytes]) -> None:
        self._inner = inner
        self._log = log

    async def readline(self) -> bytes:
        line = await self._inner.readline()
        if line:
            self._log.append(line)
        return line

    async def read(self, n: int = -1) -> bytes:
        data = await self._inner.read(n)
        if data:
            self._log.append(data)
        return data

    def at_eof(self) -> bool:
        return self._inner.at_eof()


def banner_then(banner: str, replies: Callable[[bytes], str | None] | None = None) -> Script:
    """A script: send ``banner``; then answer each line with ``replies(line)`` (None: hang up)."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner.encode() + b"\r\n")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.upper().startswith(b"QUIT"):
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            answer = replies(line) if replies is not None else None
            if answer is None:
                return
            writer.write(answer.encode() + b"\r\n")
            await writer.drain()

    return script


@dataclass
class MailHost:
    """One MX host of the world: a name, a loopback address, and what runs there."""

    name: str
    ip: str
    handler: MailHandler | None = None
    script: Script | None = None
    tls_context: ssl.SSLContext | None = None
    smtputf8: bool = True
    closed: bool = False  # nothing listens: connections are refused
    # What a scripted host received, kept after the world stops so tests can inspect it.
    received: list[bytes] = field(default_factory=list)


class World:
    """DNS plus mail hosts on loopback. ``async with World(records, hosts) as world``.

    ``records`` is the DNS zone (see :class:`prober.testing.dnsserver.Zone`); every mail host
    listens on ``world.port`` at its own 127.0.0.x address, as real MX hosts share
    port 25 on different machines.
    """

    def __init__(self, records: Mapping[str, list[RecordSpec]], hosts: list[MailHost]) -> None:
        for host in hosts:
            if not ipaddress.ip_address(host.ip).is_loopback:
                raise ValueError(f"mail hosts of the world bind loopback only, not {host.ip}")
        self.dns = DNSServer(Zone(dict(records)))
        self.hosts = hosts
        self.port = 0
        self._servers: list[asyncio.Server] = []
        self._scripted: list[ScriptedServer] = []
        self._protocols: list[SMTP] = []

    @property
    def dns_address(self) -> tuple[str, int]:
        return self.dns.address

    async def __aenter__(self) -> World:
        await self.dns.start()
        try:
            await self._start_hosts()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start_hosts(self) -> None:
        # One port number for all hosts: find one free on the first address, then bind
        # the others to it; on a clash, start over with a new number.
        listening = [h for h in self.hosts if not h.closed]
        for _ in range(20):
            try:
                await self._bind_all(listening)
                return
            except OSError:
                await self._stop_servers()
        raise OSError("could not find one free port for every mail host of the world")

    async def _bind_all(self, hosts: list[MailHost]) -> None:
        loop = asyncio.get_running_loop()
        port = 0
        if not hosts:
            probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
            self.port = int(probe.sockets[0].getsockname()[1])
            probe.close()
            await probe.wait_closed()
            return
        for host in hosts:
            if host.script is not None:
                scripted = ScriptedServer(host.script)
                scripted.received = host.received
                self._scripted.append(scripted)
                port = await scripted.start(host.ip, port)
                continue
            handler = host.handler or MailHandler()

            def factory(h: MailHost = host, mh: MailHandler = handler) -> SMTP:
                protocol = RecordingSMTP(
                    mh,
                    hostname=h.name,
                    ident="ESMTP ready",
                    tls_context=h.tls_context,
                    enable_SMTPUTF8=h.smtputf8,
                    loop=loop,
                )
                self._protocols.append(protocol)
                return protocol

            server = await loop.create_server(factory, host.ip, port)
            self._servers.append(server)
            port = int(server.sockets[0].getsockname()[1])
        self.port = port

    async def _stop_servers(self) -> None:
        for server in self._servers:
            server.close()
        # Python 3.11's Server.wait_closed does not wait for open connections: close
        # each session's transport ourselves so no task outlives the world.
        for protocol in self._protocols:
            if protocol.transport is not None:
                protocol.transport.close()
            task = getattr(protocol, "_handler_coroutine", None)
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._protocols.clear()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        for scripted in self._scripted:
            await scripted.close()
        self._scripted.clear()

    async def close(self) -> None:
        await self._stop_servers()
        await self.dns.close()

    def data_received(self) -> int:
        """How many DATA/BDAT commands any host of this world received (should be 0)."""
        total = sum(h.handler.data_commands for h in self.hosts if h.handler is not None)
        for host in self.hosts:
            total += sum(1 for line in host.received if line.upper().startswith((b"DATA", b"BDAT")))
        return total


class ThreadedWorld:
    """A :class:`World` on its own event loop in a daemon thread, for synchronous callers
    (CLI tests, subprocess tests, benchmarks): ``with ThreadedWorld(records, hosts) as w``.
    """

    def __init__(self, records: Mapping[str, list[RecordSpec]], hosts: list[MailHost]) -> None:
        self.world = World(records, hosts)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.world.port

    @property
    def dns_address(self) -> tuple[str, int]:
        return self.world.dns_address

    def __enter__(self) -> ThreadedWorld:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.world.__aenter__(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.world.close(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def data_received(self) -> int:
        return self.world.data_received()
