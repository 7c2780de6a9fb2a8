"""--proxy: probing through a real SOCKS5 proxy on loopback (RFC 1928, no authentication)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections.abc import AsyncIterator

from prober.engine.verdict import Reason, Verdict
from prober.testing.world import MailHandler, MailHost
from tests.conftest import probe_in, world_of

ZONE = {
    "example.test.": [("MX", 10, "mx1.example.test.")],
    "mx1.example.test.": [("A", "127.0.0.2")],
}


class Socks5:
    """A minimal SOCKS5 CONNECT proxy that records where it was asked to go."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.destinations: list[tuple[str, int]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()  # also when the proxy is stopped mid-copy

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            version, count = await reader.readexactly(2)
            await reader.readexactly(count)
            writer.write(b"\x05\x00")  # no authentication
            _, command, _, kind = await reader.readexactly(4)
            if kind == 1:
                host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            elif kind == 4:
                host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            else:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            self.destinations.append((host, port))
            if self.refuse or command != 1:
                writer.write(b"\x05\x02\x00\x01" + bytes(4) + b"\x00\x00")  # not allowed
                await writer.drain()
                writer.close()
                return
            up_reader, up_writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
                await writer.drain()
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                up_writer.close()
                writer.close()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            writer.close()

    def _spawn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        self._server = await asyncio.start_server(self._spawn, "127.0.0.1", 0)
        try:
            yield int(self._server.sockets[0].getsockname()[1])
        finally:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()


async def test_probe_through_a_socks5_proxy() -> None:
    mail = MailHandler(rcpt={"alice@example.test": "250 2.1.5 Ok"})
    proxy = Socks5()
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", mail)]) as world:
        async with proxy.running() as port:
            result = await probe_in(world, "alice@example.test", proxy=f"socks5://127.0.0.1:{port}")
    assert result.verdict is Verdict.DELIVERABLE
    # The proxy was asked for the MX's address (already checked by the guard), not a name.
    assert proxy.destinations[0] == ("127.0.0.2", world.port)
    assert any(c.startswith("RCPT alice@example.test") for c in mail.commands)


async def test_proxy_refusal_is_explained() -> None:
    proxy = Socks5(refuse=True)
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", MailHandler())]) as world:
        async with proxy.running() as port:
            result = await probe_in(world, "alice@example.test", proxy=f"socks5://127.0.0.1:{port}")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.NO_CONNECTION
    step = result.attempts[0].steps[0]
    assert step.event == "proxy"
    assert "proxy" in step.explanation.text.lower()


async def test_unreachable_proxy_is_explained() -> None:
    async with world_of(ZONE, [MailHost("mx1.example.test", "127.0.0.2", MailHandler())]) as world:
        result = await probe_in(world, "alice@example.test", proxy="socks5://127.0.0.1:9")
    assert result.verdict is Verdict.UNKNOWN
    assert result.attempts[0].steps[0].event == "proxy"
