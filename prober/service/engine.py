"""The service's engine: one object probing for every request at once.

The service speaks to the engine through exactly this surface::

    async with Engine(options, limits) as engine:
        result = await engine.submit(address, on_event=callback)
        async for item, result in engine.stream(items):
            ...

with :class:`ProbeEvent` as the contract describes it, plus :func:`figures`, what
``/metrics`` shows of the engine. This module builds that surface over the library's
probe session and list scheduler, and is the only module of the service that knows how.

Single probes share one DNS cache, a global connection limit and a limit per MX host
(held while a connection to that host is open), and a host that answers 421 or "slow
down" is left alone for a while (doubling up to ten minutes) before the next probe
reaches it. A stream runs the list scheduler (connection reuse, several recipients per
transaction, catch-all asked once per domain) with the same limits and the same DNS
cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from prober.address import parse_address
from prober.engine.bulk import Engine as ListScheduler
from prober.engine.bulk import ListOptions, _slows_us
from prober.engine.session import (
    _MX_REASONS,
    _attempt_of,
    _best_transient,
    _catch_all_path,
    _Deadline,
    _finish,
    _judge,
    _Recorder,
    _sessions,
    _syntax_result,
)
from prober.engine.verdict import Decision, Failure, Reason, decide_failures
from prober.errors import AddressError, NetworkError
from prober.explanation.catalogue import Stage
from prober.explanation.explain import explain_event
from prober.guard import Guard
from prober.output.listio import Entry
from prober.resolve.mx import MXHost, MXResult, Resolver
from prober.results import Attempt, ProbeOptions, ProbeResult, Step
from prober.smtp.dialogue import Plan

_MAX_BACKOFF = 600.0
_DNS_KEPT = 10000


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Politeness shared by every request (the list mode's fields of the same names)."""

    concurrency: int = 20  # connections at once, in all
    per_host: int = 2  # connections at once to one MX host
    rate: float | None = None  # RCPT commands per second per domain (lists)
    rcpt_per_transaction: int = 20
    rcpt_per_session: int = 100
    greylist_retry: float | None = None
    backoff: float = 30.0  # first pause of a host that said 421 or "slow down"


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    """Something that happened in one address's probe, as it happened: ``mx`` (the MX
    answer, in ``mx``), ``connecting`` (to ``host`` at ``ip``), ``step`` (one exchange
    of the transcript, in ``step``)."""

    kind: str
    address: str
    host: str | None = None
    ip: str | None = None
    step: Step | None = None
    mx: Any = None


@dataclass(frozen=True, slots=True)
class Figures:
    """What ``/metrics`` reports about the engine."""

    queued: int  # probes waiting for a connection slot
    active: int  # probes under way
    backoffs: Mapping[str, int]  # MX host → pauses it asked for (421, "slow down")


def figures(engine: Engine) -> Figures:
    return Figures(engine.queued, engine.active, dict(engine.backoffs))


OnEvent = Callable[[ProbeEvent], None]


class HasAddress(Protocol):
    @property
    def address(self) -> str: ...


T = TypeVar("T", bound="str | HasAddress")


class _Told(list[Step]):
    """The recorder's list of steps, telling ``on_event`` about each step appended."""

    def __init__(self, tell: Callable[[Step], None]) -> None:
        super().__init__()
        self._tell = tell

    def append(self, step: Step) -> None:
        super().append(step)
        self._tell(step)


def _observed(
    clock: Callable[[], float], origin: float, lang: str, address: str, on: OnEvent
) -> _Recorder:
    recorder = _Recorder(clock, origin, lang)

    def tell(step: Step) -> None:
        on(ProbeEvent("step", address, step=step))

    recorder.steps = _Told(tell)
    return recorder


@dataclass
class _Host:
    slots: asyncio.Semaphore
    paused_until: float = 0.0
    backoff: float = 0.0
    users: int = 0


