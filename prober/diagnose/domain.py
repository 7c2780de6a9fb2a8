"""``probe diagnose DOMAIN``: how well a domain receives mail, with findings to act on.

Where :mod:`prober.engine.session` asks about one address, this checks the receiving side of a
whole domain: its DNS (MX, SPF, DMARC, MTA-STS, TLS-RPT, DANE TLSA) and every address of
every MX host (reverse DNS, greeting, EHLO extensions, STARTTLS and the certificate, an
open relay test, the null sender). Facts are gathered first; :func:`assess` then turns
them into :class:`Finding` records whose wording lives in ``data/findings.toml``, so
that the facts can be tested apart from what is said about them.

Nothing here sends DATA: the mail tests stop at RCPT and end with RSET and QUIT.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import re
import socket
import string
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, Literal

import dns.exception
import dns.reversename

from prober.address import parse_address
from prober.diagnose.certificate import CertInfo, name_matches, parse_certificate, tlsa_matches
from prober.errors import AddressError, CatalogueError, InputError, NetworkError
from prober.explanation.catalogue import LANGUAGES, Stage, Text
from prober.guard import Guard
from prober.numbers import ascii_int
from prober.resolve.mx import DNSConfig, Lookup, MXStatus, Outcome, Resolver
from prober.smtp.connection import Connection
from prober.smtp.dialogue import Dialogue, Finish, Plan, parse_extensions
from prober.smtp.driver import Exchanged, StepError, Transcript, open_session
from prober.smtp.reply import Reply
from prober.smtp.tls import check_ca_file

__all__ = [
    "AddressReport",
    "DANEReport",
    "DiagnoseOptions",
    "DiagnoseResult",
    "Extensions",
    "Finding",
    "HostReport",
    "PolicyRecord",
    "RelayResult",
    "SPFAnalysis",
    "Severity",
    "Step",
    "TLSACheck",
    "TLSARecord",
    "TLSReport",
    "analyse_spf",
    "assess",
    "diagnose",
    "finding",
    "findings_catalogue",
    "render_text",
    "reverse_lookup",
    "worst_of",
]


# -- findings ------------------------------------------------------------------------------


class Severity(enum.StrEnum):
    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.NOTE: 1, Severity.WARNING: 2, Severity.ERROR: 3}


@dataclass(frozen=True, slots=True)
class FindingEntry:
    """One entry of ``findings.toml``."""

    id: str
    severity: Severity
    texts: Mapping[str, Text]
    placeholders: frozenset[str]


def _placeholders(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name}


@cache
def findings_catalogue() -> Mapping[str, FindingEntry]:
    """The finding texts, validated: a bad edit fails here, not in the middle of a check."""
    source = resources.files("prober").joinpath("data").joinpath("findings.toml")
    raw = tomllib.loads(source.read_text(encoding="utf-8"))
    entries: dict[str, FindingEntry] = {}
    for item in raw.get("finding", []):
        ident = item.get("id")
        if not isinstance(ident, str) or not re.fullmatch(r"[a-z0-9_]+", ident):
            raise CatalogueError(f"findings.toml: bad or missing id {ident!r}")
        if ident in entries:
            raise CatalogueError(f"findings.toml: {ident} appears twice")
        try:
            severity = Severity(item.get("severity"))
        except ValueError:
            raise CatalogueError(
                f"findings.toml: {ident} has severity {item.get('severity')!r}; "
                "use error, warning or note"
            ) from None
        texts: dict[str, Text] = {}
        expected: set[str] | None = None
        for lang in LANGUAGES:
            words = item.get(lang)
            if not isinstance(words, dict) or not all(
                isinstance(words.get(key), str) and words[key].strip()
                for key in ("meaning", "action")
            ):
                raise CatalogueError(f"findings.toml: {ident} lacks {lang} meaning or action")
            names = _placeholders(words["meaning"]) | _placeholders(words["action"])
            if expected is not None and names != expected:
                raise CatalogueError(
                    f"findings.toml: {ident} uses placeholders {sorted(names)} in {lang} "
                    f"but {sorted(expected)} in {LANGUAGES[0]}"
                )
            expected = names
            texts[lang] = Text(meaning=words["meaning"], action=words["action"])
        entries[ident] = FindingEntry(ident, severity, texts, frozenset(expected or ()))
    return entries


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a check found, what it means and what to do, in one language."""

    severity: Severity
    id: str
    meaning: str
    action: str
    host: str | None = None  # the MX host (or test target) it concerns
    address: str | None = None  # the IP address it concerns
    detail: str = ""  # the facts behind it: a record, a server's reply, an error
    lang: str = "en"
    params: tuple[tuple[str, str], ...] = ()  # what filled the text's placeholders

    def in_lang(self, lang: str) -> Finding:
        """The same finding worded in another language."""
        return finding(
            self.id,
            lang,
            host=self.host,
            address=self.address,
            detail=self.detail,
            **dict(self.params),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = plain(self)
        data["params"] = dict(self.params)
        return data


def finding(
    ident: str,
    lang: str = "en",
    *,
    host: str | None = None,
    address: str | None = None,
    detail: str = "",
    **params: object,
) -> Finding:
    """Build the finding ``ident``; its placeholders are filled from ``params``."""
    entry = findings_catalogue()[ident]
    missing = entry.placeholders - params.keys()
    if missing:
        raise KeyError(f"finding {ident} needs {sorted(missing)}")
    lang = lang if lang in entry.texts else "en"
    values = {key: str(value) for key, value in params.items()}
    words = entry.texts[lang]
    return Finding(
        severity=entry.severity,
        id=ident,
        meaning=words.meaning.format(**values),
        action=words.action.format(**values),
        host=host,
        address=address,
        detail=detail,
        lang=lang,
        params=tuple(sorted(values.items())),
    )


def worst_of(findings: Iterable[Finding]) -> Severity | None:
    """The most serious severity among ``findings`` (None when there are none)."""
    worst: Severity | None = None
    for item in findings:
        if worst is None or item.severity.rank > worst.rank:
            worst = item.severity
    return worst


def plain(value: Any) -> Any:
    """Dataclasses, enums, tuples and mappings as JSON-ready built-in values."""
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return dict(_json_field(f.name, plain(getattr(value, f.name))) for f in fields(value))
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def _json_field(name: str, value: Any) -> tuple[str, Any]:
    """Durations in JSON are milliseconds, as in every prober output: ``connect_seconds``
    becomes ``connect_ms``, a bare ``seconds`` becomes ``elapsed_ms``."""
    if name == "seconds" or name.endswith("_seconds"):
        key = "elapsed_ms" if name == "seconds" else name.removesuffix("_seconds") + "_ms"
        ms = round(value * 1000, 1) if isinstance(value, int | float) else value
        return key, ms
    return name, value


# -- facts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A TXT policy of the domain (SPF, DMARC, MTA-STS or TLS-RPT) as found in DNS."""

    kind: str  # "spf", "dmarc", "mta-sts", "tls-rpt"
    name: str  # where it was looked up
    outcome: Outcome
    records: tuple[str, ...]  # the records of this kind; other TXT records are left out
    tags: Mapping[str, str]  # tag=value pairs of the record when there is exactly one
    authenticated: bool  # the resolver reported the answer DNSSEC-validated
    error: str | None  # why the lookup failed (temporary failures only)


@dataclass(frozen=True, slots=True)
class SPFAnalysis:
    problems: tuple[str, ...]  # syntax faults, each a sentence
    lookups: int  # DNS-querying terms at the top level (RFC 7208 §4.6.4)
    all_qualifier: str | None  # "+", "-", "~", "?" of the all term; None without one
    redirect: str | None
    uses_ptr: bool


@dataclass(frozen=True, slots=True)
class TLSARecord:
    usage: int
    selector: int
    mtype: int
    data: str  # hex

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data}"


