"""``probe preflight``: can this host probe at all?

A probe is only as good as the host sending it. Many networks block outbound port 25;
receivers judge a client by its HELO name and the reverse DNS of its address; an IP on a
blocklist is refused before any question is asked. This checks all three, read-only:
on the reachability targets it says EHLO and QUIT and nothing else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

from prober.diagnose.domain import (
    Finding,
    Severity,
    default_helo,
    finding,
    labels,
    plain,
    render_findings,
    reverse_lookup,
    severity_word,
    worst_of,
)
from prober.errors import InputError, NetworkError
from prober.explanation.catalogue import Stage
from prober.guard import Guard
from prober.resolve.mx import DNSConfig, Outcome, Resolver
from prober.smtp.connection import Connection
from prober.smtp.dialogue import Dialogue, Finish, Plan
from prober.smtp.driver import StepError, Transcript, goodbye, open_session

__all__ = [
    "DEFAULT_BLOCKLISTS",
    "DEFAULT_TARGETS",
    "BlocklistResult",
    "HeloAddress",
    "HeloCheck",
    "PreflightOptions",
    "PreflightResult",
    "TargetResult",
    "preflight",
    "render_text",
]

# Well-known inbound MX hosts of different providers: if none of them answers on port
# 25, the block is on this side. Only ever contacted when the caller leaves the default.
DEFAULT_TARGETS: tuple[tuple[str, int], ...] = (
    ("gmail-smtp-in.l.google.com", 25),
    ("outlook-com.olc.protection.outlook.com", 25),
    ("mx-biz.mail.am0.yahoodns.net", 25),
    ("in1-smtp.messagingengine.com", 25),
)
DEFAULT_BLOCKLISTS: tuple[str, ...] = (
    "zen.spamhaus.org",
    "b.barracudacentral.org",
    "bl.spamcop.net",
)

# Outcomes of a target that prove port 25 is open from here, whatever the server thinks
# of this host.
_REACHED = frozenset({"ok", "banner_refused", "ehlo_refused"})
# How a failure reads when every target failed alike.
_FAILURE_CLASS = {
    "connect_timeout": "timeout",
    "timeout": "timeout",
    "refused": "connection refused",
    "unreachable": "network unreachable",
}
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}"
)


@dataclass(frozen=True, slots=True)
class PreflightOptions:
    dns: DNSConfig = field(default_factory=DNSConfig)
    resolver: Resolver | None = None
    helo: str = ""  # "" → this host's fully qualified name
    targets: tuple[tuple[str, int], ...] = DEFAULT_TARGETS
    timeout: float = 10.0  # each network step
    deadline: float = 60.0  # the whole preflight
    allow_private: bool = False
    check_ip: str | None = None  # look this address up on the blocklists
    blocklists: tuple[str, ...] = DEFAULT_BLOCKLISTS
    source_address: str | None = None
    proxy: str | None = None
    lang: str = "en"


@dataclass(frozen=True, slots=True)
class HeloAddress:
    address: str
    ptr: tuple[str, ...]
    matches_helo: bool  # a PTR name is the HELO name
    fcrdns: bool | None  # a PTR name resolves back to the address; None: no PTR
    error: str | None  # the PTR lookup failed


@dataclass(frozen=True, slots=True)
class HeloCheck:
    name: str
    fqdn: bool
    addresses: tuple[HeloAddress, ...]
    error: str | None  # why the name has no address


@dataclass(frozen=True, slots=True)
class TargetResult:
    host: str
    port: int
    address: str | None
    # "ok", "banner_refused", "ehlo_refused" (all three: port 25 is open), or a failure:
    # "dns", "guard", "connect_timeout", "refused", "unreachable", "timeout", "closed",
    # "protocol", "proxy"
    outcome: str
    seconds: float | None  # until the greeting arrived
    banner: str | None
    ehlo: str | None  # the EHLO reply's first line
    error: str | None

    @property
    def reached(self) -> bool:
        return self.outcome in _REACHED


@dataclass(frozen=True, slots=True)
class BlocklistResult:
    zone: str
    query: str
    listed: bool | None  # None: the list could not say
    codes: tuple[str, ...]  # the 127.0.0.x answers
    reason: str | None  # the list's TXT explanation, when listed
    error: str | None


@dataclass(frozen=True, slots=True)
class PreflightResult:
    helo: HeloCheck | None
    targets: tuple[TargetResult, ...]
    checked_ip: str | None
    blocklists: tuple[BlocklistResult, ...]
    findings: tuple[Finding, ...]
    elapsed: float
    complete: bool
    lang: str = "en"

    @property
    def worst(self) -> Severity | None:
        return worst_of(self.findings)

    @property
    def port25_open(self) -> bool | None:
        """True if any target answered on port 25; None when none was tried."""
        return any(t.reached for t in self.targets) if self.targets else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = plain(self)
        data["worst"] = self.worst.value if self.worst is not None else None
        data["port25_open"] = self.port25_open
        data["findings"] = [item.to_dict() for item in self.findings]
        return data


# -- checks --------------------------------------------------------------------------------


async def _check_helo(resolver: Resolver, name: str) -> HeloCheck:
    fqdn = _HOST_NAME.fullmatch(name.rstrip(".")) is not None
    addresses, error = await resolver.addresses(name)
    wanted = name.rstrip(".").lower()
    checked: list[HeloAddress] = []
    for address in addresses:
        names, fcrdns, ptr_error = await reverse_lookup(resolver, address)
        checked.append(HeloAddress(address, names, wanted in names, fcrdns, ptr_error))
    return HeloCheck(name, fqdn, tuple(checked), error if not addresses else None)


async def _check_target(
    host: str, port: int, options: PreflightOptions, resolver: Resolver, guard: Guard
) -> TargetResult:
    def result(outcome: str, address: str | None = None, **facts: Any) -> TargetResult:
        base: dict[str, Any] = {"seconds": None, "banner": None, "ehlo": None, "error": None}
        base.update(facts)
        return TargetResult(host, port, address, outcome, **base)

    found, error = await resolver.addresses(host)
    if not found:
        return result("dns", error=error)
    allowed = [a for a in found if guard.refusal(a) is None]
    if not allowed:
        return result("guard", found[0], error=guard.refusal(found[0]))
    address = allowed[0]
    started = time.monotonic()
    try:
        conn = await Connection.open(
            address,
            port,
            timeout=options.timeout,
            source_address=options.source_address,
            proxy=options.proxy,
        )
    except NetworkError as exc:
        return result(exc.kind, address, error=exc.detail)
    # The one session opening every command shares (prober.smtp.driver): banner, EHLO
    # and nothing else here — no HELO fallback, no STARTTLS, no MAIL.
    dialogue = Dialogue(
        Plan(options.helo or default_helo(), "", starttls=False, helo_fallback=False)
    )
    transcript = Transcript()

    def timeout() -> float:
        return options.timeout

    def seen() -> dict[str, Any]:
        facts: dict[str, Any] = {}
        banner = transcript.replies(Stage.BANNER)
        if banner:
            facts["banner"] = str(banner[0])
            step = next(s for s in transcript.steps if s.stage is Stage.BANNER)
            facts["seconds"] = step.began + step.elapsed - started
        ehlo = transcript.replies(Stage.EHLO)
        if ehlo:
            facts["ehlo"] = f"{ehlo[0].code} {ehlo[0].lines[0]}".rstrip()
        return facts

    try:
        try:
            action = await open_session(
                conn, dialogue, timeout=timeout, tls_name=None, ca_file=None, record=transcript
            )
        except StepError as failure:
            return result(failure.error.kind, address, error=failure.error.detail, **seen())
        if isinstance(action, Finish):  # refused at the banner or at EHLO; QUIT was said
            return result(action.reason, address, **seen())
        await goodbye(conn, dialogue, timeout, transcript, "done")
        return result("ok", address, **seen())
    finally:
        await conn.close()


def _blocklist_query(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, zone: str) -> str:
    # IPv4: the octets reversed (RFC 5782 §2.1); IPv6: the nibbles reversed (§2.4).
    if ip.version == 4:
        reversed_ip = ".".join(reversed(str(ip).split(".")))
    else:
        reversed_ip = ".".join(reversed(ip.exploded.replace(":", "")))
    return f"{reversed_ip}.{zone.strip('.')}"


async def _check_blocklist(
    resolver: Resolver, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, zone: str
) -> BlocklistResult:
    name = _blocklist_query(ip, zone)
    zone = zone.strip(".")
    lookup = await resolver.query(name, "A")
    if lookup.outcome in (Outcome.NXDOMAIN, Outcome.NO_DATA):
        return BlocklistResult(zone, name, False, (), None, None)
    if lookup.outcome is not Outcome.ANSWER:
        return BlocklistResult(zone, name, None, (), None, lookup.error)
    codes = tuple(str(getattr(r, "address", "")) for r in lookup.records)
    answers = [ipaddress.ip_address(c) for c in codes if c]
    loopback = ipaddress.ip_network("127.0.0.0/8")
    if not answers or any(a not in loopback for a in answers):
        # An answer outside 127/8 is not a listing: some resolvers replace NXDOMAIN
        # with an address of their own, which would make everything look listed.
        return BlocklistResult(
            zone, name, None, codes, None, f"{zone} answered {', '.join(codes)}, not 127.0.0.x."
        )
    if _refusal_codes(codes):
        # RFC 5782 §2.1 keeps 127.0.0.0/8 for listings; lists use 127.255.255.x to say
        # the query itself was refused (e.g. Spamhaus for queries via public resolvers).
        return BlocklistResult(
            zone, name, None, codes, None, f"{zone} refused the query ({', '.join(codes)})."
        )
    reason_lookup = await resolver.query(name, "TXT")
    reason = None
    if reason_lookup.records:
        reason = " ".join(
            b"".join(getattr(r, "strings", ())).decode("utf-8", "replace")
            for r in reason_lookup.records
        )
    return BlocklistResult(zone, name, True, codes, reason, None)


# -- the run -------------------------------------------------------------------------------


class _Preflight:
    def __init__(self, options: PreflightOptions) -> None:
        self.options = options
        self.resolver = options.resolver or Resolver(options.dns)
        self.guard = Guard(allow_private=options.allow_private)
        self.helo: HeloCheck | None = None
        self.targets: dict[int, TargetResult] = {}
        self.blocklists: dict[int, BlocklistResult] = {}

    async def run(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> None:
        async def helo() -> None:
            self.helo = await _check_helo(self.resolver, self.options.helo or default_helo())

        async def target(index: int, host: str, port: int) -> None:
            self.targets[index] = await _check_target(
                host, port, self.options, self.resolver, self.guard
            )

        async def blocklist(index: int, zone: str) -> None:
            if ip is not None:
                self.blocklists[index] = await _check_blocklist(self.resolver, ip, zone)

        await asyncio.gather(
            helo(),
            *(target(i, host, port) for i, (host, port) in enumerate(self.options.targets)),
            *(blocklist(i, zone) for i, zone in enumerate(self.options.blocklists)),
        )


async def preflight(options: PreflightOptions | None = None) -> PreflightResult:
    """Check this host as a sender of probes. Network trouble is reported, never raised.

    Raises :class:`~prober.errors.InputError` when ``check_ip`` is not an IP address.
    """
    options = options or PreflightOptions()
    ip = None
    if options.check_ip is not None:
        try:
            ip = ipaddress.ip_address(options.check_ip.strip())
        except ValueError:
            raise InputError("error_check_ip", ip=options.check_ip) from None
    started = time.monotonic()
    run = _Preflight(options)
    complete = True
    deadline = asyncio.timeout(options.deadline)
    try:
        async with deadline:
            await run.run(ip)
    except TimeoutError:
        if not deadline.expired():
            raise
        complete = False
    result = PreflightResult(
        helo=run.helo,
        targets=tuple(run.targets[i] for i in sorted(run.targets)),
        checked_ip=str(ip) if ip is not None else None,
        blocklists=tuple(run.blocklists[i] for i in sorted(run.blocklists)),
        findings=(),
        elapsed=time.monotonic() - started,
        complete=complete,
        lang=options.lang,
    )
    found = assess(result, options.lang)
    if not complete:
        found.append(finding("deadline_reached", options.lang, seconds=f"{options.deadline:g}"))
    return replace(result, findings=tuple(found))


# -- findings (pure) -----------------------------------------------------------------------


def assess(result: PreflightResult, lang: str = "en") -> list[Finding]:
    out: list[Finding] = []
    helo = result.helo
    if helo is not None:
        if not helo.fqdn:
            out.append(finding("helo_not_fqdn", lang, host=helo.name))
        if not helo.addresses:
            out.append(finding("helo_unresolvable", lang, host=helo.name, detail=helo.error or ""))
        for item in helo.addresses:
            if item.error is not None:
                continue
            if not item.ptr:
                out.append(finding("helo_ptr_missing", lang, host=helo.name, address=item.address))
            elif not item.matches_helo:
                out.append(
                    finding(
                        "helo_ptr_mismatch",
                        lang,
                        host=helo.name,
                        address=item.address,
                        detail=f"{item.address} → {', '.join(item.ptr)}",
                    )
                )
    out.extend(_assess_targets(result.targets, lang))
    for listing in result.blocklists:
        if listing.listed:
            detail = ", ".join(listing.codes) + (f" — {listing.reason}" if listing.reason else "")
            out.append(
                finding(
                    "dnsbl_listed",
                    lang,
                    address=result.checked_ip,
                    detail=detail,
                    zone=listing.zone,
                )
            )
        elif listing.listed is None and _refusal_codes(listing.codes):
            out.append(
                finding(
                    "dnsbl_query_refused",
                    lang,
                    address=result.checked_ip,
                    detail=listing.error or "",
                    zone=listing.zone,
                )
            )
        elif listing.listed is None:
            out.append(
                finding(
                    "dnsbl_unavailable",
                    lang,
                    address=result.checked_ip,
                    detail=listing.error or "",
                    zone=listing.zone,
                )
            )
    return out


def _refusal_codes(codes: tuple[str, ...]) -> bool:
    refusals = ipaddress.ip_network("127.255.255.0/24")
    return bool(codes) and all(ipaddress.ip_address(c) in refusals for c in codes)


def _assess_targets(targets: tuple[TargetResult, ...], lang: str) -> list[Finding]:
    out: list[Finding] = []
    if not targets:
        return out
    for target in targets:
        if target.outcome == "banner_refused":
            out.append(
                finding(
                    "target_banner_refused",
                    lang,
                    host=target.host,
                    address=target.address,
                    detail=target.banner or "",
                )
            )
        elif target.outcome == "ehlo_refused":
            out.append(
                finding(
                    "target_ehlo_refused",
                    lang,
                    host=target.host,
                    address=target.address,
                    detail=target.ehlo or "",
                )
            )
    failed = [t for t in targets if not t.reached]
    details = "; ".join(f"{t.host} port {t.port}: {t.error or t.outcome}" for t in failed)
    if len(failed) == len(targets):
        classes = {_FAILURE_CLASS.get(t.outcome) for t in failed}
        if len(classes) == 1 and None not in classes:
            (kind,) = classes
            out.append(finding("port25_blocked", lang, detail=details, kind=kind))
        else:
            out.append(finding("port25_unreachable", lang, detail=details))
    elif failed:
        out.append(finding("port25_partial", lang, detail=details))
    return out


# -- text output ---------------------------------------------------------------------------


_PREFLIGHT_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "helo": "HELO name",
        "fqdn_no": "not a fully qualified name",
        "no_address": "no address",
        "ptr": "PTR",
        "none": "none",
        "matches": "matches",
        "differs": "differs",
        "targets": "Port {port} reachability",
        "blocklists": "Blocklists for {ip}",
        "listed": "LISTED",
        "not_listed": "not listed",
        "unknown": "unknown",
        "incomplete": "Incomplete: the overall time limit was reached.",
    },
    "it": {
        "helo": "Nome HELO",
        "fqdn_no": "non è un nome completo",
        "no_address": "nessun indirizzo",
        "ptr": "PTR",
        "none": "nessuno",
        "matches": "corrisponde",
        "differs": "diverso",
        "targets": "Raggiungibilità della porta {port}",
        "blocklists": "Blocklist per {ip}",
        "listed": "PRESENTE",
        "not_listed": "assente",
        "unknown": "sconosciuto",
        "incomplete": "Incompleto: è stato raggiunto il limite di tempo complessivo.",
    },
}


def render_text(result: PreflightResult, lang: str = "en") -> str:
    """The preflight as plain text for a terminal, in ``lang``."""
    w = _PREFLIGHT_LABELS.get(lang, _PREFLIGHT_LABELS["en"])
    common = labels(lang)
    lines: list[str] = []
    helo = result.helo
    if helo is not None:
        head = f"{w['helo']}: {helo.name}" + ("" if helo.fqdn else f" ({w['fqdn_no']})")
        lines.append(head)
        if not helo.addresses:
            lines.append(f"  {w['no_address']}: {helo.error or ''}")
        for item in helo.addresses:
            ptr = ", ".join(item.ptr) or (item.error or w["none"])
            agree = w["matches"] if item.matches_helo else w["differs"]
            lines.append(f"  {item.address} → {w['ptr']} {ptr} ({agree})")
    ports = sorted({t.port for t in result.targets}) or [25]
    lines.append(w["targets"].format(port="/".join(str(p) for p in ports)) + ":")
    for target in result.targets:
        where = f"{target.host}:{target.port}" + (
            f" [{target.address}]" if target.address and target.address != target.host else ""
        )
        said = target.banner.splitlines()[0] if target.banner else (target.error or "")
        timing = f" {target.seconds:.3f} {common['seconds']}" if target.seconds is not None else ""
        lines.append(f"  {where}: {target.outcome}{timing} — {said}")
    if result.checked_ip is not None:
        lines.append(w["blocklists"].format(ip=result.checked_ip) + ":")
        for listing in result.blocklists:
            if listing.listed:
                state = f"{w['listed']} ({', '.join(listing.codes)})"
                if listing.reason:
                    state += f" {listing.reason}"
            elif listing.listed is False:
                state = w["not_listed"]
            else:
                state = f"{w['unknown']} ({listing.error})"
            lines.append(f"  {listing.zone}: {state}")
    lines.append("")
    if not result.complete:
        lines.append(w["incomplete"])
    lines.append(f"{common['findings']}:")
    lines.extend(f"  {line}" for line in render_findings(result.findings, lang))
    worst = result.worst
    lines.append(f"{common['worst']}: {severity_word(worst, lang) if worst else '-'}")
    return "\n".join(lines) + "\n"
