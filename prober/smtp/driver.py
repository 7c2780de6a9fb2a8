"""Drive a :class:`~prober.smtp.dialogue.Dialogue` over a :class:`Connection` (I/O).

The one routine that opens a session — banner, EHLO (or HELO), STARTTLS with its single
handshake, EHLO again — for every caller: the probing engine, ``diagnose`` and
``preflight``. Each reply and each failure is handed to a :class:`Recorder`, so every
caller keeps its own transcript without re-implementing the dialogue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from prober.errors import NetworkError
from prober.explanation.catalogue import Stage
from prober.smtp.connection import Connection, TLSInfo
from prober.smtp.dialogue import Action, Command, Dialogue, Finish, Read, Send, UpgradeTLS
from prober.smtp.reply import Reply

# Once the answer is in, QUIT is courtesy: a server that sits on it must not cost the
# whole per-command timeout.
GOODBYE_WAIT = 5.0

Timeout = Callable[[], float]


class Recorder(Protocol):
    def reply(
        self, stage: Stage, sent: str | None, reply: Reply, began: float, note: str | None = None
    ) -> None: ...

    def event(self, stage: Stage, sent: str | None, exc: NetworkError, began: float) -> None: ...

    def tls(self, info: TLSInfo | None, began: float) -> None: ...

    def now(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Exchanged:
    """One step as :class:`Transcript` keeps it."""

    stage: Stage
    sent: str | None
    reply: Reply | None
    error: NetworkError | None
    began: float
    elapsed: float


@dataclass
class Transcript:
    """A :class:`Recorder` that keeps plain records (for ``diagnose`` and ``preflight``)."""

    clock: Callable[[], float] = time.monotonic
    steps: list[Exchanged] = field(default_factory=list)
    tls_began: float | None = None
    tls_elapsed: float | None = None
    listener: Callable[[Exchanged], None] | None = None  # told of each step as it comes

    def _add(self, step: Exchanged) -> None:
        self.steps.append(step)
        if self.listener is not None:
            self.listener(step)

    def now(self) -> float:
        return self.clock()

    def reply(
        self, stage: Stage, sent: str | None, reply: Reply, began: float, note: str | None = None
    ) -> None:
        self._add(Exchanged(stage, sent, reply, None, began, self.clock() - began))

    def event(self, stage: Stage, sent: str | None, exc: NetworkError, began: float) -> None:
        self._add(Exchanged(stage, sent, None, exc, began, self.clock() - began))

    def tls(self, info: TLSInfo | None, began: float) -> None:
        self.tls_began, self.tls_elapsed = began, self.clock() - began

    def replies(self, stage: Stage) -> list[Reply]:
        return [s.reply for s in self.steps if s.stage is stage and s.reply is not None]


class StepError(Exception):
    """A network error at a known command: where the session broke, and why."""

    def __init__(self, stage: Stage, sent: str | None, error: NetworkError, began: float) -> None:
        super().__init__(error.detail)
        self.stage = stage
        self.sent = sent
        self.error = error
        self.began = began


async def exchange(
    conn: Connection,
    dialogue: Dialogue,
    action: Send,
    timeout: Timeout,
    record: Recorder,
    note: Callable[[Command], str | None] | None = None,
    on_reply: Callable[[Command, Reply], None] | None = None,
) -> Action:
    """Write ``action``'s commands and read their replies, feeding each to the dialogue.

    Raises :class:`StepError` at the first command that got no reply; the replies read
    before it are already in the dialogue (:meth:`Dialogue.received`) and were handed to
    ``on_reply`` as they came.
    """
    began = record.now()
    first = action.commands[0]
    try:
        await conn.send([c.line for c in action.commands], timeout())
    except NetworkError as exc:
        if dialogue.quitting:
            return dialogue.closed()
        raise StepError(first.stage, first.line, exc, began) from None
    result: Action | None = None
    for command in action.commands:
        wait = timeout()
        if dialogue.quitting:
            wait = min(wait, GOODBYE_WAIT)
        try:
            reply = await conn.read_reply(wait, command.line, dialogue.owed)
        except NetworkError as exc:
            if dialogue.quitting and exc.kind in ("timeout", "closed"):
                # A server may hang up on QUIT, or sit on it: the answers are already in.
                if exc.kind == "timeout":
                    record.event(command.stage, command.line, exc, began)
                return dialogue.closed()
            raise StepError(command.stage, command.line, exc, began) from None
        record.reply(command.stage, command.line, reply, began, note(command) if note else None)
        if on_reply is not None:
            on_reply(command, reply)  # as it comes: the batch's other replies may be late
        result = dialogue.receive(reply)
    assert result is not None
    return result


async def open_session(
    conn: Connection,
    dialogue: Dialogue,
    *,
    timeout: Timeout,
    tls_name: str | None,
    ca_file: str | None,
    record: Recorder,
) -> Action:
    """Banner to the last EHLO: returns :class:`Ready` (or :class:`Finish` if refused,
    after QUIT). Raises :class:`StepError` when the network or the server fails.

    One TLS handshake, whatever the certificate: its verification is recorded in
    ``conn.tls``, and the session carries on encrypted.
    """
    action = dialogue.start()
    while True:
        if isinstance(action, Read):
            began = record.now()
            try:
                reply = await conn.read_reply(timeout(), "", dialogue.owed)
            except NetworkError as exc:
                raise StepError(action.stage, None, exc, began) from None
            record.reply(action.stage, None, reply, began)
            next_action = dialogue.receive(reply)
            assert next_action is not None
            action = next_action
        elif isinstance(action, Send):
            action = await exchange(conn, dialogue, action, timeout, record)
        elif isinstance(action, UpgradeTLS):
            began = record.now()
            try:
                await conn.starttls(tls_name, timeout(), ca_file=ca_file)
            except NetworkError as exc:
                raise StepError(Stage.STARTTLS, None, exc, began) from None
            record.tls(conn.tls, began)
            action = dialogue.tls_done()
        else:
            return action


async def quit_now(conn: Connection, dialogue: Dialogue, reason: str) -> Finish:
    """QUIT without waiting for its answer, once every answer the session needs is in
    (Postfix's own client does the same by default: ``smtp_skip_quit_response``). The
    caller closes the connection; never raises for a server's doing."""
    if dialogue.quitting:
        return dialogue.closed()
    action = dialogue.quit(reason)
    try:
        await conn.send([c.line for c in action.commands], GOODBYE_WAIT)
    except NetworkError:
        pass  # it hung up first: the session is over either way
    return dialogue.closed()


async def goodbye(
    conn: Connection, dialogue: Dialogue, timeout: Timeout, record: Recorder, reason: str
) -> Finish:
    """QUIT (unless the dialogue is already past it); never raises for a server's doing."""
    if dialogue.quitting and dialogue.awaiting is None:
        return dialogue.closed()
    try:
        action = await exchange(conn, dialogue, dialogue.quit(reason), timeout, record)
    except StepError:
        return dialogue.closed()
    return action if isinstance(action, Finish) else dialogue.closed()
