"""Probe one address end to end: MX, connections, dialogue, transcript, verdict (I/O).

This module performs what :mod:`prober.smtp.dialogue` decides, over
:class:`prober.smtp.connection.Connection`, and records every step with its timing and its
explanation. It never raises for what a network or a server does: a refused
connection, a tarpit or a garbled reply is a step of the transcript, explained.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from prober.address import Address, parse_address
from prober.engine.verdict import (
    Decision,
    Failure,
    Reason,
    Verdict,
    decide_failures,
    decide_rcpt,
    summary,
)
from prober.errors import AddressError, CommandError, NetworkError
from prober.explanation.catalogue import Stage
from prober.explanation.explain import Explanation, explain, explain_event, explain_reply
from prober.guard import Guard
from prober.knowledge.annotate import annotate
from prober.knowledge.policy import DEFAULT_POLICY, Policy
from prober.resolve.mx import MXHost, MXResult, MXStatus, Resolver
from prober.results import Attempt, ProbeEvent, ProbeOptions, ProbeResult, Step
from prober.smtp.connection import Connection
from prober.smtp.dialogue import Action, Dialogue, Finish, Plan, Read, Send, UpgradeTLS
from prober.smtp.reply import Reply

Clock = Callable[[], float]
OnEvent = Callable[[ProbeEvent], None]


# Once the answer is in, RSET and QUIT are courtesy: a server that sits on them must not
# cost the whole per-command timeout.
_GOODBYE_WAIT = 5.0


class _Deadline:
    """The probe's overall time budget, shared by every step."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def left(self) -> float:
        return max(0.0, self._end - self._clock())

    def cap(self, seconds: float) -> float:
        return max(0.001, min(seconds, self.left()))


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    if verify:
        context = ssl.create_default_context()
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        return context
    # Opportunistic TLS as MTAs do it (RFC 7435): encrypt even when the certificate
    # cannot be verified; the verification problem is reported separately.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class _Recorder:
    clock: Clock
    origin: float
    lang: str
    steps: list[Step] = field(default_factory=list)
    on_event: OnEvent | None = None  # told of each step as it is recorded (live output)

    def tell(self, kind: str, **fields: object) -> None:
        if self.on_event is not None:
            at = self.clock() - self.origin
            self.on_event(ProbeEvent(kind, at, **fields))  # type: ignore[arg-type]

    def _recorded(self) -> None:
        if self.on_event is not None:
            self.tell("step", step=self.steps[-1])

    def reply(
        self, stage: Stage, sent: str | None, reply: Reply, began: float, note: str | None = None
    ) -> None:
        now = self.clock()
        self.steps.append(
            Step(
                stage=stage,
                sent=sent,
                reply=reply,
                explanation=explain_reply(reply, stage, self.lang),
                started=began - self.origin,
                elapsed=now - began,
                note=note,
            )
        )
        self._recorded()

    def event(self, stage: Stage, sent: str | None, exc: NetworkError, began: float) -> None:
        now = self.clock()
        self.steps.append(
            Step(
                stage=stage,
                sent=sent,
                reply=None,
                explanation=explain_event(exc.kind, exc.detail, self.lang),
                started=began - self.origin,
                elapsed=now - began,
                event=exc.kind,
            )
        )
        self._recorded()