@dataclass(frozen=True, slots=True)
class DANEReport:
    """The TLSA records of one MX host (``_25._tcp.<host>``)."""

    name: str
    outcome: Outcome
    records: tuple[TLSARecord, ...]
    authenticated: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class TLSACheck:
    record: TLSARecord
    matched: bool | None  # None: not checkable from the server certificate alone
    reason: str


@dataclass(frozen=True, slots=True)
class Extensions:
    """What the server offered in its EHLO reply."""

    size_mb: float | None  # the SIZE limit in megabytes (10**6 octets); None: not stated
    pipelining: bool
    eightbitmime: bool
    smtputf8: bool
    chunking: bool
    starttls: bool
    auth: tuple[str, ...]  # SASL mechanisms
    keywords: Mapping[str, str]  # every keyword and its parameters

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, str]) -> Extensions:
        size: float | None = None
        raw_size = keywords.get("SIZE", "").split()
        octets = ascii_int(raw_size[0]) if raw_size else None  # ASCII digits only
        if octets is not None and octets > 0:
            size = round(octets / 1_000_000, 1)
        return cls(
            size_mb=size,
            pipelining="PIPELINING" in keywords,
            eightbitmime="8BITMIME" in keywords,
            smtputf8="SMTPUTF8" in keywords,
            chunking="CHUNKING" in keywords,
            starttls="STARTTLS" in keywords,
            auth=tuple(keywords.get("AUTH", "").upper().split()) if "AUTH" in keywords else (),
            keywords=dict(keywords),
        )


@dataclass(frozen=True, slots=True)
class TLSReport:
    version: str
    cipher: str
    verified: bool  # the chain and the MX name checked out with the verifying context
    verify_message: str | None  # why verification failed, as the TLS library said it
    certificate: CertInfo | None
    name_matches: bool | None  # the certificate names the MX host
    tlsa: tuple[TLSACheck, ...]

    @property
    def dane_match(self) -> bool | None:
        """True if a TLSA record matches; None if there is none that could be checked."""
        checked = [c.matched for c in self.tlsa if c.matched is not None]
        return any(checked) if checked else None


class RelayResult(enum.StrEnum):
    REFUSED = "refused"  # the foreign recipient was refused: not an open relay
    OPEN = "open"
    INCONCLUSIVE = "inconclusive"
    NOT_TESTED = "not_tested"


@dataclass(frozen=True, slots=True)
class Step:
    """One exchange with the server, for the transcript and per-step timing."""

    name: str  # "connect", "banner", "ehlo", "starttls", "tls", "mail", "rcpt", "rset", "quit"
    command: str | None
    reply: str | None
    seconds: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AddressReport:
    """Everything learnt about one address of one MX host."""

    address: str
    refused: str | None = None  # why the network guard did not allow a connection
    ptr: tuple[str, ...] = ()
    ptr_error: str | None = None  # the PTR lookup failed (an absent PTR is not an error)
    fcrdns: bool | None = None  # a PTR name resolves back to the address; None: no PTR
    connect_seconds: float | None = None
    connect_error: str | None = None
    banner: str | None = None
    banner_name: str | None = None  # the host name the greeting gives
    banner_matches: bool | None = None  # it is the MX name or a PTR name
    ehlo_refused: str | None = None  # the server's reply when it refused EHLO
    ehlo: Extensions | None = None  # offered before TLS
    ehlo_tls: Extensions | None = None  # offered after TLS
    starttls_refused: str | None = None  # the reply when STARTTLS was refused
    tls: TLSReport | None = None
    tls_error: str | None = None  # the handshake failed (not: the certificate failed)
    null_sender: bool | None = None  # MAIL FROM:<> accepted; None: not tested or deferred
    null_sender_reply: str | None = None
    relay: RelayResult = RelayResult.NOT_TESTED
    relay_reply: str | None = None  # the reply that decided the relay test
    steps: tuple[Step, ...] = ()
    error: str | None = None  # why the session broke off early
    finished: bool = False  # False when the overall deadline cut the checks short

    @property
    def time_to_banner(self) -> float | None:
        for step in self.steps:
            if step.name == "banner" and step.error is None:
                return step.seconds
        return None


@dataclass(frozen=True, slots=True)
class HostReport:
    name: str
    preference: int
    error: str | None  # why the host has no address
    dane: DANEReport | None
    addresses: tuple[AddressReport, ...]


@dataclass(frozen=True, slots=True)
class DiagnoseResult:
    domain: str
    mx_status: MXStatus | None  # None when the deadline struck before the MX answer
    mx_detail: str
    hosts: tuple[HostReport, ...]
    spf: PolicyRecord | None
    dmarc: PolicyRecord | None
    mta_sts: PolicyRecord | None
    tls_rpt: PolicyRecord | None
    findings: tuple[Finding, ...]
    elapsed: float
    complete: bool  # False when the overall deadline cut the checks short
    lang: str = "en"

    @property
    def worst(self) -> Severity | None:
        return worst_of(self.findings)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = plain(self)
        data["worst"] = self.worst.value if self.worst is not None else None
        data["findings"] = [item.to_dict() for item in self.findings]
        return data


# -- options -------------------------------------------------------------------------------


def default_helo() -> str:
    """This host's fully qualified name, the conventional EHLO argument."""
    name = socket.getfqdn()
    return name if "." in name else "localhost.localdomain"


