"""A loopback mail world for benchmarks, run in its own process.

``python benchmarks/loopworld.py --domains N --mailboxes M --rtt 0.05`` starts a DNS
server and, for each of N domains, an MX host; prints one JSON line
(``{"dns": [ip, port], "port": smtp_port}``) and serves until its standard input closes.

Each MX host is either aiosmtpd (``--server aiosmtpd``, the default: the same server the
tests use) or a small raw responder (``--server fast``) for runs of a million addresses
where aiosmtpd's own cost would dominate. With ``--rtt`` above zero every MX host sits
behind a proxy that adds the round-trip time: half of it to every chunk in each
direction, and a whole one to set up each connection (the TCP handshake), so a
command and its reply cost one RTT, and a pipelined batch costs one RTT too.

Mailboxes: in domain ``dN.bench.test`` the local parts ``okK`` exist and every other
local part is unknown (550 5.1.1); domains ``nN.null.test`` (``--null-domains``) publish
a null MX. Everything binds 127.0.0.0/8 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prober.testing.dnsserver import DNSServer, RecordSpec, Zone  # noqa: E402
from prober.testing.world import MailHandler, MailHost, World  # noqa: E402

BACKEND = "127.0.1.{}"
FRONT = "127.0.2.{}"


def domain(i: int) -> str:
    return f"d{i}.bench.test"


def zone(domains: int, mx_hosts: int, rtt: float, null: int = 0) -> dict[str, list[RecordSpec]]:
    records: dict[str, list[RecordSpec]] = {}
    for i in range(null):
        records[f"n{i}.null.test."] = [("MX", 0, ".")]  # RFC 7505: no mail here
    for i in range(domains):
        records[domain(i) + "."] = [("MX", 10, f"mx{i % mx_hosts}.bench.test.")]
    for h in range(mx_hosts):
        ip = (FRONT if rtt > 0 else BACKEND).format(h + 1)
        records[f"mx{h}.bench.test."] = [("A", ip)]
    return records


def rcpt_reply(address: str) -> str:
    if address.startswith("ok"):
        return "250 2.1.5 Ok"
    return "550 5.1.1 <" + address + ">: Recipient address rejected: User unknown"


class FastSMTP(asyncio.Protocol):
    """Just enough SMTP, as cheaply as possible: EHLO with PIPELINING, MAIL, RCPT, RSET,
    QUIT; DATA refused like everything else."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        transport.write(b"220 fast.bench.test ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        while True:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"RCPT":
                address = line.partition(b"<")[2].rstrip(b">").decode("utf-8", "replace")
                out.append(rcpt_reply(address).encode() + b"\r\n")
            elif verb in (b"MAIL", b"RSET"):
                out.append(b"250 2.0.0 Ok\r\n")
            elif verb in (b"EHLO", b"HELO"):
                out.append(b"250-fast.bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                out.append(b"221 2.0.0 Bye\r\n")
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            else:
                out.append(b"502 5.5.2 Not here\r\n")
        if out:
            self.transport.write(b"".join(out))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward with ``delay`` added to every chunk, keeping their order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await task
    finally:
        task.cancel()


def rtt_proxy(target: tuple[str, int], rtt: float):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(rtt)  # the handshake's round trip
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, up_writer, rtt / 2),
            _pipe(up_reader, writer, rtt / 2),
            return_exceptions=True,
        )

    return handle


async def serve(args: argparse.Namespace) -> None:
    mx_hosts = args.mx_hosts or args.domains
    records = zone(args.domains, mx_hosts, args.rtt, args.null_domains)
    servers: list[asyncio.Server] = []
    loop = asyncio.get_running_loop()
    if args.server == "aiosmtpd":
        hosts = [
            MailHost(f"mx{h}.bench.test", BACKEND.format(h + 1), MailHandler(rule=rcpt_reply))
            for h in range(mx_hosts)
        ]
        world = World(records, hosts)
        await world.__aenter__()
        port = world.port
        dns = world.dns
    else:
        world = None
        dns = DNSServer(Zone(records))
        await dns.start()
        port = 0
        for h in range(mx_hosts):
            server = await loop.create_server(FastSMTP, BACKEND.format(h + 1), port)
            port = int(server.sockets[0].getsockname()[1])
            servers.append(server)
    front_port = port
    if args.rtt > 0:
        front_port = 0
        for h in range(mx_hosts):
            handler = rtt_proxy((BACKEND.format(h + 1), port), args.rtt)
            server = await asyncio.start_server(handler, FRONT.format(h + 1), front_port)
            front_port = int(server.sockets[0].getsockname()[1])
            servers.append(server)
    print(json.dumps({"dns": list(dns.address), "port": front_port}), flush=True)
    # Serve until the parent closes our standard input.
    await loop.run_in_executor(None, sys.stdin.read)
    for server in servers:
        server.close()
    if world is not None:
        await world.close()
    else:
        await dns.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=40)
    parser.add_argument("--mx-hosts", type=int, default=0, help="0: one per domain")
    parser.add_argument("--rtt", type=float, default=0.05)
    parser.add_argument("--null-domains", type=int, default=0, help="n<i>.null.test: null MX")
    parser.add_argument("--server", choices=("aiosmtpd", "fast"), default="aiosmtpd")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
