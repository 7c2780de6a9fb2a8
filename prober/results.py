"""The result types every front door shares: options, steps, attempts, results.

Rendering and output code reads these without importing the I/O that produces them.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prober.engine.verdict import Reason, Verdict
from prober.errors import InputError
from prober.explanation.catalogue import Stage
from prober.explanation.explain import Explanation
from prober.resolve.mx import DNSConfig, MXResult
from prober.smtp.connection import TLSInfo
from prober.smtp.reply import Reply


def default_helo() -> str:
    """This host's fully qualified name, the conventional EHLO argument."""
    name = socket.getfqdn()
    return name if "." in name else "localhost.localdomain"


_HELO = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")


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

    def __post_init__(self) -> None:
        # Checked when the options are made, before any packet: these two go into command
        # lines verbatim, and check_command would only refuse them mid-dialogue.
        if self.helo and not _HELO.fullmatch(self.helo):
            raise InputError(
                f"The HELO name {self.helo!r} is not a host name or an address literal "
                "such as [192.0.2.1]; it may hold only letters, digits, '.', '-', '_', ':' "
                "and brackets, up to 255 characters."
            )
        if self.mail_from:
            bad = next((c for c in self.mail_from if c in "<> " or not c.isprintable()), None)
            if bad is not None or len(self.mail_from.encode("utf-8", "replace")) > 254:
                what = f"the character {bad!r}" if bad is not None else "more than 254 octets"
                raise InputError(
                    f"The sender address (MAIL FROM) {self.mail_from!r} has {what}; it "
                    "cannot be placed in an SMTP command safely."
                )

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
class ProbeEvent:
    """Something that just happened in a probe, for whoever watches it live.

    ``kind`` is ``"mx"`` (the MX answer is in: ``mx``), ``"connecting"`` (``host``,
    ``ip``, ``port``), ``"waiting"`` (for the banner, or for the reply to ``command``,
    at ``stage``) or ``"step"`` (``step`` has just been recorded). ``at`` is seconds
    since the probe began.
    """

    kind: str
    at: float
    step: Step | None = None
    stage: Stage | None = None
    command: str | None = None
    host: str | None = None
    ip: str | None = None
    port: int | None = None
    mx: MXResult | None = None


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
            "catch_all": self.catch_all,
            "retry_after_ms": None if self.retry_after is None else self.retry_after * 1000,
            "forward_to": self.forward_to,
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "mx": mx,
            "attempts": [a.to_dict() for a in self.attempts],
            "elapsed_ms": round(self.elapsed * 1000, 1),
        }
