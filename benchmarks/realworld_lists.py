"""The mail world of ``realworld.py`` as data: domains, MX hosts, address lists, floors.

Nothing here does I/O. Two hundred domains ``d000.test`` … ``d199.test`` are hosted by
one Postfix; most have an MX host of their own, and two providers' hosts serve twenty
domains each (every domain whose number ends in 5, and every one ending in 8), as
hosting providers do. Each MX host gets a loopback address of its own, 127.0.1.x.

A list is built with a fixed seed, so every run probes the same addresses in the same
order, and the expected verdict of each address is known from construction: a listed
mailbox is ``deliverable`` (the server refuses made-up local parts, so it is no
catch-all) and any other local part in a hosted domain is ``undeliverable``.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "DOMAINS",
    "Floor",
    "Listing",
    "build_list",
    "floor",
    "flow_floor",
    "mx_host",
    "mx_ips",
    "zone_records",
]

DOMAINS = tuple(f"d{i:03d}.test" for i in range(200))
SHARED = {5: "mx.shared-a.test", 8: "mx.shared-b.test"}  # last digit of the domain's number

# The floor of a list's wall time: what an ideal client respecting these limits needs.
SESSION_RTTS = 7  # handshake + banner, EHLO, STARTTLS, TLS, EHLO, MAIL/RCPTs, QUIT
RCPT_PER_SESSION = 100
SESSIONS_AT_ONCE = 20
SESSIONS_PER_HOST = 2
# Postfix's defaults: from the 11th refused RCPT of a session every reply waits 1 s
# (smtpd_soft_error_limit 10, smtpd_error_sleep_time 1s).
REFUSALS_PER_SESSION = 10
# Postfix's flow control: its cleanup service takes a token for each transaction with an
# accepted recipient and waits in_flow_delay (1 s) when there is none; the queue manager
# refills the tokens to default_process_limit (100) when it has mail to look at, which a
# probe never gives it. So a fresh Postfix lets 100 such transactions through at once
# and every later one waits a second.
FLOW_TOKENS = 100
FLOW_DELAY = 1.0


def mx_host(domain: str) -> str:
    number = int(domain[1:4])
    return SHARED.get(number % 10, f"mx.{domain}")


def mx_ips() -> dict[str, str]:
    """Each MX host's loopback address."""
    hosts = sorted({mx_host(d) for d in DOMAINS})
    return {host: f"127.0.1.{i + 1}" for i, host in enumerate(hosts)}


def zone_records() -> dict[str, list[tuple[str | int, ...]]]:
    """The DNS zone: an MX for each domain, an A record for each MX host."""
    records: dict[str, list[tuple[str | int, ...]]] = {
        f"{domain}.": [("MX", 10, f"{mx_host(domain)}.")] for domain in DOMAINS
    }
    for host, ip in mx_ips().items():
        records[f"{host}."] = [("A", ip)]
    return records


@dataclass(frozen=True)
class Listing:
    """One list: its addresses in probing order, and what each must be judged."""

    name: str
    addresses: tuple[str, ...]
    expected: Mapping[str, str]  # address -> "deliverable" | "undeliverable"

    def mailboxes(self) -> list[str]:
        return [a for a in self.addresses if self.expected[a] == "deliverable"]

    def per_domain(self) -> Counter[str]:
        return Counter(a.rpartition("@")[2] for a in self.addresses)


def zipf_sizes(total: int, domains: int, exponent: float = 1.0) -> list[int]:
    """``total`` split over ``domains`` in proportion to 1/rank**exponent, each at least 1."""
    weights = [1 / (rank**exponent) for rank in range(1, domains + 1)]
    scale = (total - domains) / sum(weights)
    raw = [1 + w * scale for w in weights]
    sizes = [math.floor(x) for x in raw]
    # Largest remainders get the units that rounding down left over.
    order = sorted(range(domains), key=lambda i: raw[i] - sizes[i], reverse=True)
    for i in order[: total - sum(sizes)]:
        sizes[i] += 1
    return sizes


def build_list(
    name: str,
    sizes: Iterable[int],
    domains: Iterable[str],
    unknown_share: float = 0.2,
    seed: int = 20261202,
) -> Listing:
    """Addresses ``<name-letter><n>@domain``, ``unknown_share`` of them unknown, shuffled."""
    rng = random.Random(f"{seed}-{name}")
    addresses = [
        f"{name[0]}{n:05d}@{domain}"
        for domain, size in zip(domains, sizes, strict=True)
        for n in range(size)
    ]
    unknown = set(rng.sample(addresses, round(len(addresses) * unknown_share)))
    rng.shuffle(addresses)
    expected = {a: "undeliverable" if a in unknown else "deliverable" for a in addresses}
    return Listing(name, tuple(addresses), expected)


