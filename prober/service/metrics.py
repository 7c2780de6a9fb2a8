"""``/metrics``: Prometheus text format, from one registry per app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from prober.service.engine import Engine, figures

disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created says nothing here


class _EngineFigures:
    """Read at each scrape: queue depth, probes under way, backoffs per MX host."""

    def __init__(self, engine: Engine, running_jobs: Callable[[], int]) -> None:
        self._engine = engine
        self._running = running_jobs

    def collect(self) -> Iterator[Metric]:
        now = figures(self._engine)
        yield GaugeMetricFamily(
            "prober_queue_depth", "Probes waiting for a connection slot.", value=now.queued
        )
        yield GaugeMetricFamily("prober_probes_active", "Probes under way.", value=now.active)
        yield GaugeMetricFamily(
            "prober_list_jobs_running", "List jobs being worked on.", value=self._running()
        )
        backoffs = CounterMetricFamily(
            "prober_host_backoffs",
            "Pauses taken because an MX host answered 421 or asked to slow down.",
            labels=["host"],
        )
        for host, count in sorted(now.backoffs.items()):
            backoffs.add_metric([host], count)
        yield backoffs

    def describe(self) -> list[Any]:
        return []


class Metrics:
    def __init__(self, engine: Engine, running_jobs: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.probes = Counter(
            "prober_probes", "Addresses probed (not answered from the cache), by verdict.",
            ["verdict"], registry=self.registry,
        )
        self.cache_hits = Counter(
            "prober_cache_hits", "Answers served from the result cache.", registry=self.registry
        )
        self.latency = Histogram(
            "prober_probe_seconds", "Time one probe took.", registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120),
        )
        self.requests = Counter(
            "prober_http_requests", "HTTP requests answered, by status code.", ["status"],
            registry=self.registry,
        )
        self.registry.register(_EngineFigures(engine, running_jobs))
