"""One address's way through the engine, decided without I/O.

An :class:`AddressPlan` is to the engine what dnspython's ``_Resolution`` is to its
resolvers: the business logic of one probe, fed with what the network said and asked
what to do next, so that every front door (a single probe, a list, a service) shares it
and tests can drive it without a socket. It knows:

- the targets, in MX preference order (each host's addresses, at most
  ``max_hosts`` × ``max_addresses``), and skips those the guard refuses or that have no
  address, recording why;
- the address's own deadline, counted from the moment it was submitted;
- how to judge an attempt (a RCPT answer decides; a temporary one lets a backup MX
  speak; a failed connection is a failure to rank);
- how many new connections it may wait for when a server hangs up before its turn;
- the final result, once decided.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prober.address import Address
from prober.engine.verdict import (
    Decision,
    Failure,
    Reason,
    Verdict,
    decide_failures,
    decide_rcpt,
    summary,
)
from prober.errors import AddressError
from prober.explanation.catalogue import Stage
from prober.explanation.explain import explain, explain_event, explain_reply
from prober.resolve.mx import MXHost, MXResult, MXStatus
from prober.results import Attempt, ProbeOptions, ProbeResult, Step
from prober.smtp.reply import Reply

# New connections an address may wait for while the server keeps hanging up before its
# turn; each of them answers others, so this only bounds a server that answers ever less.
RECONNECTS = 20

MX_REASONS = {
    MXStatus.NO_DOMAIN: Reason.NO_DOMAIN,
    MXStatus.NULL_MX: Reason.NULL_MX,
    MXStatus.NO_MAIL_HOSTS: Reason.NO_MAIL_HOSTS,
    MXStatus.TEMP_FAILURE: Reason.DNS_TEMPORARY,
}


def catch_all_path(domain: str, rng: random.Random) -> str:
    """A made-up recipient of ``domain``: long and random enough that no mailbox has it."""
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    return f"prober-{token}@{domain}"


def syntax_result(text: str, error: AddressError, lang: str, elapsed: float) -> ProbeResult:
    why = explain(501, error.reason, enhanced="5.1.3", stage=Stage.RCPT, lang=lang)
    return ProbeResult(
        address=text,
        normalized=None,
        verdict=Verdict.UNDELIVERABLE,
        reason=Reason.SYNTAX,
        summary=f"{summary(Reason.SYNTAX, lang)} {error.reason}",
        explanation=why,
        catch_all=None,
        retry_after=None,
        mx=None,
        attempts=(),
        elapsed=elapsed,
        error=error.reason,
    )


def event_step(
    stage: Stage, kind: str, detail: str, lang: str, started: float, elapsed: float = 0.0
) -> Step:
    return Step(
        stage=stage,
        sent=None,
        reply=None,
        explanation=explain_event(kind, detail, lang),
        started=started,
        elapsed=elapsed,
        event=kind,
    )


@dataclass(eq=False)
class AddressPlan:
    """The state of one distinct address from submission to result."""

    text: str
    parsed: Address
    options: ProbeOptions
    began: float  # clock time of submission
    hosts: tuple[MXHost, ...] = ()
    mx: MXResult | None = None
    targets: deque[tuple[str, str | None]] = field(default_factory=deque)
    attempts: list[Attempt] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    reconnects: int = 0
    slowed: int = 0
    greylist_retried: bool = False
    decision: Decision | None = None

    @property
    def deadline(self) -> float:
        """Clock time by which this address must have its result."""
        return self.began + self.options.deadline

    @property
    def path(self) -> str:
        return self.parsed.smtp_path

    @property
    def domain(self) -> str:
        return self.parsed.ascii_domain

    @property
    def lang(self) -> str:
        return self.options.lang

    # -- routing --------------------------------------------------------------------------

    def route(self, mx: MXResult | None) -> Decision | None:
        """Take the MX answer (None for an address literal): a decision if it ends here."""
        if self.parsed.literal is not None:
            literal = self.parsed.literal
            self.hosts = (MXHost(literal, 0, (literal,), None),)
        else:
            assert mx is not None
            self.mx = mx
            if mx.status in MX_REASONS:
                reason = MX_REASONS[mx.status]
                return Decision(reason, explain_event(str(reason), mx.detail, self.lang))
            self.hosts = mx.hosts
        self.plan_targets()
        return None

    def plan_targets(self) -> None:
        self.targets.clear()
        for host in self.hosts[: self.options.max_hosts]:
            if not host.addresses:
                self.targets.append((host.name, None))
            for ip in host.addresses[: self.options.max_addresses]:
                self.targets.append((host.name, ip))

    def next_target(
        self, refusal: Callable[[str], str | None], now: float
    ) -> tuple[str, str] | None:
        """The next MX address to ask (the current one first), skipping and recording
        those without an address or refused by the guard; None when none is left."""
        while self.targets:
            name, ip = self.targets[0]
            if ip is None:
                host = next((h for h in self.hosts if h.name == name), None)
                detail = (host.error if host else None) or f"{name} has no address."
                self._skip(name, "", "no_address", detail, now)
                continue
            refused = refusal(ip)
            if refused is not None:
                self._skip(name, ip, "guard", refused, now)
                continue
            return name, ip
        return None

    def _skip(self, name: str, ip: str, kind: str, detail: str, now: float) -> None:
        step = event_step(Stage.CONNECT, kind, detail, self.lang, now - self.began)
        self.failures.append(Failure(kind, step.explanation))
        self.attempts.append(Attempt(name, ip, self.options.port, (step,), kind, True))
        self.targets.popleft()

    def move_on(self) -> None:
        """This target is done with (answered inconclusively or failed): the next one."""
        if self.targets:
            self.targets.popleft()
        self.reconnects = 0

    # -- judging ------------------------------------------------------------------------

    def judge(self, attempt: Attempt, catch_all: Reply | None) -> Decision | None:
        """A decision if ``attempt`` gave a definite answer for this address, else
        record why it did not. ``catch_all``: the domain's answer to a made-up address."""
        self.attempts.append(attempt)
        lang = self.lang
        reply = attempt.rcpt.get(self.path)
        if reply is not None and reply.code // 100 != 4:
            return decide_rcpt(reply, catch_all, lang)
        if reply is not None:
            return None  # temporary answer: another MX may know better (exhausted())
        last = attempt.steps[-1] if attempt.steps else None
        if attempt.outcome == "mail_refused" and attempt.mail is not None:
            failure = Failure("mail", explain_reply(attempt.mail, Stage.MAIL, lang), attempt.mail)
            self.failures.append(failure)
            if attempt.mail.code // 100 == 5:
                return decide_failures([failure])
            return None
        if attempt.outcome == "smtputf8_unsupported":
            step = event_step(Stage.MAIL, "smtputf8", "", lang, 0.0)
            self.failures.append(Failure("smtputf8", step.explanation))
            return None
        banner = next((s for s in attempt.steps if s.stage is Stage.BANNER and s.reply), None)
        if attempt.outcome == "banner_refused" and banner is not None:
            self.failures.append(Failure("banner", banner.explanation, banner.reply))
            return None
        event = next(
            (s for s in reversed(attempt.steps) if s.event not in (None, "connected")), None
        )
        if event is not None and event.event is not None:
            self.failures.append(Failure(event.event, event.explanation))
        elif last is not None and last.reply is not None:
            self.failures.append(Failure("banner", last.explanation, last.reply))
        return None

    def may_reconnect(self) -> bool:
        """Not reached before the server hung up: may it wait for a new connection?"""
        if self.reconnects >= RECONNECTS:
            return False
        self.reconnects += 1
        return True

    def exhausted(self) -> Decision:
        """No target left: the last temporary answer, or the most telling failure."""
        for attempt in reversed(self.attempts):
            reply = attempt.rcpt.get(self.path)
            if reply is not None:
                return decide_rcpt(reply, None, self.lang)
        return decide_failures(self.failures)

    def expire(self, now: float) -> Decision:
        """The deadline struck before a decision: what is known, and that time ran out."""
        for attempt in reversed(self.attempts):
            reply = attempt.rcpt.get(self.path)
            if reply is not None:
                return decide_rcpt(reply, None, self.lang)
        seconds = self.options.deadline
        detail = f"No definite answer within the deadline of {seconds:g} s."
        last = self.failures[-1] if self.failures else None
        if last is not None and last.kind in ("timeout", "connect_timeout", "deadline"):
            # What the address was waiting for when time ran out says more.
            detail = last.explanation.text or detail
        step = event_step(Stage.CONNECT, "deadline", detail, self.lang, now - self.began)
        failures: Sequence[Failure] = [*self.failures, Failure("deadline", step.explanation)]
        return decide_failures(failures)

    def result(self, decision: Decision, now: float) -> ProbeResult:
        lang = self.lang
        return ProbeResult(
            address=self.text,
            normalized=self.parsed.normalized,
            verdict=decision.verdict,
            reason=decision.reason,
            summary=summary(decision.reason, lang, decision.retry_after),
            explanation=decision.deciding,
            catch_all=decision.catch_all,
            retry_after=decision.retry_after,
            mx=self.mx,
            attempts=tuple(self.attempts),
            elapsed=now - self.began,
            warnings=self.parsed.warnings,
        )
