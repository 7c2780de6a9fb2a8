"""One SMTP client connection over asyncio streams (the SMTP I/O edge).

Why not aiosmtplib's connection: its protocol object reads exactly one reply per command
and drops bytes that arrive before a command is outstanding, so RFC 2920 pipelining (one
write of MAIL and many RCPTs, then their replies in order) cannot run over it, and bulk
mode lives on pipelining. This class keeps the wire small: open (directly, from a source
address, or through a SOCKS proxy), write validated command lines, read replies through
the bounded :class:`~prober.smtp.reply.ReplyParser`, upgrade to TLS. Every failure becomes a
:class:`~prober.errors.NetworkError` with a ``kind`` and a sentence naming host and port.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from collections import deque
from dataclasses import dataclass

from prober.errors import CommandError, NetworkError
from prober.smtp.reply import Reply, ReplyParser, ReplySyntaxError, printable

_READ_CHUNK = 65536
# A command line is at most 512 octets including CRLF (RFC 5321 §4.5.3.1.4); RCPT with
# a 254-octet address and parameters stays far below it.
MAX_COMMAND = 510
# Closing waits this long for the server to acknowledge, then drops the connection: a
# server that never answers our FIN (or TLS close_notify) must not hold the probe.
_CLOSE_WAIT = 0.5
# The only commands whose reply may be a 3xx (intermediate) reply; prober sends neither.
_INTERMEDIATE_OK = ("DATA", "BDAT", "AUTH")


def check_command(line: str, *, utf8: bool = False) -> bytes:
    """The bytes of a command line, or :class:`CommandError` if it could smuggle another.

    Validation happens here, at the last moment before the wire, whatever was checked
    when the address was parsed: this is the boundary every command crosses.
    """
    for char in line:
        if ord(char) < 0x20 or ord(char) == 0x7F or char in "\u2028\u2029\x85":
            raise CommandError(f"command line contains control character U+{ord(char):04X}")
    if not utf8 and not line.isascii():
        raise CommandError("command line contains non-ASCII text and SMTPUTF8 is not in use")
    data = line.encode("utf-8") + b"\r\n"
    if len(data) > MAX_COMMAND + 2:
        raise CommandError(f"command line is {len(data)} octets, over the 512 allowed")
    return data


@dataclass(frozen=True, slots=True)
class TLSInfo:
    """What the TLS handshake established."""

    version: str
    cipher: str
    verified: bool  # the certificate chain and host name checked out
    problem: str | None  # why verification failed (expired, wrong host, self-signed …)
    peer_der: bytes | None  # the server certificate, DER-encoded, for later inspection


def _os_error(exc: OSError) -> str:
    """The operating system's own words for ``exc`` (asyncio wraps them in its own text)."""
    if exc.errno is not None:
        return f"{os.strerror(exc.errno)}, {errno.errorcode.get(exc.errno, exc.errno)}"
    return exc.strerror or str(exc) or type(exc).__name__


def _connect_error(exc: OSError, host: str, port: int) -> NetworkError:
    where = f"{host} port {port}"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return NetworkError("refused", f"Connection to {where} was refused ({_os_error(exc)}).")
    return NetworkError("unreachable", f"Cannot connect to {where}: {_os_error(exc)}.")


