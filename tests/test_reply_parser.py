"""The reply parser fed byte by byte, in random splits, and with random bytes (hypothesis).

The parser is the first code that touches what a server sends: whatever arrives, it must
either give replies or raise ReplySyntaxError, and never hold more than one line's worth
of bytes while waiting.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prober.smtp.dialogue import Answered, Dialogue, Finish, Plan, Read, Ready, Send, UpgradeTLS
from prober.smtp.reply import (
    MAX_LINE,
    MAX_LINES,
    Reply,
    ReplyParser,
    ReplySyntaxError,
    parse_pasted,
    printable,
)

TRANSCRIPT = (
    b"220 mx.example.test ESMTP ready\r\n"
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
    b"250 2.1.0 Sender OK\r\n"
    b"550-5.1.1 The email account that you tried to reach does not exist.\r\n"
    b"550 5.1.1 Please double-check the recipient's address.\r\n"
    b"221 2.0.0 Bye\r\n"
)


def whole(data: bytes) -> list[Reply]:
    return ReplyParser().feed(data)


def test_transcript_parses_whole() -> None:
    replies = whole(TRANSCRIPT)
    assert [r.code for r in replies] == [220, 250, 250, 550, 221]
    assert replies[1].lines[1] == "PIPELINING"
    assert replies[3].enhanced == "5.1.1"


def test_byte_by_byte_equals_whole() -> None:
    parser = ReplyParser()
    replies: list[Reply] = []
    for index in range(len(TRANSCRIPT)):
        replies.extend(parser.feed(TRANSCRIPT[index : index + 1]))
        assert parser.buffered <= MAX_LINE + 1
    assert replies == whole(TRANSCRIPT)
    assert not parser.pending


def test_cr_split_from_lf_and_bare_lf() -> None:
    parser = ReplyParser()
    assert parser.feed(b"250 ok\r") == []
    assert parser.pending
    assert parser.feed(b"\n") == [Reply(250, ("ok",))]
    assert ReplyParser().feed(b"250 bare lf\n") == [Reply(250, ("bare lf",))]


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(TRANSCRIPT)), max_size=40))
def test_any_split_gives_the_same_replies(cuts: list[int]) -> None:
    points = sorted({0, len(TRANSCRIPT), *cuts})
    parser = ReplyParser()
    replies: list[Reply] = []
    for start, end in zip(points, points[1:], strict=False):
        replies.extend(parser.feed(TRANSCRIPT[start:end]))
    assert replies == whole(TRANSCRIPT)


def test_ten_megabyte_line_refused_after_max_line_bytes() -> None:
    parser = ReplyParser()
    chunk = b"x" * 1000
    fed = 0
    with pytest.raises(ReplySyntaxError, match="longer than 2048 bytes"):
        for _ in range(10_000):  # 10 MB if it were all accepted
            parser.feed(chunk)
            fed += len(chunk)
            assert parser.buffered <= MAX_LINE + 1
    assert fed <= MAX_LINE + len(chunk)  # refused within one chunk of the limit


def test_one_huge_chunk_is_refused_without_being_buffered() -> None:
    parser = ReplyParser()
    with pytest.raises(ReplySyntaxError):
        parser.feed(b"220 " + b"y" * 10_000_000)
    assert parser.buffered == 0


def test_long_line_with_terminator_is_refused() -> None:
    with pytest.raises(ReplySyntaxError, match="longer than"):
        ReplyParser().feed(b"250 " + b"z" * MAX_LINE + b"\r\n")
    # Exactly at the limit is fine.
    line = b"250 " + b"z" * (MAX_LINE - 4)
    assert ReplyParser().feed(line + b"\r\n")[0].code == 250


def test_endless_multiline_is_refused_at_max_lines() -> None:
    parser = ReplyParser()
    with pytest.raises(ReplySyntaxError, match=f"more than {MAX_LINES} lines"):
        for _ in range(MAX_LINES * 10):
            parser.feed(b"250-more\r\n")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"22 ready\r\n", "no three-digit code"),
        (b"2200 ready\r\n", "no three-digit code"),
        (b"abc ready\r\n", "no three-digit code"),
        (b"250_ok\r\n", "no three-digit code"),
        (b"199 too low\r\n", "outside 200-599"),
        (b"600 too high\r\n", "outside 200-599"),
        (b"250-first\r\n550 second\r\n", "changed the reply code"),
        (b"HTTP/1.1 400 Bad Request\r\n", "HTTP"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "SSH"),
        (b"<!DOCTYPE html>\r\n", "HTML"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "TLS record"),
        (b"\x00\x01\x02\x03\xff\xfe\r\n", "binary data"),
    ],
)
def test_violations_are_named(data: bytes, fragment: str) -> None:
    parser = ReplyParser(max_line=8) if data.startswith(b"\x16") else ReplyParser()
    with pytest.raises(ReplySyntaxError, match=fragment):
        parser.feed(data)


def test_parser_stays_failed() -> None:
    parser = ReplyParser()
    with pytest.raises(ReplySyntaxError):
        parser.feed(b"garbage\r\n")
    with pytest.raises(ReplySyntaxError):
        parser.feed(b"250 fine now\r\n")


def test_terminal_controls_in_reply_text_are_escaped() -> None:
    reply = ReplyParser().feed(b"550 \x1b[2J\x1b]0;owned\x07 user \xe2\x80\xae unknown\r\n")[0]
    text = reply.lines[0]
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b[2J" in text and "\\u202e" in text
    assert printable("tab\tkept") == "tab\tkept"


# -- random bytes ---------------------------------------------------------------------

BYTES = st.binary(max_size=3000) | st.lists(
    st.sampled_from(
        [b"250", b"-", b" ", b"\r\n", b"\n", b"\r", b"220 ", b"550-", b"354 ", b"x" * 700, b"\x00"]
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(stream=BYTES, chunk=st.integers(min_value=1, max_value=4096))
def test_random_bytes_give_replies_or_a_named_error(stream: bytes, chunk: int) -> None:
    parser = ReplyParser()
    try:
        for start in range(0, len(stream), chunk):
            for reply in parser.feed(stream[start : start + chunk]):
                assert 200 <= reply.code <= 599
                assert 1 <= len(reply.lines) <= MAX_LINES
                assert all(len(line) <= 4 * MAX_LINE for line in reply.lines)
                assert all(printable(line) == line for line in reply.lines)
            assert parser.buffered <= MAX_LINE + 1
    except ReplySyntaxError as exc:
        assert exc.problem.startswith("the server")


def _drive(stream: bytes, pipelining: bool) -> list[str]:
    """Replies parsed from ``stream`` fed to a dialogue, as the engine would; the lines sent."""
    plan = Plan(helo="probe.client.test", mail_from="check@client.test", pipelining=pipelining)
    dialogue = Dialogue(plan)
    action: object = dialogue.start()
    parser = ReplyParser()
    try:
        replies = parser.feed(stream)
    except ReplySyntaxError:
        return []
    sent: list[str] = []
    batches = [("alice@example.test", "prober-x@example.test"), ("bob@example.test",)]

    def settle(action: object) -> object:
        while True:
            if isinstance(action, UpgradeTLS):
                action = dialogue.tls_done()
            elif isinstance(action, Ready | Answered):
                if batches:
                    action = dialogue.transaction(batches.pop(0))
                else:
                    action = dialogue.quit()
            else:
                if isinstance(action, Send):
                    sent.extend(c.line for c in action.commands)
                return action

    action = settle(action)
    for reply in replies:
        if isinstance(action, Finish):
            break
        assert isinstance(action, Read | Send)
        result = dialogue.receive(reply)
        if result is not None:
            action = settle(result)
    return sent


REPLY_LINES = st.lists(
    st.tuples(
        st.sampled_from([220, 221, 250, 251, 252, 354, 421, 450, 452, 454, 500, 502, 550, 554]),
        st.sampled_from(["", "PIPELINING", "STARTTLS", "SMTPUTF8", "4.5.3 too many recipients"]),
    ),
    max_size=30,
).map(lambda pairs: b"".join(f"{c} {t}\r\n".encode() for c, t in pairs))


@settings(max_examples=300)
@given(stream=REPLY_LINES | BYTES, pipelining=st.booleans())
def test_no_reply_sequence_leads_the_dialogue_to_data(stream: bytes, pipelining: bool) -> None:
    for line in _drive(stream, pipelining):
        verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
        assert verb in {"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"}, line


# What people paste: a log's prefix before the code is skipped, a number inside the words
# is no code (postfwd's rate rule "limit of 200 exceeded", from its documentation).
@pytest.mark.parametrize(
    ("pasted", "code", "text"),
    [
        ("host mx.example.net[192.0.2.1] said: 550 5.1.1 No such user", 550, "No such user"),
        ("Received <<< 550 No such user", 550, "No such user"),
        ("RELAYING NOT ALLOWED (550 Relay Disabled)", 550, "Relay Disabled)"),
        ("Remote host said: 554 denied", 554, "denied"),
        (
            "limit of 200 exceeded [$$ratecount hits]",
            None,
            "limit of 200 exceeded [$$ratecount hits]",
        ),
        ("sorry, max 250 recipients per hour", None, "sorry, max 250 recipients per hour"),
        ("Delivery failed after 452 4.2.2 mailbox full", 452, "mailbox full"),
        # A client library names the code it expected before the one it got (Symfony
        # Mailer and SwiftMailer write it so).
        (
            'Expected response code 250 but got code "550", with message "550 Connection'
            ' frequency limited"',
            550,
            'Connection frequency limited"',
        ),
        (
            'Expected response code "250/251/252" but got code "554", with message "554'
            ' 5.7.1 Relay access denied"',
            554,
            'Relay access denied"',
        ),
        # Python's smtplib prints a reply as a tuple: the code, then the text as bytes
        # with its lines joined by "\n" (and, for a refused sender, the address after).
        (
            "smtplib.SMTPDataError: (550, b'The mail may contain inappropriate words.')",
            550,
            "The mail may contain inappropriate words.",
        ),
        (
            "(554, b'5.7.1 Service unavailable; Client host blocked\\n5.7.1 see the list')",
            554,
            "Service unavailable; Client host blocked see the list",
        ),
        (
            "SMTPSenderRefused: (530, b'5.7.0 Must issue a STARTTLS command first.', 'a@b')",
            530,
            "Must issue a STARTTLS command first. 'a@b')",
        ),
        ("(535, 'Error: authentication failed')", 535, "Error: authentication failed"),
    ],
)
def test_a_pasted_reply_starts_at_its_code(pasted: str, code: int | None, text: str) -> None:
    parsed = parse_pasted(pasted)
    assert (parsed.code, parsed.text) == (code, text)


def test_a_huge_pasted_line_is_read_in_linear_time() -> None:
    # A log line of 600 kB full of numbers that look like codes ("OUT ERR 451 …"): each
    # candidate code looks back only a little, so the line is read at once rather than in
    # minutes (once the square of its length).
    line = "OUT ERR 451 Connection reset " * 20_000
    began = time.monotonic()
    parsed = parse_pasted(line)
    assert time.monotonic() - began < 20
    # "ERR" introduces no reply (a log word "error" would): the line stays free text.
    assert parsed.code is None and parsed.text == line.strip()
