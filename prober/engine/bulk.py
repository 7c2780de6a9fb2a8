"""List mode: probe many addresses fast and politely, streaming results as they finish.

Addresses are grouped by the MX host that will answer for them (not only by domain:
many domains share a provider's MX), and one connection asks about many of them —
several RCPTs per transaction, pipelined when the server offers PIPELINING, RSET and a
new MAIL between transactions, a new connection when the server hangs up. Each
connection runs the very session code a single probe runs
(:func:`prober.engine.session.run_session` through ``_sessions``, the dialogue of
:mod:`prober.smtp.dialogue`); only the grouping and scheduling are this module's.

Politeness: a global limit on connections, a cap per MX host, an optional RCPT rate per
domain, and a pause for a host that answers 421 or "slow down" (any reply the catalogue
files under ``rate_limited``). Catch-all detection asks one random address per domain
per run, not per address. DNS answers are cached for the run as long as their TTLs
allow. At most ``window`` addresses are in flight, so a list of millions runs in
bounded memory; the same address twice is probed once and reported for each line.

Exit status of a list run (aligned with the single probe's):

- 0: every address is deliverable (also: the list held no address at all);
- 1: at least one address is undeliverable (a line that is not an address counts);
- 4: none undeliverable, at least one unknown;
- 3: none undeliverable or unknown, at least one risky;
- 2: usage, input or output error (unreadable file, missing CSV column,
  ``--resume`` without ``--output``, an output file that cannot be written);
- 130: interrupted; everything already written stays valid for ``--resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import signal
import sys
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any, BinaryIO, TextIO

from prober.address import Address, parse_address
from prober.engine.session import (
    _MX_REASONS,
    _best_transient,
    _catch_all_path,
    _Deadline,
    _finish,
    _judge,
    _Recorder,
    _sessions,
    _syntax_result,
)
from prober.engine.verdict import Decision, Failure, Reason, Verdict, decide_failures
from prober.errors import AddressError, InputError, NetworkError
from prober.explanation.catalogue import Category, Stage
from prober.explanation.explain import explain_event
from prober.guard import Guard
from prober.output.listio import Done, Entry, Source, Writer, load_done
from prober.resolve.mx import MXHost, MXResult, Resolver
from prober.results import Attempt, ProbeOptions, ProbeResult, Step
from prober.smtp.dialogue import Plan
from prober.smtp.reply import Reply

Clock = Callable[[], float]

EXIT_OK = 0
EXIT_UNDELIVERABLE = 1
EXIT_ERROR = 2
EXIT_RISKY = 3
EXIT_UNKNOWN = 4
EXIT_INTERRUPTED = 130

_MAX_BACKOFF = 600.0
_LINGER = 0.5  # seconds a host may wait for more addresses before a short session
_LINGER_STEP = 0.02
_RECENT = 1024  # finished results kept to answer a duplicate that comes later
_DOMAINS = 20000  # domains whose catch-all answer and pace are remembered
_DNS_AT_ONCE = 64
# DNS answers (and MX results) kept at once: a list spanning more domains than this
# asks again for the ones least recently used, and memory stays bounded.
_DNS_KEPT = 10000
# New connections an address may wait for while the server keeps hanging up before its
# turn; each of them answers others, so this only bounds a server that answers ever less.
_RECONNECTS = 20


@dataclass(frozen=True, slots=True)
class ListOptions:
    probe: ProbeOptions
    concurrency: int = 20  # global connection limit
    per_host: int = 2  # connections per MX host at once
    rate: float | None = None  # RCPT commands per second per domain (None: no limit)
    rcpt_per_transaction: int = 20
    greylist_retry: float | None = None  # seconds; re-probe greylisted addresses once after
    format: str = "jsonl"  # jsonl | csv | text
    output: str | None = None  # path; None = stdout
    resume: bool = False
    column: str | None = None  # CSV input column holding addresses
    progress: bool = False  # progress bar on stderr (the CLI passes True only for a TTY)
    rcpt_per_session: int = 100  # recipients one connection asks about before QUIT
    backoff: float = 30.0  # first pause of a host after 421 / rate limiting; doubles
    window: int = 2000  # addresses in flight at once: the bound on memory
    quiet: bool = False  # no summary on stderr


# -- the tally -----------------------------------------------------------------------


@dataclass
class Tally:
    """What a run found, for the summary and the exit status."""

    verdicts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    refusing: Counter[str] = field(default_factory=Counter)  # domain → blocked/limited count
    probed: int = 0  # distinct addresses actually probed (or judged without a connection)
    blank: int = 0
    resumed: int = 0  # skipped: already in the output
    earlier: Counter[str] = field(default_factory=Counter)  # their verdicts, for the status
    connections: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def results(self) -> int:
        return sum(self.verdicts.values())

    def add(self, result: ProbeResult) -> None:
        self.verdicts[str(result.verdict)] += 1
        self.reasons[str(result.reason)] += 1
        if result.reason in (Reason.BLOCKED, Reason.RATE_LIMITED) and result.normalized:
            self.refusing[result.normalized.rpartition("@")[2]] += 1
            if len(self.refusing) > _DOMAINS:
                for domain, _count in self.refusing.most_common()[_DOMAINS // 2 :]:
                    del self.refusing[domain]

    def exit_status(self) -> int:
        """For the whole list: a resumed run counts the results it found written."""
        every = self.verdicts + self.earlier
        if every[str(Verdict.UNDELIVERABLE)]:
            return EXIT_UNDELIVERABLE
        if every[str(Verdict.UNKNOWN)]:
            return EXIT_UNKNOWN
        if every[str(Verdict.RISKY)]:
            return EXIT_RISKY
        return EXIT_OK

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        counts = ", ".join(f"{self.verdicts[str(v)]} {v}" for v in Verdict if self.verdicts[str(v)])
        lines = [
            f"{_count(self.results, 'result')} ({self.probed} distinct) in {elapsed:.1f} s"
            + (f": {counts}." if counts else ".")
        ]
        if self.reasons:
            top = ", ".join(f"{r} {n}" for r, n in self.reasons.most_common(5))
            lines.append(f"Top reasons: {top}.")
        if self.refusing:
            worst = ", ".join(f"{d} ({n})" for d, n in self.refusing.most_common(5))
            lines.append(f"Domains that blocked or rate-limited us: {worst}.")
        skipped = []
        if self.resumed:
            skipped.append(f"{self.resumed} already in the output")
        if self.blank:
            skipped.append(_count(self.blank, "blank line"))
        if skipped:
            lines.append(f"Skipped: {'; '.join(skipped)}.")
        if not self.results and not self.resumed:
            lines.append("The input held no address.")
        return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


# -- the engine ----------------------------------------------------------------------


@dataclass(eq=False)
class _Item:
    """One distinct address on its way through the engine."""

    text: str
    parsed: Address
    began: float
    hosts: tuple[MXHost, ...] = ()
    mx: MXResult | None = None
    targets: deque[tuple[str, str | None]] = field(default_factory=deque)
    attempts: list[Attempt] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    dupes: list[str] = field(default_factory=list)
    reconnects: int = 0
    slowed: int = 0
    greylist_retried: bool = False


@dataclass(eq=False)
class _Host:
    """One MX host address: its queue, its connections, its pause."""

    name: str
    ip: str
    smtputf8: bool
    slots: asyncio.Semaphore
    queue: deque[_Item] = field(default_factory=deque)
    dispatcher: asyncio.Task[None] | None = None
    active: int = 0
    paused_until: float = 0.0
    backoff: float = 0.0


Sink = Callable[[ProbeResult], None]


class Engine:
    """Probes what :meth:`submit` is given and hands every result to ``sink``."""

    def __init__(
        self,
        options: ListOptions,
        sink: Sink,
        *,
        resolver: Resolver | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self.popts = options.probe
        self._sink = sink
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self.resolver = (
            resolver
            if resolver is not None
            else Resolver(self.popts.dns, self._rng, cache_size=_DNS_KEPT)
        )
        self._guard = Guard(self.popts.allow_private)
        # The guard's answer for each MX address seen: it depends on the address alone,
        # and every address of a domain asks it about the same few hosts.
        self._refusals: OrderedDict[str, str | None] = OrderedDict()
        self._window = asyncio.Semaphore(max(1, options.window))
        self._connections = asyncio.Semaphore(max(1, options.concurrency))
        self._dns = asyncio.Semaphore(_DNS_AT_ONCE)
        self._hosts: dict[tuple[str, str, bool], _Host] = {}
        self._inflight: dict[str, _Item] = {}
        self._recent: OrderedDict[str, ProbeResult] = OrderedDict()
        self._catch_all: OrderedDict[str, asyncio.Future[Reply | None]] = OrderedDict()
        self._pace: OrderedDict[str, float] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._input_done = False
        self._routing = 0
        self._crash: BaseException | None = None
        self._closing = False
        self.distinct = 0
        self.connections = 0
        self.backoffs = 0

    # -- intake ------------------------------------------------------------------------

    async def submit(self, entry: Entry) -> None:
        """Take one input entry; waits while the window is full."""
        lang = self.popts.lang
        if entry.problem is not None:
            problem = AddressError(entry.text, entry.problem)
            self._emit(_syntax_result(entry.text, problem, lang, 0.0))
            return
        try:
            parsed = parse_address(entry.text)
        except AddressError as exc:
            self._emit(_syntax_result(entry.text, exc, lang, 0.0))
            return
        key = parsed.smtp_path
        await self._window.acquire()
        # Looked up after the wait: the first of two equal addresses may have finished
        # while this one waited for room.
        item = self._inflight.get(key)
        if item is not None:
            item.dupes.append(entry.text)
            return
        done = self._recent.get(key)
        if done is not None:
            self._window.release()
            self._recent.move_to_end(key)
            self._emit(replace(done, address=entry.text))
            return
        item = _Item(entry.text, parsed, self._clock())
        self._inflight[key] = item
        self.distinct += 1
        self._outstanding += 1
        self._idle.clear()
        self._spawn(self._begin(item))

    async def finish(self) -> None:
        """No more input: wait until every address has its result."""
        self._input_done = True
        await self._idle.wait()
        if self._crash is not None:
            raise self._crash

    async def close(self) -> None:
        """Cancel every session and dispatcher, including any spawned while cancelling."""
        self._closing = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._crash is None:
            # A bug, not a server's doing: stop the run rather than lose results quietly.
            self._crash = exc
            self._idle.set()

    # -- routing -----------------------------------------------------------------------

    async def _begin(self, item: _Item) -> None:
        parsed = item.parsed
        if parsed.literal is not None:
            item.hosts = (MXHost(parsed.literal, 0, (parsed.literal,), None),)
        else:
            self._routing += 1
            try:
                async with self._dns:
                    async with asyncio.timeout(self.popts.deadline):
                        mx = await self.resolver.resolve_mx(parsed.ascii_domain)
            except TimeoutError:
                self._done(item, Decision(Reason.DEADLINE, None))
                return
            finally:
                self._routing -= 1
            item.mx = mx
            if mx.status in _MX_REASONS:
                reason = _MX_REASONS[mx.status]
                self._done(
                    item, Decision(reason, explain_event(str(reason), mx.detail, self._lang))
                )
                return
            item.hosts = mx.hosts
        self._plan_targets(item)
        self._advance(item)

    @property
    def _lang(self) -> str:
        return self.popts.lang

    def _plan_targets(self, item: _Item) -> None:
        item.targets.clear()
        for host in item.hosts[: self.popts.max_hosts]:
            if not host.addresses:
                item.targets.append((host.name, None))
            for ip in host.addresses[: self.popts.max_addresses]:
                item.targets.append((host.name, ip))

    def _advance(self, item: _Item) -> None:
        """Queue the item at its next usable MX address, or decide if none is left."""
        while item.targets:
            name, ip = item.targets[0]
            recorder = _Recorder(self._clock, item.began, self._lang)
            if ip is None:
                host = next((h for h in item.hosts if h.name == name), None)
                detail = (host.error if host else None) or f"{name} has no address."
                recorder.event(
                    Stage.CONNECT, None, NetworkError("no_address", detail), self._clock()
                )
                item.failures.append(Failure("no_address", recorder.steps[-1].explanation))
                item.attempts.append(_attempt(name, "", self.popts.port, recorder, "no_address"))
                item.targets.popleft()
                continue
            refusal = self._refusal(ip)
            if refusal is not None:
                recorder.event(Stage.CONNECT, None, NetworkError("guard", refusal), self._clock())
                item.failures.append(Failure("guard", recorder.steps[-1].explanation))
                item.attempts.append(_attempt(name, ip, self.popts.port, recorder, "guard"))
                item.targets.popleft()
                continue
            self._enqueue(self._host(name, ip, item.parsed.smtputf8), item)
            return
        target = item.parsed.smtp_path
        decision = _best_transient(item.attempts, target, self._lang)
        self._done(item, decision or decide_failures(item.failures))

    def _refusal(self, ip: str) -> str | None:
        if ip in self._refusals:
            self._refusals.move_to_end(ip)
            return self._refusals[ip]
        refusal = self._guard.refusal(ip)
        self._refusals[ip] = refusal
        while len(self._refusals) > _DOMAINS:
            self._refusals.popitem(last=False)
        return refusal

    def _host(self, name: str, ip: str, smtputf8: bool) -> _Host:
        key = (name, ip, smtputf8)
        host = self._hosts.get(key)
        if host is None:
            slots = asyncio.Semaphore(max(1, self.options.per_host))
            host = _Host(name, ip, smtputf8, slots, backoff=self.options.backoff)
            self._hosts[key] = host
        return host

    def _enqueue(self, host: _Host, item: _Item) -> None:
        host.queue.append(item)
        if host.dispatcher is None:
            host.dispatcher = self._spawn(self._dispatch(host))

    # -- scheduling --------------------------------------------------------------------

    @property
    def _more_coming(self) -> bool:
        """More addresses may still reach a host's queue soon: some are being routed, or
        the input goes on and the window has room to take them."""
        if self._routing > 0:
            return True
        return not self._input_done and not self._window.locked()

    async def _dispatch(self, host: _Host) -> None:
        """Start sessions for ``host`` while its queue has addresses."""
        try:
            while host.queue:
                wait = host.paused_until - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                await host.slots.acquire()
                try:
                    await self._gather(host)
                    await self._connections.acquire()
                except BaseException:
                    host.slots.release()
                    raise
                items = self._take(host)
                if not items:
                    self._connections.release()
                    host.slots.release()
                    continue
                try:
                    await self._keep_pace(items)
                except BaseException:
                    self._connections.release()
                    host.slots.release()
                    raise
                host.active += 1
                self._spawn(self._session(host, items))
        finally:
            host.dispatcher = None
            self._forget_idle(host)

    async def _gather(self, host: _Host) -> None:
        """Wait a little for more addresses when the queue is short of a full session.

        One full connection beats several thin ones (each costs a handshake, EHLO and
        QUIT), so a short queue waits while more input may still come for this host —
        but never past ``_LINGER``.
        """
        waited = 0.0
        while (
            len(host.queue) < self.options.rcpt_per_session
            and self._more_coming
            and waited < _LINGER
        ):
            await asyncio.sleep(_LINGER_STEP)
            waited += _LINGER_STEP

    def _forget_idle(self, host: _Host) -> None:
        if host.queue or host.active or host.paused_until > self._clock():
            return
        self._hosts.pop((host.name, host.ip, host.smtputf8), None)

    def _take(self, host: _Host) -> list[_Item]:
        """Up to a session's worth of queued addresses (fewer per domain under --rate)."""
        limit = self.options.rcpt_per_session
        per_domain = None
        if self.options.rate is not None:
            # A connection carries at most a quarter second's worth of one domain's RCPTs,
            # so a pipelined batch never turns the rate into a burst.
            per_domain = max(1, math.ceil(self.options.rate / 4))
        taken: list[_Item] = []
        kept: list[_Item] = []
        counts: Counter[str] = Counter()
        for _ in range(len(host.queue)):
            if len(taken) >= limit:
                break
            item = host.queue.popleft()
            domain = item.parsed.ascii_domain
            if per_domain is not None and counts[domain] >= per_domain:
                kept.append(item)
                continue
            counts[domain] += 1
            taken.append(item)
        host.queue.extendleft(reversed(kept))
        return taken

    async def _keep_pace(self, items: list[_Item]) -> None:
        """Under --rate, wait until each domain's next RCPTs fit within its rate."""
        rate = self.options.rate
        if rate is None or rate <= 0:
            return
        now = self._clock()
        counts = Counter(item.parsed.ascii_domain for item in items)
        wait = 0.0
        for domain, count in counts.items():
            start = max(now, self._pace.get(domain, now))
            self._pace[domain] = start + count / rate
            self._pace.move_to_end(domain)
            wait = max(wait, start - now)
        while len(self._pace) > _DOMAINS:
            self._pace.popitem(last=False)
        if wait > 0:
            await asyncio.sleep(wait)

    # -- one connection ----------------------------------------------------------------

    def _catch_all_probes(self, items: list[_Item]) -> dict[str, str]:
        """Random addresses to ask, one per domain whose catch-all answer is not known."""
        probes: dict[str, str] = {}
        if not self.popts.catch_all_check:
            return probes
        loop = asyncio.get_running_loop()
        for item in items:
            parsed = item.parsed
            domain = parsed.ascii_domain
            if parsed.literal is not None or domain in probes:
                continue
            if domain in self._catch_all:
                self._catch_all.move_to_end(domain)
                continue
            self._catch_all[domain] = loop.create_future()
            probes[domain] = _catch_all_path(parsed, self._rng)
        while len(self._catch_all) > _DOMAINS:
            oldest = next(iter(self._catch_all))
            if not self._catch_all[oldest].done():
                break
            del self._catch_all[oldest]
        return probes

    async def _session(self, host: _Host, items: list[_Item]) -> None:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._connections.release()
                host.slots.release()

        try:
            await self._converse(host, items, release)
        finally:
            host.active -= 1
            release()
            if self._closing:
                pass  # an interrupted run starts nothing new
            elif host.queue and host.dispatcher is None:
                host.dispatcher = self._spawn(self._dispatch(host))
            elif host.dispatcher is None:
                self._forget_idle(host)

    async def _converse(self, host: _Host, items: list[_Item], release: Callable[[], None]) -> None:
        popts = self.popts
        probes = self._catch_all_probes(items)
        plan = Plan(
            helo=popts.resolved_helo(),
            mail_from=popts.resolved_mail_from(),
            recipients=(*probes.values(), *(item.parsed.smtp_path for item in items)),
            starttls=popts.starttls,
            smtputf8=host.smtputf8,
            pipelining=popts.pipelining,
            rcpt_per_transaction=max(1, self.options.rcpt_per_transaction),
        )
        recorder = _Recorder(self._clock, self._clock(), self._lang)
        deadline = _Deadline(self._clock, popts.deadline)
        self.connections += 1
        try:
            attempts = await _sessions(host.name, host.ip, plan, popts, recorder, deadline)
        except Exception as exc:  # noqa: BLE001 - a session must never take its items with it
            error = NetworkError("protocol", f"{host.name}: {exc}")
            recorder.event(Stage.CONNECT, None, error, self._clock())
            attempts = [_attempt(host.name, host.ip, popts.port, recorder, "protocol")]
        # The connection is closed: its slot goes to the next one now, so that connection's
        # handshake and greeting (network waits) overlap the judging and writing of these
        # results (CPU) instead of following them.
        release()
        answered: dict[str, Reply] = {}
        for attempt in attempts:
            answered.update(attempt.rcpt)
        for domain, path in probes.items():
            future = self._catch_all.get(domain)
            reply = answered.get(path)
            if future is not None and not future.done():
                future.set_result(reply)
            if reply is None:
                self._catch_all.pop(domain, None)  # ask again with the next connection
        slowed = any(_slows_us(attempt) for attempt in attempts)
        if slowed:
            host.paused_until = self._clock() + host.backoff
            host.backoff = min(host.backoff * 2, _MAX_BACKOFF)
            self.backoffs += 1
        elif answered:
            host.backoff = self.options.backoff
        productive = any(item.parsed.smtp_path in answered for item in items)
        views = [_Views(attempt) for attempt in attempts]
        resumed: list[_Item] = []
        for item in items:
            if await self._judge_item(item, host, attempts, views, answered, probes, slowed):
                resumed.append(item)
        if resumed:
            if productive:
                # The server hung up (or ran out of time) before reaching these addresses
                # while answering others: a new connection starts where this one stopped,
                # in the same order, so every connection makes progress.
                host.queue.extendleft(reversed(resumed))
                if host.dispatcher is None:
                    host.dispatcher = self._spawn(self._dispatch(host))
            else:
                for item in resumed:
                    self._next_target(item)

    async def _judge_item(
        self,
        item: _Item,
        host: _Host,
        attempts: list[Attempt],
        views: list[_Views],
        answered: dict[str, Reply],
        probes: dict[str, str],
        slowed: bool,
    ) -> bool:
        """Decide, or send the item on; True: it was not reached, ask again on a new
        connection if this one made progress."""
        target = item.parsed.smtp_path
        probe_path = probes.get(item.parsed.ascii_domain)
        decision: Decision | None = None
        for attempt, view in zip(attempts, views, strict=True):
            item.attempts.append(view.of(attempt, target, probe_path))
            reply = attempt.rcpt.get(target)
            catch_all: Reply | None = None
            if reply is not None and reply.code // 100 == 2:
                catch_all = await self._catch_all_reply(item.parsed)
            decision = _judge(attempt, target, catch_all, item.failures, self._lang)
            if decision is not None:
                break
        if decision is not None:
            self._done(item, decision)
            return False
        reply = answered.get(target)
        if slowed and item.slowed < 1 and (reply is None or reply.code // 100 == 4):
            # The host asked us to slow down: ask again once it has had its pause.
            item.slowed += 1
            self._enqueue(host, item)
            return False
        if reply is None and item.reconnects < _RECONNECTS:
            item.reconnects += 1
            return True
        self._next_target(item)
        return False

    def _next_target(self, item: _Item) -> None:
        if item.targets:
            item.targets.popleft()
        self._advance(item)

    async def _catch_all_reply(self, parsed: Address) -> Reply | None:
        if not self.popts.catch_all_check or parsed.literal is not None:
            return None
        future = self._catch_all.get(parsed.ascii_domain)
        if future is None:
            return None
        return await asyncio.shield(future)

    # -- results -----------------------------------------------------------------------

    def _done(self, item: _Item, decision: Decision) -> None:
        retry = self.options.greylist_retry
        if decision.reason is Reason.GREYLISTED and retry is not None and not item.greylist_retried:
            item.greylist_retried = True
            self._spawn(self._again(item, retry))
            return
        result = _finish(
            item.text,
            item.parsed,
            decision,
            item.mx,
            tuple(item.attempts),
            self.popts,
            self._clock() - item.began,
        )
        key = item.parsed.smtp_path
        self._inflight.pop(key, None)
        self._recent[key] = result
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        self._emit(result)
        for text in item.dupes:
            self._emit(replace(result, address=text))
        for _ in range(1 + len(item.dupes)):
            self._window.release()
        self._outstanding -= 1
        if self._outstanding == 0:
            self._idle.set()

    async def _again(self, item: _Item, delay: float) -> None:
        """Greylisting: the server asked us to come back later; come back once."""
        await asyncio.sleep(delay)
        item.failures.clear()
        item.reconnects = 0
        item.slowed = 0
        self._plan_targets(item)
        self._advance(item)

    def _emit(self, result: ProbeResult) -> None:
        self._sink(result)


def _attempt(host: str, ip: str, port: int, recorder: _Recorder, outcome: str) -> Attempt:
    return Attempt(host, ip, port, tuple(recorder.steps), outcome, True)


def _slows_us(attempt: Attempt) -> bool:
    """421 anywhere, or any reply the catalogue reads as rate limiting."""
    for step in attempt.steps:
        if step.reply is None:
            continue
        if step.reply.code == 421 or step.explanation.category is Category.RATE_LIMITED:
            return True
    return False


class _Shared(Step):
    """A step of a connection that many results show: its dict is built once for all."""

    __slots__ = ("_rendered",)
    _rendered: dict[str, Any]

    @classmethod
    def of(cls, step: Step) -> _Shared:
        return cls(**{f.name: getattr(step, f.name) for f in fields(Step)})

    def to_dict(self) -> dict[str, Any]:
        try:
            rendered: dict[str, Any] = self._rendered
        except AttributeError:
            rendered = Step.to_dict(self)
            object.__setattr__(self, "_rendered", rendered)  # a cache, not state
        return rendered


class _Views:
    """Cuts one shared connection's transcript into the part each address needs.

    An address sees the connection's opening (connect, banner, EHLO, STARTTLS), the MAIL
    of its own transaction and its own RCPT, the catch-all RCPT of its domain when it
    was asked on this connection, and any event that ended the connection.
    """

    def __init__(self, attempt: Attempt) -> None:
        steps = [_Shared.of(step) for step in attempt.steps]
        self.opening: list[Step] = []
        self.by_line: dict[str, tuple[Step | None, Step]] = {}
        self.events = [s for s in steps if s.event not in (None, "connected")]
        mail: Step | None = None
        self.last_mail: Step | None = None
        opening = True
        for step in steps:
            if step.stage is Stage.MAIL:
                opening = False
                mail = step
                self.last_mail = step
            elif step.stage is Stage.RCPT and step.sent is not None:
                self.by_line[step.sent] = (mail, step)
            elif opening and step.event in (None, "connected"):
                self.opening.append(step)

    def of(self, attempt: Attempt, target: str, probe_path: str | None) -> Attempt:
        steps = list(self.opening)
        own = self.by_line.get(f"RCPT TO:<{target}>")
        if own is not None:
            if own[0] is not None:
                steps.append(own[0])
            steps.append(own[1])
        elif self.last_mail is not None:
            steps.append(self.last_mail)
        if probe_path is not None:
            other = self.by_line.get(f"RCPT TO:<{probe_path}>")
            if other is not None:
                steps.append(other[1])
        steps.extend(s for s in self.events if s not in steps)
        rcpt = {p: attempt.rcpt[p] for p in (target, probe_path) if p and p in attempt.rcpt}
        return replace(attempt, steps=tuple(steps), rcpt=rcpt)


# -- running a list ------------------------------------------------------------------


async def _entries(source: Source, done: Done | None, tally: Tally) -> AsyncIterator[Entry]:
    """The source's entries, read in a worker thread so a slow pipe never stalls probing."""
    iterator = iter(source)

    def chunk() -> list[Entry]:
        return list(_islice(iterator, 256))

    while True:
        batch = await asyncio.to_thread(chunk)
        if not batch:
            tally.blank = source.blank
            return
        for entry in batch:
            verdict = done.take(entry.text) if done is not None else None
            if verdict is not None:
                tally.resumed += 1
                tally.earlier[verdict] += 1
                continue
            yield entry


def _islice(iterator: Iterator[Entry], count: int) -> Iterator[Entry]:
    for _ in range(count):
        try:
            yield next(iterator)
        except StopIteration:
            return


class _Progress:
    """A rich progress line on stderr with counts per verdict (only when asked for)."""

    def __init__(self, stderr: TextIO, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._counts: Counter[str] = Counter()
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("{task.completed} probed"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(file=stderr),
            transient=True,
        )
        self._task = self._bar.add_task("", total=None)
        self._bar.start()

    def add(self, result: ProbeResult) -> None:
        if self._bar is None:
            return
        self._counts[str(result.verdict)] += 1
        text = "  ".join(f"{v} {self._counts[str(v)]}" for v in Verdict)
        self._bar.update(self._task, advance=1, description=text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


async def run_list_async(
    addresses: list[str],
    file: str | None,
    options: ListOptions,
    *,
    stdout: TextIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
    resolver: Resolver | None = None,
    rng: random.Random | None = None,
) -> int:
    """:func:`run_list` on the running event loop (for tests and embedding)."""
    try:
        if options.resume and options.output is None:
            raise InputError("--resume needs --output: the file to read back and add to.")
        if options.output is not None and options.output == file:
            raise InputError("--output would overwrite the input file; name another file.")
        done = None
        if options.resume and options.output is not None:
            done = load_done(options.output, options.format)
        source = Source(addresses, file, column=options.column, stdin=stdin)
    except InputError as exc:
        print(f"probe: {exc}", file=stderr)
        return EXIT_ERROR
    try:
        writer = Writer(options.format, options.output, stdout, append=options.resume)
    except InputError as exc:
        source.close()
        print(f"probe: {exc}", file=stderr)
        return EXIT_ERROR
    tally = Tally()
    progress = _Progress(stderr, options.progress)

    def sink(result: ProbeResult) -> None:
        writer.write(result)
        tally.add(result)
        progress.add(result)

    engine = Engine(options, sink, resolver=resolver, rng=rng)
    interrupted = False
    try:
        async for entry in _entries(source, done, tally):
            await engine.submit(entry)
        await engine.finish()
    except asyncio.CancelledError:
        # Ctrl-C (see run_list): stop taking addresses; the sessions in flight are
        # cancelled below and say QUIT; every result already written is a whole line.
        interrupted = True
    except OSError as exc:
        progress.stop()
        print(f"probe: cannot write the results: {exc.strerror or exc}.", file=stderr)
        return EXIT_ERROR
    finally:
        progress.stop()
        await engine.close()
        writer.close()
        source.close()
    tally.probed = engine.distinct
    tally.connections = engine.connections
    if not options.quiet:
        print(tally.summary(), file=stderr)
    if interrupted:
        resume = " Run again with --resume to continue." if options.output else ""
        print(f"probe: interrupted; the results written so far are complete.{resume}", file=stderr)
        return EXIT_INTERRUPTED
    return tally.exit_status()


def run_list(
    addresses: list[str],
    file: str | None,
    options: ListOptions,
    *,
    stdout: TextIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
) -> int:
    """Probe a list; write each result as it finishes; return the exit status (see above)."""
    if stdin is None and file == "-":
        stdin = sys.stdin.buffer

    async def main() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        try:
            # Ctrl-C cancels the run instead of raising wherever the loop happens to be,
            # so the run can close its sessions, flush, and print its summary.
            if task is not None:
                loop.add_signal_handler(signal.SIGINT, task.cancel)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread, or no signals here: plain KeyboardInterrupt
        try:
            return await run_list_async(
                addresses, file, options, stdout=stdout, stderr=stderr, stdin=stdin
            )
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("probe: interrupted; the results written so far are complete lines.", file=stderr)
        return EXIT_INTERRUPTED