@dataclass(frozen=True, slots=True)
class DiagnoseOptions:
    dns: DNSConfig = field(default_factory=DNSConfig)
    resolver: Resolver | None = None  # used instead of one built from ``dns``
    port: int = 25
    helo: str = ""  # "" → this host's fully qualified name
    timeout: float = 15.0  # each network step: connect, one reply, a handshake
    deadline: float = 120.0  # the whole diagnosis
    allow_private: bool = False
    tls_ca_file: str | None = None  # extra trust anchors (tests, private PKI)
    lang: str = "en"
    relay_test: bool = True
    null_sender_test: bool = True
    # The relay test uses two unrelated domains that can never be real (RFC 2606 names):
    # accepting the recipient proves relaying without any mail being deliverable.
    relay_test_from: str = "probe@relay-test.invalid"
    relay_test_to: str = "probe@relay-test.example"
    expiring_days: int = 14  # a certificate closer than this to expiry is a warning
    source_address: str | None = None
    proxy: str | None = None  # socks5://host:port


# -- DNS policies (pure) -------------------------------------------------------------------


def _txt_strings(lookup: Lookup) -> tuple[str, ...]:
    # RFC 7208 §3.3: the character-strings of one TXT record are joined with nothing
    # between them; long SPF records are split this way.
    texts = []
    for rdata in lookup.records:
        parts: tuple[bytes, ...] = getattr(rdata, "strings", ())
        texts.append(b"".join(parts).decode("utf-8", "replace"))
    return tuple(texts)


def _tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        key, eq, value = part.partition("=")
        if eq and key.strip():
            tags.setdefault(key.strip().lower(), value.strip())
    return tags


_POLICY_START = {
    "spf": re.compile(r"v=spf1(?: |$)", re.IGNORECASE),
    "dmarc": re.compile(r"v\s*=\s*DMARC1\s*(?:;|$)", re.IGNORECASE),
    "mta-sts": re.compile(r"v\s*=\s*STSv1\s*(?:;|$)"),
    "tls-rpt": re.compile(r"v\s*=\s*TLSRPTv1\s*(?:;|$)"),
}


def policy_record(kind: str, lookup: Lookup) -> PolicyRecord:
    """The records of ``kind`` among the TXT records of ``lookup``."""
    found = tuple(t for t in _txt_strings(lookup) if _POLICY_START[kind].match(t))
    tags = _tags(found[0]) if len(found) == 1 and kind != "spf" else {}
    return PolicyRecord(
        kind=kind,
        name=lookup.name,
        outcome=lookup.outcome,
        records=found,
        tags=tags,
        authenticated=lookup.authenticated,
        error=lookup.error if lookup.outcome.temporary else None,
    )


_SPF_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_SPF_LOOKUPS = frozenset({"include", "a", "mx", "ptr", "exists"})
_SPF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_SPF_CIDR = re.compile(r"(?:/([0-9]{1,2}))?(?://([0-9]{1,3}))?")


def analyse_spf(record: str) -> SPFAnalysis:
    """Check the syntax of one SPF record (RFC 7208 §4.6.1, §5, §6) without DNS."""
    problems: list[str] = []
    lookups = 0
    all_qualifier: str | None = None
    redirect: str | None = None
    uses_ptr = False
    modifiers_seen: set[str] = set()
    for term in record.split()[1:]:
        qualifier = term[0] if term[0] in "+-~?" else ""
        body = term[len(qualifier) :]
        match = _SPF_NAME.match(body)
        if match is None:
            problems.append(f"'{term}' is not an SPF mechanism or modifier.")
            continue
        name = match.group(0).lower()
        rest = body[match.end() :]
        if rest.startswith("="):
            if qualifier:
                problems.append(f"'{term}': a modifier cannot have a qualifier.")
            value = rest[1:]
            if name in ("redirect", "exp"):
                if name in modifiers_seen:
                    problems.append(f"'{name}=' appears more than once.")
                modifiers_seen.add(name)
                if not value:
                    problems.append(f"'{term}' has no domain.")
                if name == "redirect":
                    redirect = value
                    lookups += 1
            continue
        if name not in _SPF_MECHANISMS:
            problems.append(f"'{term}': '{name}' is not an SPF mechanism.")
            continue
        if name in _SPF_LOOKUPS:
            lookups += 1
        if name == "ptr":
            uses_ptr = True
        problem = _spf_argument(name, rest)
        if problem:
            problems.append(f"'{term}': {problem}")
        if name == "all" and all_qualifier is None:
            all_qualifier = qualifier or "+"
    return SPFAnalysis(tuple(problems), lookups, all_qualifier, redirect, uses_ptr)


def _spf_argument(name: str, rest: str) -> str | None:
    """What is wrong with the part after a mechanism's name, or None."""
    if name == "all":
        return "'all' takes no argument." if rest else None
    if name in ("include", "exists"):
        if not rest.startswith(":") or len(rest) < 2:
            return f"'{name}' needs a domain, as in {name}:example.org."
        return None
    if name in ("ip4", "ip6"):
        if not rest.startswith(":"):
            return f"'{name}' needs an address, as in {name}:" + (
                "192.0.2.0/24." if name == "ip4" else "2001:db8::/32."
            )
        try:
            network = ipaddress.ip_network(rest[1:], strict=False)
        except ValueError:
            return f"'{rest[1:]}' is not a valid {name} address or network."
        if (name == "ip4") != (network.version == 4):
            return f"'{rest[1:]}' is not an IPv{name[-1]} address."
        return None
    # a, mx, ptr: an optional ":domain", then (a and mx only) optional CIDR lengths.
    domain_part, cidr_part = rest, ""
    if rest.startswith(":"):
        slash = rest.find("/")
        domain_part, cidr_part = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        if len(domain_part) < 2:
            return f"'{name}:' has an empty domain."
    else:
        domain_part, cidr_part = "", rest
    if cidr_part:
        if name == "ptr":
            return "'ptr' takes no prefix length."
        cidr = _SPF_CIDR.fullmatch(cidr_part)
        if cidr is None:
            return f"'{cidr_part}' is not a valid prefix length."
        if cidr.group(1) is not None and int(cidr.group(1)) > 32:
            return f"the IPv4 prefix length {cidr.group(1)} is over 32."
        if cidr.group(2) is not None and int(cidr.group(2)) > 128:
            return f"the IPv6 prefix length {cidr.group(2)} is over 128."
    return None


# -- the run -------------------------------------------------------------------------------


_TLS_VERSIONS_DEPRECATED = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})
TLSMode = Literal["verify", "unverified", "plain"]


def _domain(text: str) -> str:
    name = text.strip().rstrip(".")
    try:
        parsed = parse_address(f"postmaster@{name}")
    except AddressError as exc:
        raise InputError("error_diagnose_domain", text=text, reason=exc) from None
    if parsed.literal is not None:
        raise InputError("error_diagnose_ip", text=text)
    return parsed.ascii_domain


