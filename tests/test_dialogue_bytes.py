"""The dialogue, byte by byte, in the style of h11's tests: no sockets, no event loop.

A table of sessions drives every pipelining path: the server's side is written out as
the bytes it sends, fed to the reply parser one byte at a time, each complete reply
handed to the dialogue; the client's side is the exact command lines the dialogue
writes, batch by batch (a batch is one write: several lines only when pipelining).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from prober.smtp.dialogue import (
    Answered,
    Dialogue,
    Finish,
    Plan,
    Read,
    Ready,
    Send,
    UpgradeTLS,
)
from prober.smtp.reply import Reply, ReplyParser

EHLO_PIPE = "250-mx.test\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
EHLO_TLS = "250-mx.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n"
EHLO_LOCK = "250-mx.test\r\n250 8BITMIME\r\n"


@dataclass(frozen=True)
class Session:
    name: str
    batches: tuple[tuple[str, ...], ...]  # the recipients of each transaction asked for
    exchange: tuple[tuple[tuple[str, ...], str], ...]  # (lines written, bytes answered)
    answered: tuple[tuple[tuple[str, int], ...], ...]  # per transaction: (path, code)
    again: tuple[tuple[str, ...], ...] = ()  # per transaction: asked again elsewhere
    finish: str = "done"
    pipelining: bool = True
    fresh: tuple[bool, ...] = ()  # per transaction: a new one even if one is open


SESSIONS = (
    Session(
        "pipelined transaction",
        (("a@x.test", "b@x.test"),),
        (
            (("EHLO c.test",), EHLO_PIPE),
            (
                ("MAIL FROM:<s@c.test>", "RCPT TO:<a@x.test>", "RCPT TO:<b@x.test>"),
                "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n",
            ),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250), ("b@x.test", 550)),),
    ),
    Session(
        "two transactions, RSET pipelined with the next MAIL",
        (("a@x.test",), ("b@x.test", "c@x.test")),
        (
            (("EHLO c.test",), EHLO_PIPE),
            (("MAIL FROM:<s@c.test>", "RCPT TO:<a@x.test>"), "250 ok\r\n250 ok\r\n"),
            (
                ("RSET", "MAIL FROM:<s@c.test>", "RCPT TO:<b@x.test>", "RCPT TO:<c@x.test>"),
                "250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n",
            ),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250),), (("b@x.test", 550), ("c@x.test", 250))),
        fresh=(False, True),
    ),
    Session(
        "a second batch joins the open transaction: RCPTs only",
        (("a@x.test",), ("b@x.test", "c@x.test")),
        (
            (("EHLO c.test",), EHLO_PIPE),
            (("MAIL FROM:<s@c.test>", "RCPT TO:<a@x.test>"), "250 ok\r\n250 ok\r\n"),
            (("RCPT TO:<b@x.test>", "RCPT TO:<c@x.test>"), "550 no\r\n250 ok\r\n"),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250),), (("b@x.test", 550), ("c@x.test", 250))),
    ),
    Session(
        "452 too many recipients: the rest asked again, the limit learnt",
        (("a@x.test", "b@x.test", "c@x.test"),),
        (
            (("EHLO c.test",), EHLO_PIPE),
            (
                (
                    "MAIL FROM:<s@c.test>",
                    "RCPT TO:<a@x.test>",
                    "RCPT TO:<b@x.test>",
                    "RCPT TO:<c@x.test>",
                ),
                "250 ok\r\n250 ok\r\n452 4.5.3 Too many recipients\r\n452 4.5.3 Too many\r\n",
            ),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250),),),
        again=(("b@x.test", "c@x.test"),),
    ),
    Session(
        "refused MAIL: the pipelined RCPTs' 503s are not answers",
        (("a@x.test", "b@x.test"),),
        (
            (("EHLO c.test",), EHLO_PIPE),
            (
                ("MAIL FROM:<s@c.test>", "RCPT TO:<a@x.test>", "RCPT TO:<b@x.test>"),
                "553 5.1.8 sender domain unknown\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n",
            ),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((),),
        again=(("a@x.test", "b@x.test"),),
    ),
    Session(
        "lock-step without PIPELINING",
        (("a@x.test", "b@x.test"), ("c@x.test",)),
        (
            (("EHLO c.test",), EHLO_LOCK),
            (("MAIL FROM:<s@c.test>",), "250 ok\r\n"),
            (("RCPT TO:<a@x.test>",), "250 ok\r\n"),
            (("RCPT TO:<b@x.test>",), "550 no\r\n"),
            (("RSET",), "250 ok\r\n"),
            (("MAIL FROM:<s@c.test>",), "250 ok\r\n"),
            (("RCPT TO:<c@x.test>",), "250 ok\r\n"),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250), ("b@x.test", 550)), (("c@x.test", 250),)),
        pipelining=True,
        fresh=(False, True),
    ),
    Session(
        "lock-step: a second batch joins the open transaction",
        (("a@x.test",), ("b@x.test", "c@x.test")),
        (
            (("EHLO c.test",), EHLO_LOCK),
            (("MAIL FROM:<s@c.test>",), "250 ok\r\n"),
            (("RCPT TO:<a@x.test>",), "250 ok\r\n"),
            (("RCPT TO:<b@x.test>",), "250 ok\r\n"),
            (("RCPT TO:<c@x.test>",), "550 no\r\n"),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250),), (("b@x.test", 250), ("c@x.test", 550))),
    ),
    Session(
        "lock-step 452: the recipients not yet sent are asked again",
        (("a@x.test", "b@x.test", "c@x.test"),),
        (
            (("EHLO c.test",), EHLO_LOCK),
            (("MAIL FROM:<s@c.test>",), "250 ok\r\n"),
            (("RCPT TO:<a@x.test>",), "250 ok\r\n"),
            (("RCPT TO:<b@x.test>",), "452 4.5.3 Too many recipients\r\n"),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250),),),
        again=(("b@x.test", "c@x.test"),),
    ),
    Session(
        "pipelining offered but not used when told not to",
        (("a@x.test", "b@x.test"),),
        (
            (("EHLO c.test",), EHLO_PIPE),
            (("MAIL FROM:<s@c.test>",), "250 ok\r\n"),
            (("RCPT TO:<a@x.test>",), "250 ok\r\n"),
            (("RCPT TO:<b@x.test>",), "250 ok\r\n"),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250), ("b@x.test", 250)),),
        pipelining=False,
    ),
    Session(
        "STARTTLS, then EHLO again and a pipelined transaction",
        (("a@x.test",),),
        (
            (("EHLO c.test",), EHLO_TLS),
            (("STARTTLS",), "220 go ahead\r\n"),
            (("EHLO c.test",), EHLO_PIPE),
            (("MAIL FROM:<s@c.test>", "RCPT TO:<a@x.test>"), "250 ok\r\n250 ok\r\n"),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 250),),),
    ),
    Session(
        "EHLO refused: HELO, lock-step",
        (("a@x.test",),),
        (
            (("EHLO c.test",), "502 5.5.2 what\r\n"),
            (("HELO c.test",), "250 mx.test\r\n"),
            (("MAIL FROM:<s@c.test>",), "250 ok\r\n"),
            (("RCPT TO:<a@x.test>",), "550 no\r\n"),
            (("QUIT",), "221 bye\r\n"),
        ),
        ((("a@x.test", 550),),),
    ),
    Session(
        "banner refusal: QUIT and nothing else",
        (),
        ((("QUIT",), "221 bye\r\n"),),
        (),
        finish="banner_refused",
    ),
)


def feed_bytes(parser: ReplyParser, data: str) -> list[Reply]:
    replies: list[Reply] = []
    for byte in data.encode():
        replies.extend(parser.feed(bytes([byte])))
    return replies


@pytest.mark.parametrize("session", SESSIONS, ids=[s.name for s in SESSIONS])
def test_session_byte_by_byte(session: Session) -> None:
    dialogue = Dialogue(Plan("c.test", "s@c.test", pipelining=session.pipelining))
    parser = ReplyParser()
    action = dialogue.start()
    assert isinstance(action, Read)
    assert dialogue.owed == 1  # the banner
    banner = "554 5.7.1 go away\r\n" if session.finish == "banner_refused" else "220 mx.test\r\n"
    (reply,) = feed_bytes(parser, banner)
    next_action = dialogue.receive(reply)
    assert next_action is not None
    action = next_action
    batches = list(session.batches)
    fresh = list(session.fresh or (False,) * len(batches))
    answered: list[Answered] = []
    for lines, answer in session.exchange:
        while not isinstance(action, Send):
            if isinstance(action, UpgradeTLS):
                action = dialogue.tls_done()
            elif isinstance(action, Answered | Ready):
                if isinstance(action, Answered):
                    answered.append(action)
                if batches:
                    action = dialogue.transaction(batches.pop(0), fresh=fresh.pop(0))
                else:
                    action = dialogue.quit()
            else:
                raise AssertionError(f"unexpected {action}")
        assert tuple(c.line for c in action.commands) == lines
        assert dialogue.owed == len(lines)
        replies = feed_bytes(parser, answer)
        assert len(replies) == len(lines)
        result = None
        for index, reply in enumerate(replies):
            result = dialogue.receive(reply)
            # Nothing is decided before the batch's last reply is in.
            assert (result is None) == (index < len(replies) - 1)
            if result is None:
                assert dialogue.owed == len(lines) - index - 1
        assert result is not None
        action = result
    assert isinstance(action, Finish)
    assert action.reason == session.finish
    assert not batches
    got = tuple(tuple((path, r.code) for path, r in a.replies) for a in answered)
    assert got == session.answered
    if session.again:
        assert tuple(a.again for a in answered) == session.again


def test_partial_batch_keeps_the_replies_already_in() -> None:
    """A batch cut short (the server hangs up): what was answered is still there."""
    dialogue = Dialogue(Plan("c.test", "s@c.test"))
    dialogue.start()
    dialogue.receive(Reply(220, ("mx",)))
    ready = dialogue.receive(Reply(250, ("mx", "PIPELINING")))
    assert isinstance(ready, Ready)
    send = dialogue.transaction(["a@x.test", "b@x.test", "c@x.test"])
    assert len(send.commands) == 4
    for code in (250, 250, 550):
        assert dialogue.receive(Reply(code, ("x",))) is None
    kept = [(c.recipient, r.code) for c, r in dialogue.received() if c.recipient]
    assert kept == [("a@x.test", 250), ("b@x.test", 550)]
    assert dialogue.owed == 1
