"""The probing engine: one object behind every front door (I/O).

A single probe is a list of one through it; list mode is a stream; a service submits
concurrently. The engine owns everything those share: the DNS cache, each domain's
catch-all answer, each MX host's queue, sessions, politeness, backoff and learnt limits,
the global connection limit, and each address's own deadline. What one address needs —
its targets in MX order, the guard, judging, retries — is the sans-I/O
:class:`~prober.engine.plan.AddressPlan`; the SMTP dialogue is
:mod:`prober.smtp.dialogue`, driven by :mod:`prober.smtp.driver`.

Sessions stream. A host's first address opens a session at once; while it is open it
takes every address that reaches the host's queue, in transactions of pipelined RCPTs,
RSET between them, until the queue is empty (and, while more input may still come and
no other host waits for a connection, a short linger), the session's recipient cap, or
the server's error budget is reached; then QUIT, not waiting for its answer. A result
leaves as soon as its RCPT answer (and its domain's catch-all answer) is in. A domain's
catch-all question goes with its first addresses when an acceptance is likely, else
after the first acceptance.

The error budget: servers count refused recipients per session and punish a client
past a limit — Postfix answers ten refusals at once, then sleeps a second before every
reply after them (``smtpd_soft_error_limit``, ``smtpd_error_sleep_time``) and hangs up at
the 20th (``smtpd_hard_error_limit``). A session stops one refusal short of the budget
(``EngineLimits.error_budget``, Postfix's 10 unless told otherwise), so that its QUIT is
answered at once, and sizes its batches so that they are unlikely to cross it; a reply
that suddenly comes a second late, or a 421, means the budget was smaller, and the
host's budget is lowered for its next sessions. "452 too many recipients" teaches the
host's per-transaction limit the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from prober.address import parse_address
from prober.engine.plan import AddressPlan, catch_all_path, event_step, syntax_result
from prober.engine.verdict import Decision, Reason
from prober.errors import AddressError, CommandError, NetworkError
from prober.explanation.catalogue import Category, Stage
from prober.explanation.explain import explain_event, explain_reply
from prober.guard import Guard
from prober.knowledge.annotate import annotate
from prober.knowledge.policy import DEFAULT_POLICY
from prober.resolve.mx import MXResult, Resolver
from prober.results import Attempt, OnEvent, ProbeEvent, ProbeOptions, ProbeResult, Step
from prober.smtp.connection import Connection, TLSInfo
from prober.smtp.dialogue import (
    Answered,
    Command,
    Dialogue,
    Finish,
    Plan,
    Ready,
    Send,
    is_too_many_recipients,
)
from prober.smtp.driver import StepError, exchange, open_session, quit_now
from prober.smtp.reply import Reply

Clock = Callable[[], float]
T = TypeVar("T")

_MAX_BACKOFF = 600.0
_RECENT = 1024  # finished results kept to answer a duplicate that comes later
_DOMAINS = 20000  # domains whose catch-all answer is remembered
_DNS_AT_ONCE = 64
_DNS_KEPT = 10000  # DNS answers kept at once (least recently used go first)
# A QUIT said without waiting for its answer: the server keeps the connection until it
# answers (a second later when it is punishing errors), and the engine counts it against
# the host that long, up to this many seconds.
_DRAIN = 2.0
_HOSTS_KEPT = 5000  # idle hosts whose lessons (error budget, recipient limit) are kept
# A reply this much slower than the session's first RCPT replies means the server has
# started to punish errors (Postfix's smtpd_error_sleep_time is 1 s).
_TARPIT = 0.8
# What a transaction's first accepted RCPT may wait beyond that without meaning it: the
# server's own flow control (Postfix's in_flow_delay, 1 s by default).
_FLOW_PAUSE = 1.0
# An address's deadline timer fires this long after its deadline, so that a session
# waiting for it (whose waits end at the deadline) reports what it was waiting for.
_GRACE = 0.05


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Politeness and sizes shared by every address an engine probes."""

    concurrency: int = 20  # connections open at once, all hosts together
    per_host: int = 2  # connections per MX address at once
    rate: float | None = None  # RCPT commands per second per domain (None: no limit)
    # Recipients per MAIL transaction: RFC 5321 §4.5.3.1.8 has servers accept 100.
    rcpt_per_transaction: int = 100
    rcpt_per_session: int = 100  # recipients one connection asks about before QUIT
    greylist_retry: float | None = None  # seconds; re-probe greylisted addresses once after
    backoff: float = 30.0  # first pause of a host after 421 / rate limiting; doubles
    window: int = 5000  # addresses in flight at once in a stream: the bound on memory
    # Refused recipients a server answers at once before it punishes a session: Postfix
    # answers its first smtpd_soft_error_limit (10) refusals at once and sleeps a second
    # before every reply after them, QUIT's included. A session stops one short of it,
    # so that its QUIT is answered at once and the server lets the connection go.
    error_budget: int = 10
    linger: float = 0.3  # seconds an idle session waits for more work when more may come
    # Seconds what a host or a domain taught stays true for an engine that runs for days
    # (a service, a worker): a lowered error budget, a catch-all answer. Then asked anew.
    lessons: float = 3600.0




def _for(result: ProbeResult, address: str) -> ProbeResult:
    """The result as the caller wrote the address (the same address may come twice, in
    different spellings of one mailbox)."""
    return result if result.address == address else replace(result, address=address)


def finish_result(result: ProbeResult, options: ProbeOptions) -> ProbeResult:
    """Every result leaves the engine through here: the knowledge layer adds its flags
    and applies the verdict policy (disposable, accept-all providers)."""
    return annotate(result, options.knowledge or DEFAULT_POLICY, lang=options.lang)


def _allowance(host: _Host) -> int:
    """Refusals one session of ``host`` collects: one fewer than the server answers at
    once (its error budget), so that the answer to QUIT is not held back too and the
    server closes the connection when the session ends, not a second later."""
    return max(1, host.budget - 1)


def batch_size(remaining: int, rate: float, cap: int, spread: float = 3.0) -> int:
    """RCPTs to send at once when ``remaining`` more refusals are allowed and a share
    ``rate`` of recipients is refused: as many as keep the expected refusals ``spread``
    standard deviations below ``remaining`` (at least ``remaining``, at most ``cap``).
    Pure: ``benchmarks/batch_policy.py`` weighs other spreads with it."""
    if remaining <= 0:
        return 0
    rate = min(1.0, max(rate, 0.02))
    count = remaining
    while count < cap:
        mean = (count + 1) * rate
        if mean + spread * math.sqrt(mean * (1 - rate)) > remaining:
            break
        count += 1
    return count


def _cautious(refused: int, asked: int) -> float:
    """The refusal rate that ``refused`` of ``asked`` answers allow at the high end: the
    upper bound of the Wilson score interval at two standard deviations (twenty answers
    with one refusal allow 24 %, a thousand with two hundred 22.6 %)."""
    z2 = 4.0
    p = refused / asked
    centre = p + z2 / (2 * asked)
    spread = 2.0 * math.sqrt(p * (1 - p) / asked + z2 / (4 * asked * asked))
    return min(1.0, (centre + spread) / (1 + z2 / asked))


