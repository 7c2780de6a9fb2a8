"""Running one worker process: Dramatiq's worker threads, the figures reporter, /metrics,
and a clean stop on SIGTERM or Ctrl-C (work in progress finishes; the rest goes back)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from types import FrameType

import dramatiq

from prober.engine import EngineLimits
from prober.results import ProbeOptions
from prober.workers.fleet import (
    Fleet,
    FleetConfig,
    FleetLife,
    check_broker,
    declare,
    make_broker,
)
from prober.workers.metrics import serve_metrics

_REPORT_EVERY = 2.0  # seconds between figures pushed to the store
_STOP_WAIT = 120_000  # ms a stopping worker gives its batches in progress
# ms an idle consumer sleeps at most between looks at its queue, and between looks at the
# delayed messages that are due (Dramatiq's default, 1 s, is paid by every message that
# reaches an idle worker and by every batch that comes back from a delay).
_POLL_MS = 100


def run_worker(
    config: FleetConfig,
    options: ProbeOptions,
    limits: EngineLimits,
    *,
    concurrency: int,
    name: str | None = None,
    metrics: tuple[str, int] | None = None,
) -> int:
    check_broker(config.broker)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("prober.workers").setLevel(logging.INFO)
    broker = make_broker(config)
    fleet = Fleet(config, options, limits, name=name)
    fleet.store.migrate()
    declare(broker, fleet)
    broker.add_middleware(FleetLife(fleet))
    stop = threading.Event()

    def on_signal(_signo: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = dramatiq.Worker(broker, worker_threads=concurrency, worker_timeout=_POLL_MS)
    # Take no more than it can start: a slow worker must not sit on work others could do.
    worker.queue_prefetch = concurrency
    worker.start()
    if metrics is not None:
        port = serve_metrics(fleet.figures, metrics[0], metrics[1])
        print(f"worker {fleet.name}: /metrics on http://{metrics[0]}:{port}/metrics",
              file=sys.stderr, flush=True)
    print(f"worker {fleet.name} ready ({concurrency} at once, {config.per_host} per MX host)",
          file=sys.stderr, flush=True)
    started = time.time()
    try:
        while not stop.wait(_REPORT_EVERY):
            try:
                fleet.store.report(fleet.name, started, fleet.figures.snapshot())
            except Exception as exc:  # noqa: BLE001 - figures are best effort; work goes on
                logging.getLogger("prober.workers").warning("figures not stored: %s", exc)
    finally:
        worker.stop(timeout=_STOP_WAIT)
        fleet.store.report(fleet.name, started, {**fleet.figures.snapshot(), "stopped": True})
        fleet.store.close()
        broker.close()
    return 0
