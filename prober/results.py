"""The result types every front door shares: options, steps, attempts, results.

Rendering and output code reads these without importing the I/O that produces them.
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prober.engine.verdict import Reason, Verdict
from prober.errors import InputError, Phrase
from prober.explanation.catalogue import Stage
from prober.explanation.explain import Explanation
from prober.numbers import ascii_port
from prober.resolve.mx import DNSConfig, MXResult
from prober.smtp.connection import TLSInfo
from prober.smtp.reply import Reply

if TYPE_CHECKING:
    from prober.knowledge.policy import Policy


def default_helo() -> str:
    """This host's fully qualified name, the conventional EHLO argument."""
    name = socket.getfqdn()
    return name if "." in name else "localhost.localdomain"


_HELO = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")


_DURATIONS = {
    "connect_timeout": Phrase("duration_connect_timeout"),
    "timeout": Phrase("duration_timeout"),
    "deadline": Phrase("duration_deadline"),
}


def check_seconds(name: str, seconds: float) -> None:
    """A duration option: a finite number of seconds above 0."""
    if not isinstance(seconds, int | float) or not 0 < seconds < math.inf:
        raise InputError("error_seconds", name=_DURATIONS.get(name, name), seconds=seconds)


def check_mail_from(sender: str) -> None:
    """The sender of MAIL FROM, checked before any packet (``""`` is the null sender).

    It goes into a command line verbatim, so nothing in it may end or extend the line.
    It must be ASCII: a non-ASCII sender needs SMTPUTF8 (RFC 6531) from every server
    asked, which is known only after EHLO, and on a server without it the answer would be
    about the sender rather than the recipient. A sender with an internationalised domain
    is told its ASCII (A-label) form.
    """
    bad = next((c for c in sender if c in "<> " or not c.isprintable()), None)
    if bad is not None or len(sender.encode("utf-8", "replace")) > 254:
        if bad is not None:
            raise InputError("error_sender_character", sender=sender, character=bad)
        raise InputError("error_sender_long", sender=sender)
    local, at, domain = sender.rpartition("@")
    if not at or not local or not domain:
        raise InputError("error_sender_form", sender=sender)
    if not sender.isascii():
        hint: Phrase | str = ""
        if local.isascii():
            try:
                ascii_form = f"{local}@{domain.encode('idna').decode('ascii')}"
                hint = Phrase("error_sender_ascii_form", {"address": ascii_form})
            except UnicodeError:
                hint = ""
        raise InputError("error_sender_not_ascii", sender=sender, hint=hint)


_PROXY_SCHEMES = ("socks5", "socks4")