async def run_session(
    host: str,
    address: str,
    plan: Plan,
    options: ProbeOptions,
    recorder: _Recorder,
    deadline: _Deadline,
    *,
    verify_tls: bool,
) -> Attempt:
    """One connection: connect, then act on what the dialogue decides until it finishes."""
    clock = recorder.clock
    began = clock()
    tls_problem: str | None = None
    recorder.tell("connecting", host=host, ip=address, port=options.port)
    try:
        conn = await Connection.open(
            address,
            options.port,
            timeout=deadline.cap(options.connect_timeout),
            source_address=options.source_address,
            proxy=options.proxy,
        )
    except NetworkError as exc:
        if deadline.left() <= 0:
            exc = NetworkError("deadline", exc.detail)
        recorder.event(Stage.CONNECT, None, exc, began)
        return Attempt(host, address, options.port, (), exc.kind, True)
    recorder.steps.append(
        Step(
            stage=Stage.CONNECT,
            sent=None,
            reply=None,
            explanation=explain_event("connected", f"{address} port {options.port}", recorder.lang),
            started=began - recorder.origin,
            elapsed=clock() - began,
            event="connected",
        )
    )
    recorder._recorded()
    conn.utf8 = plan.smtputf8
    dialogue = Dialogue(plan)
    action = dialogue.start()
    finish: Finish
    try:
        while True:
            if isinstance(action, Finish):
                finish = action
                break
            if isinstance(action, Read):
                began = clock()
                recorder.tell("waiting", stage=action.stage)
                reply = await conn.read_reply(deadline.cap(options.timeout))
                recorder.reply(action.stage, None, reply, began)
                next_action = dialogue.receive(reply)
                assert next_action is not None
                action = next_action
            elif isinstance(action, Send):
                began = clock()
                await conn.send([c.line for c in action.commands], deadline.cap(options.timeout))
                first = action.commands[0]
                recorder.tell("waiting", stage=first.stage, command=first.line)
                result: Action | None = None
                wait = min(options.timeout, _GOODBYE_WAIT) if dialogue.quitting else options.timeout
                for command in action.commands:
                    try:
                        reply = await conn.read_reply(deadline.cap(wait))
                    except NetworkError as exc:
                        if dialogue.quitting and exc.kind == "timeout":
                            # Silent on RSET or QUIT: noted, and the answer already in stands.
                            recorder.event(command.stage, command.line, exc, began)
                            result = dialogue.closed()
                            break
                        if command.stage is Stage.QUIT or (
                            dialogue.quitting and exc.kind == "closed"
                        ):
                            # A server may hang up on QUIT (or RSET before it) without a
                            # word; the answer we came for is already in.
                            result = dialogue.closed()
                            break
                        raise _At(command.stage, command.line, exc, began) from None
                    note = None
                    if command.recipient is not None and command.recipient in plan.recipients[1:]:
                        note = "catch-all check" if plan.rest_only_if_first_accepted else None
                    recorder.reply(command.stage, command.line, reply, began, note)
                    result = dialogue.receive(reply)
                assert result is not None
                action = result
            elif isinstance(action, UpgradeTLS):
                began = clock()
                context = tls_context(verify_tls, options.tls_ca_file)
                try:
                    await conn.starttls(context, host, deadline.cap(options.timeout))
                except NetworkError as exc:
                    raise _At(Stage.STARTTLS, None, exc, began) from None
                action = dialogue.tls_done()
    except _At as failure:
        error = failure.error
        if deadline.left() <= 0.001:
            error = NetworkError("deadline", error.detail)
        recorder.event(failure.stage, failure.sent, error, failure.began)
        if error.kind == "tls_cert":
            tls_problem = error.detail
        finish = Finish(True, error.kind)
    except NetworkError as exc:
        error = exc
        if deadline.left() <= 0.001:
            error = NetworkError("deadline", exc.detail)
        recorder.event(dialogue.expecting or Stage.BANNER, None, error, began)
        finish = Finish(True, error.kind)
    except asyncio.CancelledError:
        # Interrupted (Ctrl-C in list mode): say goodbye if the server can still hear it,
        # rather than leaving a half-open session in its logs.
        with contextlib.suppress(NetworkError, CommandError, TimeoutError):
            async with asyncio.timeout(0.5):
                await conn.send(["QUIT"], 0.5)
                # Read what is owed up to the 221: closing on unread data would reset the
                # connection, and a reset can discard the QUIT before the server reads it.
                while (await conn.read_reply(0.5)).code != 221:
                    pass
        raise
    finally:
        await conn.close()
    if finish.reason == "smtputf8_unsupported":
        recorder.steps.append(
            Step(
                stage=Stage.MAIL,
                sent=None,
                reply=None,
                explanation=explain_event("smtputf8", "", recorder.lang),
                started=clock() - recorder.origin,
                elapsed=0.0,
                event="smtputf8",
            )
        )
    return Attempt(
        host=host,
        address=address,
        port=options.port,
        steps=(),
        outcome=finish.reason,
        next_host=finish.next_host,
        extensions=dict(dialogue.extensions),
        tls=conn.tls,
        tls_problem=tls_problem,
        rcpt=dict(dialogue.rcpt_replies),
        mail=dialogue.mail_replies[-1] if dialogue.mail_replies else None,
    )


class _At(Exception):
    """A network error at a known command (internal to run_session)."""

    def __init__(self, stage: Stage, sent: str | None, error: NetworkError, began: float) -> None:
        super().__init__(error.detail)
        self.stage = stage
        self.sent = sent
        self.error = error
        self.began = began


def _catch_all_path(address: Address, rng: random.Random) -> str:
    # Long and random enough that no real mailbox has it.
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    return f"prober-{token}@{address.ascii_domain}"


def syntax_explanation(reason: str, lang: str) -> Explanation:
    """Why an address was refused here, before any connection: no server said 501. The
    explanation is the one of a bad address syntax (5.1.3), marked as prober's own doing
    (rule ``local:syntax``); ``reason`` is the refusal in English."""
    from prober.output.messages import message, translated

    why = explain(501, translated(reason, lang), enhanced="5.1.3", stage=Stage.RCPT, lang=lang)
    label = message("syntax_local", lang)
    return replace(
        why,
        code=None,
        rule="local:syntax",
        label=label,
        confidence=1.0,
        evidence=(f"{label} → {why.category}",),
    )


