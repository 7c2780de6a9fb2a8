"""A worker's figures: on ``/metrics`` (Prometheus text, served by prometheus_client) and
pushed to the store every few seconds for ``probe job status``."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

_HOSTS = 1000  # hosts whose waits are kept (the most waited-for)
_WINDOW = 10.0  # seconds over which results per second are measured


class Figures:
    """Counters shared by the event loop (which counts) and the reporters (which read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.in_flight = 0  # batches probing now
        self.sessions: Callable[[], int] = lambda: 0  # the engine's connections open now
        self.results = 0
        self.rows_routed = 0
        self.wait_seconds: dict[str, float] = {}  # per host: time spent waiting for a slot
        self.deferrals: Counter[str] = Counter()  # per host: batches sent back to wait
        self.pauses: Counter[str] = Counter()  # per host: fleet-wide pauses this worker set
        self.handovers: Counter[str] = Counter()  # per host: batches left to its slot holders
        self.takeovers: Counter[str] = Counter()  # per host: such batches this worker did
        self._recent: deque[tuple[float, int]] = deque()

    def begin(self) -> None:
        with self._lock:
            self.in_flight += 1

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def wrote(self, count: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.results += count
            self._recent.append((now, count))
            self._trim(now)

    def routed(self, count: int) -> None:
        with self._lock:
            self.rows_routed += count

    def waited(self, host: str, seconds: float) -> None:
        with self._lock:
            self.wait_seconds[host] = self.wait_seconds.get(host, 0.0) + seconds
            if len(self.wait_seconds) > _HOSTS:
                kept = sorted(self.wait_seconds.items(), key=lambda hs: -hs[1])[: _HOSTS // 2]
                self.wait_seconds = dict(kept)

    def deferred(self, host: str) -> None:
        with self._lock:
            self.deferrals[host] += 1
            self._bound(self.deferrals)

    def handed(self, host: str) -> None:
        with self._lock:
            self.handovers[host] += 1
            self._bound(self.handovers)

    def took_over(self, host: str) -> None:
        with self._lock:
            self.takeovers[host] += 1
            self._bound(self.takeovers)

    def paused(self, host: str) -> None:
        with self._lock:
            self.pauses[host] += 1
            self._bound(self.pauses)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - _WINDOW:
            self._recent.popleft()

    @staticmethod
    def _bound(counter: Counter[str]) -> None:
        if len(counter) > _HOSTS:
            for host, _ in counter.most_common()[_HOSTS // 2 :]:
                del counter[host]

    def rate(self) -> float:
        """Results written per second over the last ten seconds."""
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            count = sum(n for _, n in self._recent)
        span = min(_WINDOW, max(1e-3, time.time() - self.started))
        return count / span

    def snapshot(self) -> dict[str, Any]:
        rate = self.rate()
        with self._lock:
            return {
                "in_flight": self.sessions(),
                "batches": self.in_flight,
                "results": self.results,
                "results_per_second": round(rate, 2),
                "rows_routed": self.rows_routed,
                "wait_seconds": {
                    h: round(s, 3)
                    for h, s in sorted(self.wait_seconds.items(), key=lambda hs: -hs[1])[:20]
                },
                "deferrals": dict(self.deferrals.most_common(20)),
                "pauses": dict(self.pauses.most_common(20)),
                "handovers": dict(self.handovers.most_common(20)),
                "takeovers": dict(self.takeovers.most_common(20)),
            }


class _Collector:
    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        f = self.figures
        yield GaugeMetricFamily(
            "prober_worker_sessions_in_flight", "SMTP connections open now.",
            value=f.sessions(),
        )
        yield GaugeMetricFamily(
            "prober_worker_batches_in_flight", "Batches probing now.", value=f.in_flight
        )
        yield CounterMetricFamily(
            "prober_worker_results", "Results written to the store.", value=f.results
        )
        yield GaugeMetricFamily(
            "prober_worker_results_per_second", "Results per second, last ten seconds.",
            value=f.rate(),
        )
        waits = CounterMetricFamily(
            "prober_worker_host_wait_seconds", "Seconds batches waited for a host's slot.",
            labels=["host"],
        )
        deferrals = CounterMetricFamily(
            "prober_worker_host_deferrals", "Batches sent back to wait for a host.",
            labels=["host"],
        )
        pauses = CounterMetricFamily(
            "prober_worker_host_pauses", "Fleet-wide pauses of a host set by this worker.",
            labels=["host"],
        )
        handovers = CounterMetricFamily(
            "prober_worker_host_handovers",
            "Batches that found every slot of a host taken and left their rows to the "
            "workers holding them.",
            labels=["host"],
        )
        takeovers = CounterMetricFamily(
            "prober_worker_host_takeovers",
            "Batches left by others that this worker did under its slots of the host.",
            labels=["host"],
        )
        with f._lock:
            for host, count in f.handovers.items():
                handovers.add_metric([host], count)
            for host, count in f.takeovers.items():
                takeovers.add_metric([host], count)
            for host, seconds in f.wait_seconds.items():
                waits.add_metric([host], seconds)
            for host, count in f.deferrals.items():
                deferrals.add_metric([host], count)
            for host, count in f.pauses.items():
                pauses.add_metric([host], count)
        yield waits
        yield deferrals
        yield pauses
        yield handovers
        yield takeovers


def serve_metrics(figures: Figures, host: str, port: int) -> int:
    """Serve ``/metrics`` on ``host:port`` in a daemon thread; the port it listens on."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(figures))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port)