def _ok(reply: Reply) -> bool:
    return reply.first_digit == 2


class _AddressWork:
    """The facts of one address as they are learnt, kept if the deadline strikes."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.facts: dict[str, Any] = {}
        self.steps: list[Step] = []

    def freeze(self) -> AddressReport:
        return AddressReport(self.address, steps=tuple(self.steps), **self.facts)

    async def step(self, name: str, conn: Connection, line: str | None, timeout: float) -> Reply:
        started = time.monotonic()
        try:
            reply = await (conn.command(line, timeout) if line else conn.read_reply(timeout))
        except NetworkError as exc:
            self.steps.append(Step(name, line, None, time.monotonic() - started, exc.detail))
            raise
        self.steps.append(Step(name, line, str(reply), time.monotonic() - started))
        return reply


@dataclass
class _HostWork:
    name: str
    preference: int
    error: str | None
    dane: DANEReport | None = None
    addresses: list[_AddressWork] = field(default_factory=list)

    def freeze(self) -> HostReport:
        return HostReport(
            self.name,
            self.preference,
            self.error,
            self.dane,
            tuple(a.freeze() for a in self.addresses),
        )


class _Run:
    def __init__(self, domain: str, options: DiagnoseOptions) -> None:
        self.domain = domain
        self.options = options
        self.resolver = options.resolver or Resolver(options.dns)
        self.guard = Guard(allow_private=options.allow_private)
        self.helo = options.helo or default_helo()
        if options.tls_ca_file:
            try:
                check_ca_file(options.tls_ca_file)
            except (OSError, ValueError) as exc:
                raise InputError(
                    "error_diagnose_ca", path=options.tls_ca_file, error=exc
                ) from None
        self.mx_status: MXStatus | None = None
        self.mx_detail = ""
        self.policies: dict[str, PolicyRecord] = {}
        self.hosts: list[_HostWork] = []

    async def run(self) -> None:
        d = self.domain
        mx, spf, dmarc, sts, rpt = await asyncio.gather(
            self.resolver.resolve_mx(d),
            self.resolver.query(d, "TXT"),
            self.resolver.query(f"_dmarc.{d}", "TXT"),
            self.resolver.query(f"_mta-sts.{d}", "TXT"),
            self.resolver.query(f"_smtp._tls.{d}", "TXT"),
        )
        self.mx_status, self.mx_detail = mx.status, mx.detail
        for kind, lookup in (("spf", spf), ("dmarc", dmarc), ("mta-sts", sts), ("tls-rpt", rpt)):
            self.policies[kind] = policy_record(kind, lookup)
        self.hosts = [_HostWork(h.name, h.preference, h.error) for h in mx.hosts]
        addresses = {h.name: h.addresses for h in mx.hosts}

        await asyncio.gather(*(self._dane(host) for host in self.hosts))
        for host in self.hosts:
            host.addresses = [_AddressWork(a) for a in addresses[host.name]]
        await asyncio.gather(
            *(self._reverse(work) for host in self.hosts for work in host.addresses)
        )
        # One address at a time: a diagnosis should look like one careful sender, not a
        # burst of parallel connections that a server could take for an attack.
        for host in self.hosts:
            for work in host.addresses:
                refusal = self.guard.refusal(work.address)
                if refusal is not None:
                    work.facts["refused"] = refusal
                    work.facts["finished"] = True
                    continue
                await _SMTPCheck(self, host, work).run()
                work.facts["finished"] = True

    async def _dane(self, host: _HostWork) -> None:
        try:
            ipaddress.ip_address(host.name)
        except ValueError:
            pass
        else:
            return  # an MX written as an IP literal has no name to hang TLSA records on
        # RFC 7672 §2.2: MX delivery is on port 25, so the records live at _25._tcp
        # whatever port this run connects to (another port is a test setup).
        lookup = await self.resolver.query(f"_25._tcp.{host.name}", "TLSA")
        records = tuple(
            TLSARecord(
                int(getattr(r, "usage", -1)),
                int(getattr(r, "selector", -1)),
                int(getattr(r, "mtype", -1)),
                bytes(getattr(r, "cert", b"")).hex(),
            )
            for r in lookup.records
        )
        host.dane = DANEReport(
            lookup.name,
            lookup.outcome,
            records,
            lookup.authenticated,
            lookup.error if lookup.outcome.temporary else None,
        )

    async def _reverse(self, work: _AddressWork) -> None:
        if self.guard.refusal(work.address) is not None:
            return
        names, confirmed, error = await reverse_lookup(self.resolver, work.address)
        if error is not None:
            work.facts["ptr_error"] = error
            return
        work.facts["ptr"] = names
        if names:
            work.facts["fcrdns"] = confirmed


async def reverse_lookup(
    resolver: Resolver, address: str
) -> tuple[tuple[str, ...], bool | None, str | None]:
    """PTR names of ``address``, whether one resolves back to it (FCrDNS), and any error.

    The error is set only when the lookup failed for a passing reason; an address
    without PTR gives no names and no error.
    """
    try:
        wanted = ipaddress.ip_address(address)
        name = dns.reversename.from_address(str(wanted)).to_text()
    except (dns.exception.SyntaxError, ValueError):
        return (), None, f"{address!r} is not an IP address."
    lookup = await resolver.query(name, "PTR")
    if lookup.outcome.temporary:
        return (), None, lookup.error
    names = tuple(str(getattr(r, "target", "")).rstrip(".").lower() for r in lookup.records)
    if not names:
        return (), None, None
    for ptr_name in names:
        found, _error = await resolver.addresses(ptr_name)
        if any(ipaddress.ip_address(a) == wanted for a in found):
            return names, True, None
    return names, False, None


class _SMTPCheck:
    """The SMTP session(s) with one address: a second only when the handshake fails."""

    def __init__(self, run: _Run, host: _HostWork, work: _AddressWork) -> None:
        self.run_ = run
        self.options = run.options
        self.host = host
        self.work = work
        self.timeout = run.options.timeout

    async def run(self) -> None:
        mode: TLSMode = "verify"
        # One handshake whatever the certificate (it is verified afterwards); only a
        # handshake that fails outright is followed by a session in plain text, to finish
        # the mail tests as a sender falling back would.
        for _attempt in range(2):
            conn = await self._connect()
            if conn is None:
                return
            try:
                retry = await self._session(conn, mode)
            except NetworkError as exc:
                self.work.facts["error"] = exc.detail
                return
            finally:
                await conn.close()
            if retry is None:
                return
            mode = retry

    async def _connect(self) -> Connection | None:
        started = time.monotonic()
        try:
            conn = await Connection.open(
                self.work.address,
                self.options.port,
                timeout=self.timeout,
                source_address=self.options.source_address,
                proxy=self.options.proxy,
            )
        except NetworkError as exc:
            self.work.steps.append(
                Step("connect", None, None, time.monotonic() - started, exc.detail)
            )
            self.work.facts.setdefault("connect_error", exc.detail)
            return None
        elapsed = time.monotonic() - started
        self.work.steps.append(Step("connect", None, None, elapsed))
        self.work.facts.setdefault("connect_seconds", elapsed)
        return conn

    async def _session(self, conn: Connection, mode: TLSMode) -> TLSMode | None:
        """Open the session with the one opening routine (prober.smtp.driver): banner,
        EHLO (HELO if refused), STARTTLS with a single handshake verified afterwards,
        EHLO again; then the mail tests. Returns "plain" when the handshake itself failed
        (a certificate never costs a second connection)."""
        work, facts = self.work, self.work.facts
        dialogue = Dialogue(Plan(self.run_.helo, "", starttls=mode != "plain"))
        transcript = Transcript()
        # Filed as they come: an overall deadline keeps what was learnt before it.
        transcript.listener = lambda step: self._file(step, transcript)

        def timeout() -> float:
            return self.timeout

        try:
            action = await open_session(
                conn,
                dialogue,
                timeout=timeout,
                tls_name=self.host.name,
                ca_file=self.options.tls_ca_file,
                record=transcript,
            )
        except StepError as failure:
            if failure.stage is Stage.STARTTLS and failure.error.kind == "tls":
                work.steps.append(Step("tls", None, None, 0.0, failure.error.detail))
                facts["tls_error"] = failure.error.detail
                return "plain"
            raise failure.error from None
        if isinstance(action, Finish):
            if action.reason == "helo_refused":
                helo = transcript.replies(Stage.HELO)
                shown = str(helo[-1]) if helo else "no reply"
                facts["error"] = f"The server refused both EHLO and HELO: {shown}"
            return None
        self._tls_facts(conn)
        await self._mail_tests(conn)
        await self._quit(conn)
        return None

    def _file(self, step: Exchanged, transcript: Transcript) -> None:
        """File one step of the opening as this report's step and facts."""
        work, facts = self.work, self.work.facts
        reply = step.reply
        work.steps.append(
            Step(
                str(step.stage).lower(),
                step.sent,
                str(reply) if reply is not None else None,
                step.elapsed,
                step.error.detail if step.error is not None else None,
            )
        )
        if step.stage is Stage.EHLO and transcript.tls_elapsed is not None:
            if not any(s.name == "tls" for s in work.steps):
                work.steps.insert(-1, Step("tls", None, None, transcript.tls_elapsed))
        if reply is None:
            return
        if step.stage is Stage.BANNER:
            facts["banner"] = str(reply)
            words = reply.lines[0].split() if reply.lines and reply.lines[0] else []
            if words:
                name = words[0].rstrip(".").lower()
                facts["banner_name"] = name
                known = (self.host.name.lower(), *facts.get("ptr", ()))
                facts["banner_matches"] = name in known
        elif step.stage is Stage.EHLO:
            first = transcript.tls_elapsed is None
            if reply.code != 250:
                if first:
                    facts["ehlo_refused"] = str(reply)
                return
            keywords = parse_extensions(reply)
            facts["ehlo" if first else "ehlo_tls"] = Extensions.from_keywords(keywords)
        elif step.stage is Stage.HELO and reply.code // 100 == 2:
            facts["ehlo"] = Extensions.from_keywords({})
        elif step.stage is Stage.STARTTLS and reply.code != 220:
            facts["starttls_refused"] = str(reply)

    def _tls_facts(self, conn: Connection) -> None:
        facts = self.work.facts
        info = conn.tls
        if info is None:
            return
        certificate: CertInfo | None = None
        if info.peer_der:
            try:
                certificate = parse_certificate(info.peer_der)
            except ValueError:
                certificate = None
        checks: tuple[TLSACheck, ...] = ()
        dane = self.host.dane
        if dane is not None and info.peer_der:
            checks = tuple(TLSACheck(r, *_tlsa_check(info.peer_der, r)) for r in dane.records)
        facts["tls"] = TLSReport(
            version=info.version,
            cipher=info.cipher,
            verified=info.verified,
            verify_message=info.problem,
            certificate=certificate,
            name_matches=name_matches(self.host.name, certificate) if certificate else None,
            tlsa=checks,
        )

    async def _mail_tests(self, conn: Connection) -> None:
        work, facts = self.work, self.work.facts
        if self.options.null_sender_test:
            reply = await work.step("mail", conn, "MAIL FROM:<>", self.timeout)
            facts["null_sender_reply"] = str(reply)
            facts["null_sender"] = True if _ok(reply) else (False if reply.code >= 500 else None)
            if _ok(reply):
                await work.step("rset", conn, "RSET", self.timeout)
        if self.options.relay_test:
            mail = await work.step(
                "mail", conn, f"MAIL FROM:<{self.options.relay_test_from}>", self.timeout
            )
            if not _ok(mail):
                facts["relay"] = RelayResult.INCONCLUSIVE
                facts["relay_reply"] = str(mail)
                return
            rcpt = await work.step(
                "rcpt", conn, f"RCPT TO:<{self.options.relay_test_to}>", self.timeout
            )
            facts["relay_reply"] = str(rcpt)
            if _ok(rcpt):
                facts["relay"] = RelayResult.OPEN
            elif rcpt.first_digit == 5:
                facts["relay"] = RelayResult.REFUSED
            else:
                facts["relay"] = RelayResult.INCONCLUSIVE
            # Never DATA: the transaction is abandoned here.
            await work.step("rset", conn, "RSET", self.timeout)

    async def _quit(self, conn: Connection) -> None:
        try:
            await self.work.step("quit", conn, "QUIT", self.timeout)
        except NetworkError:
            pass  # a server may hang up without answering QUIT; nothing is lost