def zipf_list(total: int = 5000, domains: int = 200) -> Listing:
    return build_list("zipf", zipf_sizes(total, domains), DOMAINS[:domains])


def even_list(total: int = 500, domains: int = 20) -> Listing:
    return build_list("even", [total // domains] * domains, DOMAINS[:domains])


def quick_list() -> Listing:
    """100 addresses over 5 domains, two of them on one provider's host."""
    chosen = ("d000.test", "d001.test", "d002.test", "d005.test", "d015.test")
    return build_list("quick", zipf_sizes(100, len(chosen)), chosen)


@dataclass(frozen=True)
class Floor:
    """The least wall time a list needs under the session limits, and its sessions."""

    sessions: int
    rounds: int
    seconds: float


def _rounds(sessions_per_host: Mapping[str, int]) -> int:
    """Rounds of equal-length sessions, ≤ SESSIONS_AT_ONCE at once, ≤ SESSIONS_PER_HOST
    per host. Largest-remaining-first is optimal for equal lengths."""
    left = dict(sessions_per_host)
    rounds = 0
    while any(left.values()):
        rounds += 1
        budget = SESSIONS_AT_ONCE
        for host in sorted(left, key=left.__getitem__, reverse=True):
            if budget == 0 or left[host] == 0:
                break
            take = min(SESSIONS_PER_HOST, left[host], budget)
            left[host] -= take
            budget -= take
    return rounds


def _makespan(sessions_per_host: Mapping[str, int], rtt: float, tokens: int, delay: float) -> float:
    """Seconds to run the sessions, ≤ SESSIONS_AT_ONCE at once and ≤ SESSIONS_PER_HOST per
    host, each 7 RTT long plus ``delay`` once ``tokens`` sessions have started; a free
    slot goes to the host with the most sessions left (the critical one first)."""
    left = dict(sessions_per_host)
    running: list[tuple[float, str]] = []  # (end, host)
    per_host: Counter[str] = Counter()
    now = 0.0
    started = 0
    while any(left.values()) or running:
        for host in sorted(left, key=left.__getitem__, reverse=True):
            if len(running) >= SESSIONS_AT_ONCE:
                break
            while left[host] and per_host[host] < SESSIONS_PER_HOST:
                if len(running) >= SESSIONS_AT_ONCE:
                    break
                length = SESSION_RTTS * rtt + (delay if started >= tokens else 0.0)
                started += 1
                left[host] -= 1
                per_host[host] += 1
                running.append((now + length, host))
        running.sort()
        end, host = running.pop(0)
        now = end
        per_host[host] -= 1
    return now


def flow_floor(listing: Listing, rtt: float) -> float:
    """The error-budget floor with Postfix's flow control counted (FLOW_TOKENS sessions
    free, each later one FLOW_DELAY longer): the least a client can take on Debian's
    default Postfix without delivering mail."""
    sessions = _sessions(listing, error_budget=True)
    return _makespan(sessions, rtt, FLOW_TOKENS, FLOW_DELAY)


def _sessions(listing: Listing, error_budget: bool) -> dict[str, int]:
    """Sessions each MX host needs: ≤ 100 RCPTs (each address, plus one made-up address
    per domain for the catch-all check); with ``error_budget`` also ≤ 10 refused RCPTs."""
    rcpts: dict[str, int] = defaultdict(int)
    refused: dict[str, int] = defaultdict(int)
    for domain, count in listing.per_domain().items():
        rcpts[mx_host(domain)] += count + 1
        refused[mx_host(domain)] += 1
    for address in listing.addresses:
        if listing.expected[address] != "deliverable":
            refused[mx_host(address.rpartition("@")[2])] += 1
    sessions = {}
    for host, count in rcpts.items():
        need = math.ceil(count / RCPT_PER_SESSION)
        if error_budget:
            need = max(need, math.ceil(refused[host] / REFUSALS_PER_SESSION))
        sessions[host] = need
    return sessions


def floor(listing: Listing, rtt: float, error_budget: bool = False) -> Floor:
    """Sessions of ≤ 100 RCPTs (each address, plus one made-up address per domain for the
    catch-all check) and 7 RTT each; with ``error_budget`` also ≤ 10 refused RCPTs each."""
    sessions = _sessions(listing, error_budget)
    rounds = _rounds(sessions)
    return Floor(sum(sessions.values()), rounds, rounds * SESSION_RTTS * rtt)
