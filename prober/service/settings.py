"""What the server is told at start: probe options, politeness, limits, cache lifetimes.

Every probe option lives here, on the server; a request may choose only what cannot
hurt anyone (a fresh answer instead of a cached one, waiting or not, the language).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from prober.engine.verdict import Reason, Verdict
from prober.errors import InputError
from prober.results import ProbeOptions, ProbeResult
from prober.service.engine import EngineLimits

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

# How long a cached answer is trusted, by verdict; a reason's own entry wins.
DEFAULT_TTL: Mapping[str, float] = {
    str(Verdict.DELIVERABLE): 7 * DAY,
    str(Verdict.UNDELIVERABLE): 7 * DAY,
    str(Verdict.RISKY): DAY,
    str(Verdict.UNKNOWN): 10 * MINUTE,
}

# Answers that say "ask again later": re-probed on schedule, never cached past the hint.
TEMPORARY = frozenset(
    {
        Reason.GREYLISTED,
        Reason.TEMPORARY_FAILURE,
        Reason.RATE_LIMITED,
        Reason.SERVER_UNAVAILABLE,
        Reason.DNS_TEMPORARY,
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    probe: ProbeOptions = field(default_factory=ProbeOptions)
    limits: EngineLimits = field(default_factory=EngineLimits)
    db: str = "sqlite:///prober.db"
    host: str = "127.0.0.1"
    port: int = 8025
    auth: bool = True
    cors_origins: tuple[str, ...] = ()
    rate_per_minute: int = 60  # requests per key, unless the key says otherwise
    daily_quota: int = 10000  # addresses probed per key per UTC day, unless the key says
    max_body: int = 1024 * 1024  # bytes of a JSON or explain request
    max_list_bytes: int = 20 * 1024 * 1024  # bytes of a list upload
    max_list_rows: int = 100_000
    ttl: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TTL))
    retry_base: float = 300.0  # first re-probe of a temporary answer without a hint
    retry_tries: int = 3  # probes of one address at most, the first included
    list_batch: int = 500  # rows read from the store at once
    demo: bool = False  # probe the embedded loopback demo world instead of the internet
    broker: str | None = None  # redis://…: list jobs go to the workers (probe worker)

    def __post_init__(self) -> None:
        if not self.auth and not is_loopback(self.host):
            raise InputError("error_no_auth", host=self.host)

    def expires(self, result: ProbeResult, now: float) -> float:
        """When a cached ``result`` stops being trusted."""
        reason, verdict = str(result.reason), str(result.verdict)
        ttl = self.ttl.get(reason, self.ttl.get(verdict, DEFAULT_TTL[str(Verdict.UNKNOWN)]))
        if result.reason in TEMPORARY and result.retry_after is not None:
            ttl = min(ttl, float(result.retry_after))
        return now + ttl

    def retry_delay(self, result: ProbeResult, tries: int) -> float | None:
        """Seconds until a temporary answer is asked again, or None when it is final."""
        if result.reason not in TEMPORARY or tries >= self.retry_tries:
            return None
        # The server's hint first, then doubling from there (or from retry_base).
        hint = float(result.retry_after) if result.retry_after else 0.0
        return float((hint or self.retry_base) * 2.0 ** max(0, tries - 1))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_ttl(items: list[str]) -> dict[str, float]:
    """``verdict=SECONDS`` or ``reason=SECONDS`` pairs over the defaults."""
    known = {str(v) for v in Verdict} | {str(r) for r in Reason}
    ttl = dict(DEFAULT_TTL)
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not sep or name not in known or seconds < 0:
            raise InputError("error_cache_ttl", item=item)
        ttl[name] = seconds
    return ttl