def _tlsa_check(der: bytes, record: TLSARecord) -> tuple[bool | None, str]:
    try:
        data = bytes.fromhex(record.data)
        match = tlsa_matches(der, record.usage, record.selector, record.mtype, data)
    except ValueError as exc:
        return False, f"the record cannot be compared: {exc}"
    return match.matched, match.reason


async def diagnose(domain: str, options: DiagnoseOptions | None = None) -> DiagnoseResult:
    """Check how ``domain`` receives mail. Network trouble is reported, never raised.

    Raises :class:`~prober.errors.InputError` for a domain that cannot be checked at all
    or an unreadable CA file.
    """
    options = options or DiagnoseOptions()
    for sender in (options.relay_test_from, options.relay_test_to):
        if "@" not in sender or any(c in sender for c in "<> \t\r\n"):
            raise InputError("error_relay_address", sender=sender)
    started = time.monotonic()
    run = _Run(_domain(domain), options)
    complete = True
    deadline = asyncio.timeout(options.deadline)
    try:
        async with deadline:
            await run.run()
    except TimeoutError:
        if not deadline.expired():
            raise
        complete = False
    facts = DiagnoseResult(
        domain=run.domain,
        mx_status=run.mx_status,
        mx_detail=run.mx_detail,
        hosts=tuple(h.freeze() for h in run.hosts),
        spf=run.policies.get("spf"),
        dmarc=run.policies.get("dmarc"),
        mta_sts=run.policies.get("mta-sts"),
        tls_rpt=run.policies.get("tls-rpt"),
        findings=(),
        elapsed=time.monotonic() - started,
        complete=complete,
        lang=options.lang,
    )
    found = assess(facts, options.lang, expiring_days=options.expiring_days)
    if not complete:
        found.append(finding("deadline_reached", options.lang, seconds=f"{options.deadline:g}"))
    return replace(facts, findings=tuple(found))


