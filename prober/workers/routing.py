"""Routing a list by the MX host that answers for each address (pure).

A unit of work is one MX host and a batch of addresses for it, so one session carries
many RCPTs and the fleet can hold its limit per host. Addresses that no host answers
for (not an address, no such domain, a null MX, a failing DNS) go to :data:`NO_HOST`:
the engine judges them without opening a connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prober.address import parse_address
from prober.errors import AddressError
from prober.resolve.mx import MXResult, MXStatus

NO_HOST = "-"


@dataclass(frozen=True, slots=True)
class Batch:
    host: str
    rows: tuple[int, ...]


def domain_of(address: str) -> str | None:
    """The A-label domain of an address, or None when it is not an address."""
    try:
        return parse_address(address).ascii_domain
    except AddressError:
        return None


def host_of(mx: MXResult) -> str | None:
    """The host that answers for the domain: its best MX (by name among equals), the
    domain itself for an implicit MX; None when no host does."""
    if mx.status is MXStatus.IMPLICIT:
        return mx.domain
    if mx.status is not MXStatus.OK:
        return None
    usable = [h for h in mx.hosts if h.addresses]
    if not usable:
        return None
    best = min(h.preference for h in usable)
    return min(h.name.lower() for h in usable if h.preference == best)


class Batcher:
    """Rows into batches of at most ``size`` per host as their routes become known: a
    host's full batches are given out at once (the first stage sends them while other
    domains are still being looked up), the rest by :meth:`flush`."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._open: dict[str, list[int]] = {}
        self._sent: dict[str, int] = {}

    def add(self, host: str, rows: Iterable[int]) -> list[Batch]:
        """Rows routed to ``host``; the batches now full."""
        waiting = self._open.setdefault(host, [])
        waiting.extend(rows)
        full = []
        while len(waiting) >= self.size:
            full.append(Batch(host, tuple(sorted(waiting[: self.size]))))
            del waiting[: self.size]
        self._sent[host] = self._sent.get(host, 0) + len(full) * self.size
        return full

    def flush(self) -> list[Batch]:
        """The batches not full yet: the host with the most rows first, then by name."""
        left = sorted(
            (h for h, rows in self._open.items() if rows),
            key=lambda h: (-(self._sent.get(h, 0) + len(self._open[h])), h),
        )
        batches = [Batch(h, tuple(sorted(self._open[h]))) for h in left]
        self._open.clear()
        return batches


def group(
    rows: Iterable[tuple[int, str | None]], routes: Mapping[str, str], size: int
) -> list[Batch]:
    """``(row_no, domain)`` pairs into batches of at most ``size`` rows per host, the host
    with the most rows first (it is the list's critical path: its slots should be busy
    from the start, as list mode serves the biggest queue first), then by name."""
    by_host: dict[str, list[int]] = {}
    for row_no, domain in rows:
        host = routes.get(domain, NO_HOST) if domain is not None else NO_HOST
        by_host.setdefault(host, []).append(row_no)
    batches = []
    for host in sorted(by_host, key=lambda h: (-len(by_host[h]), h)):
        numbers = by_host[host]
        for start in range(0, len(numbers), max(1, size)):
            batches.append(Batch(host, tuple(numbers[start : start + size])))
    return batches
