"""A small DNS server on loopback, speaking the real wire protocol over UDP and TCP.

It answers from an in-memory zone the way a recursive resolver would answer a stub:
CNAME chains are followed and returned whole, unknown names get NXDOMAIN, known names
without the asked type get NOERROR with no data. Faults can be attached to single names
(SERVFAIL, silence, forced truncation, delay), and every query is recorded, so the code
that talks to DNS can be exercised against genuine packets, not mocks.

``probe demo`` runs it in a background thread (:class:`ThreadedDNSServer`); asynchronous
callers use :class:`DNSServer` directly on their own event loop::

    zone = Zone({
        "example.test.": [("MX", 10, "mx1.example.test.")],
        "mx1.example.test.": [("A", "127.0.0.1"), ("AAAA", "::1")],
    })
    async with DNSServer(zone) as srv:
        ...  # point a resolver at ("127.0.0.1", srv.port)

It only ever binds loopback addresses: it exists for tests and demonstrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
import textwrap
import threading
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rrset
import dns.zone

__all__ = [
    "DNSServer",
    "Fault",
    "FaultKey",
    "Query",
    "RecordSpec",
    "ThreadedDNSServer",
    "Zone",
]

Transport = Literal["udp", "tcp"]
# One record as written in a test: the type, then the fields of its presentation format,
# e.g. ("MX", 10, "mx1.example.test."), ("TXT", "v=spf1 -all"), ("TLSA", 3, 1, 1, "ab12").
RecordSpec = tuple[str | int, ...]

# A CNAME chain longer than this is answered as far as it goes, like a resolver that gives
# up; it also stops loops (a -> b -> a) from being followed forever.
_MAX_CHAIN = 12
_PLAIN_UDP_LIMIT = 512  # RFC 1035 §4.2.1: without EDNS a UDP answer is at most 512 octets


def _name(text: str | dns.name.Name) -> dns.name.Name:
    """Absolute, lower-case name: zone keys and targets may be written with or without the dot."""
    if isinstance(text, dns.name.Name):
        name = text
    else:
        name = dns.name.from_text(text, origin=dns.name.root)
    return name.canonicalize()


def _rdtype(text: str | int) -> dns.rdatatype.RdataType:
    return dns.rdatatype.RdataType.make(text)


class Zone:
    """Records the server answers from, keyed by owner name.

    ``records`` maps an owner name to a list of :data:`RecordSpec` tuples. TXT fields are
    character-strings (quoted for you); every other field is written as in a zone file.
    Names inside records may omit the final dot: everything is relative to the root.
    """

    def __init__(self, records: Mapping[str, Iterable[RecordSpec]], ttl: int = 300) -> None:
        self.ttl = ttl
        self._data: dict[dns.name.Name, dict[dns.rdatatype.RdataType, list[dns.rdata.Rdata]]] = {}
        for owner, specs in records.items():
            node = self._data.setdefault(_name(owner), {})
            for spec in specs:
                rdata = self._rdata(spec)
                node.setdefault(rdata.rdtype, []).append(rdata)

    @classmethod
    def from_text(cls, text: str, origin: str = ".", ttl: int = 300) -> Zone:
        """Build a zone from zone-file text (parsed by dnspython; no SOA required).

        Common indentation is removed first, so the text can sit indented in a test; in a
        zone file a leading blank would otherwise mean "same owner as the line above".
        """
        parsed = dns.zone.from_text(
            textwrap.dedent(text), origin=origin, relativize=False, check_origin=False
        )
        zone = cls({}, ttl=ttl)
        for owner, rdataset in parsed.iterate_rdatasets():
            node = zone._data.setdefault(owner.canonicalize(), {})
            node.setdefault(rdataset.rdtype, []).extend(rdataset)
        return zone

    @staticmethod
    def _rdata(spec: RecordSpec) -> dns.rdata.Rdata:
        if not spec:
            raise ValueError("a record needs at least its type")
        rdtype = _rdtype(spec[0])
        fields = spec[1:]
        if rdtype == dns.rdatatype.TXT:
            # Character-strings must be quoted so that spaces inside them survive.
            escaped = (str(f).replace("\\", "\\\\").replace('"', '\\"') for f in fields)
            text = " ".join(f'"{f}"' for f in escaped)
        else:
            text = " ".join(str(f) for f in fields)
        return dns.rdata.from_text(
            dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False
        )

    def add(self, owner: str, *specs: RecordSpec) -> None:
        """Add records after construction (e.g. hundreds of generated MX records)."""
        node = self._data.setdefault(_name(owner), {})
        for spec in specs:
            rdata = self._rdata(spec)
            node.setdefault(rdata.rdtype, []).append(rdata)

    def exists(self, name: dns.name.Name) -> bool:
        """True if the name owns records or has descendants (an empty non-terminal exists)."""
        return any(owner == name or owner.is_subdomain(name) for owner in self._data)

    def get(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> list[dns.rdata.Rdata]:
        return list(self._data.get(name, {}).get(rdtype, []))

    def soa_for(self, name: dns.name.Name) -> tuple[dns.name.Name, list[dns.rdata.Rdata]] | None:
        """The closest enclosing SOA, which negative answers carry for caching (RFC 2308)."""
        candidate = name
        while True:
            soa = self.get(candidate, dns.rdatatype.SOA)
            if soa:
                return candidate, soa
            if len(candidate) <= 1:
                return None
            candidate = candidate.parent()


@dataclass(frozen=True, slots=True)
class Fault:
    """Misbehaviour attached to a query name (optionally to one type at that name).

    ``rcode``: answer with this code and no data (e.g. "SERVFAIL", "REFUSED").
    ``drop``: never answer, so the client times out.
    ``truncate``: over UDP always answer with the TC bit and nothing else, so the client
    must retry over TCP; TCP gets the full answer.
    ``delay``: seconds to wait before answering.
    """

    rcode: str | None = None
    drop: bool = False
    truncate: bool = False
    delay: float = 0.0

    @classmethod
    def servfail(cls) -> Fault:
        return cls(rcode="SERVFAIL")

    @classmethod
    def refused(cls) -> Fault:
        return cls(rcode="REFUSED")

    @classmethod
    def silent(cls) -> Fault:
        return cls(drop=True)

    @classmethod
    def truncated(cls) -> Fault:
        return cls(truncate=True)

    @classmethod
    def delayed(cls, seconds: float) -> Fault:
        return cls(delay=seconds)


@dataclass(frozen=True, slots=True)
class Query:
    """One query as received: the name (absolute, lower case, with the final dot)."""

    name: str
    rdtype: str
    transport: Transport


FaultKey = str | tuple[str, str]


class DNSServer:
    """Asynchronous DNS server on loopback; use as ``async with DNSServer(zone) as srv``.

    ``faults`` maps a name, or a ``(name, type)`` pair, to a :class:`Fault`; it may be
    changed while the server runs. ``authenticated`` sets the AD bit on every answer
    (``True``) or on answers for the listed names only. ``queries`` lists what was asked.
    """

    def __init__(
        self,
        zone: Zone,
        *,
        faults: Mapping[FaultKey, Fault] | None = None,
        authenticated: bool | Iterable[str] = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the test DNS server binds loopback addresses only, not {host}")
        self.zone = zone
        self.faults: dict[FaultKey, Fault] = dict(faults or {})
        if isinstance(authenticated, bool):
            self._ad_all = authenticated
            self._ad_names: frozenset[dns.name.Name] = frozenset()
        else:
            self._ad_all = False
            self._ad_names = frozenset(_name(n) for n in authenticated)
        self.host = host
        self._requested_port = port
        self.port = 0
        self.queries: list[Query] = []
        self.errors: list[Exception] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # UDP and TCP must share one port number. Take an ephemeral TCP port first, then
        # claim the same number for UDP; if another process holds it, try again.
        last_error: OSError | None = None
        for _ in range(50):
            server = await asyncio.start_server(self._serve_tcp, self.host, self._requested_port)
            port = int(server.sockets[0].getsockname()[1])
            try:
                transport, _protocol = await loop.create_datagram_endpoint(
                    lambda: _UDPProtocol(self), local_addr=(self.host, port)
                )
            except OSError as exc:
                last_error = exc
                server.close()
                await server.wait_closed()
                if self._requested_port:
                    break
                continue
            self._tcp = server
            self._udp = transport
            self.port = port
            return
        raise OSError(f"could not bind UDP and TCP on one port at {self.host}: {last_error}")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> DNSServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- query log -------------------------------------------------------------------

    def queried(
        self, name: str, rdtype: str | None = None, transport: Transport | None = None
    ) -> int:
        """How many queries matched; ``name`` may be written with or without the final dot."""
        wanted = _name(name).to_text()
        return sum(
            1
            for q in self.queries
            if q.name == wanted
            and (rdtype is None or q.rdtype == rdtype.upper())
            and (transport is None or q.transport == transport)
        )

    # -- answering -------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fault(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Fault | None:
        text = name.to_text()
        bare = text.rstrip(".") or "."
        type_text = dns.rdatatype.to_text(rdtype)
        for key in ((text, type_text), (bare, type_text), text, bare):
            fault = self.faults.get(key)
            if fault is not None:
                return fault
        return None

    async def _respond(self, wire: bytes, transport: Transport) -> bytes | None:
        """The wire answer to one query, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # not DNS: a real server would drop it too
        if query.flags & dns.flags.QR or len(query.question) != 1:
            return None
        try:
            return await self._respond_to(query, transport)
        except Exception as exc:
            # A zone the server cannot render is a bug in the test that wrote it: keep the
            # reason where the test can see it, and answer SERVFAIL as a resolver would.
            self.errors.append(exc)
            response = dns.message.make_response(query, recursion_available=True)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()

    async def _respond_to(self, query: dns.message.Message, transport: Transport) -> bytes | None:
        question = query.question[0]
        qname = question.name.canonicalize()
        rdtype = dns.rdatatype.RdataType.make(question.rdtype)
        self.queries.append(Query(qname.to_text(), dns.rdatatype.to_text(rdtype), transport))

        fault = self._fault(qname, rdtype)
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.drop:
            return None

        response = dns.message.make_response(query, recursion_available=True)
        if fault is not None and fault.rcode is not None:
            response.set_rcode(dns.rcode.from_text(fault.rcode))
            return response.to_wire()
        self._answer(response, qname, rdtype)
        if self._ad_all or qname in self._ad_names:
            response.flags |= dns.flags.AD

        if transport == "tcp":
            return response.to_wire(max_size=65535)
        if fault is not None and fault.truncate:
            return self._truncated(response)
        limit = query.payload if query.edns >= 0 else _PLAIN_UDP_LIMIT
        try:
            return response.to_wire(max_size=max(limit, _PLAIN_UDP_LIMIT))
        except dns.exception.TooBig:
            return self._truncated(response)

    @staticmethod
    def _truncated(response: dns.message.Message) -> bytes:
        # An empty answer with TC set: the client learns nothing over UDP and must ask again
        # over TCP, which is what RFC 7766 expects it to do.
        response.answer = []
        response.authority = []
        response.additional = []
        response.flags |= dns.flags.TC
        return response.to_wire()

    def _answer(
        self,
        response: dns.message.Message,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
    ) -> None:
        ttl = self.zone.ttl
        name = qname
        seen = {name}
        for _ in range(_MAX_CHAIN):
            records = self.zone.get(name, rdtype)
            if records:
                response.answer.append(dns.rrset.from_rdata_list(name, ttl, records))
                return
            cname = self.zone.get(name, dns.rdatatype.CNAME)
            if not cname or rdtype == dns.rdatatype.CNAME:
                break
            response.answer.append(dns.rrset.from_rdata_list(name, ttl, cname[:1]))
            assert isinstance(cname[0], dns.rdtypes.ANY.CNAME.CNAME)
            target = _name(cname[0].target)
            if target in seen:
                return  # a loop: give the chain as it stands, the client will notice
            seen.add(target)
            name = target
        # No data at the end of the chain: NXDOMAIN if that name is unknown, else NODATA.
        if not self.zone.exists(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
        soa = self.zone.soa_for(name)
        if soa is not None:
            owner, rdatas = soa
            response.authority.append(dns.rrset.from_rdata_list(owner, ttl, rdatas))

    async def _handle_udp(
        self, transport: asyncio.DatagramTransport, wire: bytes, addr: tuple[str, int]
    ) -> None:
        answer = await self._respond(wire, "udp")
        if answer is not None and not transport.is_closing():
            transport.sendto(answer, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    header = await reader.readexactly(2)
                    (length,) = struct.unpack("!H", header)
                    wire = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                answer = await self._respond(wire, "tcp")
                if answer is None:
                    continue  # silent: the client waits until its own timeout
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport does not inherit from DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            # One task per datagram, so a delayed answer does not hold up the others.
            self._server._spawn(self._server._handle_udp(self._transport, data, addr))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors about earlier replies (the client went away) are not our problem.
        pass


class ThreadedDNSServer:
    """:class:`DNSServer` on its own event loop in a daemon thread, for synchronous callers.

    ``with ThreadedDNSServer(zone) as srv: srv.port`` — the port is bound before the
    ``with`` body starts, and the thread is joined when it ends.
    """

    def __init__(
        self,
        zone: Zone,
        *,
        faults: Mapping[FaultKey, Fault] | None = None,
        authenticated: bool | Iterable[str] = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server = DNSServer(
            zone, faults=faults, authenticated=authenticated, host=host, port=port
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    @property
    def queries(self) -> list[Query]:
        return self.server.queries

    @property
    def faults(self) -> dict[FaultKey, Fault]:
        return self.server.faults

    def queried(
        self, name: str, rdtype: str | None = None, transport: Transport | None = None
    ) -> int:
        return self.server.queried(name, rdtype, transport)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(),), name="dns-server", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> ThreadedDNSServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