# -- findings from facts (pure) ------------------------------------------------------------


def assess(result: DiagnoseResult, lang: str = "en", *, expiring_days: int = 14) -> list[Finding]:
    """The findings the facts in ``result`` call for (its own ``findings`` are ignored)."""
    out: list[Finding] = []
    out.extend(_assess_mx(result, lang))
    out.extend(_assess_spf(result.spf, lang))
    out.extend(_assess_dmarc(result.dmarc, lang))
    out.extend(_assess_sts(result.mta_sts, result.tls_rpt, lang))
    for host in result.hosts:
        out.extend(_assess_host(host, lang, expiring_days))
    return out


def _lookup_failed(record: PolicyRecord, label: str, lang: str) -> Finding:
    return finding(
        "dns_lookup_failed", lang, detail=record.error or "", record=f"{label} ({record.name})"
    )


def _assess_mx(result: DiagnoseResult, lang: str) -> list[Finding]:
    status, detail = result.mx_status, result.mx_detail
    ids = {
        MXStatus.NULL_MX: "mx_null",
        MXStatus.IMPLICIT: "mx_implicit",
        MXStatus.NO_DOMAIN: "mx_no_domain",
        MXStatus.NO_MAIL_HOSTS: "mx_no_hosts",
        MXStatus.TEMP_FAILURE: "mx_temp_failure",
    }
    out: list[Finding] = []
    if status in ids:
        out.append(finding(ids[status], lang, detail=detail))
    if status is MXStatus.OK:
        for host in result.hosts:
            if host.error is not None:
                out.append(finding("mx_host_no_address", lang, host=host.name, detail=host.error))
    return out


def _assess_spf(spf: PolicyRecord | None, lang: str) -> list[Finding]:
    if spf is None:
        return []
    if spf.error is not None:
        return [_lookup_failed(spf, "SPF", lang)]
    if not spf.records:
        return [finding("spf_missing", lang)]
    if len(spf.records) > 1:
        return [
            finding("spf_multiple", lang, detail=" | ".join(spf.records), count=len(spf.records))
        ]
    record = spf.records[0]
    analysis = analyse_spf(record)
    out: list[Finding] = []
    if analysis.problems:
        out.append(finding("spf_syntax", lang, detail=" ".join(analysis.problems)))
    if analysis.lookups > 10:
        out.append(finding("spf_too_many_lookups", lang, detail=record, count=analysis.lookups))
    if analysis.all_qualifier == "+":
        out.append(finding("spf_plus_all", lang, detail=record))
    if analysis.all_qualifier is None and analysis.redirect is None:
        out.append(finding("spf_no_all", lang, detail=record))
    if analysis.uses_ptr:
        out.append(finding("spf_ptr", lang, detail=record))
    return out


def _assess_dmarc(dmarc: PolicyRecord | None, lang: str) -> list[Finding]:
    if dmarc is None:
        return []
    if dmarc.error is not None:
        return [_lookup_failed(dmarc, "DMARC", lang)]
    if not dmarc.records:
        return [finding("dmarc_missing", lang, detail=f"No 'v=DMARC1' record at {dmarc.name}.")]
    if len(dmarc.records) > 1:
        return [finding("dmarc_multiple", lang, detail=" | ".join(dmarc.records))]
    policy = dmarc.tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return [finding("dmarc_invalid", lang, detail=dmarc.records[0])]
    if policy == "none":
        return [finding("dmarc_policy_none", lang, detail=dmarc.records[0])]
    return []


def _assess_sts(sts: PolicyRecord | None, rpt: PolicyRecord | None, lang: str) -> list[Finding]:
    out: list[Finding] = []
    if sts is not None:
        if sts.error is not None:
            out.append(_lookup_failed(sts, "MTA-STS", lang))
        elif not sts.records:
            out.append(finding("mta_sts_missing", lang))
        elif len(sts.records) > 1 or not re.fullmatch(r"[A-Za-z0-9]{1,32}", sts.tags.get("id", "")):
            out.append(finding("mta_sts_invalid", lang, detail=" | ".join(sts.records)))
        else:
            domain = sts.name.removeprefix("_mta-sts.")
            out.append(finding("mta_sts_not_fetched", lang, detail=sts.records[0], domain=domain))
    if rpt is not None:
        if rpt.error is not None:
            out.append(_lookup_failed(rpt, "TLS-RPT", lang))
        elif not rpt.records:
            out.append(finding("tls_rpt_missing", lang))
        elif len(rpt.records) > 1 or not rpt.tags.get("rua"):
            out.append(finding("tls_rpt_invalid", lang, detail=" | ".join(rpt.records)))
    return out


def _assess_host(host: HostReport, lang: str, expiring_days: int) -> list[Finding]:
    out: list[Finding] = []
    dane = host.dane
    has_tlsa = dane is not None and bool(dane.records)
    if dane is not None and has_tlsa and not dane.authenticated:
        out.append(
            finding(
                "dane_unvalidated",
                lang,
                host=host.name,
                detail="; ".join(str(r) for r in dane.records),
            )
        )
    for report in host.addresses:
        out.extend(_assess_address(host, report, lang, expiring_days, has_tlsa))
    return out


