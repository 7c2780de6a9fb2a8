"""List jobs on Dramatiq over Redis: the two actors and what a worker holds (I/O).

Two actors, both run on the worker's one event loop (Dramatiq's AsyncIO middleware),
where the worker's one :class:`~prober.engine.Engine` lives as long as the worker:

- ``prober_route(job, first, last)`` — the first stage: reads rows ``first``..``last``,
  finds the MX host that answers for each domain (``mx_routes`` in the store, else the
  engine's resolver, then cached; the domains with the most rows first), and sends one
  ``prober_batch`` per host and batch, each as soon as it is full;
- ``prober_batch(job, host, rows)`` — takes one of the host's fleet-wide slots (a lease,
  :mod:`prober.workers.leases`), submits the rows to the worker's engine, writes each
  result to its row (only if the row has none), gives the slot back, and then returns,
  which is when Dramatiq acknowledges the message. When every slot of the host is
  taken, it leaves its rows to the slots' holders instead (:mod:`prober.workers.pending`)
  and comes back from the broker to see them done.

The engine is shared by every batch the worker runs, so what it learns lasts: the DNS
cache, each domain's catch-all answer, each host's error budget, recipient limit and
STARTTLS trouble. It may open to a host only as many connections as the worker holds
slots of that host (its ``gate``); a batch whose addresses move to another MX host
(the best one failed) takes a slot of that host too before the engine connects there.

What Dramatiq does and this module does not redo: delivery at least once (a message is
acknowledged after the actor returns, so after its results are committed), redelivery
of a dead worker's messages (its Redis broker requeues the unacknowledged messages of a
worker whose heartbeat is older than ``heartbeat_timeout``), retries with exponential
backoff (the Retries middleware; ``Retry(delay=…)`` for "come back later"), delayed
messages (re-probes of greylisted rows).

Politeness across the fleet: a connection to a host is opened only under a slot of the
host held by its worker, and a slot is given back one round trip after its connection
closed, so the connections to one host from all workers together never exceed
``per_host``. A 421 or a rate-limit reply from a host sets a pause key in Redis the
moment the step is seen; every worker checks it before it takes a slot and before it
opens another connection under a slot it holds, and a paused batch goes back to the
broker with a delay until the pause ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import Retry
from dramatiq.middleware import AsyncIO, CurrentMessage, Middleware
from dramatiq.rate_limits.backends import RedisBackend

from prober.engine import Engine, EngineLimits
from prober.engine.core import _slows_us
from prober.engine.verdict import Reason
from prober.errors import InputError
from prober.resolve.mx import Resolver
from prober.results import ProbeEvent, ProbeOptions, ProbeResult
from prober.service.store import Row, RowResult
from prober.service.translate import in_language
from prober.workers.leases import Leases
from prober.workers.metrics import Figures
from prober.workers.pending import Entry, Pending
from prober.workers.routing import NO_HOST, Batcher, domain_of, host_of
from prober.workers.store import FINAL, FleetStore

log = logging.getLogger("prober.workers")

ROUTE = "prober_route"
BATCH = "prober_batch"
QUEUE = "prober"
_MAX_PAUSE = 600.0
_DNS_KEPT = 10000  # DNS answers a worker keeps
_SLOT_DELAY_FIRST = 200  # ms
_SLOT_DELAY_MOST = 10_000  # ms
# Dramatiq's maintenance (requeueing a dead worker's messages) runs on this share of
# broker commands, out of a million: often enough that a dead worker's batches come
# back within a second or two of its heartbeat expiring.
_MAINTENANCE = 100_000
_HANDED_DELAY_FIRST = 1000  # ms
_FEED = 2  # batches of a host a worker keeps in its engine per slot it holds, at most
_FEED_EVERY = 0.1  # seconds between a worker's looks for rows pending at its hosts
_RELEASE_LOOKS = 3  # times a worker gives a host's slots back and finds rows pending
_JOB_CHECK = 2.0  # seconds between looks at a running batch's job (cancelled?)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """How the fleet shares work and politeness (the same on every worker)."""

    broker: str  # redis://HOST:PORT/DB
    db: str
    per_host: int = 2  # connections at once to one MX host, from all workers together
    batch: int = 100  # addresses per unit of work (one host)
    redelivery: float = 60.0  # seconds without a heartbeat before a worker's work moves
    lease: float = 30.0  # seconds a dead worker's slot stays taken (renewed while alive)
    backoff: float = 30.0  # first fleet-wide pause of a host after 421; doubles
    slot_wait: float = 0.5  # seconds a batch waits for a slot before it goes back
    route_ttl: float = 86400.0  # seconds an MX route is trusted
    retry_base: float = 300.0  # first re-probe of a temporary answer without a hint
    retry_tries: int = 3  # probes of one address at most
    namespace: str = "prober"


def check_broker(url: str) -> None:
    """Fail at once, and clearly, when the broker cannot be reached."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    except ValueError as exc:
        raise InputError("error_broker_url", url=url, error=exc) from None
    try:
        client.ping()
    except redis.RedisError as exc:
        raise InputError("error_broker_down", url=url, error=exc) from None
    finally:
        client.close()