class Connection:
    """An open SMTP connection. Create with :meth:`open`; always :meth:`close`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        port: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = ReplyParser()
        self._ready: deque[Reply] = deque()
        self.host = host
        self.port = port
        self.utf8 = False
        self.tls: TLSInfo | None = None
        self.bytes_received = 0

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        timeout: float,
        source_address: str | None = None,
        proxy: str | None = None,
    ) -> Connection:
        """Connect to ``host`` (an IP address already checked by the guard)."""
        try:
            async with asyncio.timeout(timeout):
                if proxy is not None:
                    sock = await _via_proxy(proxy, host, port, timeout)
                    reader, writer = await asyncio.open_connection(sock=sock, limit=_READ_CHUNK)
                else:
                    local = (source_address, 0) if source_address else None
                    reader, writer = await asyncio.open_connection(
                        host, port, local_addr=local, limit=_READ_CHUNK
                    )
        except TimeoutError:
            raise NetworkError(
                "connect_timeout",
                f"Timed out connecting to {host} port {port} after {timeout:g} s.",
            ) from None
        except NetworkError:
            raise
        except OSError as exc:
            raise _connect_error(exc, host, port) from None
        return cls(reader, writer, host, port)

    async def read_reply(self, timeout: float, asked: str = "", owed: int = 1) -> Reply:
        """The next complete reply, within ``timeout`` seconds for the whole of it.

        ``asked`` is the command this reply answers ("" for the greeting) and ``owed``
        how many replies the dialogue still expects, this one included: the dialogue
        keeps the queue of outstanding commands, the connection only checks against it.
        A reply beyond ``owed`` was asked for by nobody and is never paired with a later
        command (which would shift every answer by one).
        """
        if not self._ready:
            await self._fill(timeout, owed)
        reply = self._ready.popleft()
        if reply.code // 100 == 3 and not asked.upper().startswith(_INTERMEDIATE_OK):
            # 3xx means "go on and send more" (the message after DATA); prober never sent
            # such a command, so following it is not an option, and pairing it with one
            # would misread the dialogue.
            raise NetworkError(
                "protocol",
                f"{self.host} answered {_quote(reply)} to {_shown(asked)}; an intermediate "
                "3xx reply only ever answers DATA or AUTH, and prober sent neither.",
            )
        return reply

    async def _fill(self, timeout: float, owed: int) -> None:
        """Read until a reply is complete, refusing replies that nobody asked for."""
        try:
            async with asyncio.timeout(timeout):
                while not self._ready:
                    try:
                        data = await self._reader.read(_READ_CHUNK)
                    except (ConnectionError, ssl.SSLError, OSError) as exc:
                        raise NetworkError(
                            "closed",
                            f"{self.host} port {self.port} reset the connection "
                            f"({getattr(exc, 'strerror', None) or exc}).",
                        ) from None
                    if not data:
                        partial = " in the middle of a reply" if self._parser.pending else ""
                        raise NetworkError(
                            "closed",
                            f"{self.host} port {self.port} closed the connection{partial}.",
                        )
                    self._take(data)
                    if len(self._ready) > owed:
                        extra = self._ready[owed]
                        raise NetworkError(
                            "protocol",
                            f"{self.host} sent a reply nobody asked for ({_quote(extra)}), "
                            "beyond its answers to the commands sent; its later replies "
                            "cannot be matched to our commands.",
                        )
        except TimeoutError:
            if self._parser.pending:
                count = self._parser.buffered
                raise NetworkError(
                    "timeout",
                    f"{self.host} port {self.port} sent only part of a reply "
                    f"({count} byte{'s' if count != 1 else ''} of an unfinished line) within "
                    f"{_seconds(timeout)}; it is sending too slowly or stopped mid-reply.",
                ) from None
            raise NetworkError(
                "timeout",
                f"{self.host} port {self.port} sent no complete reply within {_seconds(timeout)}.",
            ) from None

    def _take(self, data: bytes) -> None:
        self.bytes_received += len(data)
        try:
            self._ready.extend(self._parser.feed(data))
        except ReplySyntaxError as exc:
            raise NetworkError("protocol", f"{self.host}: {exc.problem}.") from None

    def _early(self, before: str) -> NetworkError | None:
        """An error if the server spoke before ``before`` was sent (nobody asked it to)."""
        buffered: bytearray = getattr(self._reader, "_buffer", bytearray())
        if buffered:
            data = bytes(buffered)
            del buffered[:]
            try:
                self._take(data)
            except NetworkError as exc:
                return exc
        if not self._ready and not self._parser.pending:
            return None
        replies = list(self._ready)
        if replies and all(r.code == 421 for r in replies) and not self._parser.pending:
            # RFC 5321 §3.8: a server may say 421 at any moment before it closes.
            return NetworkError(
                "closed", f"{self.host} said {_quote(replies[0])} and is closing the connection."
            )
        shown = _quote(replies[0]) if replies else "part of a reply"
        return NetworkError(
            "protocol",
            f"{self.host} sent {shown} before {_shown(before)} was sent; a reply that comes "
            "before its command answers nothing, so nothing in this session can be trusted.",
        )

    async def send(self, lines: list[str], timeout: float) -> None:
        """Write one or more command lines in a single write (pipelined when several).

        Every line is checked before any byte is written, so a refused line in a batch
        leaves nothing of the batch on the wire. Anything the server sent before this
        write is a protocol violation (it answers no command of ours) and nothing is
        written.
        """
        payload = b"".join(check_command(line, utf8=self.utf8) for line in lines)
        await asyncio.sleep(0)  # let the loop deliver whatever already reached the socket
        early = self._early(lines[0] if lines else "")
        if early is not None:
            raise early
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(payload)
                await self._writer.drain()
        except TimeoutError:
            raise NetworkError(
                "timeout", f"{self.host} port {self.port} stopped accepting data."
            ) from None
        except (ConnectionError, OSError) as exc:
            raise NetworkError(
                "closed", f"{self.host} port {self.port} closed the connection ({exc})."
            ) from None

    async def command(self, line: str, timeout: float) -> Reply:
        await self.send([line], timeout)
        return await self.read_reply(timeout, line)

    @property
    def unread(self) -> bool:
        """True if the server sent bytes that no command has asked for yet."""
        return bool(self._ready) or self._parser.pending

    async def starttls(
        self, server_name: str | None, timeout: float, *, ca_file: str | None = None
    ) -> None:
        """Upgrade to TLS after the server's 220 to STARTTLS: one handshake, then the
        chain it delivered is verified (:mod:`prober.smtp.tls`). An untrusted certificate
        is recorded in :attr:`tls`, never a reason to drop the connection."""
        from prober.smtp import tls

        if self.unread or getattr(self._reader, "_buffer", None):
            # Anything already buffered was sent in the clear but would be read as if it
            # came over TLS (the STARTTLS command-injection class of bugs).
            raise NetworkError(
                "protocol",
                f"{self.host} sent data after its reply to STARTTLS, before the TLS handshake; "
                "the upgrade is abandoned.",
            )
        sni = tls.server_name(server_name) if server_name else None
        try:
            await self._writer.start_tls(
                tls.client_context(), server_hostname=sni, ssl_handshake_timeout=timeout
            )
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError, ValueError) as exc:
            raise NetworkError(
                "tls", f"TLS handshake with {self.host} failed: {exc or type(exc).__name__}."
            ) from None
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is None:
            raise NetworkError("tls", f"TLS handshake with {self.host} left no TLS session.")
        chain = tls.peer_chain(ssl_object)
        problem = tls.verify_chain(chain, server_name or self.host, ca_file=ca_file)
        if server_name and sni is None:
            unnamed = f"the MX name {printable(server_name)!r} is not a host name; no SNI was sent"
            problem = f"{problem}; {unnamed}" if problem else unnamed
        cipher = ssl_object.cipher()
        self.tls = TLSInfo(
            version=ssl_object.version() or "",
            cipher=cipher[0] if cipher else "",
            verified=problem is None,
            problem=problem,
            peer_der=chain[0] if chain else None,
        )

    async def close(self, *, wait: bool = True) -> None:
        """Close without waiting long: a server that never acknowledges is not our problem.

        ``wait=False`` after a QUIT whose answer the server is known to hold back (its
        error sleep, a second or more): what was written is on its way; the connection
        is dropped now rather than after a TLS goodbye the server will not send sooner.
        """
        if self._writer.is_closing():
            return
        if not wait:
            self._writer.transport.abort()
            return
        self._writer.close()
        try:
            async with asyncio.timeout(_CLOSE_WAIT):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
            # Drop it: no lingering TLS shutdown or unacknowledged close outlives the probe.
            self._writer.transport.abort()


def _seconds(value: float) -> str:
    """A wait as people read it: "1 s", "2.5 s" (not "2.99446 s")."""
    return f"{value:.0f} s" if abs(value - round(value)) < 0.05 else f"{value:.1f} s"


def _quote(reply: Reply) -> str:
    text = str(reply).split("\n", 1)[0]
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def _shown(line: str) -> str:
    if line in ("", "greeting"):
        return "its greeting" if line else "no command"
    return repr(printable(line))


async def _via_proxy(url: str, host: str, port: int, timeout: float) -> socket.socket:
    from python_socks import ProxyError, ProxyTimeoutError
    from python_socks.async_.asyncio import Proxy

    try:
        proxy = Proxy.from_url(url)
        sock: socket.socket = await proxy.connect(dest_host=host, dest_port=port, timeout=timeout)
    except ProxyTimeoutError:
        raise NetworkError(
            "connect_timeout", f"The proxy did not connect to {host} port {port} in time."
        ) from None
    except ProxyError as exc:
        raise NetworkError(
            "proxy", f"The proxy refused to connect to {host} port {port}: {exc}."
        ) from None
    except (ValueError, OSError) as exc:
        raise NetworkError("proxy", f"Cannot use the proxy: {exc}.") from None
    return sock
