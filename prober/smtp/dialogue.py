"""What to send next, given the replies so far (pure; no I/O).

A :class:`Dialogue` walks one SMTP session: banner, EHLO (HELO if refused), STARTTLS when
offered, EHLO again — the opening — and then, for as long as the driver has addresses,
transactions of ``MAIL FROM`` and ``RCPT TO``, pipelined (RFC 2920) when the server
offers it, RSET between them, and QUIT. It never produces DATA, BDAT or any message
content: there is no code path here that could.

The dialogue owns all protocol state, including the queue of commands whose replies
are still owed (:attr:`Dialogue.owed`); the connection only checks replies against it.
The driver asks :meth:`Dialogue.start`, performs each action and feeds every reply back
through :meth:`Dialogue.receive`, which answers with the next action once the replies
of a batch are in:

- :class:`Ready` — the session is open (or a transaction is over): call
  :meth:`Dialogue.transaction` with more recipients, or :meth:`Dialogue.quit`;
- :class:`Answered` — the replies of one transaction, per recipient, with the
  recipients it must ask again elsewhere (after "too many recipients" or a refused MAIL);
- :class:`Finish` — the session is over.

Decisions here read replies through their codes and enhanced codes only where the RFCs
say so ("452 4.5.3 too many recipients" starts a new transaction instead of condemning
an address); what a reply *means* for an address is the engine's business.
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
class Ready:
    """The session can take a transaction (or be ended with :meth:`Dialogue.quit`)."""


@dataclass(frozen=True, slots=True)
class Answered:
    """One transaction's replies are in.

    ``replies``: each recipient asked and the server's answer, in order. ``again``: the
    recipients that got no answer about themselves (452 too many recipients, or RCPTs
    behind a refused MAIL) and must be asked in another transaction. ``limit``: after
    "too many recipients", how many this server took in one transaction.
    """

    replies: tuple[tuple[str, Reply], ...]
    again: tuple[str, ...] = ()
    mail: Reply | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """The session is over. ``next_host``: the answer was not definite; try another MX."""

    next_host: bool
    reason: str


Action = Read | Send | UpgradeTLS | Ready | Answered | Finish


@dataclass(frozen=True, slots=True)
class Plan:
    """How one session talks: the names it gives and what it may use."""

    helo: str
    mail_from: str  # the reverse path, "" for the null sender <>
    starttls: bool = True
    smtputf8: bool = False  # some path needs SMTPUTF8 (RFC 6531)
    pipelining: bool = True  # use PIPELINING when the server offers it


def parse_extensions(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper-cased) and their parameters; the first line is the greeting."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params.strip()
    return extensions


def is_too_many_recipients(reply: Reply) -> bool:
    # RFC 5321 §4.5.3.1.10: 452 (and, from older servers, 552) to a RCPT beyond the
    # server's limit means "start a new transaction", not a judgement on the address.
    if reply.enhanced in ("4.5.3", "5.5.3"):
        return True
    return reply.code == 452 and "recipient" in reply.text.lower()


@dataclass
class Dialogue:
    plan: Plan
    extensions: dict[str, str] = field(default_factory=dict)
    extensions_before_tls: dict[str, str] | None = None
    tls_active: bool = False
    esmtp: bool = True
    opened: bool = False
    _pending: deque[Command] = field(default_factory=deque)
    _batch: list[tuple[Command, Reply]] = field(default_factory=list)
    _lockstep: deque[str] = field(default_factory=deque)  # RCPTs still to send one by one
    _lockstep_replies: list[tuple[Command, Reply]] = field(default_factory=list)
    _outcome: Finish | None = None
    _dirty: bool = False  # a transaction was started: RSET before the next MAIL
    _then_quit: bool = False

    # -- the queue of replies owed ------------------------------------------------------

    @property
    def owed(self) -> int:
        """Replies still owed for commands sent (the banner counts before it arrives)."""
        return len(self._pending) if self.opened or self._pending else 1

    @property
    def awaiting(self) -> Command | None:
        """The command whose reply is read next (None: the banner)."""
        return self._pending[0] if self._pending else None

    @property
    def expecting(self) -> Stage | None:
        """The stage whose reply is read next."""
        return self._pending[0].stage if self._pending else None

    @property
    def quitting(self) -> bool:
        return self._outcome is not None

    @property
    def pipelining_on(self) -> bool:
        return self.plan.pipelining and "PIPELINING" in self.extensions

    # -- driving ------------------------------------------------------------------------

    def start(self) -> Action:
        return Read(Stage.BANNER)

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

    def received(self) -> list[tuple[Command, Reply]]:
        """The replies of the batch in progress (kept when the batch is cut off)."""
        return list(self._batch)

    def closed(self) -> Finish:
        """The connection ended (after QUIT, or the server hung up)."""
        if self._outcome is not None:
            return self._outcome
        return Finish(True, "connection_lost")

    def tls_done(self) -> Action:
        """The TLS handshake succeeded: greet again (RFC 3207 §4.2 resets the session)."""
        self.tls_active = True
        self.extensions_before_tls = self.extensions
        self.extensions = {}
        return self._ehlo()

    def transaction(self, recipients: list[str] | tuple[str, ...]) -> Send:
        """Ask about ``recipients`` in one transaction (RSET first if one came before)."""
        assert recipients and not self._pending and self._outcome is None
        params = " SMTPUTF8" if self.plan.smtputf8 else ""
        commands: list[Command] = []
        if self._dirty:
            commands.append(Command(Stage.RSET, "RSET"))
        commands.append(Command(Stage.MAIL, f"MAIL FROM:<{self.plan.mail_from}>{params}"))
        self._dirty = True
        rcpts = [Command(Stage.RCPT, f"RCPT TO:<{p}>", p) for p in recipients]
        if self.pipelining_on:
            return self._send(*commands, *rcpts)
        # Lock-step: one command, one reply; the RCPTs follow one by one.
        self._lockstep = deque(recipients)
        return self._send(commands[0])

    def quit(self, reason: str = "done", *, next_host: bool = False) -> Send:
        """End the session politely (QUIT; its reply or the server's hang-up ends it)."""
        return self._end(next_host, reason)

    # -- internals ----------------------------------------------------------------------

    def _send(self, *commands: Command) -> Send:
        self._pending.extend(commands)
        self._batch = []
        return Send(tuple(commands))

    def _end(self, next_host: bool, reason: str) -> Send:
        self._outcome = Finish(next_host, reason)
        self._lockstep.clear()
        return self._send(Command(Stage.QUIT, "QUIT"))

    def _ehlo(self) -> Send:
        return self._send(Command(Stage.EHLO, f"EHLO {self.plan.helo}"))

    def _after_banner(self, reply: Reply) -> Action:
        self.opened = True
        if reply.code // 100 == 2:
            return self._ehlo()
        # 421/554 at greeting: this host will not talk to us now. Another MX might.
        return self._end(True, "banner_refused")

    def _ready(self) -> Action:
        if self.plan.smtputf8 and "SMTPUTF8" not in self.extensions:
            return self._end(True, "smtputf8_unsupported")
        return Ready()

    def _after(self, batch: list[tuple[Command, Reply]]) -> Action:
        command, reply = batch[0]
        stage = command.stage
        if stage is Stage.QUIT:
            assert self._outcome is not None
            return self._outcome
        if stage is Stage.EHLO:
            if reply.code // 100 == 2:
                self.extensions = parse_extensions(reply)
                if self.plan.starttls and not self.tls_active and "STARTTLS" in self.extensions:
                    return self._send(Command(Stage.STARTTLS, "STARTTLS"))
                return self._ready()
            if reply.code // 100 == 5 and not self.tls_active:
                # A server without ESMTP (RFC 5321 §4.1.4 allows falling back to HELO).
                self.esmtp = False
                return self._send(Command(Stage.HELO, f"HELO {self.plan.helo}"))
            return self._end(True, "ehlo_refused")
        if stage is Stage.HELO:
            if reply.code // 100 == 2:
                return self._ready()
            return self._end(True, "helo_refused")
        if stage is Stage.STARTTLS:
            if reply.code == 220:
                return UpgradeTLS()
            # 454 and friends: TLS not available now; carry on in the clear, as MTAs do.
            return self._ready()
        if stage is Stage.RSET:
            if reply.code // 100 != 2:
                return self._end(True, "rset_refused")
            if len(batch) == 1:  # lock-step: MAIL follows RSET's reply
                params = " SMTPUTF8" if self.plan.smtputf8 else ""
                return self._send(Command(Stage.MAIL, f"MAIL FROM:<{self.plan.mail_from}>{params}"))
            batch = batch[1:]
        return self._after_transaction(batch)

    def _after_transaction(self, batch: list[tuple[Command, Reply]]) -> Action:
        """Replies to MAIL and/or RCPTs are in (a pipelined batch, or one lock-step reply)."""
        if not self.pipelining_on:
            return self._lockstep_next(batch)
        return self._answered(batch)

    def _answered(self, batch: list[tuple[Command, Reply]]) -> Answered:
        replies: list[tuple[str, Reply]] = []
        again: list[str] = []
        mail: Reply | None = None
        limit: int | None = None
        for index, (command, reply) in enumerate(batch):
            if command.stage is Stage.MAIL:
                mail = reply
                if reply.code // 100 != 2:
                    # RCPTs pipelined behind a refused MAIL get 503: not about them.
                    again.extend(c.recipient for c, _ in batch[index + 1 :] if c.recipient)
                    again.extend(self._lockstep)
                    self._lockstep.clear()
                    break
                continue
            if command.stage is not Stage.RCPT or command.recipient is None:
                continue
            if limit is not None or is_too_many_recipients(reply):
                if limit is None:
                    limit = len(replies)
                again.append(command.recipient)
                continue
            replies.append((command.recipient, reply))
        return Answered(tuple(replies), tuple(again), mail, limit)

    def _lockstep_next(self, batch: list[tuple[Command, Reply]]) -> Action:
        command, reply = batch[-1]
        if command.stage is Stage.MAIL:
            self._lockstep_replies = [(command, reply)]
            if reply.code // 100 != 2 or not self._lockstep:
                return self._answered(self._lockstep_replies)
        else:
            self._lockstep_replies.append((command, reply))
            if is_too_many_recipients(reply) or not self._lockstep:
                done = self._lockstep_replies
                answered = self._answered(done)
                if self._lockstep:
                    answered = Answered(
                        answered.replies,
                        (*answered.again, *self._lockstep),
                        answered.mail,
                        answered.limit,
                    )
                    self._lockstep.clear()
                return answered
        path = self._lockstep.popleft()
        return self._send(Command(Stage.RCPT, f"RCPT TO:<{path}>", path))