def make_broker(config: FleetConfig) -> RedisBroker:
    """The Redis broker with the AsyncIO middleware, and the heartbeat timeout that
    decides how soon a killed worker's messages are delivered to another."""
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=config.broker,
        namespace=config.namespace,
        heartbeat_timeout=max(1000, int(config.redelivery * 1000)),
        maintenance_chance=_MAINTENANCE,
    )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    return broker


class FleetLife(Middleware):
    """Ties the fleet to the worker's life: the lease heartbeat runs while the worker
    does, and the engine is closed on the event loop before the loop stops."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self.fleet.leases.start()

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        loop = get_event_loop_thread()
        if loop is not None:
            try:
                loop.run_coroutine(self.fleet.close())
            except RuntimeError:
                pass  # the loop had already stopped
        self.fleet.leases.stop()
        self.fleet.leases.give_back_all()


@dataclass(frozen=True, slots=True)
class Actors:
    route: dramatiq.Actor[Any, Any]
    batch: dramatiq.Actor[Any, Any]


def declare(broker: RedisBroker, fleet: Fleet | None) -> Actors:
    """Declare the two actors on ``broker``; ``fleet`` runs them (None: send only)."""

    def need() -> Fleet:
        if fleet is None:
            raise RuntimeError("this process only sends work; run 'probe worker' to do it")
        return fleet

    async def prober_route(job_id: str, first: int, last: int) -> None:
        await need().route(job_id, first, last)

    def prober_batch(job_id: str, host: str, rows: list[int]) -> None:
        # Run on the worker's event loop like an async actor, but read here, on the
        # worker thread, how often the message was sent back (the loop does not see the
        # thread's current message).
        message = CurrentMessage.get_current_message()
        retries = int(message.options.get("retries", 0)) if message is not None else 0
        entry = message.message_id if message is not None else None
        loop = get_event_loop_thread()
        if loop is None:
            raise RuntimeError("the AsyncIO middleware has not started its event loop")
        loop.run_coroutine(need().batch(job_id, host, rows, retries, entry))

    def retry_when(retries: int, exc: BaseException) -> bool:
        # "Come back later" (a paused host, no free slot) is retried for as long as it
        # takes; anything else a few times, with Dramatiq's exponential backoff.
        return isinstance(exc, Retry) or retries < 5

    options: dict[str, Any] = {
        "broker": broker,
        "queue_name": QUEUE,
        "retry_when": retry_when,
        "min_backoff": 1000,
        "max_backoff": 60000,
        "time_limit": 3_600_000,
        "max_age": None,
    }
    route = dramatiq.actor(actor_name=ROUTE, **options)(prober_route)
    batch = dramatiq.actor(actor_name=BATCH, **options)(prober_batch)
    actors = Actors(route, batch)
    if fleet is not None:
        fleet.actors = actors
    return actors


# Answers that say "ask again later", re-probed on schedule (as the service does).
TEMPORARY = frozenset({
    Reason.GREYLISTED, Reason.TEMPORARY_FAILURE, Reason.RATE_LIMITED,
    Reason.SERVER_UNAVAILABLE, Reason.DNS_TEMPORARY,
})


def retry_delay(result: ProbeResult, tries: int, base: float, most: int) -> float | None:
    """Seconds until a temporary answer is asked again (the server's hint first, then
    doubling), or None when the answer is final or the tries are spent."""
    if result.reason not in TEMPORARY or tries >= most:
        return None
    hint = float(result.retry_after) if result.retry_after else 0.0
    return float((hint or base) * 2.0 ** max(0, tries - 1))


def round_trip(results: Sequence[ProbeResult], most: float = 2.0) -> float:
    """The quickest reply to a command in these results' sessions: an estimate of the
    round-trip time to the server (0 when nothing was sent)."""
    quickest = [
        step.elapsed
        for result in results
        for attempt in result.attempts
        for step in attempt.steps
        if step.sent is not None and step.reply is not None
    ]
    return min(most, min(quickest)) if quickest else 0.0


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z"
    )


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Fleet:
    """One worker's share of the fleet: its store, engine, slots and figures."""

    def __init__(
        self,
        config: FleetConfig,
        options: ProbeOptions,
        limits: EngineLimits,
        *,
        name: str | None = None,
    ) -> None:
        self.config = config
        self.options = options
        # The engine's own per-host limit is the fleet's; the gate holds it to the slots
        # this worker has.
        self.limits = replace(limits, per_host=max(1, config.per_host), backoff=config.backoff)
        self.name = name or worker_name()
        self.store = FleetStore(config.db)
        self.backend = RedisBackend(url=config.broker)
        self.redis = self.backend.client
        self.leases = Leases(
            self.redis, config.namespace, self.name, limit=config.per_host,
            ttl=config.lease, every=config.lease / 3,
        )
        self.pending = Pending(
            self.redis, config.namespace, self.leases.key, lambda h: self._key("pause", h)
        )
        self.figures = Figures()
        self.actors: Actors | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # rows taken over from other batches
        self._watched: dict[str, list[_Held]] = {}  # address in the engine → its batches
        self._resolver: Resolver | None = None
        self._engine: Engine | None = None
        self.slots = _Slots(self)  # the hosts' slots this worker holds, and who uses them
        self._jobs: dict[str, tuple[float, bool]] = {}  # job → (looked at, stopped)
        self._rng = random.Random()
        self._waking: dict[str, asyncio.TimerHandle] = {}  # paused host → its wake-up

    # -- shared state in Redis ------------------------------------------------------------

    def _key(self, kind: str, host: str) -> str:
        return f"{self.config.namespace}:{kind}:{host}"

    def paused_for(self, host: str) -> float:
        """Seconds the fleet still leaves ``host`` alone (0: not paused)."""
        left = self.redis.pttl(self._key("pause", host))
        return max(0.0, float(left) / 1000.0) if left and left > 0 else 0.0

    def pause(self, host: str) -> None:
        """Pause ``host`` for every worker; the pause doubles while the host keeps
        asking for it (up to ten minutes) and the first 421 of a pause sets it."""
        last = self.redis.get(self._key("backoff", host))
        seconds = float(last) if last is not None else self.config.backoff
        if self.redis.set(self._key("pause", host), self.name, px=int(seconds * 1000), nx=True):
            self.figures.paused(host)
            following = min(seconds * 2, _MAX_PAUSE)
            self.redis.set(
                self._key("backoff", host), str(following), px=int(max(3600.0, seconds * 4) * 1000)
            )
            log.info("%s paused for %.0f s for every worker", host, seconds)

    def resolver(self) -> Resolver:
        """The worker's one DNS cache, shared by the first stage and every batch."""
        if self._resolver is None:
            self._resolver = Resolver(self.options.dns, self._rng, cache_size=_DNS_KEPT)
        return self._resolver

    def engine(self) -> Engine:
        """The worker's one engine, made on the event loop at its first use."""
        if self._engine is None:
            self._engine = Engine(
                self.options, self.limits, resolver=self.resolver(), rng=self._rng,
                gate=self.allowed,
            )
            engine = self._engine
            engine.observer = self._observe
            self.figures.sessions = lambda: engine.open_connections
        return self._engine

    def _observe(self, event: ProbeEvent) -> None:
        """What the engine tells once per session step and per move to an MX host: a
        421 or a rate-limit reply pauses the host for the fleet the moment it is read;
        an address moved to another host (its best MX failed) needs a slot of that host,
        taken for its batch, before the engine connects there."""
        at = (event.host or "").lower()
        if not at or at == NO_HOST:
            return
        if event.kind == "step" and event.step is not None and _slows_us(event.step):
            self.pause(at)
        elif event.kind == "connecting":
            for held in self._watched.get(event.address, ()):
                held.need(at)

    def allowed(self, host: str) -> int:
        """Connections the engine may have open to ``host``: the slots held of it, none
        while the fleet leaves the host alone. Asked only when the engine would open a
        connection, so a 421 another worker read stops this one's next connection too;
        the engine is asked to look again when the pause ends."""
        name = host.lower()
        held = self.slots.allowed(name)
        if held <= 0 or name in self._waking:
            return 0  # a pause already seen: no store round trip until it ends
        left = self.paused_for(name)
        if left <= 0:
            return held
        if self._engine is not None:
            engine = self._engine

            def wake() -> None:
                self._waking.pop(name, None)
                engine.reconsider(name)

            self._waking[name] = asyncio.get_running_loop().call_later(left, wake)
        return 0

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Let the rows taken over from other batches finish (a while), close the engine
        (its sessions say QUIT); the slots go back after."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.options.deadline)
        for handle in self._waking.values():
            handle.cancel()
        self._waking.clear()
        if self._engine is not None:
            await self._engine.close()
            self._engine = None

    async def db(self, call: Callable[..., Any], *args: Any) -> Any:
        """A store call, off the event loop."""
        return await asyncio.to_thread(call, *args)

    # -- the first stage: route rows by MX host -------------------------------------------

    async def route(self, job_id: str, first: int, last: int) -> None:
        """Route rows ``first``..``last`` and send their batches. The domains with the
        most rows are looked up first, and a host's batches go out as soon as they are
        full: the biggest host's sessions start while the rest is still being looked up."""
        assert self.actors is not None
        began = time.monotonic()
        job = await self.db(self.store.job, job_id)
        if job is None or job.status in FINAL:
            return
        rows: list[Row] = await self.db(self.store.rows_between, job_id, first, last)
        read = time.monotonic()
        by_domain: dict[str | None, list[int]] = {}
        for row in rows:
            by_domain.setdefault(domain_of(row.address), []).append(row.row_no)
        wanted = {d for d in by_domain if d is not None}
        now = time.time()
        routes: dict[str, str] = await self.db(self.store.routes, wanted, now)
        batcher = Batcher(self.config.batch)
        sent = 0

        def place(domain: str | None, host: str) -> None:
            nonlocal sent
            assert self.actors is not None
            for batch in batcher.add(host, by_domain[domain]):
                self.actors.batch.send(job_id, batch.host, list(batch.rows))
                sent += 1

        if None in by_domain:
            place(None, NO_HOST)  # not addresses: judged without a connection
        for domain in sorted(routes, key=lambda d: -len(by_domain[d])):
            place(domain, routes[domain])
        missing = sorted(wanted - routes.keys(), key=lambda d: (-len(by_domain[d]), d))
        learnt = await self._resolve(missing, lambda d, h: place(d, h or NO_HOST))
        resolved = time.monotonic()
        for batch in batcher.flush():
            self.actors.batch.send(job_id, batch.host, list(batch.rows))
            sent += 1
        # The routes are a cache for the next lists: stored once the batches are away.
        if learnt:
            await self.db(self.store.remember_routes, learnt, now, self.config.route_ttl)
        self.figures.routed(len(rows))
        log.info(
            "job %s: rows %d-%d routed in %d batches in %.2f s (read %.2f, MX and sent "
            "%.2f; %d domains looked up)", job_id, first, last, sent, resolved - began,
            read - began, resolved - read, len(missing),
        )

    async def _resolve(
        self, domains: Sequence[str], found_one: Callable[[str, str | None], None]
    ) -> dict[str, str]:
        """Look ``domains`` up, in this order, 32 at once; ``found_one(domain, host)`` is
        told each answer as it comes (host None: none answers for it). The lasting
        answers, to be cached."""
        resolver = self.resolver()
        found: dict[str, str] = {}
        gate = asyncio.Semaphore(32)

        async def one(domain: str) -> None:
            if domain.startswith("["):
                found[domain] = domain  # a domain literal: the host is the address itself
                found_one(domain, domain)
                return
            async with gate:
                mx = await resolver.resolve_mx(domain)
            host = host_of(mx)
            if host is not None:
                found[domain] = host
            elif str(mx.status) != "temp_failure":
                found[domain] = NO_HOST  # a lasting answer: no host will ever answer
            found_one(domain, host)

        await asyncio.gather(*(one(d) for d in domains))
        return found

    # -- one batch: one host, many addresses ----------------------------------------------

    async def batch(
        self, job_id: str, host: str, row_nos: list[int], retries: int = 0,
        entry: str | None = None,
    ) -> None:
        """One batch message: run its rows under a slot of ``host``, or hand them to the
        host's slot holders (``entry``, the message's id, names them in Redis) and come
        back later to see them done (:mod:`prober.workers.pending`)."""
        if host == NO_HOST:
            await self._run(job_id, host, row_nos, _Held(self, host, None, False))
            return
        # Only Redis until a slot is ours: a big host's waiting batches cost the
        # database nothing.
        began = time.monotonic()
        handed = False
        if entry is not None and retries > 0:
            state = self.pending.look(host, entry)
            if state == "done":
                return  # a slot holder did the rows
            if state == "claimed":
                raise Retry(f"a worker holding a slot of {host} has the rows",
                            delay=self._handed_delay(retries))
            handed = state == "pending"
        while True:
            left = self.paused_for(host)
            if left > 0:
                self.figures.deferred(host)
                raise Retry(f"{host} is paused", delay=int(left * 1000) + self._rng.randint(0, 250))
            # This worker already talks to the host with a slot to spare: the batch joins
            # its sessions.
            joined = self.slots.join(host)
            lease = None if joined else self.leases.take(host)
            if joined or lease is not None:
                self.figures.waited(host, time.monotonic() - began)
                held = _Held(self, host, lease, joined)
                if handed and entry is not None:
                    state = self.pending.claim(host, entry, self.slots.holder(host))
                    if state != "ok":
                        await held.give_back()
                        if state == "done":
                            return
                        raise Retry(f"a worker holding a slot of {host} has the rows",
                                    delay=self._handed_delay(retries))
                await self._run(job_id, host, row_nos, held)
                return
            if entry is not None and not handed:
                # Every slot is taken: the holders take these rows into their sessions
                # before they give a slot back. Looked at once more: a holder may have
                # given its slot back between the two.
                self.pending.push(host, Entry(entry, job_id, tuple(row_nos)))
                self.figures.handed(host)
                handed = True
                continue
            if handed or time.monotonic() - began > self.config.slot_wait:
                self.figures.waited(host, time.monotonic() - began)
                self.figures.deferred(host)
                if handed:
                    raise Retry(f"every slot of {host} is taken; its holders have the rows",
                                delay=self._handed_delay(retries))
                raise Retry(f"every slot of {host} is taken", delay=self._slot_delay(retries))
            await asyncio.sleep(0.02 + self._rng.random() * 0.03)

    async def take_over(self, host: str, entry: Entry) -> None:
        """Rows another batch left pending, run by this slot holder (counted among the
        host's batches already, by :meth:`_Slots.fill`)."""
        held = _Held(self, host, None, True)
        try:
            await self._run(entry.job_id, host, list(entry.rows), held)
        except Exception as exc:  # noqa: BLE001 - the rows' own batch does them instead
            log.warning("rows handed over for %s not done here (%s); their batch will", host, exc)
            self.pending.unclaim(entry.entry)
            return
        except asyncio.CancelledError:
            self.pending.unclaim(entry.entry)
            raise
        self.pending.finish(entry.entry)
        self.figures.took_over(host)

    async def _run(self, job_id: str, host: str, row_nos: list[int], held: _Held) -> None:
        try:
            job = await self.db(self.store.job, job_id)
            if job is None or job.status in FINAL:
                return
            rows: list[Row] = await self.db(self.store.open_rows, job_id, row_nos)
            if not rows:
                # A redelivered batch whose rows are all written already (its worker
                # died after saving them): the job may be waiting for this look.
                await self.db(self.store.finish_if_complete, job_id)
                return
            if job.status == "queued":
                await self.db(self.store.start_job, job_id)
            await self._probe(job.lang, job_id, host, rows, held)
        finally:
            await held.give_back()

    def _slot_delay(self, retries: int) -> int:
        """Milliseconds before a batch that found no free slot asks again: doubling with
        each time it was sent back (from 0.2 s up to 10 s, with jitter), so the thousands
        of batches of a big provider's host wait quietly instead of circling."""
        base = min(_SLOT_DELAY_MOST, _SLOT_DELAY_FIRST * 2 ** min(retries, 10))
        return int(base * (0.5 + self._rng.random()))

    def _handed_delay(self, retries: int) -> int:
        """Milliseconds before a batch whose rows the host's holders have looks again:
        it only checks they were done (or that their holder died), so not often (1 s,
        doubling, up to 10 s)."""
        base = min(_SLOT_DELAY_MOST, _HANDED_DELAY_FIRST * 2 ** min(retries, 10))
        return int(base * (0.75 + self._rng.random() / 2))

    async def stopped(self, job_id: str) -> bool:
        """Whether the job was cancelled (or deleted): looked up at most every two
        seconds per job, however many batches ask."""
        now = time.monotonic()
        seen = self._jobs.get(job_id)
        if seen is not None and now - seen[0] < _JOB_CHECK:
            return seen[1]
        job = await self.db(self.store.job, job_id)
        stopped = job is None or job.status == "cancelled"
        self._jobs[job_id] = (now, stopped)
        if len(self._jobs) > 1000:
            for old in sorted(self._jobs, key=lambda j: self._jobs[j][0])[:500]:
                del self._jobs[old]
        return stopped

    async def _probe(self, lang: str, job_id: str, host: str, rows: list[Row], held: _Held) -> None:
        engine = self.engine()
        for row in rows:
            self._watched.setdefault(row.address, []).append(held)
        self.figures.begin()
        try:
            tasks = [
                asyncio.ensure_future(engine.submit(row.address, fresh=True)) for row in rows
            ]
            pending: set[asyncio.Future[ProbeResult]] = set(tasks)
            while pending:
                _done, pending = await asyncio.wait(pending, timeout=_JOB_CHECK)
                if pending and await self.stopped(job_id):
                    for task in pending:
                        task.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    log.info("job %s was cancelled: a batch of %s stopped", job_id, host)
                    break
        finally:
            self.figures.end()
            for row in rows:
                watching = self._watched.get(row.address)
                if watching is not None:
                    watching.remove(held)
                    if not watching:
                        del self._watched[row.address]
        answered = [
            (row, task.result())
            for row, task in zip(rows, tasks, strict=True)
            if task.done() and not task.cancelled()
        ]
        held.results = [result for _row, result in answered]
        # Off the event loop: a hundred results' JSON would hold the sessions' replies
        # back for tens of milliseconds.
        done = await asyncio.to_thread(
            lambda: [self._record(row, result, lang) for row, result in answered]
        )
        written: int = await self.db(self.store.save_results, job_id, self.name, done)
        self.figures.wrote(written)
        again = [r for r in done if r.state == "waiting" and r.retry_at is not None]
        if again and self.actors is not None:
            delay = max(0.0, min(r.retry_at or 0.0 for r in again) - time.time())
            self.actors.batch.send_with_options(
                args=(job_id, host, [r.row_no for r in again]), delay=int(delay * 1000)
            )

    def _record(self, row: Row, result: ProbeResult, lang: str) -> RowResult:
        tries = row.tries + 1
        delay = retry_delay(result, tries, self.config.retry_base, self.config.retry_tries)
        own = result.explanation.lang if result.explanation is not None else self.options.lang
        shown = result if own == lang else in_language(result, lang)
        now = time.time()
        data = {**shown.to_dict(), "cached": False, "checked_at": _iso(now)}
        return RowResult(
            row.row_no,
            "waiting" if delay is not None else "done",
            tries,
            time.time() + delay if delay is not None else None,
            str(result.verdict),
            json.dumps(data, ensure_ascii=False),
        )