def _syntax_result(
    text: str, error: AddressError, lang: str, elapsed: float, policy: Policy | None = None
) -> ProbeResult:
    from prober.output.messages import translated

    reason = translated(error.reason, lang)
    why = syntax_explanation(error.reason, lang)
    result = ProbeResult(
        address=text,
        normalized=None,
        verdict=Verdict.UNDELIVERABLE,
        reason=Reason.SYNTAX,
        summary=f"{summary(Reason.SYNTAX, lang)} {reason}",
        explanation=why,
        catch_all=None,
        retry_after=None,
        mx=None,
        attempts=(),
        elapsed=elapsed,
        error=reason,
    )
    # Every result leaves through here or _finish: the knowledge layer adds its flags.
    return annotate(result, policy or DEFAULT_POLICY, lang=lang)


_MX_REASONS = {
    MXStatus.NO_DOMAIN: Reason.NO_DOMAIN,
    MXStatus.NULL_MX: Reason.NULL_MX,
    MXStatus.NO_MAIL_HOSTS: Reason.NO_MAIL_HOSTS,
    MXStatus.TEMP_FAILURE: Reason.DNS_TEMPORARY,
}


async def probe(
    address: str,
    options: ProbeOptions | None = None,
    *,
    resolver: Resolver | None = None,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
    on_event: OnEvent | None = None,
) -> ProbeResult:
    """Probe ``address``: resolve its MX, ask the servers, and explain the verdict.

    Never raises for bad input, DNS or server behaviour; those are results.
    ``on_event`` is called with a :class:`ProbeEvent` as each thing happens.
    """
    options = options if options is not None else ProbeOptions()
    rng = rng if rng is not None else random.Random()
    origin = clock()
    lang = options.lang
    try:
        parsed = parse_address(address)
    except AddressError as exc:
        return _syntax_result(address, exc, lang, clock() - origin, options.knowledge)
    deadline = _Deadline(clock, options.deadline)
    recorder = _Recorder(clock, origin, lang, on_event=on_event)

    mx: MXResult | None = None
    if parsed.literal is not None:
        hosts: tuple[MXHost, ...] = (MXHost(parsed.literal, 0, (parsed.literal,), None),)
    else:
        resolver = resolver if resolver is not None else Resolver(options.dns, rng)
        try:
            async with asyncio.timeout(deadline.left()):
                mx = await resolver.resolve_mx(parsed.ascii_domain)
        except TimeoutError:
            return _finish(
                address,
                parsed,
                Decision(Reason.DEADLINE, None),
                None,
                (),
                options,
                clock() - origin,
            )
        recorder.tell("mx", mx=mx)
        if mx.status in _MX_REASONS:
            why = explain_event(str(_MX_REASONS[mx.status]), mx.detail, lang)
            return _finish(
                address,
                parsed,
                Decision(_MX_REASONS[mx.status], why),
                mx,
                (),
                options,
                clock() - origin,
            )
        hosts = mx.hosts

    guard = Guard(options.allow_private)
    helo = options.resolved_helo()
    recipients = [parsed.smtp_path]
    if options.catch_all_check and parsed.literal is None:
        recipients.append(_catch_all_path(parsed, rng))
    plan = Plan(
        helo=helo,
        mail_from=options.resolved_mail_from(),
        recipients=tuple(recipients),
        starttls=options.starttls,
        smtputf8=parsed.smtputf8,
        pipelining=options.pipelining,
        rest_only_if_first_accepted=True,
    )
    attempts: list[Attempt] = []
    failures: list[Failure] = []
    decision: Decision | None = None
    for host in hosts[: options.max_hosts]:
        if decision is not None or deadline.left() <= 0:
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
            refusal = guard.refusal(ip)
            if refusal is not None:
                recorder.event(Stage.CONNECT, None, NetworkError("guard", refusal), clock())
                failures.append(Failure("guard", recorder.steps[-1].explanation))
                attempts.append(_attempt_of(host.name, ip, options.port, recorder, "guard"))
                continue
            for attempt in await _sessions(host.name, ip, plan, options, recorder, deadline):
                attempts.append(attempt)
                catch_all = attempt.rcpt.get(recipients[1]) if len(recipients) > 1 else None
                decision = _judge(attempt, recipients[0], catch_all, failures, lang)
            if decision is not None:
                break
    if decision is None:
        if deadline.left() <= 0 and not any(f.kind == "deadline" for f in failures):
            recorder.event(Stage.CONNECT, None, NetworkError("deadline", ""), clock())
            failures.append(Failure("deadline", recorder.steps[-1].explanation))
        decision = _best_transient(attempts, recipients[0], lang) or decide_failures(failures)
    return _finish(address, parsed, decision, mx, tuple(attempts), options, clock() - origin)


