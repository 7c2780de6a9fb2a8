"""A loopback TCP forwarder that adds round-trip time and counts connections per host.

One :class:`LatencyProxy` listens on several loopback addresses at one port (one address
per MX host, so a client's per-host politeness applies) and forwards every connection to
one upstream server. Each direction's bytes are held back by half the round-trip time,
in order, so a command and its reply cost one RTT and a pipelined batch costs one RTT
too; opening a connection costs one RTT more (the TCP handshake a real network would
have) before the upstream server sees it.

For each listening address it counts the connections opened and the most open at once
(a connection is open from the client's connect until the client closes it),
so a benchmark can see how many TCP connections a client really made and how polite it
was to each host. Everything binds 127.0.0.0/8 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["HostCount", "LatencyProxy"]


@dataclass
class HostCount:
    """Connections seen on one listening address since the last reset."""

    opened: int = 0
    open: int = 0
    peak: int = 0
    # As the server sees them: from the proxy's connection to it until the server closed
    # its side or the client's close has reached it (half an RTT after the proxy read it).
    at_server: int = 0
    server_peak: int = 0


def _loopback(host: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host} is not a loopback address; this proxy binds loopback only")
    return host


def common_free_port(hosts: Iterable[str], tries: int = 20) -> int:
    """A TCP port free on every one of ``hosts`` right now."""
    hosts = list(hosts)
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind((hosts[0], 0))
            port = int(first.getsockname()[1])
        try:
            for host in hosts:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    probe.bind((host, port))
        except OSError:
            continue
        return port
    raise OSError(f"no port was free on all of {len(hosts)} loopback addresses")


class LatencyProxy:
    """Forward ``listen`` addresses (at one port) to ``target``, adding ``rtt`` seconds."""

    def __init__(self, listen: Iterable[str], target: tuple[str, int], rtt: float) -> None:
        self.listen = [_loopback(host) for host in listen]
        self.target = (_loopback(target[0]), target[1])
        self.rtt = rtt
        self.port = 0
        self.counts: dict[str, HostCount] = {host: HostCount() for host in self.listen}
        self.open = 0
        self.peak = 0
        # How late chunks were passed on, beyond the delay asked for: the proxy's own lag
        # (a loaded machine makes every round trip longer than ``rtt``).
        self.late_total = 0.0
        self.late_max = 0.0
        self.chunks = 0
        # (listening host, opened, closed by the client), loop clock: who used the time.
        self.timeline: list[tuple[str, float, float]] = []
        # Per connection, in the timeline's order: when each chunk was read from the client
        # (">") or the server ("<"), loop clock: the session's round trips and the server's
        # pauses (Postfix's flow control, its error sleep) can be read from it.
        self.chunk_times: list[list[tuple[str, float]]] = []
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on every address; returns the port, the same on all of them."""
        for _ in range(5):
            self.port = common_free_port(self.listen)
            try:
                for host in self.listen:
                    server = await asyncio.start_server(
                        lambda r, w, host=host: self._accept(host, r, w), host, self.port
                    )
                    self._servers.append(server)
            except OSError:
                await self._close_servers()
                continue
            return self.port
        raise OSError("could not listen on the proxy's loopback addresses")

    def reset(self) -> None:
        """Start counting afresh (connections still open keep counting as open)."""
        for count in self.counts.values():
            count.opened = 0
            count.peak = count.open
            count.server_peak = count.at_server
        self.peak = self.open
        self.late_total = self.late_max = 0.0
        self.chunks = 0
        self.timeline = []
        self.chunk_times = []

    def lateness(self) -> dict[str, float]:
        """Mean and largest lag of a forwarded chunk since the last reset, in ms."""
        mean = self.late_total / self.chunks if self.chunks else 0.0
        return {"chunks": self.chunks, "mean_ms": mean * 1000, "max_ms": self.late_max * 1000}

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {
            host: {"opened": c.opened, "peak": c.peak, "server_peak": c.server_peak}
            for host, c in self.counts.items()
            if c.opened
        }

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._close_servers()

    def _accept(
        self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.ensure_future(self._forward(host, reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(
        self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        count = self.counts[host]
        count.opened += 1
        count.open += 1
        count.peak = max(count.peak, count.open)
        self.open += 1
        self.peak = max(self.peak, self.open)
        counted = True
        loop = asyncio.get_running_loop()
        opened_at = loop.time()
        chunks: list[tuple[str, float]] = []

        def closed_by_client() -> None:
            # Open as the client sees it: from its connect to its close, not until the
            # delayed end has reached the server.
            nonlocal counted
            if counted:
                counted = False
                count.open -= 1
                self.open -= 1
                self.timeline.append((host, opened_at, loop.time()))
                self.chunk_times.append(chunks)

        at_server = False

        def gone_from_server() -> None:
            nonlocal at_server
            if at_server:
                at_server = False
                count.at_server -= 1

        def client_closed() -> None:
            closed_by_client()
            loop.call_later(self.rtt / 2, gone_from_server)  # the close travels on

        up_writer: asyncio.StreamWriter | None = None
        try:
            await asyncio.sleep(self.rtt)  # the TCP handshake's round trip
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.target), 10
                )
            except (OSError, TimeoutError):
                return
            at_server = True
            count.at_server += 1
            count.server_peak = max(count.server_peak, count.at_server)
            await asyncio.gather(
                self._pipe(reader, up_writer, client_closed, (">", chunks)),
                self._pipe(up_reader, writer, gone_from_server, ("<", chunks)),
            )
        finally:
            closed_by_client()
            gone_from_server()
            for w in (writer, up_writer):
                if w is not None:
                    w.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        at_end: Callable[[], None] | None = None,
        record: tuple[str, list[tuple[str, float]]] | None = None,
    ) -> None:
        """Copy ``reader`` to ``writer``, each chunk half an RTT late; ends at end of file
        (``at_end`` is called as soon as the end is read; ``record`` = (direction, list)
        gets the time each chunk was read)."""
        loop = asyncio.get_running_loop()
        delay = self.rtt / 2
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                late = max(0.0, loop.time() - due)
                self.late_total += late
                self.late_max = max(self.late_max, late)
                self.chunks += 1
                if not data:
                    # The other side finished sending: pass the end on, or close.
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                        else:
                            writer.close()
                    return
                try:
                    writer.write(data)
                except (OSError, RuntimeError):
                    return

        task = asyncio.ensure_future(deliver())
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except OSError:
                    data = b""
                queue.put_nowait((loop.time() + delay, data))
                if record is not None and data:
                    record[1].append((record[0], loop.time()))
                if not data:
                    if at_end is not None:
                        at_end()
                    break
            await task
        finally:
            task.cancel()
