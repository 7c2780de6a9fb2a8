"""The service's work, apart from HTTP: probing through the cache, list jobs, re-probes.

One :class:`Service` per process holds the one engine, the store and the metrics. List
jobs live in the store row by row: a row's result is written when it arrives, so a
server killed in the middle of a list continues at start with the rows that had none
(none lost), and a row is one record (none reported twice). Temporary answers are kept
as the row's result and the row is asked again when its time comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prober.address import parse_address
from prober.errors import AddressError
from prober.results import ProbeResult
from prober.service.engine import Engine, OnEvent
from prober.service.metrics import Metrics
from prober.service.settings import Settings
from prober.service.store import Row, RowResult, Store
from prober.service.translate import in_every_language

log = logging.getLogger("prober.service")

P = ParamSpec("P")
R = TypeVar("R")


def iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z"
    )


def cache_key(address: str) -> str | None:
    """The address as the cache knows it; None when it is not an address at all."""
    try:
        parsed = parse_address(address)
    except AddressError:
        return None
    return parsed.normalized


def labelled(data: dict[str, Any], cached: bool, checked_at: float) -> dict[str, Any]:
    return {**data, "cached": cached, "checked_at": iso(checked_at)}


class Service:
    def __init__(self, settings: Settings, store: Store, engine: Engine) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self.metrics = Metrics(engine, lambda: len(self._jobs))
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._scheduler: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    async def db(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(call, *args, **kwargs)

    # -- start and stop ------------------------------------------------------------------

    async def start(self) -> None:
        for job in await self.db(self.store.unfinished_jobs):
            self.run_job(job.id)
        self._scheduler = asyncio.ensure_future(self._schedule())

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a task the service must see through (the event loop keeps weak references)."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        tasks = [
            t
            for t in (self._scheduler, *self._jobs.values(), *self._probes.values(),
                      *self._background)
            if t
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # -- one address ---------------------------------------------------------------------

    async def fresh(
        self, address: str, on_event: OnEvent | None = None
    ) -> tuple[ProbeResult, dict[str, Any], float]:
        """Probe through the engine and remember the answer."""
        result = await self.engine.submit(address, on_event=on_event, fresh=True)
        self.metrics.probes.labels(str(result.verdict)).inc()
        self.metrics.latency.observe(result.elapsed)
        checked_at = time.time()
        versions = await self.remember(address, result, checked_at)
        return result, versions, checked_at

    async def remember(
        self, address: str, result: ProbeResult, checked_at: float
    ) -> dict[str, Any]:
        """Keep ``result`` in the cache (and the domain's catch-all answer); its versions."""
        versions = in_every_language(result)
        key = cache_key(address)
        if key is not None:
            until = self.settings.expires(result, checked_at)
            catch_all = None
            if result.catch_all is not None:
                catch_all = (key.rpartition("@")[2].lower(), result.catch_all, until)
            await self.db(
                self.store.remember, key, str(result.verdict), str(result.reason), versions,
                checked_at, until, catch_all,
            )
        return versions

    async def from_cache(self, address: str, lang: str) -> dict[str, Any] | None:
        key = cache_key(address)
        if key is None:
            return None
        hit = await self.db(self.store.cached, key, time.time())
        if hit is None:
            return None
        checked_at, versions = hit
        self.metrics.cache_hits.inc()
        return labelled({**versions[lang], "address": address}, True, checked_at)

    async def check(
        self, address: str, lang: str, fresh: bool, on_event: OnEvent | None = None
    ) -> dict[str, Any]:
        """The ``probe --json`` object for ``address``, from the cache unless ``fresh``."""
        if not fresh:
            cached = await self.from_cache(address, lang)
            if cached is not None:
                return cached
        _result, versions, checked_at = await self.fresh(address, on_event)
        return labelled(versions[lang], False, checked_at)

    # -- probes asked for with ?wait=false ----------------------------------------------

    async def submit_later(self, address: str, lang: str, fresh: bool, key_id: int | None) -> str:
        probe_id = uuid.uuid4().hex
        await self.db(self.store.add_probe, probe_id, key_id, address, lang)
        self._start_probe(probe_id, address, lang, 0, fresh)
        return probe_id

    def _start_probe(self, probe_id: str, address: str, lang: str, tries: int, fresh: bool) -> None:
        if probe_id in self._probes:
            return
        task = asyncio.ensure_future(self._run_probe(probe_id, address, lang, tries, fresh))
        self._probes[probe_id] = task
        task.add_done_callback(lambda _t: self._probes.pop(probe_id, None))

    async def _run_probe(
        self, probe_id: str, address: str, lang: str, tries: int, fresh: bool
    ) -> None:
        data = None if fresh or tries else await self.from_cache(address, lang)
        delay: float | None = None
        if data is None:
            result, versions, checked_at = await self.fresh(address)
            data = labelled(versions[lang], False, checked_at)
            delay = self.settings.retry_delay(result, tries + 1)
        state = "waiting" if delay is not None else "done"
        retry_at = time.time() + delay if delay is not None else None
        await self.db(
            self.store.finish_probe, probe_id, state, tries + 1, retry_at,
            json.dumps(data, ensure_ascii=False),
        )
        if delay is not None:
            self._wake.set()

    # -- list jobs -----------------------------------------------------------------------

    @property
    def running_jobs(self) -> int:
        return len(self._jobs)

    def run_job(self, job_id: str) -> None:
        if self.settings.broker is not None:
            self._hand_to_workers(job_id)
            return
        if job_id in self._jobs:
            return
        task = asyncio.ensure_future(self._run_job(job_id))
        self._jobs[job_id] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._jobs.get(job_id) is t:
                del self._jobs[job_id]
            if not t.cancelled() and t.exception() is not None:
                log.error("list job %s stopped: %r", job_id, t.exception())

        task.add_done_callback(done)

    def _hand_to_workers(self, job_id: str) -> None:
        """With a broker, the workers probe a new list job (``probe worker``); jobs they
        already have are theirs, re-probes included."""
        from prober.workers.fleet import FleetConfig
        from prober.workers.jobs import enqueue

        job = self.store.job(job_id)
        if job is None or job.status != "queued" or self.settings.broker is None:
            return
        enqueue(FleetConfig(broker=self.settings.broker, db=self.settings.db), job_id, job.total)
        self.store.set_job(job_id, status="running", started_at=time.time())

    async def cancel_job(self, job_id: str) -> bool:
        task = self._jobs.pop(job_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        return await self.db(self.store.delete_job, job_id)

    async def _run_job(self, job_id: str) -> None:
        store = self.store
        job = await self.db(store.job, job_id)
        if job is None:
            return
        if job.status == "queued" or job.started_at is None:
            await self.db(store.set_job, job_id, status="running", started_at=time.time())
        elif job.status != "running":
            await self.db(store.set_job, job_id, status="running", finished_at=None)
        pending: list[RowResult] = []
        wrote = asyncio.Event()
        stopping = False
        saving = asyncio.Lock()

        async def flusher() -> None:
            # Results are written in small batches, a tenth of a second apart at most.
            while True:
                await wrote.wait()
                wrote.clear()
                if not stopping:
                    await asyncio.sleep(0.1)
                async with saving:
                    batch = pending[:]
                    del pending[:]
                    if batch:
                        await self.db(store.save_rows, job_id, batch)
                if stopping and not pending:
                    return

        writer = asyncio.ensure_future(flusher())

        def record(row: Row, data: dict[str, Any], result: ProbeResult | None) -> None:
            tries = row.tries + 1
            delay = None if result is None else self.settings.retry_delay(result, tries)
            pending.append(
                RowResult(
                    row.row_no,
                    "waiting" if delay is not None else "done",
                    tries,
                    time.time() + delay if delay is not None else None,
                    str(data.get("verdict")),
                    json.dumps(data, ensure_ascii=False),
                )
            )
            wrote.set()

        try:
            after = -1
            while True:
                rows = await self.db(store.pending_rows, job_id, after, self.settings.list_batch)
                if not rows and after >= 0:
                    # Rows woken for a re-probe behind the cursor: one more pass.
                    await self._drain(pending, wrote, saving)
                    states = (await self.db(store.counts, job_id))["states"]
                    if states.get("pending"):
                        after = -1
                        continue
                if not rows:
                    break
                after = rows[-1].row_no
                todo: list[Row] = []
                for row in rows:
                    cached = None if row.tries else await self.from_cache(row.address, job.lang)
                    if cached is not None:
                        record(row, cached, None)
                    else:
                        todo.append(row)
                async for row, result in self.engine.stream(todo, fresh=True):
                    self.metrics.probes.labels(str(result.verdict)).inc()
                    self.metrics.latency.observe(result.elapsed)
                    checked_at = time.time()
                    versions = await self.remember(row.address, result, checked_at)
                    record(row, labelled(versions[job.lang], False, checked_at), result)
        except BaseException:
            writer.cancel()
            raise
        stopping = True
        wrote.set()
        await writer
        counts = await self.db(store.counts, job_id)
        if counts["states"].get("waiting"):
            await self.db(store.set_job, job_id, status="waiting")
            self._wake.set()
        else:
            await self.db(store.set_job, job_id, status="done", finished_at=time.time())

    async def _drain(
        self, pending: list[RowResult], wrote: asyncio.Event, saving: asyncio.Lock
    ) -> None:
        """Wait until every result recorded so far is in the store."""
        while pending:
            wrote.set()
            await asyncio.sleep(0.05)
        async with saving:  # the batch being written, if one is
            pass

    # -- the re-probe schedule ----------------------------------------------------------

    async def _schedule(self) -> None:
        while True:
            now = time.time()
            try:
                for job_id in await self.db(self.store.wake_rows, now):
                    self.run_job(job_id)
                for record in await self.db(self.store.probes_due, now):
                    self._start_probe(record.id, record.address, record.lang, record.tries, True)
                upcoming = await self.db(self.store.next_retry)
            except Exception as exc:  # the database away for a moment: try again soon
                log.warning("re-probe schedule: %r", exc)
                upcoming = None
            wait = 5.0 if upcoming is None else min(5.0, max(0.05, upcoming - time.time()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
