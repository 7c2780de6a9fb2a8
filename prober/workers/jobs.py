"""Submitting a list to the fleet, and reading a job back (status, results, cancel)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prober.errors import InputError
from prober.service.lists import csv_header, csv_row, kind_of
from prober.workers.fleet import FleetConfig, check_broker, declare, make_broker
from prober.workers.reading import open_list
from prober.workers.store import FleetStore, WorkerShare

# Rows per first-stage message. The first stage groups the rows it reads by host, so a
# host's batches are full only if a chunk holds enough of its rows: with 1,000-row
# chunks of a shuffled list, a host with 31 addresses got five batches of six, each a
# session of its own.
ROUTE_CHUNK = 10_000
_MAX_ROWS = 100_000_000
_FRESH = 30.0  # seconds: a worker that reported this recently is counted as up


def open_store(db: str) -> FleetStore:
    store = FleetStore(db)
    store.migrate()
    return store


def enqueue(config: FleetConfig, job_id: str, total: int) -> int:
    """Send a job's first-stage messages; how many were sent."""
    broker = make_broker(config)
    try:
        actors = declare(broker, None)
        sent = 0
        for first in range(0, total, ROUTE_CHUNK):
            actors.route.send(job_id, first, min(first + ROUTE_CHUNK, total) - 1)
            sent += 1
        return sent
    finally:
        broker.close()


def submit(
    config: FleetConfig, path: Path, *, column: str | None = None, lang: str = "en"
) -> tuple[str, int]:
    """Store the list as a job and hand it to the fleet: (job id, rows).

    The list is read a record at a time and stored a thousand rows at a time, in one
    transaction (a list that turns out unreadable half-way leaves nothing behind), so
    memory stays the same for ten lines and ten million; the first-stage messages are
    sent once the rows are committed."""
    check_broker(config.broker)
    listing = open_list(path, kind_of("", path.name), column, _MAX_ROWS)
    store = open_store(config.db)
    try:
        job_id = secrets.token_hex(8)
        total = store.add_job(job_id, None, lang, listing.kind, listing.columns, listing.rows)
    finally:
        listing.rows.close()
        store.close()
    enqueue(config, job_id, total)
    return job_id, total


_STATES = ("queued", "running", "done", "cancelled")  # a job's states, as stored

@dataclass(frozen=True, slots=True)
class Status:
    job_id: str
    status: str
    total: int
    done: int
    waiting: int  # rows with a temporary answer, waiting for their re-probe
    pending: int
    verdicts: dict[str, int]
    workers: tuple[WorkerShare, ...]
    fleet: tuple[dict[str, Any], ...] = field(default=())
    elapsed: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "waiting": self.waiting,
            "pending": self.pending,
            "verdicts": self.verdicts,
            "elapsed": self.elapsed,
            "workers": [
                {"worker": w.worker, "results": w.results, "per_second": round(w.rate, 2)}
                for w in self.workers
            ],
            "fleet": list(self.fleet),
        }

    def text(self, lang: str = "en") -> str:
        from prober.output.messages import message

        state = message(f"job_state_{self.status}", lang) if self.status in _STATES else self.status
        head = message("job_status_head", lang, job=self.job_id, state=state, done=self.done,
                       total=self.total)
        if self.elapsed is not None:
            head += message("job_status_elapsed", lang, seconds=f"{self.elapsed:.1f}")
        lines = [head, message("job_status_waiting", lang, waiting=self.waiting,
                               pending=self.pending)]
        if self.verdicts:
            lines.append("  " + ", ".join(
                f"{message(f'verdict_{v}', lang)}: {n}" for v, n in sorted(self.verdicts.items())
            ))
        for share in self.workers:
            lines.append(message("job_status_worker", lang, worker=share.worker,
                                 results=share.results, rate=f"{share.rate:.1f}"))
        for figures in self.fleet:
            lines.append(message("job_status_up", lang, worker=figures["worker"],
                                 sessions=figures["in_flight"],
                                 rate=figures["results_per_second"]))
        return "\n".join(lines)


def status(store: FleetStore, job_id: str) -> Status:
    job = store.job(job_id)
    if job is None:
        raise InputError("error_no_job", job=job_id)
    counts = store.counts(job_id)
    states = counts["states"]
    now = time.time()
    fleet = tuple(
        {"worker": name, **figures}
        for name, seen, figures in store.fleet()
        if now - seen < _FRESH
    )
    end = job.finished_at if job.finished_at is not None else now
    return Status(
        job_id=job_id,
        status=job.status,
        total=job.total,
        done=int(states.get("done", 0)),
        waiting=int(states.get("waiting", 0)),
        pending=int(states.get("pending", 0)),
        verdicts={k: int(v) for k, v in counts["verdicts"].items()},
        workers=tuple(store.shares(job_id)),
        fleet=fleet,
        elapsed=None if job.started_at is None else end - job.started_at,
    )


def results(store: FleetStore, job_id: str, fmt: str) -> Iterator[str]:
    """The job's results in input order as CSV (the input's columns first, as the
    service writes them) or JSON lines."""
    job = store.job(job_id)
    if job is None:
        raise InputError("error_no_job", job=job_id)
    if fmt not in ("csv", "jsonl"):
        raise InputError("error_job_format", format=fmt)
    if fmt == "csv":
        yield csv_header(job.columns)
    after = -1
    while True:
        rows = store.result_rows(job_id, after, 1000)
        if not rows:
            return
        for row_no, cells_text, result_text in rows:
            cells, result = json.loads(cells_text), json.loads(result_text)
            if fmt == "csv":
                yield csv_row(job.kind, job.columns, cells, result)
            else:
                yield json.dumps({"row": row_no, **result}, ensure_ascii=False) + "\n"
        after = rows[-1][0]