def _assess_address(
    host: HostReport, report: AddressReport, lang: str, expiring_days: int, has_tlsa: bool
) -> list[Finding]:
    out: list[Finding] = []

    def add(ident: str, detail: str = "", **params: object) -> None:
        out.append(
            finding(ident, lang, host=host.name, address=report.address, detail=detail, **params)
        )

    if report.refused is not None:
        add("mx_private_address", report.refused)
        return out
    if report.ptr_error is None and report.finished and not report.ptr:
        add("ptr_missing", f"No PTR record for {report.address}.")
    elif report.fcrdns is False:
        add("fcrdns_failed", f"{report.address} → {', '.join(report.ptr)}")
    if report.connect_error is not None and report.banner is None:
        add("connect_failed", report.connect_error)
        return out
    if report.banner is not None and not report.banner.startswith("220"):
        add("banner_refused", report.banner)
        return out
    if report.banner_matches is False:
        add(
            "banner_name_mismatch",
            f"greeting: {report.banner_name}; MX: {host.name}; PTR: "
            + (", ".join(report.ptr) or "none"),
        )
    if report.ehlo_refused is not None:
        add("ehlo_refused", report.ehlo_refused)
    ehlo = report.ehlo
    if ehlo is not None and not ehlo.starttls and report.ehlo_refused is None:
        add("no_starttls")
    if report.starttls_refused is not None:
        add("starttls_refused", report.starttls_refused)
    if report.tls_error is not None:
        add("tls_failed", report.tls_error)
    tls = report.tls
    if tls is not None:
        out.extend(_assess_tls(host, report, tls, lang, expiring_days))
    if has_tlsa and tls is None and ehlo is not None:
        add("dane_no_starttls")
    if report.relay is RelayResult.OPEN:
        add("open_relay", report.relay_reply or "")
    elif report.relay is RelayResult.INCONCLUSIVE:
        add("relay_test_inconclusive", report.relay_reply or "")
    if report.null_sender is False:
        add("null_sender_refused", report.null_sender_reply or "")
    if report.error is not None:
        add("session_failed", report.error)
    return out


def _assess_tls(
    host: HostReport, report: AddressReport, tls: TLSReport, lang: str, expiring_days: int
) -> list[Finding]:
    out: list[Finding] = []

    def add(ident: str, detail: str = "", **params: object) -> None:
        out.append(
            finding(ident, lang, host=host.name, address=report.address, detail=detail, **params)
        )

    if tls.version in _TLS_VERSIONS_DEPRECATED:
        add("tls_old_version", version=tls.version)
    cert = tls.certificate
    if cert is not None:
        if cert.days_left < 0:
            add("tls_cert_expired", f"not after {cert.not_after}")
        elif cert.days_left < expiring_days:
            add("tls_cert_expiring", f"not after {cert.not_after}", days=cert.days_left)
        if tls.name_matches is False:
            names = ", ".join(cert.names) or (cert.common_name or "")
            add("tls_cert_name_mismatch", f"MX: {host.name}; certificate names: {names}")
    message = tls.verify_message
    if message is not None:
        lowered = message.lower()
        # Expiry and a wrong name are reported from the certificate itself (above); any
        # other verification failure is about the chain of trust.
        if "expired" not in lowered and "mismatch" not in lowered:
            add("tls_cert_untrusted", message)
    if tls.tlsa:
        match = tls.dane_match
        if match is False:
            add("dane_mismatch", "; ".join(f"{c.record}: {c.reason}" for c in tls.tlsa))
        elif match is None:
            add("dane_unchecked", "; ".join(str(c.record) for c in tls.tlsa))
    return out


# -- text output ---------------------------------------------------------------------------


_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "domain": "Domain",
        "mx": "MX",
        "none": "none",
        "not_found": "not found",
        "lookup_failed": "lookup failed",
        "dane": "DANE (TLSA)",
        "dnssec_yes": "DNSSEC validated by the resolver",
        "dnssec_no": "not DNSSEC-validated (meaningful only with a validating resolver)",
        "sts_note": "policy not fetched",
        "host": "Host",
        "refused": "not contacted",
        "ptr": "PTR",
        "fcrdns_yes": "forward-confirmed",
        "fcrdns_no": "does not resolve back",
        "connect": "connect",
        "banner": "greeting",
        "ehlo": "EHLO",
        "tls": "TLS",
        "tls_none": "no STARTTLS",
        "cert": "certificate",
        "issuer": "issuer",
        "expires": "expires in {days} days",
        "expired": "expired {days} days ago",
        "name_ok": "names the MX host",
        "name_bad": "does not name the MX host",
        "verified": "chain verified",
        "not_verified": "not verified",
        "relay": "relay test",
        "null_sender": "null sender <>",
        "accepted": "accepted",
        "refused_word": "refused",
        "untested": "not tested",
        "deferred": "deferred",
        "findings": "Findings",
        "no_findings": "No problems found.",
        "worst": "Worst",
        "incomplete": "Incomplete: the overall time limit was reached.",
        "error": "session ended early",
        "seconds": "s",
        "steps": "steps",
    },
    "it": {
        "domain": "Dominio",
        "mx": "MX",
        "none": "nessuno",
        "not_found": "assente",
        "lookup_failed": "ricerca fallita",
        "dane": "DANE (TLSA)",
        "dnssec_yes": "validato DNSSEC dal resolver",
        "dnssec_no": "non validato DNSSEC (ha senso solo con un resolver che valida)",
        "sts_note": "politica non scaricata",
        "host": "Host",
        "refused": "non contattato",
        "ptr": "PTR",
        "fcrdns_yes": "confermato in avanti",
        "fcrdns_no": "non risolve all'indietro",
        "connect": "connessione",
        "banner": "saluto",
        "ehlo": "EHLO",
        "tls": "TLS",
        "tls_none": "nessun STARTTLS",
        "cert": "certificato",
        "issuer": "emittente",
        "expires": "scade tra {days} giorni",
        "expired": "scaduto da {days} giorni",
        "name_ok": "contiene il nome dell'host MX",
        "name_bad": "non contiene il nome dell'host MX",
        "verified": "catena verificata",
        "not_verified": "non verificato",
        "relay": "prova di relay",
        "null_sender": "mittente nullo <>",
        "accepted": "accettato",
        "refused_word": "rifiutato",
        "untested": "non provato",
        "deferred": "rinviato",
        "findings": "Risultati",
        "no_findings": "Nessun problema trovato.",
        "worst": "Gravità massima",
        "incomplete": "Incompleto: è stato raggiunto il limite di tempo complessivo.",
        "error": "sessione terminata prima",
        "seconds": "s",
        "steps": "passi",
    },
}

_SEVERITY_WORDS = {
    "en": {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.NOTE: "NOTE"},
    "it": {Severity.ERROR: "ERRORE", Severity.WARNING: "AVVISO", Severity.NOTE: "NOTA"},
}


def severity_word(severity: Severity, lang: str) -> str:
    return _SEVERITY_WORDS.get(lang, _SEVERITY_WORDS["en"])[severity]


def labels(lang: str) -> Mapping[str, str]:
    return _LABELS.get(lang, _LABELS["en"])