class _Slots:
    """The slots of hosts this worker holds, shared by its batches.

    A batch message of a host runs in the worker's sessions there only while the worker
    has fewer such batches than slots of the host (each holds a worker thread); the
    rest are handed over through the host's pending list in Redis, which the worker
    drains (:meth:`fill`) while it has fewer than two batches a slot in its engine:
    enough to keep its sessions busy, and the waiting batches hold no thread. It asks
    the fleet for one more slot, up to ``per_host``, while it has more batches of the
    host than slots. When the last batch of a host ends and nothing is pending, the
    engine may open no more connections there; once its last one has closed, and one
    round trip later (the server learns of a close that much later), the slots go back
    to the fleet — unless a new batch joined meanwhile — and the worker looks once more
    for rows left pending just then."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.leases: dict[str, list[str]] = {}
        self.users: Counter[str] = Counter()
        self.rtt: dict[str, float] = {}
        self._releasing: set[str] = set()
        self._feeder: asyncio.Task[None] | None = None

    def allowed(self, host: str) -> int:
        return len(self.leases.get(host, ())) if self.users[host] > 0 else 0

    def holder(self, host: str) -> str:
        """A lease this worker holds on one of the host's slots (a claim's holder)."""
        return self.leases[host][0]

    def _changed(self, host: str) -> None:
        engine = self.fleet._engine
        if engine is not None:
            engine.reconsider(host)

    def join(self, host: str) -> bool:
        """Use the slots held of ``host`` for one more batch message, if they have fewer
        batches than slots; True when joined."""
        held = self.leases.get(host)
        if not held or self.users[host] >= len(held):
            return False
        self.users[host] += 1
        self._changed(host)
        return True

    def more(self, host: str) -> None:
        """One more slot of a host with more batches than slots, if the fleet has one."""
        held = self.leases.get(host, [])
        if held and len(held) < min(self.fleet.config.per_host, self.users[host]):
            lease = self.fleet.leases.take(host)
            if lease is not None:
                held.append(lease)

    def add(self, host: str, lease: str) -> None:
        """A slot taken for a batch that starts using ``host``."""
        self.leases.setdefault(host, []).append(lease)
        self.users[host] += 1
        self._changed(host)
        self._feed()

    def fill(self, host: str) -> int:
        """Take rows left pending for ``host`` into this worker's sessions while it has
        fewer than ``_FEED`` batches a slot there; how many batches were taken."""
        fleet = self.fleet
        taken = 0
        while self.leases.get(host) and self.users[host] < _FEED * len(self.leases[host]):
            entry = fleet.pending.pop(host)
            if entry is None:
                break
            if fleet.pending.claim(host, entry.entry, self.holder(host)) != "ok":
                continue  # done, or another holder has it
            self.users[host] += 1
            self.more(host)
            taken += 1
            fleet._spawn(fleet.take_over(host, entry))
        if taken:
            self._changed(host)
        return taken

    def _feed(self) -> None:
        if self._feeder is None:
            self._feeder = asyncio.ensure_future(self._feeding())

    async def _feeding(self) -> None:
        """While this worker holds slots: look, every tenth of a second and in one round
        trip for all its hosts with room for more, for rows left pending, and take them."""
        try:
            while self.leases:
                hungry = [
                    host for host, held in self.leases.items()
                    if held and self.users[host] < _FEED * len(held)
                    and host not in self._releasing
                ]
                for host in self.fleet.pending.ready(hungry):
                    self.fill(host)
                await asyncio.sleep(_FEED_EVERY)
        finally:
            self._feeder = None

    async def leave(self, host: str, rtt: float) -> None:
        self.users[host] -= 1
        if rtt > 0:
            self.rtt[host] = min(rtt, self.rtt.get(host, rtt))
        self.fill(host)
        if self.users[host] > 0 or host in self._releasing:
            return
        self._releasing.add(host)
        try:
            await self._release(host)
        finally:
            self._releasing.discard(host)

    async def _release(self, host: str) -> None:
        fleet = self.fleet
        engine = fleet._engine
        for _ in range(_RELEASE_LOOKS):
            end = time.monotonic() + fleet.options.deadline + fleet.options.timeout
            while True:
                while (
                    engine is not None and engine.sessions_to(host) > 0
                    and time.monotonic() < end
                ):
                    if self.users[host] > 0:
                        return  # a batch joined: the slots stay in use
                    await asyncio.sleep(0.02)
                await asyncio.sleep(self.rtt.get(host, 0.0))
                if self.users[host] > 0 or self.fill(host):
                    return
                if engine is None or engine.sessions_to(host) == 0 or time.monotonic() >= end:
                    break
            self.users.pop(host, None)
            for member in self.leases.pop(host, []):
                fleet.leases.give_back(member)
            # A batch that found every slot taken just before they went back has left
            # its rows pending: take a slot again for them rather than leave them to
            # their batch's next look.
            if not fleet.pending.ready([host]):
                return
            again = fleet.leases.take(host)
            if again is None:
                return  # another worker holds the host now: it drains them
            self.leases[host] = [again]
            if self.fill(host):
                self._feed()
                return
        if self.users[host] <= 0:
            self.users.pop(host, None)
            for member in self.leases.pop(host, []):
                fleet.leases.give_back(member)


class _Held:
    """The hosts one batch uses: its own, and each other host its addresses move to
    (the best MX failed), whose slot is taken before the engine connects there."""

    def __init__(self, fleet: Fleet, host: str, lease: str | None, joined: bool) -> None:
        self.fleet = fleet
        self.host = host
        self.using: list[str] = []
        self.results: list[ProbeResult] = []
        self._wanted: dict[str, asyncio.Task[None]] = {}
        self._done = False
        if joined:
            self.using.append(host)
        elif lease is not None:
            self.using.append(host)
            fleet.slots.add(host, lease)

    def need(self, host: str) -> None:
        if host == self.host or host in self._wanted or self._done:
            return
        self._wanted[host] = asyncio.ensure_future(self._take(host))

    async def _take(self, host: str) -> None:
        fleet = self.fleet
        while not self._done:
            if fleet.paused_for(host) <= 0:
                if fleet.slots.join(host):
                    self.using.append(host)
                    return
                lease = await asyncio.to_thread(fleet.leases.take, host)
                if lease is not None:
                    if self._done:
                        fleet.leases.give_back(lease)
                    else:
                        self.using.append(host)
                        fleet.slots.add(host, lease)
                    return
            await asyncio.sleep(0.1 + fleet._rng.random() * 0.1)

    async def give_back(self) -> None:
        self._done = True
        for task in self._wanted.values():
            task.cancel()
        await asyncio.gather(*self._wanted.values(), return_exceptions=True)
        rtt = round_trip(self.results)
        await asyncio.gather(*(self.fleet.slots.leave(host, rtt) for host in self.using))
        self.using.clear()