# -- state ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Work:
    """One distinct address in flight: its plan and who waits for it."""

    plan: AddressPlan
    future: asyncio.Future[ProbeResult]
    listeners: list[OnEvent] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    done: bool = False
    queued_at: float | None = None  # when it first joined a host queue
    waiters: int = 0  # callers awaiting the result; none left: the work is dropped

    def tell(self, event: ProbeEvent, now: float | None = None) -> None:
        if now is not None:  # stamped: seconds since this address was submitted
            event = replace(event, at=max(0.0, now - self.plan.began))
        for listener in self.listeners:
            listener(event)


@dataclass(eq=False)
class _Host:
    """One MX address (per SMTPUTF8 need): its queue, sessions and what it taught us."""

    name: str
    ip: str
    smtputf8: bool
    budget: int
    per_transaction: int
    max_sessions: int
    backoff: float
    queue: deque[_Work] = field(default_factory=deque)
    probes: dict[str, str] = field(default_factory=dict)  # catch-all paths not yet asked
    sessions: int = 0
    opening: int = 0
    idle: int = 0
    paused_until: float = 0.0
    wake_handle: asyncio.TimerHandle | None = None
    starttls: bool = True
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    asked: int = 0  # RCPT answers from this host, and how many of them were refusals
    refused: int = 0
    lowered_at: float = 0.0  # when the error budget was last lowered
    draining: int = 0  # connections whose QUIT the server has not answered yet

    def live(self) -> int:
        while self.queue and self.queue[0].done:
            self.queue.popleft()
        return sum(1 for w in self.queue if not w.done)


class _Recorder:
    """A session's transcript, as Steps with explanations; told to listeners as it grows."""

    def __init__(self, clock: Clock, origin: float, lang: str, tell: Callable[[Step], None]):
        self.clock = clock
        self.origin = origin
        self.lang = lang
        self.steps: list[Step] = []
        self._tell = tell
        self.last = clock()  # when the last step was recorded

    def now(self) -> float:
        return self.clock()

    def _add(self, step: Step) -> None:
        shared = _Shared.of(step)
        self.steps.append(shared)
        self.last = self.clock()
        self._tell(shared)

    def reply(
        self, stage: Stage, sent: str | None, reply: Reply, began: float, note: str | None = None
    ) -> None:
        self._add(
            Step(
                stage=stage,
                sent=sent,
                reply=reply,
                explanation=explain_reply(reply, stage, self.lang),
                started=began - self.origin,
                elapsed=self.clock() - began,
                note=note,
            )
        )

    def event(self, stage: Stage, sent: str | None, exc: NetworkError, began: float) -> None:
        self._add(
            Step(
                stage=stage,
                sent=sent,
                reply=None,
                explanation=explain_event(exc.kind, exc.detail, self.lang),
                started=began - self.origin,
                elapsed=self.clock() - began,
                event=exc.kind,
            )
        )

    def tls(self, info: TLSInfo | None, began: float) -> None:
        pass  # the handshake's outcome is the attempt's ``tls``; EHLO follows as a step


class _Shared(Step):
    """A step many results show: its dict is built once for all of them."""

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


class _Session:
    """What one connection has done, for cutting each address's view of it."""

    def __init__(self, host: _Host, port: int) -> None:
        self.host = host
        self.port = port
        self.opening: list[Step] = []
        self.mail: Step | None = None
        self.rcpt: dict[str, Step] = {}
        self.events: list[Step] = []
        self.tls: TLSInfo | None = None
        self.extensions: dict[str, str] = {}
        self.answered = 0  # RCPT answers this session got
        self.indexed = 0  # transcript steps already filed
        self.probe_of: dict[str, str] = {}  # domain → catch-all path asked here

    def attempt(
        self,
        path: str,
        outcome: str,
        *,
        reply: Reply | None = None,
        mail: Reply | None = None,
        probe: str | None = None,
    ) -> Attempt:
        steps = list(self.opening)
        if self.mail is not None:
            steps.append(self.mail)
        own = self.rcpt.get(path)
        if own is not None:
            steps.append(own)
        rcpt: dict[str, Reply] = {}
        if reply is not None:
            rcpt[path] = reply
        if probe is not None and probe in self.rcpt:
            steps.append(self.rcpt[probe])
            probe_reply = self.rcpt[probe].reply
            if probe_reply is not None:
                rcpt[probe] = probe_reply
        steps.extend(s for s in self.events if s not in steps)
        return Attempt(
            host=self.host.name,
            address=self.host.ip,
            port=self.port,
            steps=tuple(steps),
            outcome=outcome,
            next_host=outcome != "rcpt_answered",
            extensions=dict(self.extensions),
            tls=self.tls,
            tls_problem=self.tls.problem if self.tls is not None else None,
            rcpt=rcpt,
            mail=mail,
        )


# -- the engine -------------------------------------------------------------------------