def render_findings(findings: Iterable[Finding], lang: str) -> list[str]:
    """Findings as text lines, most serious first (shared with preflight)."""
    from prober.output.messages import translated

    words = labels(lang)
    severity_words = _SEVERITY_WORDS.get(lang, _SEVERITY_WORDS["en"])
    ordered = sorted(findings, key=lambda f: -f.severity.rank)
    if not ordered:
        return [words["no_findings"]]
    lines: list[str] = []
    for item in ordered:
        shown = item.in_lang(lang) if item.lang != lang else item
        where = " ".join(
            p for p in (shown.host, f"[{shown.address}]" if shown.address else "") if p
        )
        head = f"{severity_words[shown.severity]} {shown.id}" + (f" ({where})" if where else "")
        lines.append(head)
        lines.append(f"  {shown.meaning}")
        lines.append(f"  → {shown.action}")
        if shown.detail:
            lines.append(f"  · {translated(shown.detail, lang)}")
    return lines


def _policy_line(label: str, record: PolicyRecord | None, words: Mapping[str, str]) -> str:
    if record is None:
        return f"  {label}: -"
    if record.error is not None:
        return f"  {label}: {words['lookup_failed']} ({record.error})"
    if not record.records:
        return f"  {label}: {words['not_found']}"
    return f"  {label}: " + " | ".join(record.records)


def _yes_no(value: bool | None, words: Mapping[str, str]) -> str:
    if value is None:
        return words["untested"]
    return words["accepted"] if value else words["refused_word"]


def render_text(result: DiagnoseResult, lang: str = "en") -> str:
    """The diagnosis as plain text for a terminal, in ``lang``."""
    from prober.output.messages import translated

    w = labels(lang)
    lines = [f"{w['domain']} {result.domain}"]
    status = result.mx_status.value if result.mx_status is not None else "-"
    lines.append(f"  {w['mx']}: {status} — {translated(result.mx_detail, lang)}")
    for host in result.hosts:
        addresses = ", ".join(a.address for a in host.addresses) or (host.error or "")
        lines.append(f"    {host.preference:>3} {host.name} ({addresses})")
    lines.append(_policy_line("SPF", result.spf, w))
    lines.append(_policy_line("DMARC", result.dmarc, w))
    sts_line = _policy_line("MTA-STS", result.mta_sts, w)
    if result.mta_sts is not None and result.mta_sts.records:
        sts_line += f" ({w['sts_note']})"
    lines.append(sts_line)
    lines.append(_policy_line("TLS-RPT", result.tls_rpt, w))
    for host in result.hosts:
        if host.dane is None:
            continue
        if host.dane.records:
            dnssec = w["dnssec_yes"] if host.dane.authenticated else w["dnssec_no"]
            records = "; ".join(str(r) for r in host.dane.records)
            lines.append(f"  {w['dane']} {host.name}: {records} — {dnssec}")
        else:
            lines.append(f"  {w['dane']} {host.name}: {w['none']}")
    for host in result.hosts:
        for report in host.addresses:
            lines.append("")
            lines.extend(_render_address(host, report, w))
    lines.append("")
    if not result.complete:
        lines.append(w["incomplete"])
    lines.append(f"{w['findings']}:")
    lines.extend(f"  {line}" for line in render_findings(result.findings, lang))
    worst = result.worst
    lines.append(f"{w['worst']}: {severity_word(worst, lang) if worst else '-'}")
    return "\n".join(lines) + "\n"


def _render_address(host: HostReport, report: AddressReport, w: Mapping[str, str]) -> list[str]:
    lines = [f"{w['host']} {host.name} [{report.address}]"]
    if report.refused is not None:
        lines.append(f"  {w['refused']}: {report.refused}")
        return lines
    if report.ptr:
        confirmed = w["fcrdns_yes"] if report.fcrdns else w["fcrdns_no"]
        lines.append(f"  {w['ptr']}: {', '.join(report.ptr)} ({confirmed})")
    else:
        lines.append(f"  {w['ptr']}: {report.ptr_error or w['none']}")
    if report.connect_seconds is not None:
        lines.append(f"  {w['connect']}: {report.connect_seconds:.3f} {w['seconds']}")
    elif report.connect_error is not None:
        lines.append(f"  {w['connect']}: {report.connect_error}")
    if report.banner is not None:
        lines.append(f"  {w['banner']}: {report.banner.splitlines()[0]}")
    ehlo = report.ehlo_tls or report.ehlo
    if ehlo is not None:
        offered = [
            f"SIZE {ehlo.size_mb:g} MB" if ehlo.size_mb is not None else "",
            "PIPELINING" if ehlo.pipelining else "",
            "8BITMIME" if ehlo.eightbitmime else "",
            "SMTPUTF8" if ehlo.smtputf8 else "",
            "CHUNKING" if ehlo.chunking else "",
            "STARTTLS" if (report.ehlo and report.ehlo.starttls) else "",
            f"AUTH {' '.join(ehlo.auth)}" if ehlo.auth else "",
        ]
        lines.append(f"  {w['ehlo']}: " + (", ".join(o for o in offered if o) or w["none"]))
    tls = report.tls
    if tls is not None:
        lines.append(f"  {w['tls']}: {tls.version} {tls.cipher}")
        cert = tls.certificate
        if cert is not None:
            when = (
                w["expires"].format(days=cert.days_left)
                if cert.days_left >= 0
                else w["expired"].format(days=-cert.days_left)
            )
            names = ", ".join(cert.names) or (cert.common_name or "")
            named = w["name_ok"] if tls.name_matches else w["name_bad"]
            lines.append(f"    {w['cert']}: {cert.subject} [{names}]; {named}; {when}")
            lines.append(f"    {w['issuer']}: {cert.issuer}")
        trust = w["verified"] if tls.verified else f"{w['not_verified']}: {tls.verify_message}"
        lines.append(f"    {trust}")
        for check in tls.tlsa:
            lines.append(f"    TLSA {check.reason}")
    elif report.tls_error is not None:
        lines.append(f"  {w['tls']}: {report.tls_error}")
    elif ehlo is not None and not (report.ehlo and report.ehlo.starttls):
        lines.append(f"  {w['tls']}: {w['tls_none']}")
    if report.null_sender_reply is not None:
        lines.append(
            f"  {w['null_sender']}: {_yes_no(report.null_sender, w)} ({report.null_sender_reply})"
        )
    if report.relay is not RelayResult.NOT_TESTED:
        lines.append(f"  {w['relay']}: {report.relay.value} ({report.relay_reply})")
    if report.error is not None:
        lines.append(f"  {w['error']}: {report.error}")
    timings = ", ".join(f"{s.name} {s.seconds:.3f}" for s in report.steps)
    if timings:
        lines.append(f"  {w['steps']} ({w['seconds']}): {timings}")
    return lines