def probe_sync(address: str, options: ProbeOptions | None = None) -> ProbeResult:
    """:func:`probe` for synchronous callers (starts and closes its own event loop)."""
    return asyncio.run(probe(address, options))


def _attempt_of(host: str, ip: str, port: int, recorder: _Recorder, outcome: str) -> Attempt:
    steps = tuple(recorder.steps)
    recorder.steps.clear()
    return Attempt(host, ip, port, steps, outcome, True)


async def _sessions(
    host: str,
    ip: str,
    plan: Plan,
    options: ProbeOptions,
    recorder: _Recorder,
    deadline: _Deadline,
) -> list[Attempt]:
    """One address: a session, and the reconnections opportunistic TLS may need."""
    attempts: list[Attempt] = []
    verify = True
    for _ in range(3):
        attempt = await run_session(host, ip, plan, options, recorder, deadline, verify_tls=verify)
        steps = tuple(recorder.steps)
        recorder.steps.clear()
        attempt = replace(attempt, steps=steps)
        if attempt.outcome == "tls_cert" and verify:
            # The certificate did not validate: note it, and do what MTAs do — encrypt
            # without verifying on a new connection.
            attempts.append(attempt)
            verify = False
            continue
        if attempt.outcome == "tls" and plan.starttls:
            # The handshake itself failed: MTAs fall back to plain text.
            attempts.append(attempt)
            plan = replace(plan, starttls=False)
            continue
        if not verify and attempts:
            attempt = replace(attempt, tls_problem=attempts[-1].tls_problem)
        attempts.append(attempt)
        break
    return attempts


def _judge(
    attempt: Attempt, target: str, catch_all: Reply | None, failures: list[Failure], lang: str
) -> Decision | None:
    """A decision if this attempt gave a definite answer for ``target``, else record why
    it failed. ``catch_all`` is the answer to the domain's random address, when known
    (bulk mode asks it once per domain, a single probe in the same session)."""
    reply = attempt.rcpt.get(target)
    if reply is not None and reply.code // 100 != 4:
        return decide_rcpt(reply, catch_all, lang)
    if attempt.outcome in ("tls_cert", "tls"):
        return None  # a retry follows on a new connection
    if reply is not None:
        return None  # temporary answer: another MX may know better (_best_transient)
    last = attempt.steps[-1] if attempt.steps else None
    if attempt.outcome == "mail_refused" and attempt.mail is not None:
        failures.append(
            Failure("mail", explain_reply(attempt.mail, Stage.MAIL, lang), attempt.mail)
        )
        if attempt.mail.code // 100 == 5:
            return decide_failures([failures[-1]])
        return None
    if attempt.outcome == "smtputf8_unsupported" and last is not None:
        failures.append(Failure("smtputf8", last.explanation))
        return None
    banner = next((s for s in attempt.steps if s.stage is Stage.BANNER and s.reply), None)
    if attempt.outcome == "banner_refused" and banner is not None:
        failures.append(Failure("banner", banner.explanation, banner.reply))
        return None
    event = next((s for s in reversed(attempt.steps) if s.event not in (None, "connected")), None)
    if event is not None and event.event is not None:
        failures.append(Failure(event.event, event.explanation))
    elif last is not None and last.reply is not None:
        failures.append(Failure("banner", last.explanation, last.reply))
    return None


def _best_transient(attempts: Sequence[Attempt], target: str, lang: str) -> Decision | None:
    """When only temporary RCPT answers came back, the last one decides."""
    for attempt in reversed(attempts):
        reply = attempt.rcpt.get(target)
        if reply is not None:
            return decide_rcpt(reply, None, lang)
    return None


def _finish(
    address: str,
    parsed: Address,
    decision: Decision,
    mx: MXResult | None,
    attempts: tuple[Attempt, ...],
    options: ProbeOptions,
    elapsed: float,
) -> ProbeResult:
    lang = options.lang
    text = summary(decision.reason, lang, decision.retry_after)
    result = ProbeResult(
        address=address,
        normalized=parsed.normalized,
        verdict=decision.verdict,
        reason=decision.reason,
        summary=text,
        explanation=decision.deciding,
        catch_all=decision.catch_all,
        retry_after=decision.retry_after,
        mx=mx,
        attempts=attempts,
        elapsed=elapsed,
        warnings=parsed.warnings,
    )
    return annotate(result, options.knowledge or DEFAULT_POLICY, lang=lang)