class Engine:
    """Probe addresses; see the module docstring. Use as ``async with Engine(...)``."""

    def __init__(
        self,
        options: ProbeOptions | None = None,
        limits: EngineLimits | None = None,
        *,
        resolver: Resolver | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        gate: Callable[[str], int] | None = None,
    ) -> None:
        self.options = options if options is not None else ProbeOptions()
        # ``gate(name)``: how many connections to the MX host ``name`` (all its
        # addresses together) the engine may have open now, when someone outside it
        # holds the right to connect (a fleet's slots); None: only its own limits.
        # Whoever raises it calls :meth:`reconsider`.
        self._gate = gate
        # ``observer``: told each session step once, and each address's move to an MX
        # host ("connecting"), for a caller that watches hosts rather than addresses (a
        # listener per address is told every step of its host's sessions, once per
        # address waiting there).
        self.observer: OnEvent | None = None
        self._by_name: Counter[str] = Counter()
        self.limits = limits if limits is not None else EngineLimits()
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self.resolver = (
            resolver
            if resolver is not None
            else Resolver(self.options.dns, self._rng, cache_size=_DNS_KEPT)
        )
        self._guard = Guard(self.options.allow_private)
        self._refusals: OrderedDict[str, str | None] = OrderedDict()
        # Connections open now, and the hosts waiting for one (served biggest queue
        # first: the host with the most work left is the list's critical path).
        self._open = 0
        self._wanting: dict[_Host, None] = {}
        self._asked = 0  # RCPT answers from every host, and the refusals among them
        self._refused = 0
        self._dns = asyncio.Semaphore(_DNS_AT_ONCE)
        # MX hosts, least recently used first; idle ones are kept (bounded) for what
        # they taught: their error budget, recipient limit, refusal rate.
        self._hosts: OrderedDict[tuple[str, str, bool], _Host] = OrderedDict()
        self._mx_inflight: dict[str, asyncio.Future[MXResult]] = {}
        self._inflight: dict[str, _Work] = {}
        self._watched: set[_Work] = set()  # addresses someone follows live (on_event)
        self._recent: OrderedDict[str, ProbeResult] = OrderedDict()
        self._catch_all: OrderedDict[str, asyncio.Future[Reply | None]] = OrderedDict()
        self._catch_all_at: dict[str, float] = {}  # when each domain's question was asked
        self._pace: OrderedDict[str, float] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._draining: set[Connection] = set()  # QUIT said, its answer still owed
        self._feeding = 0  # streams still reading their input
        self._routing = 0  # addresses between submission and a host queue
        self._closing = False
        self.distinct = 0
        self.connections = 0
        self.sessions = 0
        self.backoffs = 0
        self.backoffs_by_host: Counter[str] = Counter()  # MX host → pauses it asked for

    @property
    def queued(self) -> int:
        """Addresses waiting in a host's queue for a session to ask about them."""
        return sum(len(host.queue) for host in self._hosts.values())

    @property
    def active(self) -> int:
        """Distinct addresses under way (routing, queued or in a session)."""
        return len(self._inflight)

    @property
    def open_connections(self) -> int:
        """Connections open (or opening) now, all hosts together."""
        return self._open

    def sessions_to(self, name: str) -> int:
        """Connections open (or opening) now to the MX host ``name``."""
        return self._by_name[name.lower()]

    def reconsider(self, name: str) -> None:
        """The gate allows more connections to ``name``: open them if work waits."""
        wanted = name.lower()
        for host in list(self._hosts.values()):
            if host.name.lower() == wanted:
                self._open_if_needed(host)

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel every session still running (they say QUIT when they can)."""
        self._closing = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for conn in list(self._draining):  # a drain cancelled before it could run
            await conn.close(wait=False)
        self._draining.clear()
        for work in list(self._inflight.values()):
            if not work.future.done():
                work.future.cancel()

    # -- front doors --------------------------------------------------------------------

    async def submit(
        self, address: str, on_event: OnEvent | None = None, *, fresh: bool = False
    ) -> ProbeResult:
        """Probe one address; its deadline runs from now. A result the engine gave for
        the same address a moment ago is given again, unless ``fresh`` (a re-probe, or a
        caller that keeps its own cache)."""
        entered = self._enter(address, on_event, fresh=fresh)
        if isinstance(entered, ProbeResult):
            return entered
        work = entered
        try:
            result = await asyncio.shield(work.future)
        except asyncio.CancelledError:
            self._leave(work)
            raise
        work.waiters -= 1
        return _for(result, address)

    def _enter(
        self, address: str, on_event: OnEvent | None = None, *, fresh: bool = False
    ) -> ProbeResult | _Work:
        """Start probing ``address`` (or join the probe already running for it): the
        result when it is known at once, else the work, with one more waiter counted
        (who must :meth:`_leave` it, or take the result, when done waiting)."""
        began = self._clock()
        lang = self.options.lang
        try:
            parsed = parse_address(address)
        except AddressError as exc:
            return finish_result(
                syntax_result(address, exc, lang, self._clock() - began), self.options
            )
        key = parsed.smtp_path
        work = self._inflight.get(key)
        if work is None:
            done = None if fresh else self._recent.get(key)
            if done is not None:
                self._recent.move_to_end(key)
                return replace(done, address=address)
            plan = AddressPlan(address, parsed, self.options, began)
            work = _Work(plan, asyncio.get_running_loop().create_future())
            self._inflight[key] = work
            self.distinct += 1
            self._arm(work)
            if on_event is not None:
                work.listeners.append(on_event)
                self._watched.add(work)
            self._routing += 1
            self._spawn(self._begin(work))
        elif on_event is not None:
            work.listeners.append(on_event)
            self._watched.add(work)
        work.waiters += 1
        return work

    def _leave(self, work: _Work, count: int = 1) -> None:
        """``count`` waiters give up on ``work``; with none left it is dropped."""
        work.waiters -= count
        if work.waiters <= 0:
            self._abandon(work)  # nobody wants it any more (a list deleted, a client gone)

    def _abandon(self, work: _Work) -> None:
        """Drop an address nobody waits for: sessions skip it from now on."""
        if work.done:
            return
        work.done = True
        self._watched.discard(work)
        if work.timer is not None:
            work.timer.cancel()
        self._inflight.pop(work.plan.path, None)
        if not work.future.done():
            work.future.cancel()

    async def stream(
        self, items: AsyncIterable[T] | Iterable[T], *, fresh: bool = False
    ) -> AsyncIterator[tuple[T, ProbeResult]]:
        """Probe every item (a str, or anything with ``.address`` or ``.text``); yield
        ``(item, result)`` in completion order. At most ``limits.window`` at once.
        Closing the stream early drops what it submitted and has not finished; ``fresh``
        as for :meth:`submit`."""
        # No task per item: an item is its work's future and one callback on it (a list
        # of millions keeps ``window`` of them in memory, so each one's size counts).
        window = asyncio.Semaphore(max(1, self.limits.window))
        out: asyncio.Queue[tuple[T, ProbeResult] | BaseException | None | bool] = (
            asyncio.Queue()
        )
        held: Counter[_Work] = Counter()  # works this stream waits for, and how often
        pending = 0
        fed = False
        closed = False

        def enter(item: T) -> None:
            entered = self._enter_item(item, fresh)
            if isinstance(entered, ProbeResult):
                window.release()
                out.put_nowait((item, entered))
                return
            work, text = entered
            held[work] += 1

            def finished(future: asyncio.Future[ProbeResult]) -> None:
                if closed:
                    return
                held[work] -= 1
                if held[work] <= 0:
                    del held[work]
                work.waiters -= 1
                window.release()
                if future.cancelled():
                    out.put_nowait(False)  # dropped by the engine: nothing to report
                elif (error := future.exception()) is not None:
                    out.put_nowait(error)
                else:
                    out.put_nowait((item, _for(future.result(), text)))

            work.future.add_done_callback(finished)

        async def feed() -> None:
            nonlocal pending, fed
            self._feeding += 1
            try:
                if isinstance(items, AsyncIterable):
                    async for item in items:
                        await window.acquire()
                        pending += 1
                        enter(item)
                else:
                    for item in items:
                        await window.acquire()
                        pending += 1
                        enter(item)
            finally:
                self._feeding -= 1
                fed = True
                out.put_nowait(None)

        feeder = self._spawn(feed())
        try:
            while True:
                got = await out.get()
                if isinstance(got, BaseException):
                    raise got
                if got is None:
                    error = feeder.exception() if feeder.done() else None
                    if error is not None:
                        raise error
                    if pending == 0:
                        return
                    continue
                pending -= 1
                if got is not False:
                    yield got  # type: ignore[misc]
                if fed and pending == 0:
                    return
        finally:
            closed = True
            if not feeder.done():
                feeder.cancel()
            for work, count in list(held.items()):
                self._leave(work, count)

    def _enter_item(self, item: Any, fresh: bool = False) -> ProbeResult | tuple[_Work, str]:
        problem = getattr(item, "problem", None)
        text = item if isinstance(item, str) else str(
            getattr(item, "address", None) or getattr(item, "text", "")
        )
        if problem is not None:
            error = AddressError(text, problem)
            return finish_result(syntax_result(text, error, self.options.lang, 0.0), self.options)
        entered = self._enter(text, fresh=fresh)
        return entered if isinstance(entered, ProbeResult) else (entered, text)

    # -- bookkeeping --------------------------------------------------------------------

    def _loop_time(self, when: float) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + (when - self._clock())

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
        if exc is not None:
            # A bug, not a server's doing: fail loudly for everyone waiting.
            for work in list(self._inflight.values()):
                if not work.future.done():
                    work.future.set_exception(exc)

    def _finish(self, work: _Work, decision: Decision) -> None:
        if work.done:
            return
        plan = work.plan
        retry = self.limits.greylist_retry
        if decision.reason is Reason.GREYLISTED and retry is not None and not plan.greylist_retried:
            plan.greylist_retried = True
            self._spawn(self._again(work, retry))
            return
        work.done = True
        self._watched.discard(work)
        if work.timer is not None:
            work.timer.cancel()
        result = finish_result(plan.result(decision, self._clock()), self.options)
        key = plan.path
        self._inflight.pop(key, None)
        self._recent[key] = result
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        if not work.future.done():
            work.future.set_result(result)

    def _expire(self, work: _Work) -> None:
        if not work.done:
            self._finish(work, work.plan.expire(self._clock()))

    async def _again(self, work: _Work, delay: float) -> None:
        """Greylisting: the server asked us to come back later; come back once, with a
        fresh deadline from then."""
        if work.timer is not None:
            work.timer.cancel()
        await asyncio.sleep(delay)
        plan = work.plan
        plan.failures.clear()
        plan.reconnects = 0
        plan.slowed = 0
        plan.began = self._clock()
        plan.waited = 0.0
        self._arm(work)
        plan.plan_targets()
        self._advance(work)

    # -- routing ------------------------------------------------------------------------

    async def _begin(self, work: _Work) -> None:
        plan = work.plan
        try:
            mx = None
            if plan.parsed.literal is None:
                try:
                    left = plan.deadline - self._clock()
                    async with asyncio.timeout(max(0.001, left)):
                        mx = await asyncio.shield(self._resolve(plan.domain))
                except TimeoutError:
                    self._expire(work)
                    return
                work.tell(ProbeEvent("mx", plan.text, mx=mx), self._clock())
            decision = plan.route(mx)
            if decision is not None:
                self._finish(work, decision)
                return
            self._advance(work)
        finally:
            self._routing -= 1

    def _resolve(self, domain: str) -> asyncio.Future[MXResult]:
        """The domain's MX answer; addresses of one domain submitted together share one
        lookup (the resolver's cache serves those that come later)."""
        future = self._mx_inflight.get(domain)
        if future is None:

            async def lookup() -> MXResult:
                try:
                    async with self._dns:
                        return await self.resolver.resolve_mx(domain)
                finally:
                    self._mx_inflight.pop(domain, None)

            future = self._spawn(lookup())
            self._mx_inflight[domain] = future
        return future

    def _advance(self, work: _Work) -> None:
        """Queue the address at its next usable MX address, or decide if none is left."""
        if work.done:
            return
        plan = work.plan
        if self._clock() >= plan.deadline - _GRACE:
            # Waits end at the deadline: the one that just ended was the last.
            self._expire(work)
            return
        target = plan.next_target(self._refusal, self._clock())
        if target is None:
            self._finish(work, plan.exhausted())
            return
        name, ip = target
        if self.observer is not None:
            self.observer(ProbeEvent("connecting", plan.text, host=name, ip=ip))
        work.tell(ProbeEvent("connecting", plan.text, host=name, ip=ip), self._clock())
        self._enqueue(self._host(name, ip, plan.parsed.smtputf8), work)

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
        if host is not None:
            self._hosts.move_to_end(key)
        else:
            limits = self.limits
            host = _Host(
                name,
                ip,
                smtputf8,
                budget=max(1, limits.error_budget),
                per_transaction=max(1, limits.rcpt_per_transaction),
                max_sessions=max(1, limits.per_host),
                backoff=limits.backoff,
            )
            self._hosts[key] = host
        return host

    def _arm(self, work: _Work) -> None:
        if work.timer is not None:
            work.timer.cancel()
        work.timer = asyncio.get_running_loop().call_at(
            self._loop_time(work.plan.deadline + _GRACE), self._expire, work
        )

    def _taken(self, work: _Work) -> None:
        """A session takes ``work``: its deadline runs again from here (see plan)."""
        if work.queued_at is not None and not work.plan.started:
            work.plan.first_turn(work.queued_at, self._clock())
            self._arm(work)

    def _enqueue(self, host: _Host, work: _Work, *, front: bool = False) -> None:
        if not work.plan.started and work.queued_at is None:
            # Waiting for a first turn at the host: the deadline's clock stops (plan).
            work.queued_at = self._clock()
            if work.timer is not None:
                work.timer.cancel()
        if front:
            host.queue.appendleft(work)
        else:
            host.queue.append(work)
        host.wake.set()
        self._open_if_needed(host)

    def _open_if_needed(self, host: _Host) -> None:
        if self._closing:
            return
        waiting = host.live() + len(host.probes)
        if waiting == 0:
            return
        now = self._clock()
        if host.paused_until > now:
            if host.wake_handle is None:
                loop = asyncio.get_running_loop()

                def wake() -> None:
                    host.wake_handle = None
                    self._open_if_needed(host)

                host.wake_handle = loop.call_at(self._loop_time(host.paused_until), wake)
            return
        if host.sessions + host.draining >= host.max_sessions:
            return
        if host.opening > 0:
            # A session is being opened: another waits until it is ready (it may take
            # all there is), leaving the slot meanwhile to hosts that have none.
            return
        # Open sessions take what is queued, sooner than a new session could: open
        # another only for what they cannot take within their error budget (a second
        # session costs the server a connection and, on Postfix, a flow-control pause).
        room = host.sessions * self._capacity(host)
        if host.sessions > 0 and waiting <= room:
            return
        # Asked last, only when a session is really wanted: a fleet's gate may cost a
        # round trip to its shared store.
        if self._gate is not None and self._by_name[host.name.lower()] >= self._gate(host.name):
            return
        if self._open >= max(1, self.limits.concurrency):
            self._wanting[host] = None
            return
        self._open += 1
        host.sessions += 1
        host.opening += 1
        self._by_name[host.name.lower()] += 1
        self._spawn(self._session(host))

    def _grant(self) -> None:
        """A connection slot is free: to the waiting host with the most work left per
        session it would then have (a host with none comes before a second session of a
        host with as much work)."""
        while self._wanting and self._open < max(1, self.limits.concurrency):
            host = max(self._wanting, key=lambda h: (h.live() + len(h.probes)) / (h.sessions + 1))
            del self._wanting[host]
            self._open_if_needed(host)

    def _affordable(self, host: _Host, remaining: int) -> int:
        """How many RCPTs may be in flight when ``remaining`` more refusals are allowed.

        Never more than could all be refused while staying within the budget — unless
        the refusal rate is known (from this host, else from all of them): then as many
        as keep the expected refusals three standard deviations below ``remaining``
        (crossing the budget costs a second per reply on Postfix; a round trip saved is
        worth a twentieth of that). The rate is read cautiously (:func:`_cautious`): a
        few lucky answers early in a list must not size a batch that a host with more
        unknown users turns into a minute of punished replies.
        """
        if remaining <= 0:
            return 0
        if host.asked >= 20:
            rate = _cautious(host.refused, host.asked)
        elif self._asked >= 20:
            rate = _cautious(self._refused, self._asked)
            if host.asked:
                rate = max(rate, _cautious(host.refused, host.asked))
        else:
            return remaining
        return batch_size(remaining, rate, max(remaining, host.per_transaction))

    def _capacity(self, host: _Host) -> int:
        """How many addresses one session of ``host`` is likely to ask before its error
        budget or its recipient cap ends it: the budget over the refusal rate (read
        cautiously; a quarter refused while nothing is known, as lists commonly are)."""
        if host.asked >= 20:
            rate = _cautious(host.refused, host.asked)
        elif self._asked >= 20:
            rate = _cautious(self._refused, self._asked)
        else:
            rate = 0.25
        likely = int(_allowance(host) / max(rate, 0.05))
        return max(self._first_batch(host), min(self.limits.rcpt_per_session, likely))

    def _first_batch(self, host: _Host) -> int:
        """What a fresh session would ask in its first batch."""
        affordable = self._affordable(host, _allowance(host))
        return max(1, min(host.per_transaction, affordable, self.limits.rcpt_per_session))

    # -- one session --------------------------------------------------------------------

    async def _session(self, host: _Host) -> None:
        try:
            await self._converse(host)
        finally:
            self._open -= 1
            host.sessions -= 1
            name = host.name.lower()
            self._by_name[name] -= 1
            if self._by_name[name] <= 0:
                del self._by_name[name]
            if not self._closing:
                self._open_if_needed(host)
                self._grant()
            self._forget_idle()

    def _forget_idle(self) -> None:
        """Keep what idle hosts taught us (their error budget, recipient limit, a failed
        STARTTLS) for the next addresses they serve, up to ``_HOSTS_KEPT`` of them; past
        that, idle hosts are forgotten, the least recently used first."""
        if len(self._hosts) <= _HOSTS_KEPT:
            return
        now = self._clock()
        for key, host in list(self._hosts.items()):
            if len(self._hosts) <= _HOSTS_KEPT // 2:
                break
            if (
                host.sessions == 0 and not host.queue and not host.probes
                and host.paused_until <= now
            ):
                del self._hosts[key]

    def _deadline_left(self, works: Iterable[_Work]) -> float:
        """The longest time any of ``works`` may still wait (a session waits for the
        address with the most time left); 0 when there is none."""
        left = self._longest_left(works)
        if left is None:
            # Only catch-all questions: the addresses waiting for them set the time.
            left = self._longest_left(self._inflight.values())
        return left if left is not None else 0.0

    def _longest_left(self, works: Iterable[_Work]) -> float | None:
        # Called before every read: a big host's queue holds hundreds of addresses, and
        # the first that has not had its turn has the whole deadline (no address can
        # have more), so the walk usually stops there.
        now = self._clock()
        whole = self.options.deadline
        best: float | None = None
        for work in works:
            if work.done:
                continue
            left = self._left(work, now)
            if left >= whole:
                return left
            if best is None or left > best:
                best = left
        return best

    @staticmethod
    def _left(work: _Work, now: float) -> float:
        # An address still waiting for its first turn has its whole deadline ahead.
        plan = work.plan
        return plan.deadline - now if plan.started else plan.options.deadline

    async def _converse(self, host: _Host) -> None:
        still_opening = True

        def opened() -> None:
            nonlocal still_opening
            if still_opening:
                still_opening = False
                host.opening -= 1

        try:
            await self._converse_opened(host, opened)
        finally:
            opened()

    async def _converse_opened(self, host: _Host, opened: Callable[[], None]) -> None:
        popts = self.options
        if host.live() == 0 and not host.probes:
            opened()
            return
        inflight: list[_Work] = []

        def watchers() -> list[_Work]:
            return [*inflight, *host.queue]

        def timeout() -> float:
            left = self._deadline_left(itertools.chain(inflight, host.queue))
            return max(0.001, min(popts.timeout, left))

        def tell(step: Step) -> None:
            if self.observer is not None:
                self.observer(ProbeEvent("step", "", host.name, host.ip, step))
            if not self._watched:
                return  # nobody follows a live transcript (list mode): no walk per step
            for work in watchers():
                if work.listeners and not work.done:
                    event = ProbeEvent("step", work.plan.text, host.name, host.ip, step)
                    work.tell(event, self._clock())

        origin = min((w.plan.began for w in host.queue if not w.done), default=self._clock())
        # The addresses this session will ask first have their turn now: their deadlines
        # run from here (connecting and the greeting count against them).
        for work in [w for w in host.queue if not w.done][: self._first_batch(host)]:
            self._taken(work)
        recorder = _Recorder(self._clock, origin, popts.lang, tell)
        session = _Session(host, popts.port)
        began = self._clock()
        self.connections += 1
        try:
            conn = await Connection.open(
                host.ip,
                popts.port,
                timeout=max(0.001, min(popts.connect_timeout, self._deadline_left(host.queue))),
                source_address=popts.source_address,
                proxy=popts.proxy,
            )
        except NetworkError as exc:
            opened()
            recorder.event(Stage.CONNECT, None, exc, began)
            session.opening = list(recorder.steps)
            self._opening_failed(host, session, exc.kind)
            return
        self.sessions += 1
        recorder._add(
            event_step(
                Stage.CONNECT,
                "connected",
                f"{host.ip} port {popts.port}",
                popts.lang,
                began - origin,
                self._clock() - began,
            )
        )
        conn.utf8 = host.smtputf8
        dialogue = Dialogue(
            Plan(
                helo=popts.resolved_helo(),
                mail_from=popts.resolved_mail_from(),
                starttls=popts.starttls and host.starttls,
                smtputf8=host.smtputf8,
                pipelining=popts.pipelining,
            )
        )

        async def tick() -> None:
            """Every second of a wait, tell live transcripts what is awaited, and how long."""
            while True:
                await asyncio.sleep(1.0)
                stage = dialogue.expecting or Stage.BANNER
                elapsed = self._clock() - recorder.last
                for work in watchers():
                    if work.listeners and not work.done:
                        event = ProbeEvent(
                            "waiting", work.plan.text, host.name, host.ip, stage=stage,
                            elapsed=elapsed,
                        )  # fmt: skip
                        work.tell(event, self._clock())

        followed = self._watched and any(w.listeners for w in watchers())
        ticker = asyncio.ensure_future(tick()) if followed else None
        try:
            try:
                action = await open_session(
                    conn,
                    dialogue,
                    timeout=timeout,
                    tls_name=host.name,
                    ca_file=popts.tls_ca_file,
                    record=recorder,
                )
            except StepError as failure:
                opened()
                kind = failure.error.kind
                recorder.event(failure.stage, failure.sent, failure.error, failure.began)
                session.opening = list(recorder.steps)
                if kind == "tls" and host.starttls:
                    # The handshake itself failed: MTAs fall back to plain text.
                    host.starttls = False
                    self._record_for_queue(host, session, "tls")
                    return
                self._opening_failed(host, session, kind)
                return
            opened()
            session.opening = list(recorder.steps)
            session.tls = conn.tls
            session.extensions = dict(dialogue.extensions)
            if isinstance(action, Ready):
                self._open_if_needed(host)  # ready: a second session now, if work is left
            if isinstance(action, Finish):
                self._opening_failed(host, session, action.reason)
                return
            assert isinstance(action, Ready)
            await self._transactions(host, conn, dialogue, session, recorder, inflight, timeout)
        except asyncio.CancelledError:
            # Interrupted: say goodbye if the server can still hear it, rather than leave
            # a half-open session in its logs; read what is owed up to the 221 (closing
            # on unread data would reset the connection and could discard the QUIT).
            with contextlib.suppress(NetworkError, CommandError, TimeoutError):
                async with asyncio.timeout(0.5):
                    if not dialogue.quitting:
                        await conn.send(["QUIT"], 0.5)
                        while (await conn.read_reply(0.5, "QUIT", 1000)).code != 221:
                            pass
            raise
        finally:
            if ticker is not None:
                ticker.cancel()
            owed = dialogue.quitting and dialogue.awaiting is not None
            if owed and not self._closing:
                # QUIT said, its answer not read yet: the server still holds the
                # connection, so it counts against the host, a fleet's gate and the
                # connection limit until the server has answered and closed.
                host.draining += 1
                self._open += 1  # and against --concurrency: it is still open
                self._by_name[host.name.lower()] += 1
                self._draining.add(conn)
                self._spawn(self._drain(conn, host))
            else:
                await conn.close(wait=not owed)

    async def _drain(self, conn: Connection, host: _Host) -> None:
        """Read up to the 221 of a QUIT not waited for, then close: until the server has
        answered, the connection counts against the host (and a fleet's gate)."""
        name = host.name.lower()
        try:
            with contextlib.suppress(NetworkError, CommandError, TimeoutError, OSError):
                async with asyncio.timeout(_DRAIN):
                    while (await conn.read_reply(_DRAIN, "QUIT", 1000)).code != 221:
                        pass
        finally:
            self._draining.discard(conn)
            try:
                await conn.close()  # the server closed after its 221: at once
            finally:
                host.draining -= 1
                self._open -= 1
                self._by_name[name] -= 1
                if self._by_name[name] <= 0:
                    del self._by_name[name]
                if not self._closing:
                    self._open_if_needed(host)  # its work may have waited for this
                    if self._gate is not None:
                        self.reconsider(name)
                    self._grant()

    def _opening_failed(self, host: _Host, session: _Session, outcome: str) -> None:
        """The session never reached its first transaction."""
        if host.sessions > 1 and outcome in ("banner_refused", "closed", "refused"):
            # Another session with this host works: it had one connection too many.
            host.max_sessions = max(1, host.sessions - 1)
            return
        slowed = any(_slows_us(s) for s in session.opening)
        if slowed:
            self._pause(host)
        for work in self._take_all(host):
            attempt = session.attempt(work.plan.path, outcome)
            self._judge_unanswered(host, work, attempt, productive=False, slowed=slowed)

    def _record_for_queue(self, host: _Host, session: _Session, outcome: str) -> None:
        """A failure that a new session will repair (plain text after a failed TLS
        handshake): noted for every waiting address, which stays queued."""
        for work in host.queue:
            if not work.done:
                work.plan.attempts.append(session.attempt(work.plan.path, outcome))

    def _take_all(self, host: _Host) -> list[_Work]:
        works = [w for w in host.queue if not w.done]
        host.queue.clear()
        for work in works:
            self._taken(work)
        return works

    def _take(self, host: _Host, room: int) -> list[_Work]:
        taken: list[_Work] = []
        per_domain: int | None = None
        if self.limits.rate is not None and self.limits.rate > 0:
            per_domain = max(1, int(self.limits.rate / 4) or 1)
        counts: Counter[str] = Counter()
        kept: list[_Work] = []
        while host.queue and len(taken) < room:
            work = host.queue.popleft()
            if work.done:
                continue
            if per_domain is not None and counts[work.plan.domain] >= per_domain:
                kept.append(work)
                continue
            counts[work.plan.domain] += 1
            self._taken(work)
            taken.append(work)
        host.queue.extendleft(reversed(kept))
        return taken

    async def _linger(self, host: _Host) -> bool:
        """Wait briefly for more work if more may come and nobody needs the slot."""
        if host.live() or host.probes:
            return True
        more = self._routing > 0 or self._feeding > 0
        if not more or self._wanting or self._closing:
            return False
        host.wake.clear()
        host.idle += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.limits.linger):
                    await host.wake.wait()
        finally:
            host.idle -= 1
        return bool(host.live() or host.probes)

    async def _keep_pace(self, works: list[_Work]) -> None:
        rate = self.limits.rate
        if rate is None or rate <= 0:
            return
        now = self._clock()
        wait = 0.0
        for domain, count in Counter(w.plan.domain for w in works).items():
            start = max(now, self._pace.get(domain, now))
            self._pace[domain] = start + count / rate
            self._pace.move_to_end(domain)
            wait = max(wait, start - now)
        while len(self._pace) > _DOMAINS:
            self._pace.popitem(last=False)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _transactions(
        self,
        host: _Host,
        conn: Connection,
        dialogue: Dialogue,
        session: _Session,
        recorder: _Recorder,
        inflight: list[_Work],
        timeout: Callable[[], float],
    ) -> None:
        limits = self.limits
        if host.budget < limits.error_budget and self._clock() - host.lowered_at > limits.lessons:
            host.budget = limits.error_budget  # an old lesson: the server may have changed
        rejections = 0
        asked = 0
        quickest: float | None = None
        probes: dict[str, str] = {}  # path → domain: catch-all questions this session asks
        reason = "done"
        slowed = False
        # The transaction stays open across batches (RCPTs join it; RSET and a new MAIL
        # only when it is full): ``current_mail`` is its MAIL's answer.
        current_mail: list[Reply] = []
        in_transaction = 0
        accepted_in_transaction = 0  # its accepted RCPTs: the first may wait for the queue
        full = False
        while True:
            remaining = _allowance(host) - rejections
            room = min(host.per_transaction, limits.rcpt_per_session - asked, remaining)
            if room <= 0:
                reason = "session_budget"
                break
            # Made-up addresses are refused (almost) always: each costs one refusal.
            questions = self._catch_all_questions(host, session, probes, room)
            room = min(
                host.per_transaction - len(questions),
                limits.rcpt_per_session - asked - len(questions),
                self._affordable(host, remaining - len(questions)),
            )
            ahead = self._ask_ahead(host, session, probes, room)
            if ahead:
                questions += ahead
                room = min(
                    host.per_transaction - len(questions),
                    limits.rcpt_per_session - asked - len(questions),
                    self._affordable(host, remaining - len(questions)),
                )
            works = self._take(host, room) if room > 0 else []
            if not works and not questions:
                if await self._linger(host):
                    continue
                break
            await self._keep_pace(works)
            inflight[:] = works
            paths = [*questions, *(w.plan.path for w in works)]
            began = self._clock()
            mark = len(recorder.steps)

            def note(command: Command) -> str | None:
                return "catch-all check" if command.recipient in probes else None

            # Definite answers are judged as they come (a result leaves at once, even if
            # the batch's later replies are slow or never come); temporary ones wait for
            # the batch's end, when it is known whether the host asked us to slow down.
            settled: dict[str, Reply] = {}
            batch_mail = current_mail
            cut = [False]
            fresh = full or in_transaction + len(paths) > host.per_transaction
            if fresh or not dialogue.in_transaction:
                in_transaction = 0
                accepted_in_transaction = 0
                full = False

            def on_reply(
                command: Command,
                reply: Reply,
                works: list[_Work] = works,
                settled: dict[str, Reply] = settled,
                batch_mail: list[Reply] = batch_mail,
                cut: list[bool] = cut,
            ) -> None:
                if command.stage is Stage.MAIL:
                    batch_mail.append(reply)
                    return
                path = command.recipient
                if command.stage is not Stage.RCPT or path is None or cut[0]:
                    return
                if not batch_mail or batch_mail[-1].code // 100 != 2:
                    return  # 503s behind a refused MAIL answer nothing
                if is_too_many_recipients(reply):
                    cut[0] = True
                    return
                if reply.code // 100 == 4 and path not in probes:
                    return
                settled[path] = reply
                self._index(session, recorder)
                owner = [w for w in works if w.plan.path == path]
                self._settle(host, session, owner, probes, {path: reply}, batch_mail[-1], False)

            try:
                action = await exchange(
                    conn,
                    dialogue,
                    dialogue.transaction(paths, fresh=fresh),
                    timeout,
                    recorder,
                    note,
                    on_reply,
                )
                while isinstance(action, Send):  # lock-step: one RCPT after another
                    action = await exchange(
                        conn, dialogue, action, timeout, recorder, note, on_reply
                    )
                if isinstance(action, Finish):  # the server ended the transaction badly
                    raise StepError(
                        Stage.RSET,
                        "RSET",
                        NetworkError("closed", f"{host.name} refused RSET; session ended."),
                        began,
                    )
            except StepError as failure:
                recorder.event(failure.stage, failure.sent, failure.error, failure.began)
                session.events.append(recorder.steps[-1])
                self._index(session, recorder)
                answered = dialogue.received()
                mail = batch_mail[-1] if batch_mail else None
                replies = dict(settled)
                if mail is not None and mail.code // 100 == 2:
                    for command, reply in answered:
                        path = command.recipient
                        if command.stage is Stage.RCPT and path is not None and path not in replies:
                            if not is_too_many_recipients(reply):
                                replies[path] = reply  # the temporary answers kept back
                slowed = slowed or any(_slows_us(s) for s in recorder.steps[mark:])
                self._settle(
                    host,
                    session,
                    works,
                    probes,
                    {p: r for p, r in replies.items() if p not in settled},
                    mail,
                    slowed,
                )
                kind = failure.error.kind
                for work in works:
                    if work.done or work.plan.path in replies:
                        continue
                    attempt = session.attempt(work.plan.path, kind, mail=mail)
                    productive = session.answered > 0 and kind not in ("protocol", "deadline")
                    self._judge_unanswered(host, work, attempt, productive, slowed)
                inflight.clear()
                if slowed:
                    self._pause(host)
                self._release_probes(host, probes)
                return
            elapsed = self._clock() - began
            assert isinstance(action, Answered)
            self._index(session, recorder)
            replies = dict(action.replies)
            asked += len(action.replies)
            refused = sum(1 for _, r in action.replies if r.code // 100 != 2)
            rejections += refused
            host.asked += len(action.replies)
            host.refused += refused
            self._asked += len(action.replies)
            self._refused += refused
            if any(_slows_us(s) for s in recorder.steps[mark:]):
                slowed = True
            # A transaction's first accepted RCPT may wait for the server's queue
            # (Postfix's in_flow_delay, a second, when mail arrives faster than it
            # leaves): that pause is no punishment of errors.
            first_accepted = accepted_in_transaction == 0 and refused < len(action.replies)
            accepted_in_transaction += len(action.replies) - refused
            allowed = _TARPIT + (_FLOW_PAUSE if first_accepted else 0.0)
            if quickest is None or elapsed < quickest:
                quickest = elapsed
            elif refused and elapsed > quickest + allowed:
                # Replies came a second late: the server has started to punish errors.
                # Within the budget, the budget was smaller than thought; past it (the
                # batch drew more refusals than expected) it was what it said.
                if rejections <= host.budget:
                    host.budget = max(2, rejections - refused)
                    host.lowered_at = self._clock()
                reason = "error_budget"
            in_transaction += len(action.replies)
            if action.limit is not None:
                # "Too many recipients": the server's limit, learnt; the next batch
                # starts a new transaction.
                host.per_transaction = max(1, in_transaction)
                full = True
            mail_refused = action.mail is not None and action.mail.code // 100 != 2
            rest = {p: r for p, r in replies.items() if p not in settled}
            mail_now = current_mail[-1] if current_mail else None
            self._settle(host, session, works, probes, rest, mail_now, slowed)
            again = set(action.again)
            for work in reversed(works):
                if work.done or work.plan.path in replies:
                    continue
                if mail_refused:
                    attempt = session.attempt(work.plan.path, "mail_refused", mail=action.mail)
                    self._judge_unanswered(host, work, attempt, False, slowed)
                elif work.plan.path in again:
                    self._enqueue(host, work, front=True)
            inflight.clear()
            if mail_refused:
                reason = "mail_refused"
                break
            if slowed:
                reason = "slowed"
                break
            if reason != "done" or (action.limit == 0 and fresh):
                break
        self._release_probes(host, probes)
        if slowed:
            self._pause(host)
        else:
            host.backoff = limits.backoff
        # Every answer is in: QUIT is said and the session ends; its answer is read in
        # the background (``_drain``), the host's connection counted until it comes (a
        # server past its error budget holds it back a second).
        await quit_now(conn, dialogue, reason)

    def _index(self, session: _Session, recorder: _Recorder) -> None:
        """File the transcript's new steps by what they answer."""
        for step in recorder.steps[session.indexed :]:
            if step.stage is Stage.MAIL and step.reply is not None:
                session.mail = step
            elif step.stage is Stage.RCPT and step.sent is not None and step.reply is not None:
                session.rcpt[step.sent[9:-1]] = step
            elif step.event is not None and step.event != "connected":
                session.events.append(step)
        session.indexed = len(recorder.steps)

    def _catch_all_questions(
        self, host: _Host, session: _Session, probes: dict[str, str], room: int
    ) -> list[str]:
        questions: list[str] = []
        for path, domain in list(host.probes.items()):
            if len(questions) >= room:
                break
            del host.probes[path]
            probes[path] = domain
            session.probe_of[domain] = path
            questions.append(path)
        return questions

    def _ask_ahead(
        self, host: _Host, session: _Session, probes: dict[str, str], room: int
    ) -> list[str]:
        """Catch-all questions for the domains of the next batch that have none yet,
        asked with their addresses: an accepted address needs the answer, and asking it
        after the acceptance would cost the session a round trip more. Only where an
        acceptance is likely, from what the host (or else every host) answered so far: a
        domain whose addresses are all refused needs no made-up one."""
        if not self.options.catch_all_check or room <= 1:
            return []
        if host.asked >= 10:
            refusing = host.refused / host.asked
        elif self._asked >= 20:
            refusing = self._refused / self._asked
        else:
            return []  # nothing known yet: ask after an acceptance, as it comes
        counts: Counter[str] = Counter()
        for work in itertools.islice(host.queue, room):
            if not work.done and work.plan.parsed.literal is None:
                counts[work.plan.domain] += 1
        questions: list[str] = []
        for domain, count in counts.items():
            if self._catch_all_known(domain) is not None or len(questions) + 1 >= room:
                continue
            if refusing**count >= 0.5:
                continue  # as likely as not all refused
            self._new_catch_all(domain)
            path = catch_all_path(domain, self._rng)
            probes[path] = domain
            session.probe_of[domain] = path
            questions.append(path)
        return questions

    def _new_catch_all(self, domain: str) -> asyncio.Future[Reply | None]:
        """The future of a catch-all question about to be asked; the oldest answers
        are forgotten past ``_DOMAINS`` (never a question still waiting for its answer)."""
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self._catch_all[domain] = future
        self._catch_all_at[domain] = self._clock()
        while len(self._catch_all) > _DOMAINS:
            oldest = next(iter(self._catch_all))
            if not self._catch_all[oldest].done():
                break
            del self._catch_all[oldest]
            self._catch_all_at.pop(oldest, None)
        return future

    def _catch_all_known(self, domain: str) -> asyncio.Future[Reply | None] | None:
        """The domain's catch-all answer (or the question in flight), unless it is older
        than ``limits.lessons``: then forgotten, to be asked again."""
        future = self._catch_all.get(domain)
        if future is None:
            return None
        now = self._clock()
        if future.done() and now - self._catch_all_at.get(domain, now) > self.limits.lessons:
            del self._catch_all[domain]
            self._catch_all_at.pop(domain, None)
            return None
        return future

    def _catch_all_for(self, host: _Host, work: _Work) -> asyncio.Future[Reply | None] | None:
        """The domain's catch-all answer (asked on this host if nobody asked yet)."""
        plan = work.plan
        if not self.options.catch_all_check or plan.parsed.literal is not None:
            return None
        domain = plan.domain
        future = self._catch_all_known(domain)
        if future is None:
            future = self._new_catch_all(domain)
            host.probes[catch_all_path(domain, self._rng)] = domain
            self._open_if_needed(host)
        else:
            self._catch_all.move_to_end(domain)
        return future

    def _settle(
        self,
        host: _Host,
        session: _Session,
        works: list[_Work],
        probes: dict[str, str],
        replies: dict[str, Reply],
        mail: Reply | None,
        slowed: bool,
    ) -> None:
        """Judge every address that got an answer (even from a batch cut short)."""
        session.answered += len(replies)
        for path, domain in list(probes.items()):
            if path in replies:
                future = self._catch_all.get(domain)
                if future is not None and not future.done():
                    future.set_result(replies[path])
                del probes[path]
        for work in works:
            reply = replies.get(work.plan.path)
            if reply is None or work.done:
                continue
            probe = session.probe_of.get(work.plan.domain)
            attempt = session.attempt(
                work.plan.path, "rcpt_answered", reply=reply, mail=mail, probe=probe
            )
            if reply.code // 100 == 2:
                future = self._catch_all_for(host, work)
                if future is not None and not future.done():
                    self._spawn(self._judge_later(host, work, attempt, future, session))
                    continue
                catch_all = future.result() if future is not None else None
                self._judge(host, work, attempt, catch_all, slowed)
            else:
                self._judge(host, work, attempt, None, slowed)

    async def _judge_later(
        self,
        host: _Host,
        work: _Work,
        attempt: Attempt,
        future: asyncio.Future[Reply | None],
        session: _Session,
    ) -> None:
        catch_all = await asyncio.shield(future)
        probe = session.probe_of.get(work.plan.domain)
        if probe is not None and probe in session.rcpt:
            reply = attempt.rcpt.get(work.plan.path)
            attempt = replace(
                session.attempt(work.plan.path, attempt.outcome, reply=reply, probe=probe),
                mail=attempt.mail,
            )
        self._judge(host, work, attempt, catch_all, False)

    def _release_probes(self, host: _Host, probes: dict[str, str]) -> None:
        """Catch-all questions this session could not ask: to the host's next session."""
        for path, domain in probes.items():
            host.probes[path] = domain
        probes.clear()
        if host.probes:
            self._open_if_needed(host)

    def _judge(
        self, host: _Host, work: _Work, attempt: Attempt, catch_all: Reply | None, slowed: bool
    ) -> None:
        if work.done:
            return
        plan = work.plan
        decision = plan.judge(attempt, catch_all)
        if decision is not None:
            self._finish(work, decision)
            return
        reply = attempt.rcpt.get(plan.path)
        if (
            slowed
            and plan.slowed < 1
            and (reply is None or reply.code // 100 == 4)
            and len(plan.targets) <= 1
            and host.paused_until < plan.deadline
        ):
            # The host asked us to slow down and no other MX is left: ask again once
            # it has had its pause, if that comes before this address's deadline.
            plan.slowed += 1
            self._enqueue(host, work)
            return
        plan.move_on()
        self._advance(work)

    def _judge_unanswered(
        self, host: _Host, work: _Work, attempt: Attempt, productive: bool, slowed: bool
    ) -> None:
        if work.done:
            return
        plan = work.plan
        if self._clock() >= plan.deadline - _GRACE:
            decision = plan.judge(attempt, None)  # records what it was waiting for
            self._finish(work, decision or plan.expire(self._clock()))
            return
        if productive and plan.may_reconnect():
            # The server hung up before this address's turn while answering others: a
            # new session starts where this one stopped.
            plan.attempts.append(attempt)
            self._enqueue(host, work, front=True)
            return
        self._judge(host, work, attempt, None, slowed)

    def _pause(self, host: _Host) -> None:
        host.paused_until = self._clock() + host.backoff
        host.backoff = min(host.backoff * 2, _MAX_BACKOFF)
        self.backoffs += 1
        self.backoffs_by_host[host.name] += 1


def _slows_us(step: Step) -> bool:
    """421 anywhere, or any reply the catalogue reads as rate limiting."""
    if step.reply is None or is_too_many_recipients(step.reply):
        return False  # "too many recipients" asks for a new transaction, not a pause
    return step.reply.code == 421 or step.explanation.category is Category.RATE_LIMITED
