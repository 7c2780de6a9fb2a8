"""MX resolution: which hosts accept mail for a domain, and at which addresses.

This is the DNS edge of prober. Everything dnspython can raise is translated here into
plain outcomes with a sentence explaining them, because "the domain's DNS server is
failing" is a finding to report, not a crash.

The rules followed are RFC 5321 §5.1 (MX records sorted by preference, equal preferences
in random order, the domain's own address records when there is no MX at all) and
RFC 7505 (the null MX, ``0 .``, by which a domain says it takes no mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import ipaddress
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.resolver

from prober.errors import InputError
from prober.numbers import ascii_port

__all__ = [
    "DNSConfig",
    "Lookup",
    "MXHost",
    "MXResult",
    "MXStatus",
    "Outcome",
    "Resolver",
    "parse_dns_server",
]

# Classic DNS-over-UDP answers stop at 512 octets; 1232 is the EDNS buffer size agreed for
# DNS Flag Day 2020, large enough for ordinary MX sets while avoiding IP fragmentation.
_EDNS_PAYLOAD = 1232
# dnspython waits this long for one server before trying again or moving on; the
# configured timeout bounds the whole lookup, so a lost packet is retried in time.
_ATTEMPT_TIMEOUT = 2.0
# How long a negative answer (NXDOMAIN, no record of the type, a name that cannot be
# asked about) is kept. RFC 2308 would take it from the zone's SOA, which the answer does
# not hand us; a minute is short enough never to outlive a fix by much.
_NEGATIVE_TTL = 60


@dataclass(frozen=True, slots=True)
class DNSConfig:
    """How to reach DNS. ``servers`` empty means the system's resolver configuration."""

    servers: tuple[tuple[str, int], ...] = ()
    timeout: float = 5.0  # seconds one lookup may take, retries included
    # Only the best few MX hosts are resolved: a domain listing hundreds of MX records must
    # not cost hundreds of lookups, and nobody tries more than a handful anyway.
    max_hosts: int = 5

    @classmethod
    def parse(cls, *servers: str, timeout: float = 5.0) -> DNSConfig:
        """From the forms people type: ``DNSConfig.parse("127.0.0.53:5353", "::1")``."""
        return cls(servers=tuple(parse_dns_server(s) for s in servers), timeout=timeout)


class MXStatus(enum.StrEnum):
    """What the MX lookup established about the domain."""

    OK = "ok"  # at least one MX host has an address
    IMPLICIT = "implicit"  # no MX record; the domain's own A/AAAA are used (RFC 5321 §5.1)
    NULL_MX = "null_mx"  # the domain declares it accepts no mail (RFC 7505)
    NO_DOMAIN = "no_domain"  # the domain does not exist (NXDOMAIN) or is not a valid name
    # Nothing to deliver to: no MX and no A/AAAA, or MX hosts that all fail for lasting
    # reasons (they do not exist, have no address, or their CNAME chain loops).
    NO_MAIL_HOSTS = "no_mail_hosts"
    TEMP_FAILURE = "temp_failure"  # SERVFAIL, timeout, unreachable DNS: try again later


class Outcome(enum.StrEnum):
    """How one DNS question ended."""

    ANSWER = "answer"  # records of the asked type
    NO_DATA = "no_data"  # the name exists but has no record of that type
    NXDOMAIN = "nxdomain"  # the name does not exist
    SERVER_ERROR = "server_error"  # the server answered SERVFAIL, REFUSED or similar
    TIMEOUT = "timeout"  # no answer within the configured time
    UNREACHABLE = "unreachable"  # no DNS server could be used at all
    CNAME_LOOP = "cname_loop"  # the alias chain loops or is too long to follow
    INVALID = "invalid"  # the name cannot be asked about (malformed, too long)

    @property
    def temporary(self) -> bool:
        """True when asking again later may give a different result."""
        return self in _TEMPORARY