def check_proxy(url: str) -> None:
    """``--proxy``: ``socks5://[user:pass@]host:port`` or ``socks4://host:port``."""
    form = Phrase("proxy_form")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _PROXY_SCHEMES:
        raise InputError("error_proxy_scheme", url=url, form=form)
    rest = rest.rstrip("/")
    if not url.isascii() or any(not c.isprintable() or c.isspace() for c in url):
        raise InputError("error_proxy_characters", url=url)
    if "/" in rest or "?" in rest or "#" in rest:
        raise InputError("error_proxy_path", url=url, form=form)
    hostport = rest.rpartition("@")[2]
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise InputError("error_proxy_bracket", url=url)
        host, port_text = hostport[1:close], hostport[close + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InputError("error_proxy_not_ipv6", url=url, host=host) from None
        if not port_text.startswith(":"):
            raise InputError("error_proxy_no_port", url=url, form=form)
        port_text = port_text[1:]
    else:
        host, colon, port_text = hostport.rpartition(":")
        if not colon:
            host, port_text = hostport, ""
    if not host:
        raise InputError("error_proxy_no_host", url=url, form=form)
    if not port_text:
        raise InputError("error_proxy_port_missing", url=url, form=form)
    if ascii_port(port_text) is None:
        raise InputError("error_proxy_port", url=url, port=port_text)


def check_ca_file(path: str) -> None:
    """``--tls-ca-file``: a readable PEM file holding at least one CA certificate. Loaded
    once here, so that a bad file is a usage error and not a failure at STARTTLS."""
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as exc:
        why: OSError | Phrase = (
            exc if isinstance(exc, OSError) and exc.strerror else Phrase("error_ca_no_pem")
        )
        raise InputError("error_ca_file", path=path, why=why) from None


def check_source_address(text: str) -> None:
    """``--source-address``: an IP address of this host."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise InputError("error_source_address", text=text) from None


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """Everything a probe may be told. Defaults are safe for a real sending host."""

    helo: str = ""  # "" → this host's FQDN
    mail_from: str | None = None  # None → postmaster@<helo>; "" → the null sender <>
    port: int = 25
    starttls: bool = True
    catch_all_check: bool = True
    pipelining: bool = True
    connect_timeout: float = 10.0
    timeout: float = 30.0  # per command; RFC 5321 §4.5.3.2 allows servers far more
    deadline: float = 90.0  # the whole probe, every MX included
    max_hosts: int = 3  # MX hosts tried, best preference first
    max_addresses: int = 2  # addresses tried per MX host
    allow_private: bool = False
    tls_ca_file: str | None = None  # extra trust anchors (tests, private PKI)
    source_address: str | None = None
    proxy: str | None = None  # socks5://[user:pass@]host:port
    dns: DNSConfig = field(default_factory=DNSConfig)
    lang: str = "en"
    knowledge: Policy | None = None  # lists and verdict policy; None: the defaults

    def __post_init__(self) -> None:
        # Every option is checked when the options are made, before any packet: a bad
        # one is the caller's to fix, not a result about the address probed.
        if self.helo and not _HELO.fullmatch(self.helo):
            raise InputError("error_helo", helo=self.helo)
        if self.mail_from:
            check_mail_from(self.mail_from)
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise InputError("error_smtp_port", port=self.port)
        for name, seconds in (
            ("connect_timeout", self.connect_timeout),
            ("timeout", self.timeout),
            ("deadline", self.deadline),
        ):
            check_seconds(name, seconds)
        if self.max_hosts < 1 or self.max_addresses < 1:
            raise InputError("error_max_hosts")
        if self.proxy is not None:
            check_proxy(self.proxy)
        if self.source_address is not None:
            check_source_address(self.source_address)
        if self.tls_ca_file is not None:
            check_ca_file(self.tls_ca_file)
        if self.lang not in ("en", "it"):
            raise InputError("error_lang", lang=self.lang)

    def resolved_helo(self) -> str:
        return self.helo or default_helo()

    def resolved_mail_from(self) -> str:
        if self.mail_from is not None:
            return self.mail_from
        return f"postmaster@{self.resolved_helo()}"


@dataclass(frozen=True, slots=True)
class Step:
    """One exchange of the transcript: what was sent, what came back, what it means."""

    stage: Stage
    sent: str | None  # the command line, None for the banner and the connection itself
    reply: Reply | None  # None when a client-side event took the reply's place
    explanation: Explanation
    started: float  # seconds since the probe began
    elapsed: float  # seconds from sending (or connecting) to the reply
    event: str | None = None  # client-side event id ("timeout", "refused" …)
    note: str | None = None  # why the step was taken, when not obvious ("catch-all check")

    def to_dict(self) -> dict[str, Any]:
        reply = self.reply
        return {
            "stage": str(self.stage),
            "command": self.sent,
            "code": reply.code if reply is not None else self.explanation.code,
            "enhanced_code": reply.enhanced if reply is not None else None,
            "text": reply.text if reply is not None else self.explanation.text,
            "lines": list(reply.lines) if reply is not None else [],
            "event": self.event,
            "note": self.note,
            "started_ms": round(self.started * 1000, 1),
            "elapsed_ms": round(self.elapsed * 1000, 1),
            "explanation": self.explanation.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One connection to one address of one MX host."""

    host: str
    address: str
    port: int
    steps: tuple[Step, ...]
    outcome: str  # the dialogue's finish reason, or the event that ended it
    next_host: bool
    extensions: Mapping[str, str] = field(default_factory=dict)
    tls: TLSInfo | None = None
    tls_problem: str | None = None
    rcpt: Mapping[str, Reply] = field(default_factory=dict)
    mail: Reply | None = None

    def to_dict(self) -> dict[str, Any]:
        tls = None
        if self.tls is not None:
            tls = {
                "version": self.tls.version,
                "cipher": self.tls.cipher,
                "verified": self.tls.verified,
            }
        return {
            "host": self.host,
            "ip": self.address,
            "port": self.port,
            "outcome": self.outcome,
            "extensions": dict(self.extensions),
            "tls": tls,
            "tls_problem": self.tls_problem,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class Flags:
    """What is known about an address before (and beside) the dialogue.

    Computed by :mod:`prober.knowledge` from the address, its MX hosts and the packaged
    lists; flags describe, they never change what was probed.
    """

    disposable: bool = False  # the domain is a known throw-away mail service
    role: bool = False  # the local part names a function or a group, not a person
    role_name: str | None = None  # the role it names ("info", "postmaster" …)
    free_provider: bool = False  # a mailbox anyone can open for free (Gmail, Libero …)
    provider: str | None = None  # who receives the mail ("gmail", "microsoft365" …)
    provider_name: str | None = None  # the provider as people call it
    provider_from: str | None = None  # "domain" or "mx": how it was recognised
    suggestion: str | None = None  # the address with a likely typo in its domain corrected
    normalized_provider: str | None = None  # the mailbox as the provider reads it

    def to_dict(self) -> dict[str, Any]:
        return {
            "disposable": self.disposable,
            "role": self.role,
            "role_name": self.role_name,
            "free_provider": self.free_provider,
            "provider": self.provider,
            "provider_name": self.provider_name,
            "provider_from": self.provider_from,
            "suggestion": self.suggestion,
            "normalized_provider": self.normalized_provider,
        }


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    """Something that just happened in one address's probe, for whoever watches it live.

    ``kind`` is ``"mx"`` (the MX answer is in: ``mx``), ``"connecting"`` (``host``,
    ``ip``), ``"waiting"`` (for the reply at ``stage``, the banner's included, for
    ``elapsed`` seconds since the last step) or ``"step"`` (``step`` has just been
    recorded). ``address`` is the address the probe is about; ``at`` the seconds since
    it was submitted.
    """

    kind: str
    address: str = ""
    host: str | None = None
    ip: str | None = None
    step: Step | None = None
    mx: MXResult | None = None
    stage: Stage | None = None
    elapsed: float = 0.0
    at: float = 0.0


OnEvent = Callable[[ProbeEvent], None]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of probing one address."""

    address: str  # as given
    normalized: str | None
    verdict: Verdict
    reason: Reason
    summary: str
    explanation: Explanation | None  # the reply or event the verdict rests on
    catch_all: bool | None
    retry_after: int | None
    mx: MXResult | None
    attempts: tuple[Attempt, ...]
    elapsed: float
    error: str | None = None  # for syntax failures: the precise reason
    warnings: tuple[str, ...] = ()  # lookalike characters in the address, as sentences
    flags: Flags | None = None  # set by prober.knowledge.annotate on every finished result

    @property
    def forward_to(self) -> str | None:
        """The new address a 551 (or 251) names, as in "551 User not local; please try
        <bob@example.org>" (RFC 5321 section 3.4): the first <…> of the deciding reply."""
        why = self.explanation
        if why is None or why.code not in (251, 551) or not why.text:
            return None
        start = why.text.find("<")
        end = why.text.find(">", start + 1)
        if start < 0 or end < 0:
            return None
        named = why.text[start + 1 : end].strip()
        if "@" not in named or named.lower() == (self.normalized or "").lower():
            return None
        return named

    def to_dict(self) -> dict[str, Any]:
        mx = None
        if self.mx is not None:
            mx = {
                "domain": self.mx.domain,
                "status": str(self.mx.status),
                "detail": self.mx.detail,
                "hosts": [
                    {
                        "name": h.name,
                        "preference": h.preference,
                        "addresses": list(h.addresses),
                        "error": h.error,
                    }
                    for h in self.mx.hosts
                ],
            }
        return {
            "address": self.address,
            "normalized": self.normalized,
            "verdict": str(self.verdict),
            "reason": str(self.reason),
            "summary": self.summary,
            "error": self.error,
            "warnings": list(self.warnings),
            "flags": None if self.flags is None else self.flags.to_dict(),
            "catch_all": self.catch_all,
            "retry_after_ms": None if self.retry_after is None else self.retry_after * 1000,
            "forward_to": self.forward_to,
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "mx": mx,
            "attempts": [a.to_dict() for a in self.attempts],
            "elapsed_ms": round(self.elapsed * 1000, 1),
        }