class Engine:
    """Probes for every request of the service; use as ``async with``."""

    def __init__(self, options: ProbeOptions, limits: EngineLimits | None = None) -> None:
        self.options = options
        self.limits = limits if limits is not None else EngineLimits()
        self._rng = random.Random()
        self._clock = time.monotonic
        self._resolver: Resolver | None = None
        self._connections: asyncio.Semaphore | None = None
        self._hosts: dict[str, _Host] = {}
        self._guard = Guard(options.allow_private)
        self.queued = 0  # probes waiting for a connection slot
        self.active = 0  # probes under way
        self.backoffs: Counter[str] = Counter()  # MX host → pauses it asked for

    async def __aenter__(self) -> Engine:
        self._resolver = Resolver(self.options.dns, self._rng, cache_size=_DNS_KEPT)
        self._connections = asyncio.Semaphore(max(1, self.limits.concurrency))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._hosts.clear()

    # -- one address ---------------------------------------------------------------------

    async def submit(self, address: str, on_event: OnEvent | None = None) -> ProbeResult:
        """Probe ``address`` within the options' deadline; never raises for what the
        address, DNS or a server does."""
        self.active += 1
        try:
            return await self._probe(address, on_event)
        finally:
            self.active -= 1

    async def _probe(self, address: str, on_event: OnEvent | None) -> ProbeResult:
        options = self.options
        clock = self._clock
        origin = clock()
        lang = options.lang
        tell = on_event if on_event is not None else (lambda _event: None)
        try:
            parsed = parse_address(address)
        except AddressError as exc:
            return _syntax_result(address, exc, lang, clock() - origin)
        deadline = _Deadline(clock, options.deadline)
        recorder = (
            _observed(clock, origin, lang, address, on_event)
            if on_event is not None
            else _Recorder(clock, origin, lang)
        )
        mx: MXResult | None = None
        if parsed.literal is not None:
            hosts: tuple[MXHost, ...] = (MXHost(parsed.literal, 0, (parsed.literal,), None),)
        else:
            assert self._resolver is not None, "use the engine as 'async with Engine(...)'"
            try:
                async with asyncio.timeout(deadline.left()):
                    mx = await self._resolver.resolve_mx(parsed.ascii_domain)
            except TimeoutError:
                decision = Decision(Reason.DEADLINE, None)
                return _finish(address, parsed, decision, None, (), options, clock() - origin)
            tell(ProbeEvent("mx", address, mx=mx))
            if mx.status in _MX_REASONS:
                why = explain_event(str(_MX_REASONS[mx.status]), mx.detail, lang)
                decision = Decision(_MX_REASONS[mx.status], why)
                return _finish(address, parsed, decision, mx, (), options, clock() - origin)
            hosts = mx.hosts

        recipients = [parsed.smtp_path]
        if options.catch_all_check and parsed.literal is None:
            recipients.append(_catch_all_path(parsed, self._rng))
        plan = Plan(
            helo=options.resolved_helo(),
            mail_from=options.resolved_mail_from(),
            recipients=tuple(recipients),
            starttls=options.starttls,
            smtputf8=parsed.smtputf8,
            pipelining=options.pipelining,
            rest_only_if_first_accepted=True,
        )
        attempts: list[Attempt] = []
        failures: list[Failure] = []
        decision_: Decision | None = None
        for host in hosts[: options.max_hosts]:
            if decision_ is not None or deadline.left() <= 0:
                break
            if not host.addresses:
                detail = host.error or f"{host.name} has no address."
                failures.append(Failure("no_address", explain_event("no_address", detail, lang)))
                recorder.event(Stage.CONNECT, None, NetworkError("no_address", detail), clock())
                attempts.append(_attempt_of(host.name, "", options.port, recorder, "no_address"))
                continue
            for ip in host.addresses[: options.max_addresses]:
                if deadline.left() <= 0:
                    break
                refusal = self._guard.refusal(ip)
                if refusal is not None:
                    recorder.event(Stage.CONNECT, None, NetworkError("guard", refusal), clock())
                    failures.append(Failure("guard", recorder.steps[-1].explanation))
                    attempts.append(_attempt_of(host.name, ip, options.port, recorder, "guard"))
                    continue
                got = await self._connect(
                    address, host.name, ip, plan, recorder, deadline, tell
                )
                if got is None:
                    break  # the deadline passed while waiting for a slot
                for attempt in got:
                    attempts.append(attempt)
                    catch_all = attempt.rcpt.get(recipients[1]) if len(recipients) > 1 else None
                    decision_ = _judge(attempt, recipients[0], catch_all, failures, lang)
                if decision_ is not None:
                    break
        if decision_ is None:
            if deadline.left() <= 0 and not any(f.kind == "deadline" for f in failures):
                recorder.event(Stage.CONNECT, None, NetworkError("deadline", ""), clock())
                failures.append(Failure("deadline", recorder.steps[-1].explanation))
            decision_ = _best_transient(attempts, recipients[0], lang) or decide_failures(failures)
        return _finish(address, parsed, decision_, mx, tuple(attempts), options, clock() - origin)

    async def _connect(
        self,
        address: str,
        name: str,
        ip: str,
        plan: Plan,
        recorder: _Recorder,
        deadline: _Deadline,
        tell: OnEvent,
    ) -> list[Attempt] | None:
        """Sessions with one host address, inside the global and per-host limits."""
        assert self._connections is not None
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(asyncio.Semaphore(max(1, self.limits.per_host)))
        host.users += 1
        self.queued += 1
        queued = True
        try:
            try:
                async with asyncio.timeout(deadline.left()):
                    pause = host.paused_until - self._clock()
                    if pause > 0:
                        await asyncio.sleep(pause)
                    await host.slots.acquire()
            except TimeoutError:
                return None
            try:
                async with self._connections:
                    self.queued -= 1
                    queued = False
                    tell(ProbeEvent("connecting", address, name, ip))
                    got = await _sessions(name, ip, plan, self.options, recorder, deadline)
            finally:
                host.slots.release()
            if any(_slows_us(a) for a in got):
                host.backoff = min(_MAX_BACKOFF, host.backoff * 2 or self.limits.backoff)
                host.paused_until = self._clock() + host.backoff
                self.backoffs[name] += 1
            return got
        finally:
            if queued:
                self.queued -= 1
            host.users -= 1
            if host.users == 0 and host.paused_until <= self._clock():
                self._hosts.pop(name, None)

    # -- many addresses ------------------------------------------------------------------

    async def stream(
        self, items: AsyncIterable[T] | Iterable[T]
    ) -> AsyncIterator[tuple[T, ProbeResult]]:
        """Probe every item; yield ``(item, result)`` pairs in completion order."""
        limits = self.limits
        list_options = ListOptions(
            probe=self.options,
            concurrency=limits.concurrency,
            per_host=limits.per_host,
            rate=limits.rate,
            rcpt_per_transaction=limits.rcpt_per_transaction,
            rcpt_per_session=limits.rcpt_per_session,
            greylist_retry=limits.greylist_retry,
            backoff=limits.backoff,
            quiet=True,
        )
        waiting: dict[str, deque[T]] = {}
        out: asyncio.Queue[tuple[T, ProbeResult] | None] = asyncio.Queue()

        def sink(result: ProbeResult) -> None:
            pending = waiting.get(result.address)
            if not pending:
                return
            item = pending.popleft()
            if not pending:
                del waiting[result.address]
            out.put_nowait((item, result))

        scheduler = ListScheduler(list_options, sink, resolver=self._resolver, rng=self._rng)
        failure: list[BaseException] = []

        async def feed() -> None:
            try:
                if isinstance(items, AsyncIterable):
                    async for item in items:
                        await offer(item)
                else:
                    for item in items:
                        await offer(item)
                await scheduler.finish()
            except BaseException as exc:
                failure.append(exc)
                raise
            finally:
                out.put_nowait(None)

        async def offer(item: T) -> None:
            text = item if isinstance(item, str) else item.address
            waiting.setdefault(text, deque()).append(item)
            self.queued += 1
            try:
                await scheduler.submit(Entry(text))
            finally:
                self.queued -= 1

        feeder = asyncio.ensure_future(feed())
        try:
            while True:
                got = await out.get()
                if got is None:
                    break
                yield got
            if failure and not isinstance(failure[0], asyncio.CancelledError):
                raise failure[0]
        finally:
            feeder.cancel()
            with contextlib.suppress(BaseException):
                await feeder
            await scheduler.close()