_TEMPORARY = frozenset({Outcome.SERVER_ERROR, Outcome.TIMEOUT, Outcome.UNREACHABLE})


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of one DNS question, whatever happened."""

    name: str  # the name asked about, without the final dot
    rdtype: str  # "MX", "A", "TXT", ...
    outcome: Outcome
    records: tuple[dns.rdata.Rdata, ...] = ()
    canonical_name: str = ""  # where the CNAME chain ended, without the final dot
    ttl: int | None = None
    authenticated: bool = False  # the resolver set the AD bit (DNSSEC validated)
    error: str | None = None  # a full sentence when the outcome is not ANSWER

    @property
    def texts(self) -> tuple[str, ...]:
        """The records in presentation format (e.g. TXT strings with their quotes)."""
        return tuple(rdata.to_text() for rdata in self.records)


@dataclass(frozen=True, slots=True)
class MXHost:
    """One mail exchanger, with its addresses in the order to try them."""

    name: str  # "mx1.example.test" (no final dot), or the domain itself for an implicit MX
    preference: int
    addresses: tuple[str, ...]
    error: str | None  # why there are no addresses, as a full sentence; else None


@dataclass(frozen=True, slots=True)
class MXResult:
    domain: str  # the A-label domain queried
    status: MXStatus
    hosts: tuple[MXHost, ...]  # by preference; equal preferences in random order
    detail: str  # a sentence explaining the outcome
    elapsed: float  # seconds


# The shape of the ``result`` helper inside Resolver.resolve_mx.
_Build = Callable[[MXStatus, Sequence[MXHost], str], MXResult]


def parse_dns_server(text: str) -> tuple[str, int]:
    """Read a DNS server as given on a command line.

    Accepted: ``192.0.2.1``, ``192.0.2.1:5353``, ``2001:db8::1``, ``[2001:db8::1]:5353``.
    An IPv6 address with a port needs the brackets, since its colons would be ambiguous.
    """
    raw = text.strip()
    if not raw:
        raise InputError("error_dns_empty")
    port_text: str | None = None
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0:
            raise InputError("error_dns_bracket", text=text)
        host, rest = raw[1:close], raw[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InputError("error_dns_after_bracket", text=text)
            port_text = rest[1:]
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    else:
        host = raw  # IPv4 without a port, or IPv6 (every colon belongs to the address)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InputError("error_dns_not_ip", text=text) from None
    if raw.startswith("[") and address.version != 6:
        raise InputError("error_dns_brackets_v4", text=text)
    port = 53
    if port_text is not None:
        number = ascii_port(port_text)
        if number is None:
            raise InputError("error_dns_port", text=text, port=port_text)
        port = number
    return (str(address), port)


def _bare(name: dns.name.Name | str) -> str:
    """A name as shown to people: no final dot (the root stays ".")."""
    text = name.to_text() if isinstance(name, dns.name.Name) else name
    return text.rstrip(".") or "."


def _ip_literal(text: str) -> str | None:
    """The address if ``text`` is an IP literal (possibly bracketed or with a final dot)."""
    candidate = text.rstrip(".").strip("[]")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _server_name(entry: str, port: int) -> str:
    # dnspython names a server "Do53:192.0.2.1@53"; people read "192.0.2.1 port 53".
    text = entry.split(":", 1)[1] if entry.startswith("Do53:") else entry
    address = text.rsplit("@", 1)[0]
    return f"{address} port {port}"


class Resolver:
    """Asks DNS questions and never lets a dnspython exception through.

    Wraps :class:`dns.asyncresolver.Resolver` configured from a :class:`DNSConfig`.

    With ``cache_size`` > 0 answers are kept (at most that many, least recently used
    dropped first) for as long as their TTL allows, and questions already on their way
    are shared, so that a run probing many addresses at one domain, or many domains
    served by one provider's MX hosts, asks each question once. Temporary failures are
    never kept: asking again is exactly what they call for.
    """

    def __init__(
        self,
        config: DNSConfig,
        rng: random.Random | None = None,
        *,
        cache_size: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._rng = rng if rng is not None else random.Random()
        self._setup_error: str | None = None
        self._cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[float, Lookup]] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Task[Lookup]] = {}
        self._results: OrderedDict[tuple[str, str], tuple[float, MXResult]] = OrderedDict()
        self._resolving: dict[tuple[str, str], asyncio.Task[MXResult]] = {}
        self._canonical: dict[str, str] = {}  # host → where its CNAME chain ends
        self.network_queries = 0  # questions that went to a DNS server (cache misses)
        if config.servers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(address, port) for address, port in config.servers
            ]
        else:
            try:
                self._resolver = dns.asyncresolver.Resolver(configure=True)
            except (dns.exception.DNSException, OSError) as exc:
                # No usable resolv.conf: every question will say so instead of crashing.
                self._resolver = dns.asyncresolver.Resolver(configure=False)
                self._setup_error = f"the system has no usable DNS configuration ({exc})"
        self._resolver.lifetime = config.timeout
        self._resolver.timeout = min(config.timeout, _ATTEMPT_TIMEOUT)
        self._resolver.use_edns(0, 0, _EDNS_PAYLOAD)
        # The AD bit in a query asks the resolver to report DNSSEC validation (RFC 6840 §5.7).
        self._resolver.flags = dns.flags.RD | dns.flags.AD
        # Names given to prober are complete domains: never append a local search suffix.
        self._resolver.search = []
        self._resolver.use_search_by_default = False

    # -- one question ------------------------------------------------------------------

    async def query(self, name: str, rdtype: str) -> Lookup:
        """Ask one question; every failure becomes an :class:`Outcome` with a sentence."""
        if self._cache_size <= 0:
            return await self._ask(name, rdtype)
        key = (name.lower().rstrip(".") + ".", rdtype.upper())
        kept = self._cache.get(key)
        if kept is not None:
            if kept[0] > self._clock():
                self._cache.move_to_end(key)
                return kept[1]
            del self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._ask(name, rdtype))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._keep, key))
        # Shielded: one waiter giving up must not cancel the answer others wait for.
        return await asyncio.shield(task)

    def _keep(self, key: tuple[str, str], task: asyncio.Task[Lookup]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        lookup = task.result()
        if lookup.outcome is Outcome.ANSWER:
            ttl = lookup.ttl or 0
        elif lookup.outcome.temporary:
            ttl = 0
        else:
            ttl = _NEGATIVE_TTL
        if ttl <= 0:
            return
        self._cache[key] = (self._clock() + ttl, lookup)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _ask(self, name: str, rdtype: str) -> Lookup:
        self.network_queries += 1
        shown = _bare(name)
        rdtype = rdtype.upper()
        try:
            qname = dns.name.from_text(name, origin=dns.name.root)
            dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            return Lookup(
                shown,
                rdtype,
                Outcome.INVALID,
                error=f"{shown!r} cannot be looked up in DNS as {rdtype}: {_text(exc)}.",
            )
        if self._setup_error is not None:
            return Lookup(
                shown,
                rdtype,
                Outcome.UNREACHABLE,
                error=f"The {rdtype} record of {shown} could not be looked up: "
                f"{self._setup_error}.",
            )
        try:
            answer = await self._resolver.resolve(
                qname, rdtype, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN as exc:
            target = shown
            with contextlib.suppress(Exception):  # only informative: never fail over it
                target = _bare(exc.canonical_name)
            if target == shown:
                error = f"{shown} does not exist in DNS (NXDOMAIN)."
            else:
                error = f"{shown} is an alias of {target}, which does not exist in DNS (NXDOMAIN)."
            return Lookup(shown, rdtype, Outcome.NXDOMAIN, canonical_name=target, error=error)
        except dns.resolver.YXDOMAIN as exc:
            return Lookup(
                shown, rdtype, Outcome.INVALID, error=f"{shown} cannot be looked up: {_text(exc)}."
            )
        except dns.resolver.NoNameservers as exc:
            return self._no_nameservers(shown, rdtype, exc)
        except dns.exception.Timeout as exc:
            servers = _servers_in(exc)
            where = f" from {servers}" if servers else ""
            return Lookup(
                shown,
                rdtype,
                Outcome.TIMEOUT,
                error=f"No answer came{where} to the {rdtype} query for {shown} "
                f"within {self.config.timeout:g} seconds.",
            )
        except (dns.exception.DNSException, OSError) as exc:
            return Lookup(
                shown,
                rdtype,
                Outcome.UNREACHABLE,
                error=f"The {rdtype} query for {shown} failed: {_text(exc)}.",
            )

        response = answer.response
        authenticated = bool(response.flags & dns.flags.AD)
        canonical = _bare(answer.canonical_name)
        # An Answer has a length: compare its rrset with None, never test its truth.
        if answer.rrset is None:
            return Lookup(
                shown,
                rdtype,
                Outcome.NO_DATA,
                canonical_name=canonical,
                authenticated=authenticated,
                error=f"{shown} exists in DNS but has no {rdtype} record.",
            )
        return Lookup(
            shown,
            rdtype,
            Outcome.ANSWER,
            records=tuple(answer.rrset),
            canonical_name=canonical,
            ttl=answer.rrset.ttl,
            authenticated=authenticated,
        )

    def _no_nameservers(self, shown: str, rdtype: str, exc: dns.resolver.NoNameservers) -> Lookup:
        # dnspython gives up on a server that fails, then raises NoNameservers with what
        # each server did; the first thing that went wrong tells the story.
        errors = exc.kwargs.get("errors") or []
        for _server, _tcp, _port, error, _response in errors:
            if isinstance(error, dns.message.ChainTooLong):
                return Lookup(
                    shown,
                    rdtype,
                    Outcome.CNAME_LOOP,
                    error=f"{shown} is an alias (CNAME) whose chain loops back on itself or is "
                    f"too long to follow, so it has no usable {rdtype} record.",
                )
        for server, _tcp, port, error, _response in errors:
            if isinstance(error, str):  # an rcode such as "SERVFAIL" or "REFUSED"
                return Lookup(
                    shown,
                    rdtype,
                    Outcome.SERVER_ERROR,
                    error=f"The DNS server {_server_name(str(server), port)} answered {error} "
                    f"to the {rdtype} query for {shown}.",
                )
        reasons = "; ".join(
            f"{_server_name(str(server), port)}: {_text(error)}"
            for server, _tcp, port, error, _response in errors
        )
        return Lookup(
            shown,
            rdtype,
            Outcome.UNREACHABLE,
            error=f"No DNS server could answer the {rdtype} query for {shown}"
            + (f" ({reasons})." if reasons else " (none is configured)."),
        )

    # -- addresses of one host ---------------------------------------------------------

    async def addresses(self, host: str) -> tuple[tuple[str, ...], str | None]:
        """A and AAAA of ``host`` (CNAMEs followed), IPv4 first; or no address and why."""
        addresses, error, _temporary = await self._addresses(host)
        return addresses, error

    def _aliases(self, hosts: list[str]) -> list[str]:
        """ "alias → target" for the hosts that :meth:`_addresses` found to be CNAMEs."""
        return [f"{h} → {self._canonical[h]}" for h in hosts if h in self._canonical]

    async def _addresses(self, host: str) -> tuple[tuple[str, ...], str | None, bool]:
        literal = _ip_literal(host)
        if literal is not None:
            return (literal,), None, False
        shown = _bare(host)
        v4, v6 = await asyncio.gather(self.query(host, "A"), self.query(host, "AAAA"))
        for lookup in (v4, v6):
            if lookup.canonical_name and lookup.canonical_name != shown:
                # Remembered for the MX notes (RFC 2181 §10.3); bounded like the cache.
                if len(self._canonical) < 4096:
                    self._canonical[shown] = lookup.canonical_name
                break
        # IPv4 first: many networks that run a prober have no working IPv6 route, and a
        # dead IPv6 path costs a whole connect timeout before IPv4 is tried. The IPv6
        # addresses stay in the list, so a host reachable only over IPv6 is still tried.
        found: list[str] = []
        for lookup in (v4, v6):
            for rdata in lookup.records:
                address = str(getattr(rdata, "address", ""))
                if address and address not in found:
                    found.append(address)
        if found:
            return tuple(found), None, False
        for lookup in (v4, v6):
            if lookup.outcome.temporary:
                return (), lookup.error, True
        for lookup in (v4, v6):
            if lookup.outcome in (Outcome.CNAME_LOOP, Outcome.INVALID):
                return (), lookup.error, False
        for lookup in (v4, v6):
            if lookup.outcome is Outcome.NXDOMAIN:
                return (), lookup.error, False
        alias = ""
        if v4.canonical_name and v4.canonical_name != shown:
            alias = f" (it is an alias of {v4.canonical_name})"
        return (), f"{shown} exists in DNS but has no address record (A or AAAA){alias}.", False

    # -- MX ----------------------------------------------------------------------------

    async def resolve_mx(self, domain: str) -> MXResult:
        """The mail hosts of ``domain`` (an A-label name), best first, with addresses.

        With the cache on, a result is kept until the first of the answers it was built
        from expires, and is shared by questions about the same domain meanwhile (so
        every address of one domain is sent to the same MX host first).
        """
        if self._cache_size <= 0:
            return await self._resolve_mx(domain)
        key = (domain.lower().rstrip(".") + ".", "MX*")
        kept = self._results.get(key)
        if kept is not None:
            if kept[0] > self._clock():
                self._results.move_to_end(key)
                return kept[1]
            del self._results[key]
        task = self._resolving.get(key)
        if task is None:
            task = asyncio.ensure_future(self._resolve_mx(domain))
            self._resolving[key] = task
            task.add_done_callback(functools.partial(self._keep_result, key))
        return await asyncio.shield(task)

    def _keep_result(self, key: tuple[str, str], task: asyncio.Task[MXResult]) -> None:
        self._resolving.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        result = task.result()
        if result.status is MXStatus.TEMP_FAILURE:
            return
        # The answers it rests on: the MX question, and the addresses of each host.
        used = [(key[0], "MX")]
        for host in result.hosts:
            name = host.name.lower().rstrip(".") + "."
            if _ip_literal(host.name) is None:
                used += [(name, "A"), (name, "AAAA")]
        if result.status is MXStatus.IMPLICIT:
            used = [(key[0], "MX"), (key[0], "A"), (key[0], "AAAA")]
        expiries = [self._cache[k][0] for k in used if k in self._cache]
        if len(expiries) < len(used):
            return  # some answer was not kept (no TTL, a temporary failure)
        self._results[key] = (min(expiries), result)
        self._results.move_to_end(key)
        while len(self._results) > self._cache_size:
            self._results.popitem(last=False)

    async def _resolve_mx(self, domain: str) -> MXResult:
        started = time.monotonic()
        shown = _bare(domain)

        def result(status: MXStatus, hosts: Sequence[MXHost], detail: str) -> MXResult:
            return MXResult(shown, status, tuple(hosts), detail, time.monotonic() - started)

        if shown == ".":
            return result(MXStatus.NO_DOMAIN, (), "An empty name is not a mail domain.")
        lookup = await self.query(domain, "MX")
        if lookup.outcome is Outcome.NXDOMAIN:
            return result(
                MXStatus.NO_DOMAIN,
                (),
                f"The domain {shown} does not exist in DNS (its DNS server answered NXDOMAIN), "
                "so nothing can be delivered to it.",
            )
        if lookup.outcome is Outcome.INVALID:
            return result(MXStatus.NO_DOMAIN, (), lookup.error or f"{shown} is not valid.")
        if lookup.outcome is Outcome.CNAME_LOOP:
            return result(
                MXStatus.NO_MAIL_HOSTS,
                (),
                f"The MX records of {shown} cannot be read: {shown} is an alias (CNAME) whose "
                "chain loops back on itself or is too long to follow.",
            )
        if lookup.outcome.temporary:
            return result(
                MXStatus.TEMP_FAILURE,
                (),
                f"The MX records of {shown} could not be looked up, so it is not known yet "
                f"where its mail goes: {_clause(lookup.error)}",
            )
        if lookup.outcome is Outcome.NO_DATA:
            return await self._implicit(shown, result)
        return await self._from_records(shown, lookup.records, result)

    async def _implicit(self, shown: str, result: _Build) -> MXResult:
        # RFC 5321 §5.1: with no MX at all, the domain itself is the one mail host.
        addresses, error, temporary = await self._addresses(shown)
        if addresses:
            return result(
                MXStatus.IMPLICIT,
                (MXHost(shown, 0, addresses, None),),
                f"{shown} has no MX record, so mail goes to the domain's own address "
                "(implicit MX, RFC 5321 section 5.1).",
            )
        host = MXHost(shown, 0, (), error)
        if temporary:
            return result(
                MXStatus.TEMP_FAILURE,
                (host,),
                f"{shown} has no MX record and the lookup of its own address failed: "
                f"{_clause(error)}",
            )
        return result(
            MXStatus.NO_MAIL_HOSTS,
            (),
            f"{shown} has neither an MX record nor an address record (A or AAAA), "
            "so there is no host to deliver its mail to.",
        )

    async def _from_records(
        self, shown: str, records: Sequence[dns.rdata.Rdata], result: _Build
    ) -> MXResult:
        best: dict[dns.name.Name, int] = {}  # a host listed twice counts once, at its best
        null_seen = False
        for rdata in records:
            if not isinstance(rdata, dns.rdtypes.ANY.MX.MX):
                continue
            if rdata.exchange == dns.name.root:
                null_seen = True
                continue
            exchange = rdata.exchange.canonicalize()
            if exchange not in best or rdata.preference < best[exchange]:
                best[exchange] = rdata.preference
        if not best:
            return result(
                MXStatus.NULL_MX,
                (),
                f"{shown} publishes a null MX record (RFC 7505): it declares that it "
                "accepts no mail at all.",
            )

        # Sort by preference; shuffle each group of equal preference (RFC 5321 §5.1) so
        # load is spread as the domain intends. Shuffling first, then a stable sort, gives
        # exactly that.
        ordered = sorted(best.items(), key=lambda item: item[0].to_text())
        self._rng.shuffle(ordered)
        ordered.sort(key=lambda item: item[1])
        chosen = ordered[: max(self.config.max_hosts, 1)]
        skipped = len(ordered) - len(chosen)

        notes: list[str] = []
        if null_seen:
            notes.append(
                "A null MX record (RFC 7505) is listed next to real MX records; it was ignored."
            )
        literals = [_bare(name) for name, _ in chosen if _ip_literal(_bare(name)) is not None]
        if literals:
            notes.append(
                "An MX record names an IP address instead of a host name ("
                + ", ".join(literals)
                + "), which RFC 5321 does not allow; it was used as the address."
            )
        if skipped:
            notes.append(f"Only the best {len(chosen)} of {len(ordered)} MX hosts were looked up.")

        looked_up = await asyncio.gather(*(self._addresses(_bare(name)) for name, _ in chosen))
        aliases = self._aliases([_bare(name) for name, _ in chosen])
        if aliases:
            notes.append(
                "An MX record names an alias (CNAME) instead of a host ("
                + ", ".join(aliases)
                + "); RFC 2181 §10.3 forbids it, and some senders refuse to follow it."
            )
        hosts = [
            MXHost(_bare(name), preference, addresses, error)
            for (name, preference), (addresses, error, _temporary) in zip(
                chosen, looked_up, strict=True
            )
        ]
        usable = [host for host in hosts if host.addresses]
        if usable:
            first = usable[0]
            plural = "record" if len(ordered) == 1 else "records"
            detail = (
                f"{shown} has {len(ordered)} MX {plural}; mail goes first to {first.name} "
                f"(preference {first.preference})."
            )
            return result(MXStatus.OK, hosts, " ".join([detail, *notes]))
        if any(temporary for _addresses, _error, temporary in looked_up):
            detail = (
                f"None of the MX hosts of {shown} could be resolved to an address right now; "
                "at least one lookup failed temporarily."
            )
            return result(MXStatus.TEMP_FAILURE, hosts, " ".join([detail, *notes]))
        detail = (
            f"{shown} has MX records, but none of the hosts they name has an address, "
            "so its mail cannot be delivered."
        )
        return result(MXStatus.NO_MAIL_HOSTS, hosts, " ".join([detail, *notes]))


def _text(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text or type(exc).__name__


def _clause(sentence: str | None) -> str:
    """A sentence turned into the tail of another one (first letter lowered if a word)."""
    if not sentence:
        return "the reason is unknown."
    head = sentence.split(" ", 1)[0]
    if head in {"The", "No"}:
        return sentence[0].lower() + sentence[1:]
    return sentence


def _servers_in(exc: dns.exception.DNSException) -> str:
    errors = exc.kwargs.get("errors") or []
    names: list[str] = []
    for server, _tcp, port, _error, _response in errors:
        name = _server_name(str(server), port)
        if name not in names:
            names.append(name)
    return ", ".join(names)
