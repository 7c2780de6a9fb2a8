"""What to send next, given the replies so far (pure; no I/O).

A :class:`Dialogue` walks one SMTP session: banner, EHLO (HELO if refused), STARTTLS when
offered, EHLO again, then transactions of ``MAIL FROM`` and ``RCPT TO`` — pipelined
(RFC 2920) when the server offers it — and RSET/QUIT. It never produces DATA, BDAT or any
message content: there is no code path here that could.

The session driver (``session.py``) asks :meth:`Dialogue.start`, performs each action,
and feeds every reply back through :meth:`Dialogue.receive`, which answers with the next
action once the replies of a batch are in. Decisions here read replies through the
catalogue (``explain``), never raw codes alone, so that "452 4.5.3 too many recipients"
starts a new transaction instead of condemning an address.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from prober.explanation.catalogue import Stage
from prober.smtp.reply import Reply


@dataclass(frozen=True, slots=True)
class Command:
    stage: Stage
    line: str
    recipient: str | None = None  # for RCPT: which address this asks about


@dataclass(frozen=True, slots=True)
class Read:
    """Read a reply without sending anything (the banner)."""

    stage: Stage


@dataclass(frozen=True, slots=True)
class Send:
    """Write these commands in one go (several only when pipelining) and read a reply each."""

    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class UpgradeTLS:
    """The server said 220 to STARTTLS: perform the handshake, then call ``tls_done``."""


@dataclass(frozen=True, slots=True)
class Finish:
    """The session is over. ``next_host``: the answer was not definite; try another MX."""

    next_host: bool
    reason: str


Action = Read | Send | UpgradeTLS | Finish


@dataclass(frozen=True, slots=True)
class Plan:
    """What one session should ask."""

    helo: str
    mail_from: str  # the reverse path, "" for the null sender <>
    recipients: tuple[str, ...]  # RCPT paths, in order; the catch-all probe may be last
    starttls: bool = True
    smtputf8: bool = False  # some path needs SMTPUTF8 (RFC 6531)
    pipelining: bool = True  # use PIPELINING when the server offers it
    rcpt_per_transaction: int = 50
    # Ask RCPT for ``recipients[1:]`` only once ``recipients[0]`` is accepted (the
    # catch-all check of a single probe): a refused address never costs the server a
    # second, made-up recipient — servers count refused recipients against the client.
    rest_only_if_first_accepted: bool = False


def parse_extensions(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper-cased) and their parameters; the first line is the greeting."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params.strip()
    return extensions


def _is_too_many_recipients(reply: Reply) -> bool:
    # RFC 5321 §4.5.3.1.10: 452 (and, from older servers, 552) to a RCPT beyond the
    # server's limit means "start a new transaction", not a judgement on the address.
    if reply.enhanced in ("4.5.3", "5.5.3"):
        return True
    return reply.code == 452 and "recipient" in reply.text.lower()


@dataclass
class Dialogue:
    plan: Plan
    extensions: dict[str, str] = field(default_factory=dict)
    tls_active: bool = False
    esmtp: bool = True
    rcpt_replies: dict[str, Reply] = field(default_factory=dict)
    mail_replies: list[Reply] = field(default_factory=list)
    _pending: deque[Command] = field(default_factory=deque)
    _queue: deque[str] = field(default_factory=deque)  # recipients not yet asked
    _batch: list[tuple[Command, Reply]] = field(default_factory=list)
    _outcome: Finish | None = None
    _answered_in_transaction: int = 0
    _then_quit: bool = False

    def __post_init__(self) -> None:
        self._queue.extend(self.plan.recipients)

    @property
    def expecting(self) -> Stage | None:
        """The stage whose reply is read next."""
        return self._pending[0].stage if self._pending else None

    def start(self) -> Action:
        return Read(Stage.BANNER)

    def _send(self, *commands: Command) -> Send:
        self._pending.extend(commands)
        self._batch = []
        return Send(tuple(commands))

    def _end(self, next_host: bool, reason: str, *, rset: bool = False) -> Send:
        self._outcome = Finish(next_host, reason)
        commands = [Command(Stage.QUIT, "QUIT")]
        if rset:
            commands.insert(0, Command(Stage.RSET, "RSET"))
        if not self.pipelining_on:
            # One at a time: QUIT is sent when RSET's reply is in.
            self._then_quit = len(commands) > 1
            return self._send(commands[0])
        return self._send(*commands)

    @property
    def pipelining_on(self) -> bool:
        return self.plan.pipelining and "PIPELINING" in self.extensions

    def _ehlo(self) -> Send:
        return self._send(Command(Stage.EHLO, f"EHLO {self.plan.helo}"))

    def receive(self, reply: Reply) -> Action | None:
        """Take the reply to the oldest outstanding command (or the banner)."""
        if not self._pending:
            return self._after_banner(reply)
        command = self._pending.popleft()
        self._batch.append((command, reply))
        if self._pending:
            return None
        batch, self._batch = self._batch, []
        return self._after(batch)

    def closed(self) -> Finish:
        """The connection ended (after QUIT, or the server hung up)."""
        if self._outcome is not None:
            return self._outcome
        return Finish(True, "connection_lost")

    @property
    def quitting(self) -> bool:
        return self._outcome is not None

    def _after_banner(self, reply: Reply) -> Action:
        if reply.code // 100 == 2:
            return self._ehlo()
        # 421/554 at greeting: this host will not talk to us now. Another MX might.
        return self._end(True, "banner_refused")

    def _after(self, batch: list[tuple[Command, Reply]]) -> Action:
        command, reply = batch[0]
        stage = command.stage
        if stage is Stage.RSET and self._outcome is None:
            # Between transactions: the new MAIL (and RCPTs) may be in the same batch.
            if len(batch) > 1:
                return self._after_transaction(batch[1:])
            return self._transaction()
        if stage is Stage.RSET and self._then_quit:
            self._then_quit = False
            return self._send(Command(Stage.QUIT, "QUIT"))
        if stage in (Stage.QUIT, Stage.RSET):
            assert self._outcome is not None
            return self._outcome
        if stage is Stage.EHLO:
            if reply.code // 100 == 2:
                self.extensions = parse_extensions(reply)
                if self.plan.starttls and not self.tls_active and "STARTTLS" in self.extensions:
                    return self._send(Command(Stage.STARTTLS, "STARTTLS"))
                return self._transaction()
            if reply.code // 100 == 5 and not self.tls_active:
                # A server without ESMTP (RFC 5321 §4.1.4 allows falling back to HELO).
                self.esmtp = False
                return self._send(Command(Stage.HELO, f"HELO {self.plan.helo}"))
            return self._end(True, "ehlo_refused")
        if stage is Stage.HELO:
            if reply.code // 100 == 2:
                return self._transaction()
            return self._end(True, "helo_refused")
        if stage is Stage.STARTTLS:
            if reply.code == 220:
                return UpgradeTLS()
            # 454 and friends: TLS not available now; carry on in the clear, as MTAs do.
            return self._transaction()
        if stage is Stage.MAIL:
            return self._after_transaction(batch)
        if stage is Stage.RCPT:
            return self._after_transaction(batch)
        raise AssertionError(f"no reply expected for {stage}")  # pragma: no cover

    def tls_done(self) -> Action:
        """The TLS handshake succeeded: greet again (RFC 3207 §4.2 resets the session)."""
        self.tls_active = True
        self.extensions = {}
        return self._ehlo()

    def _transaction_commands(self) -> list[Command]:
        params = " SMTPUTF8" if self.plan.smtputf8 else ""
        commands = [Command(Stage.MAIL, f"MAIL FROM:<{self.plan.mail_from}>{params}")]
        self._answered_in_transaction = 0
        if not self.pipelining_on:
            return commands  # lock-step: RCPTs follow one by one after MAIL's reply
        if self.plan.rest_only_if_first_accepted and not self.rcpt_replies:
            count = 1  # the target alone; the rest only if it is accepted
        else:
            count = self.plan.rcpt_per_transaction
        for _ in range(min(count, len(self._queue))):
            path = self._queue.popleft()
            commands.append(Command(Stage.RCPT, f"RCPT TO:<{path}>", path))
        return commands

    def _transaction(self) -> Action:
        if self.plan.smtputf8 and "SMTPUTF8" not in self.extensions:
            return self._end(True, "smtputf8_unsupported")
        if not self._queue:
            return self._end(False, "done")
        return self._send(*self._transaction_commands())

    def _next_transaction(self) -> Action:
        """RSET and start over with the recipients still queued (RFC 5321 §4.1.1.5)."""
        if self._answered_in_transaction == 0:
            # "Too many recipients" to the first RCPT of a fresh transaction would loop
            # forever: stop instead.
            return self._end(True, "rcpt_limit", rset=True)
        rset = Command(Stage.RSET, "RSET")
        if self.pipelining_on:
            return self._send(rset, *self._transaction_commands())
        return self._send(rset)

    def _after_transaction(self, batch: list[tuple[Command, Reply]]) -> Action:
        """Replies to MAIL and/or RCPTs are in (a pipelined batch, or a lock-step one)."""
        too_many = False
        for index, (command, reply) in enumerate(batch):
            if command.stage is Stage.MAIL:
                self.mail_replies.append(reply)
                if reply.code // 100 != 2:
                    # RCPTs pipelined behind a refused MAIL get 503: not about them.
                    for later, _ in reversed(batch[index + 1 :]):
                        if later.recipient is not None:
                            self._queue.appendleft(later.recipient)
                    permanent = reply.code // 100 == 5
                    return self._end(not permanent, "mail_refused", rset=True)
                continue
            assert command.recipient is not None
            if too_many or _is_too_many_recipients(reply):
                too_many = True
                self._queue.append(command.recipient)
                continue
            self._answered_in_transaction += 1
            self.rcpt_replies[command.recipient] = reply
        if too_many:
            return self._next_transaction()
        if not self.pipelining_on:
            return self._lockstep_next(batch[-1])
        first = self.plan.recipients[0] if self.plan.recipients else None
        if self.plan.rest_only_if_first_accepted and any(
            command.recipient == first for command, _ in batch
        ):
            target = self.rcpt_replies.get(first) if first is not None else None
            if target is None or target.code // 100 != 2:
                self._queue.clear()  # refused: no catch-all question left to ask
            elif self._queue:
                # Accepted: the remaining RCPTs, pipelined, in the same transaction.
                rest = [Command(Stage.RCPT, f"RCPT TO:<{p}>", p) for p in self._queue]
                self._queue.clear()
                return self._send(*rest)
        if self._queue:
            # More recipients than one transaction carries: continue after RSET.
            return self._next_transaction()
        return self._finish_rcpts()

    def _lockstep_next(self, last: tuple[Command, Reply]) -> Action:
        command, reply = last
        first = self.plan.recipients[0] if self.plan.recipients else None
        if (
            self.plan.rest_only_if_first_accepted
            and command.recipient == first
            and reply.code // 100 != 2
        ):
            self._queue.clear()  # refused: no catch-all question left to ask
        if self._queue and self._answered_in_transaction >= self.plan.rcpt_per_transaction:
            return self._next_transaction()
        if self._queue:
            path = self._queue.popleft()
            return self._send(Command(Stage.RCPT, f"RCPT TO:<{path}>", path))
        return self._finish_rcpts()

    def _finish_rcpts(self) -> Action:
        """Every recipient has an answer: decide whether another MX should be asked."""
        target = self.plan.recipients[0] if self.plan.recipients else None
        reply = self.rcpt_replies.get(target) if target is not None else None
        if target is not None and reply is None:
            return self._end(True, "rcpt_unanswered", rset=True)
        if reply is not None and reply.code // 100 == 4:
            # A temporary refusal says nothing definite; a backup MX may know more.
            return self._end(True, "rcpt_transient", rset=True)
        return self._end(False, "rcpt_answered", rset=True)
